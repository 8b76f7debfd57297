"""Keras 3's dtype promotion (`keras.backend.result_type`) and torch dtype conversion.

The lattice and rules are Keras's (`keras/src/backend/common/dtypes.py`, adapted from JAX):
Python `int`/`float` are *weak* (they take the other operand's precision: `int8 + int -> int8`,
`float16 + float -> float16`, `int32 + float -> floatx`), bool < int < float < complex, and a
64-bit result becomes 32-bit (`int64 -> int32`, `float64 -> float32`) as on Keras's torch backend.

As in Keras's torch backend, `uint16`/`uint32` have no torch dtype of their own and are stored as
`int32`/`int64` (`torch_dtype`).
"""

import functools

import numpy as np
import torch

from tkeras.core import config

BOOL_TYPES = ("bool",)
INT_TYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
WEAK_TYPES = ("int", "float")
COMPLEX_TYPES = ("complex64", "complex128")
FLOAT8_TYPES = ("float8_e4m3fn", "float8_e5m2")
ALLOWED_DTYPES = (
    "float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16",
    "int32", "int64", "bfloat16", "bool", "string", "float8_e4m3fn", "float8_e5m2", "complex64",
    "complex128",
)
PYTHON_DTYPES_MAP = {bool: "bool", int: "int32", float: "float32", str: "string",
                     "int": "int32", complex: "complex64"}

TORCH_DTYPES = {
    "float16": torch.float16,
    "float32": torch.float32,
    "float64": torch.float64,
    "uint8": torch.uint8,
    "uint16": torch.int32,
    "uint32": torch.int64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bfloat16": torch.bfloat16,
    "bool": torch.bool,
    "float8_e4m3fn": torch.float8_e4m3fn,
    "float8_e5m2": torch.float8_e5m2,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}

_BIT64_TO_BIT32 = {"int64": "int32", "uint64": "uint32", "float64": "float32",
                   "complex128": "complex64"}


def standardize_dtype(dtype):
    """Keras's dtype name for a string, Python type, torch / NumPy dtype (None -> floatx)."""
    if dtype is None:
        return config.floatx()
    dtype = PYTHON_DTYPES_MAP.get(dtype, dtype)
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).split(".")[-1]
    elif hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    if dtype not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype


def torch_dtype(dtype):
    """The torch dtype Keras's torch backend uses for `dtype`."""
    name = standardize_dtype(dtype)
    if name not in TORCH_DTYPES:
        raise ValueError(f"Unsupported dtype for PyTorch: {dtype}")
    return TORCH_DTYPES[name]


def dtype_of(x):
    """Keras's dtype of a value: a tensor's/array's dtype, or the Python type of a scalar (weak)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return type(x)
    return standardize_dtype(dtype)


def is_float_dtype(dtype):
    dtype = standardize_dtype(dtype)
    return dtype.startswith("float") or dtype.startswith("bfloat")


def is_int_dtype(dtype):
    dtype = standardize_dtype(dtype)
    return dtype.startswith("int") or dtype.startswith("uint")


# ----------------------------------------------------------------------------- the lattice
def _type_promotion_lattice():
    b1, = BOOL_TYPES
    u1, u2, u4, u8, i1, i2, i4, i8 = INT_TYPES
    bf, f2, f4, f8 = FLOAT_TYPES
    i_, f_ = WEAK_TYPES
    c64, c128 = COMPLEX_TYPES
    return {
        b1: [i_],
        u1: [i2, u2], u2: [i4, u4], u4: [i8, u8], u8: [f_],
        i_: [u1, i1, c64],
        i1: [i2], i2: [i4], i4: [i8], i8: [f_],
        f_: [bf, f2],
        bf: [f4], f2: [f4], f4: [f8, c64], f8: [c128],
        c64: [c128], c128: [],
    }


def _upper_bounds():
    lattice = _type_promotion_lattice()
    bounds = {node: {node} for node in lattice}
    for node in lattice:
        while True:
            grown = set().union(*(lattice[b] for b in bounds[node]))
            if grown.issubset(bounds[node]):
                break
            bounds[node] |= grown
    return bounds


_UPPER_BOUNDS = _upper_bounds()


@functools.lru_cache(512)
def _least_upper_bound(*nodes):
    nodes = set(nodes)
    missing = [n for n in nodes if n not in _UPPER_BOUNDS]
    if missing:
        raise ValueError(f"dtype={missing[0]!r} is not a valid dtype for Keras type promotion.")
    common = set.intersection(*(_UPPER_BOUNDS[n] for n in nodes))
    least = (common & nodes) or {c for c in common if common.issubset(_UPPER_BOUNDS[c])}
    if len(least) != 1:
        raise ValueError(
            f"Input dtypes {tuple(str(n) for n in nodes)} have no available implicit dtype "
            "promotion path. Try explicitly casting inputs to the desired output type.")
    return least.pop()


def _weak(dtype):
    if dtype == "bool":
        return dtype
    for kind in ("float", "int", "complex"):
        if kind in dtype:
            return kind
    raise ValueError(f"Invalid value for argument `dtype`. Expected one of {ALLOWED_DTYPES}. "
                     f"Received: dtype={dtype}")


def _resolve_weak(dtype, precision):
    indicator = "f" if dtype == "bfloat16" else dtype[:1]
    if indicator == "b":
        return "bool"
    if indicator == "i":
        return f"int{precision}"
    if indicator == "u":
        return f"uint{precision}"
    return f"float{precision}"


def _lattice_result_type(*args):
    dtypes = [standardize_dtype(a) for a in args]
    weak = [a is int or a is float for a in args]
    if len(dtypes) == 1:
        out, out_weak = dtypes[0], weak[0]
    elif len(set(dtypes)) == 1 and not all(weak):
        out, out_weak = dtypes[0], False
    elif all(weak):
        out, out_weak = _least_upper_bound(*set(dtypes)), True
    else:
        out = _least_upper_bound(*{_weak(d) if w else d for d, w in zip(dtypes, weak)})
        out_weak = out in WEAK_TYPES
    if out != "bool" and out_weak:
        out = _resolve_weak(out, config.floatx()[-2:])
    return _BIT64_TO_BIT32.get(out, out)


def result_type(*dtypes):
    """Keras's `keras.backend.result_type`: the promoted dtype of `dtypes`.

    Arguments are dtypes (strings, torch / NumPy dtypes, Python types `int`/`float`/`bool`,
    which are weak) or, for convenience, values (tensors, arrays, Python scalars), read with
    `dtype_of`. No argument -> floatx; `None` stands for floatx.
    """
    if not dtypes:
        return config.floatx()
    args = []
    for d in dtypes:
        if d is None:
            d = config.floatx()
        elif isinstance(d, (torch.Tensor, np.ndarray, np.generic, bool, int, float, complex)) \
                or hasattr(d, "shape") and hasattr(d, "dtype"):
            d = dtype_of(d)
        if isinstance(d, str) and d in FLOAT8_TYPES:
            raise ValueError("There is no implicit conversions from float8 dtypes to others. "
                             f"You must cast it internally. Received: {dtypes}")
        args.append(d)
    return _lattice_result_type(*args)
