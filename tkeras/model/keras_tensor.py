"""`KerasTensor`: a symbolic tensor (shape with `None`s, dtype) for the functional API."""

import collections

import numpy as np
import torch

from tkeras.core import dtype_policies
from tkeras.core import naming

KerasHistory = collections.namedtuple("KerasHistory", ["operation", "node_index", "tensor_index"])


class KerasTensor:
    def __init__(self, shape, dtype="float32", sparse=False, ragged=False, record_history=True,
                 name=None):
        self._shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype_policies.standardize_dtype(dtype)
        self.sparse = sparse
        self.ragged = ragged
        self.name = name or naming.auto_name("keras_tensor")
        self._keras_history = None
        self._keras_mask = None

    @property
    def shape(self):
        return self._shape

    @property
    def ndim(self):
        return len(self._shape)

    def __repr__(self):
        return (f"<KerasTensor shape={self._shape}, dtype={self.dtype}, sparse={self.sparse}, "
                f"ragged={self.ragged}, name={self.name}>")

    def __len__(self):
        raise TypeError("A KerasTensor is symbolic: it has no length. Use `tensor.shape` instead.")

    def __iter__(self):
        raise TypeError("A KerasTensor is symbolic: it cannot be iterated over.")

    def __bool__(self):
        raise TypeError("A KerasTensor is symbolic: it cannot be used as a Python boolean.")

    def numpy(self):
        raise ValueError(
            "A KerasTensor is symbolic: it's a placeholder for a shape and a dtype. It doesn't "
            "have any actual numerical value. You cannot convert it to a NumPy array."
        )

    def __int__(self):
        raise ValueError("A KerasTensor is symbolic: it cannot be converted to an int.")

    def __float__(self):
        raise ValueError("A KerasTensor is symbolic: it cannot be converted to a float.")

    def __array__(self, *args, **kwargs):
        raise ValueError(
            "A KerasTensor is symbolic: it's a placeholder for a shape and a dtype. It doesn't "
            "have any actual numerical value. You cannot convert it to a NumPy array."
        )

    # Python operators build the graph nodes Keras builds (`x + 1` -> an `Add` node of
    # `keras.src.ops.numpy`), so functional models using them serialize as Keras writes them.
    def reshape(self, newshape):
        return _np().reshape(self, newshape)

    def squeeze(self, axis=None):
        return _np().squeeze(self, axis=axis)

    def __add__(self, other):
        return _np().add(self, other)

    def __radd__(self, other):
        return _np().add(other, self)

    def __sub__(self, other):
        return _np().subtract(self, other)

    def __rsub__(self, other):
        return _np().subtract(other, self)

    def __mul__(self, other):
        return _np().multiply(self, other)

    def __rmul__(self, other):
        return _np().multiply(other, self)

    def __matmul__(self, other):
        return _np().matmul(self, other)

    def __rmatmul__(self, other):
        return _np().matmul(other, self)

    def __truediv__(self, other):
        return _np().true_divide(self, other)

    def __rtruediv__(self, other):
        return _np().true_divide(other, self)

    def __neg__(self):
        return _np().negative(self)

    def __abs__(self):
        return _np().absolute(self)

    def __pow__(self, other):
        return _np().power(self, other)

    def __rpow__(self, other):
        return _np().power(other, self)

    def __floordiv__(self, other):
        return _np().floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _np().floor_divide(other, self)

    def __mod__(self, other):
        return _np().mod(self, other)

    def __rmod__(self, other):
        return _np().mod(other, self)

    def __lt__(self, other):
        return _np().less(self, other)

    def __le__(self, other):
        return _np().less_equal(self, other)

    def __gt__(self, other):
        return _np().greater(self, other)

    def __ge__(self, other):
        return _np().greater_equal(self, other)

    def __ne__(self, other):
        return _np().not_equal(self, other)

    # As in Keras, `==` keeps Python's identity comparison (KerasTensors stay hashable).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __and__(self, other):
        return _np().logical_and(self, other)

    def __rand__(self, other):
        return _np().logical_and(other, self)

    def __or__(self, other):
        return _np().logical_or(self, other)

    def __ror__(self, other):
        return _np().logical_or(other, self)

    def __invert__(self):
        return _np().logical_not(self)

    def __xor__(self, other):
        return _np().logical_xor(self, other)

    def __rxor__(self, other):
        return _np().logical_xor(other, self)

    def __getitem__(self, key):
        return _np().get_item(self, key)

    def __round__(self, ndigits=None):
        return _np().round(self, decimals=ndigits or 0)


def _np():
    from tkeras.ops import numpy

    return numpy


def any_symbolic(structure):
    if isinstance(structure, KerasTensor):
        return True
    if isinstance(structure, (list, tuple)):
        return any(any_symbolic(s) for s in structure)
    if isinstance(structure, dict):
        return any(any_symbolic(s) for s in structure.values())
    return False


def _concrete(structure, sizes):
    """Replace KerasTensors by zero tensors (string ones by NumPy arrays of empty strings,
    strings having no torch dtype), unknown dims by `sizes` (batch, other)."""
    if isinstance(structure, KerasTensor):
        shape = [
            (sizes[0] if i == 0 else sizes[1]) if d is None else d
            for i, d in enumerate(structure.shape)
        ]
        if structure.dtype == "string":
            return np.full(shape, "", dtype=str)
        return torch.zeros(shape, dtype=dtype_policies.torch_dtype(structure.dtype))
    if isinstance(structure, list):
        return [_concrete(s, sizes) for s in structure]
    if isinstance(structure, tuple):
        return tuple(_concrete(s, sizes) for s in structure)
    if isinstance(structure, dict):
        return {k: _concrete(v, sizes) for k, v in structure.items()}
    return structure


class _SpecState:
    active = False


SPEC_STATE = _SpecState()


def spec_call(layer, args, kwargs):
    """Infer output KerasTensors by running `layer.call` on small concrete tensors twice."""
    kwargs = dict(kwargs)
    if "training" in kwargs:
        kwargs["training"] = False
    results = []
    previous = SPEC_STATE.active
    SPEC_STATE.active = True
    try:
        with torch.no_grad():
            for sizes in ((2, 7), (3, 9)):
                c_args = _concrete(list(args), sizes)
                c_kwargs = _concrete(kwargs, sizes)
                results.append(layer.call(*c_args, **c_kwargs))
    finally:
        SPEC_STATE.active = previous
    return _to_spec(results[0], results[1])


def _to_spec(a, b):
    if isinstance(a, torch.Tensor) or (isinstance(a, np.ndarray) and a.dtype.kind in "USO"):
        shape = tuple(da if da == db else None for da, db in zip(a.shape, b.shape))
        dtype = "string" if isinstance(a, np.ndarray) else a.dtype
        return KerasTensor(shape, dtype=dtype_policies.standardize_dtype(dtype))
    if isinstance(a, (list, tuple)):
        return type(a)(_to_spec(x, y) for x, y in zip(a, b)) if isinstance(a, list) else tuple(
            _to_spec(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return {k: _to_spec(a[k], b[k]) for k in a}
    return a
