"""`GaussianNoise`: add noise ~ N(0, stddev^2), in training only."""

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.regularization.base_noise import BaseNoise


@keras_export("keras.layers.GaussianNoise")
class GaussianNoise(BaseNoise):
    amount_name = "stddev"

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(stddev, seed=seed, **kwargs)

    def _noise(self, inputs):
        return inputs + torch.randn_like(inputs) * self.stddev
