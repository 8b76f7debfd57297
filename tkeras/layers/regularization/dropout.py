"""`Dropout`: zero a `rate` fraction of inputs and scale the rest by `1/(1-rate)`, in training only.

`noise_shape` broadcasts one mask over axes of size 1 (None entries take the input's size).
"""

import torch
import torch.nn.functional as F

from tkeras.core.registry import keras_export
from tkeras.layers.regularization.base_noise import BaseNoise


@keras_export("keras.layers.Dropout")
class Dropout(BaseNoise):
    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.noise_shape = tuple(noise_shape) if noise_shape is not None else None

    def _noise(self, inputs):
        if self.noise_shape is None:
            return F.dropout(inputs, self.rate, training=True)
        keep = torch.empty(self._noise_shape(inputs), device=inputs.device, dtype=inputs.dtype).bernoulli_(
            1 - self.rate)
        return inputs * keep / (1 - self.rate)

    def get_config(self):
        return {**super().get_config(),
                "noise_shape": list(self.noise_shape) if self.noise_shape else None}
