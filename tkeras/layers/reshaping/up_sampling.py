"""`UpSampling1D/2D/3D`: repeat each spatial entry `size` times per axis.

"nearest" repeats entries (exact, any dtype). UpSampling2D's "bilinear"/"bicubic" call
`F.interpolate(align_corners=False, antialias=False)` on the channels-first view, the same call
Keras's torch backend makes through `ops.image.resize` (non-float inputs are resized in float32
and cast back, as Keras). Keras's "lanczos3"/"lanczos5" also fail on its torch backend; tkeras
refuses them (and unknown names) at construction instead of at the first call.
"""

import torch
import torch.nn.functional as F

from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.convolutional.conv_utils import standardize_tuple
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer

_INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


class BaseUpSampling(Layer):
    """Shared N-D upsampling; subclasses set `rank` and the argument defaults."""

    rank = None

    def __init__(self, size, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self._factors = standardize_tuple(size, self.rank, "size")
        self.size = self._factors
        self.interpolation = interpolation.lower()
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"Invalid value for argument `interpolation`. Expected one of "
                f"{_INTERPOLATIONS}. Received: interpolation={interpolation}"
            )
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _first_spatial_axis(self):
        return 2 if self.data_format == "channels_first" else 1

    def call(self, inputs):
        first = self._first_spatial_axis()
        if self.interpolation == "nearest":
            for i, factor in enumerate(self._factors):
                inputs = torch.repeat_interleave(inputs, factor, dim=first + i)
            return inputs
        x = inputs.movedim(-1, 1) if self.data_format == "channels_last" else inputs
        dtype = x.dtype
        if dtype not in (torch.float32, torch.float64):
            x = x.to(torch.float32)
        out_size = [x.shape[2 + i] * f for i, f in enumerate(self._factors)]
        y = F.interpolate(x, size=out_size, mode=self.interpolation, align_corners=False,
                          antialias=False)
        if dtype == torch.uint8 and self.interpolation == "bicubic":
            y = y.clamp(0, 255)
        y = y.to(dtype)
        return y.movedim(1, -1) if self.data_format == "channels_last" else y

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        first = self._first_spatial_axis()
        for i, factor in enumerate(self._factors):
            if shape[first + i] is not None:
                shape[first + i] *= factor
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}


@keras_export("keras.layers.UpSampling1D")
class UpSampling1D(BaseUpSampling):
    rank = 1

    def __init__(self, size=2, **kwargs):
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"Expected an integer value for `size`, got {type(size)}.")
        if size <= 0:
            raise ValueError(f"Argument `size` should be a positive integer. Received: size={size}")
        super().__init__(size, "channels_last", **kwargs)
        self.size = size

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        return config


@keras_export("keras.layers.UpSampling2D")
class UpSampling2D(BaseUpSampling):
    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format, interpolation, **kwargs)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


@keras_export("keras.layers.UpSampling3D")
class UpSampling3D(BaseUpSampling):
    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)
