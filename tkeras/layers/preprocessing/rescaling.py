"""`Rescaling`: `inputs * scale + offset` in the compute dtype.

Keras behaviour kept: `scale`/`offset` may be numbers or per-channel lists; a non-scalar `scale`
is reshaped to `(channels, 1, 1)` when the global `image_data_format()` is `channels_first`
(Keras reads the global setting, not a layer argument); masks pass through.
"""

import torch

from tkeras.core import dtype_policies
from tkeras.core.config import image_data_format
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.layer import Layer


@keras_export("keras.layers.Rescaling")
class Rescaling(Layer):
    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self._scale = scale  # underscore storage: a list attribute would be tracked as layers
        self._offset = offset
        self.supports_masking = True

    @property
    def scale(self):
        return self._scale

    @property
    def offset(self):
        return self._offset

    def call(self, inputs):
        dtype = dtype_policies.torch_dtype(self.compute_dtype)
        scale = torch.tensor(self.scale, dtype=dtype, device=inputs.device)
        offset = torch.tensor(self.offset, dtype=dtype, device=inputs.device)
        if scale.ndim > 0 and image_data_format() == "channels_first":
            scale = scale.reshape(tuple(scale.shape) + (1,) * (3 - scale.ndim))
        return inputs.to(dtype) * scale + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": serialize_keras_object(self.scale),
                "offset": serialize_keras_object(self.offset)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["scale"] = deserialize_keras_object(config["scale"], custom_objects=custom_objects)
        config["offset"] = deserialize_keras_object(config["offset"],
                                                    custom_objects=custom_objects)
        return super().from_config(config)
