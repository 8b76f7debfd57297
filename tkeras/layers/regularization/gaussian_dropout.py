"""`GaussianDropout`: multiply by noise ~ N(1, rate / (1 - rate)), in training only."""

import math

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.regularization.base_noise import BaseNoise


@keras_export("keras.layers.GaussianDropout")
class GaussianDropout(BaseNoise):
    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    def _noise(self, inputs):
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return inputs * (torch.randn_like(inputs) * stddev + 1.0)
