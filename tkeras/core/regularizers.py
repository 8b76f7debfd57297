"""Keras 3 weight regularizers: `regularizer(weight) -> scalar torch tensor` added to the loss.

Keras behaviour kept: defaults, validation (non-negative finite factors), `get_config()` dicts,
including Keras's rounding of `L1.l1` and `OrthogonalRegularizer.factor` through a floatx
tensor (so `L1(0.1).get_config() == {"l1": 0.10000000149011612}` in float32).
"""

import math

import torch

from tkeras.core import config as _config
from tkeras.core.initializers import to_torch_dtype
from tkeras.core.object_families import get_object, names_table
from tkeras.core.registry import (
    deserialize_keras_object,
    keras_export,
    serialize_keras_object,
)


def validate_float_arg(value, name):
    """`value` as a float; a ValueError unless it is a finite, non-negative number."""
    if not isinstance(value, (float, int)) or math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float."
            f"Received: {name}={value}"
        )
    return float(value)


def _as_floatx(value):
    """The Python number Keras gets back after storing `value` in a floatx tensor."""
    return float(torch.tensor(value, dtype=to_torch_dtype(_config.floatx())).item())


@keras_export("keras.Regularizer", "keras.regularizers.Regularizer")
class Regularizer:
    """Base class: subclasses implement `__call__(x)` and `get_config()`."""

    def __call__(self, x):
        return 0.0

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")


@keras_export("keras.regularizers.L1L2", "keras.regularizers.l1_l2")
class L1L2(Regularizer):
    """`l1 * sum(|x|) + l2 * sum(x**2)`."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = validate_float_arg(0.0 if l1 is None else l1, name="l1")
        self.l2 = validate_float_arg(0.0 if l2 is None else l2, name="l2")

    def __call__(self, x):
        regularization = torch.zeros((), dtype=x.dtype, device=x.device)
        if self.l1 != 0.0:
            regularization = regularization + self.l1 * torch.sum(torch.abs(x))
        if self.l2 != 0.0:
            regularization = regularization + self.l2 * torch.sum(torch.square(x))
        return regularization

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


@keras_export("keras.regularizers.L1", "keras.regularizers.l1")
class L1(Regularizer):
    """`l1 * sum(|x|)`."""

    def __init__(self, l1=0.01):
        self.l1 = _as_floatx(validate_float_arg(0.01 if l1 is None else l1, name="l1"))

    def __call__(self, x):
        return self.l1 * torch.sum(torch.abs(x))

    def get_config(self):
        return {"l1": self.l1}


@keras_export("keras.regularizers.L2", "keras.regularizers.l2")
class L2(Regularizer):
    """`l2 * sum(x**2)`."""

    def __init__(self, l2=0.01):
        self.l2 = validate_float_arg(0.01 if l2 is None else l2, name="l2")

    def __call__(self, x):
        return self.l2 * torch.sum(torch.square(x))

    def get_config(self):
        return {"l2": self.l2}


@keras_export(
    "keras.regularizers.OrthogonalRegularizer", "keras.regularizers.orthogonal_regularizer"
)
class OrthogonalRegularizer(Regularizer):
    """`factor * mean |cos|` over pairs of distinct rows (or columns) of a 2D weight, i.e.
    `0.5 * factor * sum(|offdiag(N N^T)|) / num_pairs` with L2-normalized rows `N`."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _as_floatx(validate_float_arg(factor, name="factor"))
        if mode not in {"rows", "columns"}:
            raise ValueError(
                "Invalid value for argument `mode`. Expected one of "
                f'{{"rows", "columns"}}. Received: mode={mode}'
            )
        self.mode = mode

    def __call__(self, inputs):
        if inputs.ndim != 2:
            raise ValueError(
                "Inputs to OrthogonalRegularizer must have rank 2. Received: "
                f"inputs.shape={tuple(inputs.shape)}"
            )
        axis = 1 if self.mode == "rows" else 0
        # Keras's L2 normalization: x * min(rsqrt(sum(x**2)), 1 / epsilon).
        inv_norm = torch.rsqrt(torch.sum(torch.square(inputs), dim=axis, keepdim=True))
        normed = inputs * torch.clamp(inv_norm, max=1.0 / _config.epsilon())
        if self.mode == "rows":
            product, size = normed @ normed.T, inputs.shape[0]
        else:
            product, size = normed.T @ normed, inputs.shape[1]
        off_diagonal = product * (1.0 - torch.eye(size, dtype=inputs.dtype, device=inputs.device))
        num_pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * torch.sum(torch.abs(off_diagonal)) / num_pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


ALL_OBJECTS = (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)
# Keras's `get` misses its own public alias `l1_l2` (snake case of L1L2 is "l1l2"); accept it.
ALL_OBJECTS_DICT = names_table(ALL_OBJECTS, l1_l2=L1L2)


def serialize(regularizer):
    return serialize_keras_object(regularizer)


def deserialize(config, custom_objects=None):
    return deserialize_keras_object(config, custom_objects, module_objects=ALL_OBJECTS_DICT,
                                    printable_module_name="regularizers")


def get(identifier):
    """None -> None; a name -> a default instance; a config -> an instance; a class -> an
    instance; any other callable is returned as is."""
    if identifier is None:
        return None
    return get_object(identifier, deserialize, ALL_OBJECTS_DICT.get, "regularizer")
