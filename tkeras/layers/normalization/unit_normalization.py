"""`UnitNormalization`: scale each example to unit L2 norm over `axis`.

Keras behaviour kept: `x * min(rsqrt(sum(x^2, axis)), 1e12)` (so an all-zero slice stays zero).
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.layers.normalization.layer_normalization import axes_tuple
from tkeras.layers.normalization.layer_normalization import check_axes_in_bounds


@keras_export("keras.layers.UnitNormalization")
class UnitNormalization(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = list(axis)
        elif isinstance(axis, int):
            self.axis = axis
        else:
            raise TypeError(
                "Invalid value for `axis` argument: expected an int or a list/tuple of ints. "
                f"Received: axis={axis}")
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        square_sum = inputs.square().sum(dim=axes_tuple(self.axis), keepdim=True)
        # 1 / epsilon(1e-12); in float16 it rounds to inf in Keras, i.e. no cap.
        cap = 1e12 if 1e12 <= torch.finfo(inputs.dtype).max else float("inf")
        return inputs * torch.clamp(torch.rsqrt(square_sum), max=cap)

    def compute_output_shape(self, input_shape):
        check_axes_in_bounds(self.axis, input_shape)
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
