"""`Flatten`: collapse all but the batch axis (channels_first inputs are moved to channels_last
first, as Keras does, so a Flatten -> Dense kernel is portable)."""

import math

from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer


@keras_export("keras.layers.Flatten")
class Flatten(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = inputs.movedim(1, -1)
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
