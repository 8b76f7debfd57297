"""Keras 3 weight constraints: `constraint(w) -> projected w`, applied after optimizer steps.

Keras behaviour kept: defaults, `get_config()` dicts, norms taken over `axis` (an int or a list of
ints) with `epsilon()` added to the denominator.
"""

import torch

from tkeras.core import config as _config
from tkeras.core.object_families import get_object, names_table
from tkeras.core.registry import (
    deserialize_keras_object,
    keras_export,
    serialize_keras_object,
)


def _norms(w, axis):
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return torch.sqrt(torch.sum(torch.square(w), dim=axis, keepdim=True))


def _tensor(w):
    return w if isinstance(w, torch.Tensor) else torch.as_tensor(w)


@keras_export("keras.constraints.Constraint")
class Constraint:
    """Base class: subclasses implement `__call__(w)` (the identity here) and `get_config()`."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras_export("keras.constraints.MaxNorm", "keras.constraints.max_norm")
class MaxNorm(Constraint):
    """Rescales slices along `axis` whose L2 norm exceeds `max_value`."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = _tensor(w)
        norms = _norms(w, self.axis)
        desired = torch.clamp(norms, 0, self.max_value)
        return w * (desired / (_config.epsilon() + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


@keras_export("keras.constraints.NonNeg", "keras.constraints.non_neg")
class NonNeg(Constraint):
    """`max(w, 0)`."""

    def __call__(self, w):
        return torch.clamp(_tensor(w), min=0)


@keras_export("keras.constraints.UnitNorm", "keras.constraints.unit_norm")
class UnitNorm(Constraint):
    """Divides slices along `axis` by their L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = _tensor(w)
        return w / (_config.epsilon() + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


@keras_export("keras.constraints.MinMaxNorm", "keras.constraints.min_max_norm")
class MinMaxNorm(Constraint):
    """Moves slice norms a fraction `rate` of the way into `[min_value, max_value]`."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = _tensor(w)
        norms = _norms(w, self.axis)
        desired = (
            self.rate * torch.clamp(norms, self.min_value, self.max_value)
            + (1 - self.rate) * norms
        )
        return w * (desired / (_config.epsilon() + norms))

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


ALL_OBJECTS = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
ALL_OBJECTS_DICT = names_table(ALL_OBJECTS)


def serialize(constraint):
    return serialize_keras_object(constraint)


def deserialize(config, custom_objects=None):
    return deserialize_keras_object(config, custom_objects, module_objects=ALL_OBJECTS_DICT,
                                    printable_module_name="constraints")


def get(identifier):
    """None -> None; a name -> a default instance; a config -> an instance; a class -> an
    instance; any other callable is returned as is."""
    if identifier is None:
        return None
    return get_object(identifier, deserialize, ALL_OBJECTS_DICT.get, "constraint")
