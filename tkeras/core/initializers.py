"""Keras 3 initializers: callables `initializer(shape, dtype=None) -> torch.Tensor`.

Keras behaviour kept: class names, defaults, `get_config()` dicts, fan computation
(`compute_fans`), the variance-scaling limits (uniform `sqrt(3 * scale)`, truncated normal
`sqrt(scale) / 0.87962566103423978`, cut at two standard deviations), and the seeding rule: an
initializer built with an integer seed returns the same values on every call, and one built with
`seed=None` draws a seed once, at construction, from Python's `random` (so
`keras.utils.set_random_seed` makes it reproducible). The default dtype is `floatx()`; tensors
are created on torch's default device.

Deliberate difference: random values come from torch's generator, so they cannot equal Keras's
numbers for the same seed; only their distribution matches. `seed` must be an int or None (a
Keras `SeedGenerator` seed is not supported).
"""

import math
import random as python_random

import numpy as np
import torch

from tkeras.core import dtype_policies

from tkeras.core import config as _config
from tkeras.core.object_families import get_object, names_table
from tkeras.core.registry import (
    deserialize_keras_object,
    keras_export,
    serialize_keras_object,
)

def to_torch_dtype(dtype):
    """None -> floatx(); a name ("float32"), NumPy dtype or torch dtype -> torch dtype."""
    return dtype_policies.torch_dtype(dtype)


def _shape(shape):
    return tuple(int(d) for d in shape)


@keras_export("keras.Initializer", "keras.initializers.Initializer")
class Initializer:
    """Base class: subclasses implement `__call__(shape, dtype=None)` and, when they take
    arguments, `get_config()` (the built-in ones name their config attributes in
    `_config_keys`)."""

    _config_keys = ()

    def __call__(self, shape, dtype=None):
        raise NotImplementedError("Initializer subclasses must implement the `__call__()` method.")

    def get_config(self):
        return {key: getattr(self, key) for key in self._config_keys}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())


# ----------------------------------------------------------------------------- constant


@keras_export("keras.initializers.Constant", "keras.initializers.constant")
class Constant(Initializer):
    """Fills with `value` (a scalar, or an array broadcast to `shape`). Unlike Keras,
    `from_config({})` (hence `get("constant")`) works and uses the default value."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        dtype = to_torch_dtype(dtype)
        return torch.as_tensor(self.value, dtype=dtype) * torch.ones(_shape(shape), dtype=dtype)

    def get_config(self):
        return {"value": serialize_keras_object(self.value)}

    @classmethod
    def from_config(cls, config):
        return cls(deserialize_keras_object(config["value"])) if "value" in config else cls()


@keras_export("keras.initializers.Zeros", "keras.initializers.zeros")
class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return torch.zeros(_shape(shape), dtype=to_torch_dtype(dtype))


@keras_export("keras.initializers.Ones", "keras.initializers.ones")
class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return torch.ones(_shape(shape), dtype=to_torch_dtype(dtype))


@keras_export(
    "keras.initializers.Identity",
    "keras.initializers.identity",
    "keras.initializers.IdentityInitializer",
)
class Identity(Initializer):
    """`gain * eye` for 2D shapes. As in Keras, `gain` is not part of the config."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        return self.gain * torch.eye(*_shape(shape), dtype=to_torch_dtype(dtype))


_WINDOWS = {
    "hann": torch.signal.windows.hann,
    "hamming": torch.signal.windows.hamming,
    "blackman": torch.signal.windows.blackman,
    "bartlett": torch.signal.windows.bartlett,
    "cosine": torch.signal.windows.cosine,
    "nuttall": torch.signal.windows.nuttall,
}


@keras_export(
    "keras.initializers.STFT", "keras.initializers.stft", "keras.initializers.STFTInitializer"
)
class STFT(Initializer):
    """Real or imaginary DFT kernel of shape `(frame_length, 1, fft_length)`, windowed and
    scaled as Keras's. Named windows are limited to those torch provides (hann, hamming,
    blackman, bartlett, cosine, nuttall); an array window works as in Keras."""

    _config_keys = ("side", "window", "periodic", "scaling")

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ["real", "imag"]:
            raise ValueError(f"side should be 'real' or 'imag', not {side}")
        if isinstance(window, str) and window not in _WINDOWS:
            raise ValueError(f"Unknown window {window!r}; expected one of {sorted(_WINDOWS)}.")
        if scaling is not None and scaling not in ["density", "spectrum"]:
            raise ValueError(
                "Scaling is invalid, it must be `None`, 'density' "
                f"or 'spectrum'. Received scaling={scaling}"
            )
        self.side = side
        self.window = window
        self.scaling = scaling
        self.periodic = periodic

    def __call__(self, shape, dtype=None):
        dtype = to_torch_dtype(dtype)
        frame_length, _, fft_length = _shape(shape)
        win = None
        scaling = 1.0
        if self.window is not None:
            if isinstance(self.window, str):
                window_fn = _WINDOWS[self.window]
                win = window_fn(frame_length, sym=not self.periodic, dtype=torch.float64)
            else:
                win = torch.as_tensor(np.asarray(self.window), dtype=torch.float64)
            if win.ndim != 1 or win.shape[-1] != frame_length:
                raise ValueError(
                    "The shape of `window` must be equal to [frame_length]."
                    f"Received: window shape={tuple(win.shape)}"
                )
            win = win.to(dtype).reshape(frame_length, 1, 1)
            if self.scaling == "density":
                scaling = torch.sqrt(torch.sum(win**2))
            elif self.scaling == "spectrum":
                scaling = torch.sum(torch.abs(win))
        freq = torch.arange(fft_length, dtype=dtype).reshape(1, 1, fft_length) / (
            (fft_length - 1) * 2
        )
        time = torch.arange(frame_length, dtype=dtype).reshape(frame_length, 1, 1)
        args = -2 * time * freq * torch.arccos(torch.tensor(-1.0, dtype=dtype))
        kernel = torch.cos(args) if self.side == "real" else torch.sin(args)
        if win is not None:
            kernel = kernel * win / scaling
        return kernel


# ----------------------------------------------------------------------------- random


class RandomInitializer(Initializer):
    """Base of the seeded initializers: resolves `seed` and makes the torch generator."""

    def __init__(self, seed=None):
        self._init_seed = seed
        if seed is None:
            seed = python_random.randint(1, int(1e9))
        if not isinstance(seed, int):
            raise ValueError(f"`seed` argument should be an integer. Received: seed={seed}")
        self.seed = seed

    def _generator(self):
        return torch.Generator().manual_seed(self.seed)

    def _sample(self, shape, dtype, fill):
        """Draw on the CPU with this initializer's generator (so results do not depend on the
        device), in float32/float64, then cast and move to the default device."""
        dtype = to_torch_dtype(dtype)
        work = torch.float64 if dtype == torch.float64 else torch.float32
        out = torch.empty(_shape(shape), dtype=work)
        fill(out, self._generator())
        return out.to(device=torch.get_default_device(), dtype=dtype)

    def get_config(self):
        return {"seed": serialize_keras_object(self._init_seed), **super().get_config()}


def _normal(mean, stddev):
    return lambda t, g: t.normal_(mean, stddev, generator=g)


_ERF_2_OVER_SQRT2 = math.erf(2 / math.sqrt(2))  # P(|z| < 2) for a standard normal


def _truncated_normal(mean, stddev):
    """Normal cut at two standard deviations, as `keras.random.truncated_normal`, sampled in one
    pass by inverting the CDF (torch's `trunc_normal_` is ~6x slower on large kernels)."""

    def fill(t, g):
        t.uniform_(-_ERF_2_OVER_SQRT2, _ERF_2_OVER_SQRT2, generator=g)
        t.erfinv_().mul_(stddev * math.sqrt(2.0)).add_(mean)
        return t.clamp_(mean - 2 * stddev, mean + 2 * stddev)

    return fill


def _uniform(minval, maxval):
    return lambda t, g: t.uniform_(minval, maxval, generator=g)


class _Distribution(RandomInitializer):
    """Values drawn by `_fill(*params)`, the parameters being the config values."""

    _fill = None

    def __call__(self, shape, dtype=None):
        params = (getattr(self, key) for key in self._config_keys)
        return self._sample(shape, dtype, type(self)._fill(*params))


class _Normal(_Distribution):
    _config_keys = ("mean", "stddev")

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)


@keras_export("keras.initializers.RandomNormal", "keras.initializers.random_normal")
class RandomNormal(_Normal):
    _fill = staticmethod(_normal)


@keras_export("keras.initializers.TruncatedNormal", "keras.initializers.truncated_normal")
class TruncatedNormal(_Normal):
    """Normal values more than two standard deviations from the mean are redrawn."""

    _fill = staticmethod(_truncated_normal)


@keras_export("keras.initializers.RandomUniform", "keras.initializers.random_uniform")
class RandomUniform(_Distribution):
    _config_keys = ("minval", "maxval")
    _fill = staticmethod(_uniform)

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)


def compute_fans(shape, input_axes=None, output_axes=None):
    """`(fan_in, fan_out)` as Keras computes them: the given axes when both are set, else
    `(n, n)` for 1D, `(rows, cols)` for 2D, and for conv kernels `(..., in, out)` the receptive
    field size times `in` / `out`."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return int(math.prod(shape[a] for a in input_axes)), int(
            math.prod(shape[a] for a in output_axes)
        )
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


@keras_export("keras.initializers.VarianceScaling", "keras.initializers.variance_scaling")
class VarianceScaling(RandomInitializer):
    """Values with variance `scale / n`, `n` being fan_in, fan_out or their mean.

    `distribution="normal"` is stored as "truncated_normal", as in Keras.
    """

    _config_keys = ("scale", "mode", "distribution", "input_axes", "output_axes")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        allowed_modes = {"fan_in", "fan_out", "fan_avg"}
        if mode not in allowed_modes:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {allowed_modes}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        allowed_distributions = {"uniform", "truncated_normal", "untruncated_normal"}
        if distribution not in allowed_distributions:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution}."
                f"Please use one of {allowed_distributions}"
            )
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def _scaled_variance(self, shape):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        return self.scale / max(1.0, fan[self.mode])

    def __call__(self, shape, dtype=None):
        scale = self._scaled_variance(shape)
        if self.distribution == "truncated_normal":
            fill = _truncated_normal(0.0, math.sqrt(scale) / 0.87962566103423978)
        elif self.distribution == "untruncated_normal":
            fill = _normal(0.0, math.sqrt(scale))
        else:
            limit = math.sqrt(3.0 * scale)
            fill = _uniform(-limit, limit)
        return self._sample(shape, dtype, fill)


class _FixedVarianceScaling(VarianceScaling):
    """Glorot/He/Lecun: a VarianceScaling whose scale, mode and distribution are fixed, so
    only seed and axes are configurable."""

    _scale, _mode, _distribution = 1.0, "fan_in", "truncated_normal"
    _config_keys = ("input_axes", "output_axes")

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(scale=self._scale, mode=self._mode, distribution=self._distribution,
                         seed=seed, input_axes=input_axes, output_axes=output_axes)


@keras_export("keras.initializers.GlorotUniform", "keras.initializers.glorot_uniform")
class GlorotUniform(_FixedVarianceScaling):
    """Uniform in `[-limit, limit]`, `limit = sqrt(6 / (fan_in + fan_out))`."""

    _scale, _mode, _distribution = 1.0, "fan_avg", "uniform"


@keras_export("keras.initializers.GlorotNormal", "keras.initializers.glorot_normal")
class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal, `stddev = sqrt(2 / (fan_in + fan_out))` (before truncation)."""

    _scale, _mode, _distribution = 1.0, "fan_avg", "truncated_normal"


@keras_export("keras.initializers.LecunNormal", "keras.initializers.lecun_normal")
class LecunNormal(_FixedVarianceScaling):
    """Truncated normal, `stddev = sqrt(1 / fan_in)` (before truncation)."""

    _scale, _mode, _distribution = 1.0, "fan_in", "truncated_normal"


@keras_export("keras.initializers.LecunUniform", "keras.initializers.lecun_uniform")
class LecunUniform(_FixedVarianceScaling):
    """Uniform in `[-limit, limit]`, `limit = sqrt(3 / fan_in)`."""

    _scale, _mode, _distribution = 1.0, "fan_in", "uniform"


@keras_export("keras.initializers.HeNormal", "keras.initializers.he_normal")
class HeNormal(_FixedVarianceScaling):
    """Truncated normal, `stddev = sqrt(2 / fan_in)` (before truncation)."""

    _scale, _mode, _distribution = 2.0, "fan_in", "truncated_normal"


@keras_export("keras.initializers.HeUniform", "keras.initializers.he_uniform")
class HeUniform(_FixedVarianceScaling):
    """Uniform in `[-limit, limit]`, `limit = sqrt(6 / fan_in)`."""

    _scale, _mode, _distribution = 2.0, "fan_in", "uniform"


@keras_export(
    "keras.initializers.Orthogonal",
    "keras.initializers.orthogonal",
    "keras.initializers.OrthogonalInitializer",
)
class Orthogonal(RandomInitializer):
    """`gain` times an orthogonal matrix (QR of a normal matrix, sign-corrected), reshaped to
    `shape`; all but the last dimension are flattened into rows."""

    _config_keys = ("gain",)

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. Received: "
                f"shape={shape} of rank {len(shape)}."
            )
        shape = _shape(shape)
        num_rows, num_cols = math.prod(shape[:-1]), shape[-1]
        flat_shape = (max(num_cols, num_rows), min(num_cols, num_rows))
        dtype = to_torch_dtype(dtype)
        work = torch.float64 if dtype == torch.float64 else torch.float32
        a = self._sample(flat_shape, work, _normal(0.0, 1.0))
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))
        if num_rows < num_cols:
            q = q.T
        return (self.gain * q.reshape(shape)).to(dtype)


# ----------------------------------------------------------------------------- get / serialize

ALL_OBJECTS = (
    Initializer, Constant, Identity, Ones, STFT, Zeros, GlorotNormal, GlorotUniform, HeNormal,
    HeUniform, LecunNormal, LecunUniform, Orthogonal, RandomNormal, RandomUniform,
    TruncatedNormal, VarianceScaling,
)
ALL_OBJECTS_DICT = names_table(
    ALL_OBJECTS, IdentityInitializer=Identity, normal=RandomNormal, one=Ones,
    STFTInitializer=STFT, OrthogonalInitializer=Orthogonal, uniform=RandomUniform, zero=Zeros)


def serialize(initializer):
    return serialize_keras_object(initializer)


def deserialize(config, custom_objects=None):
    return deserialize_keras_object(config, custom_objects, module_objects=ALL_OBJECTS_DICT,
                                    printable_module_name="initializers")


def get(identifier):
    """None -> None; a name or config -> a new initializer; a class -> an instance; a tensor or
    array -> a function returning it (the requested shape must equal its shape); any other
    callable is returned as is."""
    if identifier is None:
        return None
    if isinstance(identifier, (torch.Tensor, np.ndarray, np.generic)):
        return _tensor_initializer(identifier)
    return get_object(identifier, deserialize,
                      lambda name: deserialize({"class_name": name, "config": {}}), "initializer")


def _tensor_initializer(value):
    def initialize_fn(shape, dtype=None):
        if _shape(shape) != tuple(value.shape):
            raise ValueError(
                f"Expected `shape` to be {tuple(value.shape)} for direct tensor as "
                f"initializer. Received shape={shape}"
            )
        return torch.as_tensor(value).to(to_torch_dtype(dtype))

    return initialize_fn
