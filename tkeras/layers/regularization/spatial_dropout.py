"""`SpatialDropout1D/2D/3D`: drop whole feature maps (one keep/drop draw per sample and
channel, shared by all steps/pixels), scaling kept ones by `1/(1-rate)`, in training only.

Runs torch's `F.dropout1d/2d/3d` on the channels-first view of the input. Keras's config
quirks are kept: the config holds only `rate`, `seed`, `name`, `dtype` (the variable dtype
string) and, for 2D/3D, `data_format`; the constructors take no other keyword.
"""

import torch.nn.functional as F

from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.layer import InputSpec
from tkeras.layers.regularization.dropout import Dropout

_DROPOUT_ND = {1: F.dropout1d, 2: F.dropout2d, 3: F.dropout3d}


class BaseSpatialDropout(Dropout):
    """Shared N-D spatial dropout; subclasses set `rank`."""

    rank = None

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(rate, seed=seed, name=name, dtype=dtype)
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _noise(self, inputs):
        channels_last = self.data_format == "channels_last"
        x = inputs.movedim(-1, 1) if channels_last else inputs
        y = _DROPOUT_ND[self.rank](x, self.rate, training=True)
        return y.movedim(1, -1) if channels_last else y

    def get_config(self):
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype,
                "data_format": self.data_format}


@keras_export("keras.layers.SpatialDropout1D")
class SpatialDropout1D(BaseSpatialDropout):
    """Input `(batch, steps, channels)`; Keras gives it no `data_format`."""

    rank = 1

    def __init__(self, rate, seed=None, name=None, dtype=None):
        super().__init__(rate, "channels_last", seed=seed, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        return config


@keras_export("keras.layers.SpatialDropout2D")
class SpatialDropout2D(BaseSpatialDropout):
    rank = 2

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(rate, data_format, seed=seed, name=name, dtype=dtype)


@keras_export("keras.layers.SpatialDropout3D")
class SpatialDropout3D(BaseSpatialDropout):
    rank = 3

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(rate, data_format, seed=seed, name=name, dtype=dtype)
