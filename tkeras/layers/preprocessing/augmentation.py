"""`RandomAugmentationLayer`: the base of the augmentations that split a call, as Keras does, into
`get_random_transformation(images)` (a dict of per-image draws, the same keys and values as
Keras's) and `transform_images(images, transformation=None, training=True)` (applies given
draws, or fresh ones when `transformation` is None).

Random draws come from the layer's seeded `torch.Generator` (or torch's global generator when
`seed=None` or under `torch.compile`), as `BaseImagePreprocessingLayer._uniform` does:
`_normal`, `_randint`, `_permutation`, `_gamma`, `_beta` and `_choice` (a Python `random.Random`
seeded with the layer's seed, where Keras uses Python's `random`). Gamma/Beta draws of a seeded
layer run torch's sampler under a forked global generator seeded from the layer's stream (as
Keras's torch backend does with its seed).
"""

import random as python_random

import torch

from tkeras.core import dtype_policies
from tkeras.layers.preprocessing.base import BaseImagePreprocessingLayer


class RandomAugmentationLayer(BaseImagePreprocessingLayer):
    def get_random_transformation(self, images, training=True):
        """Draw this call's random parameters for the batch `images` (rank 4)."""
        raise NotImplementedError

    def _draws(self, images, transformation):
        if transformation is None:
            return self.get_random_transformation(images, training=True)
        return transformation

    def _dtype(self):
        return dtype_policies.torch_dtype(self.compute_dtype)

    # ---------------------------------------------------------------------------- randomness
    def _torch_generator(self):
        seed = getattr(self, "seed", None)
        if seed is None or torch.compiler.is_compiling():
            return None
        if self._generator is None:
            self._generator = torch.Generator().manual_seed(int(seed))
        return self._generator

    def _normal(self, shape, device, dtype=torch.float32):
        generator = self._torch_generator()
        if generator is None:
            return torch.randn(shape, dtype=dtype, device=device)
        return torch.randn(shape, generator=generator, dtype=dtype).to(device)

    def _randint(self, shape, low, high, device):
        generator = self._torch_generator()
        if generator is None:
            return torch.randint(low, high, shape, device=device)
        return torch.randint(low, high, shape, generator=generator).to(device)

    def _permutation(self, n, device):
        generator = self._torch_generator()
        if generator is None:
            return torch.randperm(n, device=device)
        return torch.randperm(n, generator=generator).to(device)

    def _sample(self, distribution, device):
        generator = self._torch_generator()
        if generator is None:
            return distribution.sample().to(device)
        seed = int(torch.randint(0, 2**31 - 1, (), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return distribution.sample().to(device)

    def _gamma(self, shape, alpha, device):
        alpha = torch.as_tensor(alpha, dtype=torch.float32).cpu().expand(shape)
        return self._sample(torch.distributions.Gamma(alpha, torch.ones(shape)), device)

    def _beta(self, shape, alpha, beta, device):
        alpha = torch.as_tensor(alpha, dtype=torch.float32).cpu().expand(shape)
        beta = torch.as_tensor(beta, dtype=torch.float32).cpu().expand(shape)
        return self._sample(torch.distributions.Beta(alpha, beta), device)

    def _choice(self, options):
        if getattr(self, "_python_random", None) is None:
            self._python_random = python_random.Random(getattr(self, "seed", None))
        return self._python_random.choice(options)


def check_factor(factor, name, bounds=(0, 1)):
    """Keras's `_set_factor_by_name`: a number `f` gives `(max(-f, bounds[0]), f)`, a pair is
    sorted; values outside `bounds` raise."""
    error_msg = (f"The `{name}` argument should be a number (or a list of two numbers) in the "
                 f"range [{bounds[0]}, {bounds[1]}]. Received: factor={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(error_msg)
        return tuple(sorted(factor))
    if isinstance(factor, (int, float)):
        if factor < bounds[0] or factor > bounds[1]:
            raise ValueError(error_msg)
        factor = abs(factor)
        return max(-factor, bounds[0]), factor
    raise ValueError(error_msg)


def check_value_range(value_range):
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError("The `value_range` argument should be a list of two numbers. "
                         f"Received: value_range={value_range}")
    return sorted(value_range)
