"""`AlphaDropout`: dropout that keeps SELU's self-normalization, in training only.

Dropped entries are set to SELU's negative saturation `-alpha * scale`, then everything gets
the affine map that restores the input's mean and variance (Keras's formulas). `noise_shape`
broadcasts one draw over axes of size 1 (None entries take the input's size).
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.regularization.base_noise import BaseNoise

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@keras_export("keras.layers.AlphaDropout")
class AlphaDropout(BaseNoise):
    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.noise_shape = noise_shape

    def _noise(self, inputs):
        shape = inputs.shape if self.noise_shape is None else self._noise_shape(inputs)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        kept = (torch.rand(shape, device=inputs.device) >= self.rate).to(inputs.dtype)
        a = ((1 - self.rate) * (1 + self.rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * self.rate
        return a * (inputs * kept + alpha_p * (1 - kept)) + b

    def get_config(self):
        return {**super().get_config(), "noise_shape": self.noise_shape}
