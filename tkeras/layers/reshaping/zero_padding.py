"""`ZeroPadding1D/2D/3D`: add `(before, after)` zeros on each spatial axis (one `F.pad`).

`padding` follows Keras: an int, a pair per axis (for 1D: one pair), or for 2D/3D one int per
axis (symmetric). Negative padding is refused (Keras would silently crop).
"""

import torch.nn.functional as F

from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer
from tkeras.layers.reshaping.cropping import standardize_pairs


class BaseZeroPadding(Layer):
    """Shared N-D zero padding; subclasses set `rank` and the argument defaults."""

    rank = None

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.padding = standardize_pairs(padding, self.rank, "padding")
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _pairs(self):
        return (self.padding,) if self.rank == 1 else self.padding

    def call(self, inputs):
        # F.pad takes (before, after) pairs from the last axis backwards.
        pads = [(0, 0)] if self.data_format == "channels_last" else []
        pads += list(reversed(self._pairs()))
        return F.pad(inputs, [p for pair in pads for p in pair])

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        first = 2 if self.data_format == "channels_first" else 1
        for i, (before, after) in enumerate(self._pairs()):
            if shape[first + i] is not None:
                shape[first + i] += before + after
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


@keras_export("keras.layers.ZeroPadding1D")
class ZeroPadding1D(BaseZeroPadding):
    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


@keras_export("keras.layers.ZeroPadding2D")
class ZeroPadding2D(BaseZeroPadding):
    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


@keras_export("keras.layers.ZeroPadding3D")
class ZeroPadding3D(BaseZeroPadding):
    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)
