"""`keras.random`: seeded random tensors, drawn exactly as Keras's torch backend draws them.

Seeds follow Keras: an integer `seed` gives the same values on every call; a `SeedGenerator`
(a non-trainable int32 state variable `[seed, counter]`) gives a new, reproducible draw per call;
`seed=None` draws from a global `SeedGenerator`. Each draw seeds a fresh `torch.Generator` with
`(seed + counter) mod 2**32` and calls the same torch sampler as Keras's torch backend, so on CPU
the values equal Keras's bit for bit. `gamma`, `binomial` and `beta` (torch distributions, which
take no generator) reseed torch's default CPU generator for the draw and restore it, as Keras does.

Tensors are created on `torch.get_default_device()` (or on the input's device for `dropout`,
`shuffle`, `categorical`); Keras uses its backend device.
"""

import random as python_random

import torch

from tkeras.core import config
from tkeras.core import naming
from tkeras.core.registry import keras_export
from tkeras.core.variables import KerasVariable

__all__ = [
    "SeedGenerator", "beta", "binomial", "categorical", "dropout", "gamma", "normal", "randint",
    "shuffle", "truncated_normal", "uniform",
]


@keras_export("keras.random.SeedGenerator")
class SeedGenerator:
    """A random state: `state` is the int32 variable `[seed, counter]`; `next()` returns it and
    advances the counter."""

    def __init__(self, seed=None, name=None, **kwargs):
        kwargs.pop("backend", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
        self.name = name or naming.auto_name("SeedGenerator")
        self._initial_seed = seed
        if seed is None:
            seed = python_random.randint(1, int(1e9))
        if not isinstance(seed, int):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed}")
        self.state = KerasVariable(torch.tensor([seed, 0], dtype=torch.int32), trainable=False,
                                   name="seed_generator_state",
                                   path=f"{self.name}/seed_generator_state")

    def next(self, ordered=True):
        value = self.state.detach().clone()
        with torch.no_grad():
            if ordered:
                self.state.add_(torch.tensor([0, 1], dtype=torch.int32))
            else:
                self.state.copy_((self.state + 1) * 5387 % 933199)
        return value

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


_GLOBAL = {"generator": None}


def global_seed_generator():
    """The generator used when `seed=None` (created on first use, seeded from Python's
    `random`)."""
    if _GLOBAL["generator"] is None:
        _GLOBAL["generator"] = SeedGenerator()
    return _GLOBAL["generator"]


def reset_global_seed_generator():
    """Forget the global generator (Keras does this in `set_random_seed`)."""
    _GLOBAL["generator"] = None


def draw_seed(seed):
    """The int32 pair `[seed, counter]` for one draw."""
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, int) and not isinstance(seed, bool):
        seed = (seed & 0xFFFFFFFF ^ 0x80000000) - 0x80000000
        return torch.tensor([seed, 0], dtype=torch.int32)
    if seed is None:
        return global_seed_generator().next(ordered=False)
    raise ValueError("Argument `seed` must be either an integer or an instance of "
                     f"`SeedGenerator`. Received: seed={seed} (of type {type(seed)})")


def _torch_seed(seed):
    first, second = draw_seed(seed)
    return int(first + second) & 0xFFFFFFFF  # int32 sum (wrapping), read as uint32


@torch._dynamo.disable
def _generator(seed, device=None):
    device = torch.device(device) if device is not None else torch.get_default_device()
    return torch.Generator(device=device).manual_seed(_torch_seed(seed))


def _torch_dtype(dtype):
    from tkeras.ops import dtypes

    return dtypes.torch_dtype(dtypes.standardize_dtype(dtype or config.floatx()))


def _tensor(x, device=None):
    from tkeras.ops.core import _to_tensor

    t = _to_tensor(x)
    return t if device is None else t.to(device)


@keras_export("keras.random.normal")
def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return torch.normal(mean, stddev, size=tuple(shape), generator=_generator(seed),
                        dtype=_torch_dtype(dtype), device=torch.get_default_device())


@keras_export("keras.random.uniform")
def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    from tkeras.ops import dtypes

    if dtype and not dtypes.is_float_dtype(dtype):
        raise ValueError("`keras.random.uniform` requires a floating point `dtype`. "
                         f"Received: dtype={dtype} ")
    shape = tuple(shape)
    draw = torch.rand(shape or (1,), generator=_generator(seed), dtype=_torch_dtype(dtype),
                      device=torch.get_default_device())
    out = (maxval - minval) * draw + minval
    return out if shape else out[0]


@keras_export("keras.random.randint")
def randint(shape, minval, maxval, dtype="int32", seed=None):
    from tkeras.ops import dtypes

    if dtype and not dtypes.is_int_dtype(dtype):
        raise ValueError("`keras.random.randint` requires an integer `dtype`. "
                         f"Received: dtype={dtype} ")
    return torch.randint(low=minval, high=maxval, size=tuple(shape), generator=_generator(seed),
                         dtype=_torch_dtype(dtype), device=torch.get_default_device())


@keras_export("keras.random.truncated_normal")
def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Keras's torch draw: 4 standard normals per value, the first inside (-2, 2) kept."""
    x = normal(tuple(shape) + (4,), mean=0.0, stddev=1.0, dtype=dtype, seed=seed)
    valid = (x > -2) & (x < 2)
    index = valid.max(-1, keepdim=True)[1]
    return x.gather(-1, index).squeeze(-1) * stddev + mean


@keras_export("keras.random.categorical")
def categorical(logits, num_samples, dtype="int32", seed=None):
    logits = _tensor(logits)
    if logits.ndim != 2:
        raise ValueError("`logits` should be a 2-D tensor with shape [batch_size, num_classes]. "
                         f"Received: logits={logits}")
    probs = torch.softmax(logits, dim=-1)
    samples = torch.multinomial(probs, num_samples, replacement=True,
                                generator=_generator(seed, logits.device))
    return samples.to(_torch_dtype(dtype))


@keras_export("keras.random.dropout")
def dropout(inputs, rate, noise_shape=None, seed=None):
    """Seeded (or with `noise_shape`): a Bernoulli keep-mask drawn as Keras draws it; unseeded:
    `torch.nn.functional.dropout`, as Keras's torch backend."""
    inputs = _tensor(inputs)
    if rate == 1.0:
        return torch.zeros_like(inputs)
    if rate == 0.0:
        return inputs
    seeded = seed is not None and not (
        isinstance(seed, SeedGenerator) and seed._initial_seed is None)
    if not seeded and noise_shape is None:
        return torch.nn.functional.dropout(inputs, p=rate, training=True)
    keep_prob = 1.0 - rate
    shape = inputs.shape if noise_shape is None else [
        inputs.shape[i] if d is None else d for i, d in enumerate(noise_shape)]
    keep = torch.full(tuple(shape), keep_prob, device=inputs.device)
    mask = torch.bernoulli(keep, generator=_generator(seed, inputs.device)).bool()
    mask = torch.broadcast_to(mask, inputs.shape)
    return torch.where(mask, inputs / keep_prob, torch.zeros_like(inputs))


@keras_export("keras.random.shuffle")
def shuffle(x, axis=0, seed=None):
    x = _tensor(x)
    perm = torch.rand(x.shape[: axis + 1], generator=_generator(seed, x.device),
                      device=x.device).argsort(axis)
    perm = perm.reshape(tuple(perm.shape) + (1,) * (x.ndim - axis - 1))
    perm = perm.expand(tuple(perm.shape[: axis + 1]) + tuple(x.shape[axis + 1:]))
    return x.gather(axis, perm)


def _sample_with_default_generator(distribution, seed, dtype):
    generator = torch.default_generator
    previous = generator.get_state()
    generator.manual_seed(_torch_seed(seed))
    try:
        return distribution.sample().to(_torch_dtype(dtype))
    finally:
        generator.set_state(previous)


@keras_export("keras.random.gamma")
def gamma(shape, alpha, dtype=None, seed=None):
    alpha = torch.broadcast_to(_tensor(alpha, "cpu"), tuple(shape))
    distribution = torch.distributions.Gamma(alpha, torch.ones(tuple(shape)))
    return _sample_with_default_generator(distribution, seed, dtype)


@keras_export("keras.random.binomial")
def binomial(shape, counts, probabilities, dtype=None, seed=None):
    counts = torch.broadcast_to(_tensor(counts, "cpu"), tuple(shape))
    probabilities = torch.broadcast_to(_tensor(probabilities, "cpu"), tuple(shape))
    distribution = torch.distributions.Binomial(total_count=counts, probs=probabilities)
    return _sample_with_default_generator(distribution, seed, dtype)


@keras_export("keras.random.beta")
def beta(shape, alpha, beta, dtype=None, seed=None):
    alpha = torch.broadcast_to(_tensor(alpha, "cpu"), tuple(shape))
    beta = torch.broadcast_to(_tensor(beta, "cpu"), tuple(shape))
    distribution = torch.distributions.Beta(concentration1=alpha, concentration0=beta)
    return _sample_with_default_generator(distribution, seed, dtype)
