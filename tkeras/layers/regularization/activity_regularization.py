"""`ActivityRegularization`: identity that adds `l1 * sum(|x|) + l2 * sum(x^2)` of its output
(divided by the batch size, as every Keras activity regularizer) to `layer.losses`."""

from tkeras.core import regularizers
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer


@keras_export("keras.layers.ActivityRegularization")
class ActivityRegularization(Layer):
    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.supports_masking = True
        self.l1 = l1
        self.l2 = l2
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}
