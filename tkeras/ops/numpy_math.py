"""`keras.ops.numpy` element-wise math, comparisons, logic, bitwise ops and reductions.

Each op follows Keras 3's torch backend (`keras/src/backend/torch/numpy.py`): inputs are converted
as Keras's `convert_to_tensor` does (Python float -> floatx, int -> int32, bool -> bool, NumPy
keeps its dtype), then the torch kernel runs with Keras's dtype rules (`mean` of ints -> float32,
`sum` of bool/int8/int16/uint8 -> int32, `argmax` -> int32, comparisons -> bool, ...).
Deliberate differences from Keras's torch backend, where it departs from NumPy semantics, are
listed in docs/ops.md ("numpy math").
"""

import builtins
import math

import numpy as np
import torch

from tkeras.core import config
from tkeras.core.registry import keras_export
from tkeras.ops import dtypes
from tkeras.layers.layer import _is_symbolic
from tkeras.ops.operation import keras_op

_INT_NO_UINT = ("int8", "int16", "int32", "uint8", "uint16", "uint32")


# ----------------------------------------------------------------------------- helpers
def _tensor(x, dtype=None):
    """Keras's torch `convert_to_tensor`: tensors keep their dtype (cast if `dtype`), Python
    scalars become 0-d tensors (bool, int32 -- int64 beyond int32 --, floatx, complex64)."""
    if isinstance(x, torch.Tensor):
        return x if dtype is None else _cast(x, dtype)
    if isinstance(x, (bool, int, float, complex)):
        if dtype is not None:
            dt = dtypes.torch_dtype(dtype)
        elif isinstance(x, bool):
            dt = torch.bool
        elif isinstance(x, int):
            dt = torch.int64 if x < -(2 ** 31) or x >= 2 ** 31 else torch.int32
        elif isinstance(x, float):
            dt = dtypes.torch_dtype(config.floatx())
        else:
            dt = torch.complex64
        return torch.as_tensor(x, dtype=dt)
    if isinstance(x, (list, tuple)) and builtins.any(isinstance(v, torch.Tensor) for v in x):
        return torch.stack([_tensor(v) for v in x])
    if not isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(x, np.ndarray):
        if x.dtype == np.uint32:
            x = x.astype(np.int64)
        dtype = dtype or x.dtype
        return torch.as_tensor(np.ascontiguousarray(x), dtype=dtypes.torch_dtype(dtype))
    if dtype is None:
        flat = np.asarray(x, dtype=object).ravel().tolist()
        dtype = dtypes.result_type(*[type(v) for v in flat]) if flat else config.floatx()
    return torch.as_tensor(x, dtype=dtypes.torch_dtype(dtype))


def _tensors(*xs):
    """Convert several operands; 0-d tensors made from Python scalars join the others' device."""
    out = [_tensor(x) for x in xs]
    devices = {t.device for t in out if t.ndim > 0}
    if len(devices) == 1:
        device = devices.pop()
        out = [t if t.device == device else t.to(device) for t in out]
    return out


def _cast(x, dtype):
    dt = dtypes.torch_dtype(dtype) if not isinstance(dtype, torch.dtype) else dtype
    return x if x.dtype == dt else x.to(dt)


def _dtype(x):
    return dtypes.standardize_dtype(x.dtype)


def _axes(axis):
    """Keras's `to_tuple_or_list`."""
    if axis is None or isinstance(axis, (tuple, list)):
        return axis
    return [axis]


def _empty_axis(axis):
    return isinstance(axis, (tuple, list)) and len(axis) == 0


def _dim(axis):
    """`axis` as a torch `dim` argument (None, int or tuple)."""
    return tuple(axis) if isinstance(axis, list) else axis


def _canonical(axis, ndim):
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array with dimension {ndim}.")
    return axis + ndim if axis < 0 else axis


def _weak_dtype(x):
    """Keras's `getattr(x, "dtype", type(x))`: Python scalars stay weak."""
    return x.dtype if hasattr(x, "dtype") else type(x)


def _is_int_or_bool(dtype):
    return "int" in dtype or dtype == "bool"


def _unary(name, fn, doc):
    """A one-tensor op `name(x)` running `fn` on the converted tensor."""

    def op(x):
        return fn(_tensor(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    op.__module__ = __name__
    return keras_op("numpy")(op)


def _binary(name, fn, doc, params=("x1", "x2")):
    """A two-tensor op `name(x1, x2)` (or `name(x, y)`, Keras's bitwise signature) running `fn`
    on the converted tensors."""
    if params == ("x", "y"):
        def op(x, y):
            return fn(*_tensors(x, y))
    else:
        def op(x1, x2):
            return fn(*_tensors(x1, x2))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    op.__module__ = __name__
    return keras_op("numpy", tensors=params)(op)


# ----------------------------------------------------------------------------- arithmetic
@keras_op("numpy", tensors=("x1", "x2"))
def add(x1, x2):
    """Element-wise `x1 + x2` (torch promotion of the converted operands, as Keras)."""
    x1, x2 = _tensors(x1, x2)
    return torch.add(x1, x2)


@keras_op("numpy", tensors=("x1", "x2"))
def subtract(x1, x2):
    """Element-wise `x1 - x2`; a bool operand takes the other's dtype."""
    x1, x2 = _tensors(x1, x2)
    if x1.dtype == torch.bool:
        x1 = x1.to(x2.dtype)
    if x2.dtype == torch.bool:
        x2 = x2.to(x1.dtype)
    return torch.subtract(x1, x2)


@keras_op("numpy", tensors=("x1", "x2"))
def multiply(x1, x2):
    """Element-wise `x1 * x2`."""
    x1, x2 = _tensors(x1, x2)
    return torch.multiply(x1, x2)


def _divide(x1, x2):
    # Keras passes Python numbers straight to torch (int / int tensors -> float).
    if not isinstance(x1, (int, float)) or isinstance(x2, (int, float)):
        x1 = _tensor(x1)
    if not isinstance(x2, (int, float)):
        x2 = _tensor(x2)
    return torch.divide(x1, x2)


@keras_op("numpy", tensors=("x1", "x2"))
def divide(x1, x2):
    """Element-wise true division (ints divide to float32)."""
    return _divide(x1, x2)


@keras_op("numpy", tensors=("x1", "x2"))
def true_divide(x1, x2):
    """Alias of `divide`."""
    return _divide(x1, x2)


@keras_op("numpy", tensors=("x1", "x2"))
def divide_no_nan(x1, x2):
    """`x1 / x2`, 0 where `x2 == 0`; computed in `result_type(x1, x2, float)`."""
    dtype = dtypes.result_type(_weak_dtype(x1), _weak_dtype(x2), float)
    x1, x2 = _tensors(_tensor(x1, dtype), _tensor(x2, dtype))
    zero = x2 == 0
    safe_x2 = torch.where(zero, torch.ones_like(x2), x2)
    return torch.where(zero, torch.zeros((), dtype=x1.dtype, device=x1.device),
                       torch.divide(x1, safe_x2))


@keras_op("numpy", tensors=("x1", "x2"))
def floor_divide(x1, x2):
    """Element-wise floor division, in Keras's `result_type(x1, x2)` (Python scalars weak)."""
    dtype = dtypes.result_type(_weak_dtype(x1), _weak_dtype(x2))
    if not isinstance(x1, (int, float)) or isinstance(x2, (int, float)):
        x1 = _tensor(x1)
    if not isinstance(x2, (int, float)):
        x2 = _tensor(x2)
    return _cast(torch.floor_divide(x1, x2), dtype)


def _mod(fn, x1, x2):
    x1, x2 = _tensors(x1, x2)
    if dtypes.result_type(x1.dtype, x2.dtype) == "bool":
        x1, x2 = x1.to(torch.int32), x2.to(torch.int32)
    return fn(x1, x2)


@keras_op("numpy", tensors=("x1", "x2"))
def mod(x1, x2):
    """Element-wise remainder with the sign of `x2` (NumPy's `mod`); bools compute as int32."""
    return _mod(torch.remainder, x1, x2)


@keras_op("numpy", tensors=("x1", "x2"))
def fmod(x1, x2):
    """Element-wise remainder with the sign of `x1` (C `fmod`); bools compute as int32."""
    return _mod(torch.fmod, x1, x2)


@keras_op("numpy", tensors=("x1", "x2"))
def power(x1, x2):
    """Element-wise `x1 ** x2`."""
    x1, x2 = _tensors(x1, x2)
    return torch.pow(x1, x2)


@keras_op("numpy")
def negative(x):
    """Element-wise `-x`."""
    return torch.negative(_tensor(x))


@keras_op("numpy")
def reciprocal(x):
    """Element-wise `1 / x` (ints -> float32)."""
    return torch.reciprocal(_tensor(x))


@keras_op("numpy")
def square(x):
    """Element-wise `x * x`; bool computes as int32."""
    x = _tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    return torch.square(x)


@keras_op("numpy")
def sqrt(x):
    """Element-wise square root (ints -> float32; int64 -> floatx)."""
    x = _tensor(x)
    if x.dtype == torch.int64:
        x = _cast(x, config.floatx())
    return torch.sqrt(x)


@keras_op("numpy")
def cbrt(x):
    """Element-wise real cube root (bool -> int32 first, int64 -> float64 first)."""
    x = _tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    elif x.dtype == torch.int64:
        x = x.to(torch.float64)
    return torch.sign(x) * torch.abs(x) ** (1.0 / 3.0)


@keras_op("numpy")
def absolute(x):
    """Element-wise absolute value (bool unchanged)."""
    x = _tensor(x)
    return x if x.dtype == torch.bool else torch.abs(x)


@keras_export("keras.ops.abs", "keras.ops.numpy.abs")
def abs(x):
    """Alias of `absolute` (builds Keras's `Absolute` node)."""
    return absolute(x)


@keras_op("numpy")
def fabs(x):
    """Element-wise absolute value as a float (ints and bool -> floatx); no complex inputs."""
    x = _tensor(x)
    dtype = _dtype(x)
    if "complex" in dtype:
        raise TypeError(f"fabs does not support complex inputs. Received: x.dtype={x.dtype}")
    if _is_int_or_bool(dtype):
        x = _cast(x, config.floatx())
    return torch.abs(x)


@keras_op("numpy")
def sign(x):
    """Element-wise sign (-1, 0, 1) in the input dtype."""
    return torch.sign(_tensor(x))


def _float_like(x):
    """Ints and bool as floatx (for exp-like ops)."""
    return _cast(x, config.floatx()) if _is_int_or_bool(_dtype(x)) else x


@keras_op("numpy")
def exp(x):
    """Element-wise `e ** x` (ints and bool -> floatx)."""
    return torch.exp(_float_like(_tensor(x)))


@keras_op("numpy")
def exp2(x):
    """Element-wise `2 ** x` (ints and bool -> floatx)."""
    return torch.exp2(_float_like(_tensor(x)))


@keras_op("numpy")
def expm1(x):
    """Element-wise `exp(x) - 1` (ints and bool -> floatx)."""
    return torch.expm1(_float_like(_tensor(x)))


log = _unary("log", torch.log, "Element-wise natural logarithm (ints -> float32).")
log2 = _unary("log2", torch.log2, "Element-wise base-2 logarithm.")
log10 = _unary("log10", torch.log10, "Element-wise base-10 logarithm.")
log1p = _unary("log1p", torch.log1p, "Element-wise `log(1 + x)`.")
sin = _unary("sin", torch.sin, "Element-wise sine.")
cos = _unary("cos", torch.cos, "Element-wise cosine.")
tan = _unary("tan", torch.tan, "Element-wise tangent.")
arcsin = _unary("arcsin", torch.arcsin, "Element-wise inverse sine.")
arccos = _unary("arccos", torch.arccos, "Element-wise inverse cosine.")
arctan = _unary("arctan", torch.arctan, "Element-wise inverse tangent.")
sinh = _unary("sinh", torch.sinh, "Element-wise hyperbolic sine.")
cosh = _unary("cosh", torch.cosh, "Element-wise hyperbolic cosine.")
tanh = _unary("tanh", torch.tanh, "Element-wise hyperbolic tangent.")
arcsinh = _unary("arcsinh", torch.arcsinh, "Element-wise inverse hyperbolic sine.")
arccosh = _unary("arccosh", torch.arccosh, "Element-wise inverse hyperbolic cosine.")
arctanh = _unary("arctanh", torch.arctanh, "Element-wise inverse hyperbolic tangent.")
sinc = _unary("sinc", torch.sinc, "Element-wise normalized sinc, `sin(pi x) / (pi x)`.")


def _float_result(*xs):
    """Operands cast to `result_type(..., float)` (Keras's rule for float-valued binary ops)."""
    xs = _tensors(*xs)
    dtype = dtypes.result_type(*[x.dtype for x in xs], float)
    return [_cast(x, dtype) for x in xs], dtype


@keras_op("numpy", tensors=("x1", "x2"))
def arctan2(x1, x2):
    """Element-wise quadrant-aware `arctan(x1 / x2)`, in `result_type(x1, x2, float)`."""
    (x1, x2), dtype = _float_result(x1, x2)
    if dtype == "float16" and x1.device.type == "cpu":
        return torch.arctan2(x1.float(), x2.float()).to(torch.float16)
    return torch.arctan2(x1, x2)


@keras_op("numpy", tensors=("x1", "x2"))
def logaddexp(x1, x2):
    """Element-wise `log(exp(x1) + exp(x2))`, in `result_type(x1, x2, float)`."""
    (x1, x2), dtype = _float_result(x1, x2)
    if dtype == "float16" and x1.device.type == "cpu":
        return torch.logaddexp(x1.float(), x2.float()).to(torch.float16)
    return torch.logaddexp(x1, x2)


@keras_op("numpy", tensors=("x1", "x2"))
def logaddexp2(x1, x2):
    """Element-wise `log2(2 ** x1 + 2 ** x2)`, in `result_type(x1, x2, float)`."""
    (x1, x2), _ = _float_result(x1, x2)
    return torch.logaddexp2(x1, x2)


def _int_to_float_dtype(x1, x2):
    """Keras's rule for hypot/heaviside: int results become floatx (int64 -> float64)."""
    dtype = dtypes.result_type(x1.dtype, x2.dtype)
    if dtype in _INT_NO_UINT:
        return config.floatx()
    return "float64" if dtype == "int64" else dtype


@keras_op("numpy", tensors=("x1", "x2"))
def hypot(x1, x2):
    """Element-wise `sqrt(x1 ** 2 + x2 ** 2)` (int results -> floatx)."""
    x1, x2 = _tensors(x1, x2)
    dtype = _int_to_float_dtype(x1, x2)
    return torch.hypot(_cast(x1, dtype), _cast(x2, dtype))


@keras_op("numpy", tensors=("x1", "x2"))
def heaviside(x1, x2):
    """Heaviside step: 0 where `x1 < 0`, `x2` where `x1 == 0`, 1 where `x1 > 0`."""
    x1, x2 = _tensors(x1, x2)
    dtype = _int_to_float_dtype(x1, x2)
    return torch.heaviside(_cast(x1, dtype), _cast(x2, dtype))


@keras_op("numpy", tensors=("x1", "x2"))
def ldexp(x1, x2):
    """Element-wise `x1 * 2 ** x2`; `x2` must be an integer tensor."""
    x1, x2 = _tensors(x1, x2)
    dtype = dtypes.result_type(x1.dtype, x2.dtype, float)
    if _dtype(x2) not in dtypes.INT_TYPES:
        raise TypeError(f"ldexp exponent must be an integer type. Received: x2 dtype={x2.dtype}")
    return _cast(torch.ldexp(x1, x2), dtype)


@keras_op("numpy", tensors=("x1", "x2"))
def nextafter(x1, x2):
    """Next representable value after `x1` towards `x2`, in `result_type(x1, x2, float)`.

    Computed in the result dtype (NumPy's semantics); Keras's torch backend steps in float64
    and rounds back, which returns `x1` unchanged for float32."""
    (x1, x2), _ = _float_result(x1, x2)
    return torch.nextafter(x1, x2)


@keras_op("numpy")
def i0(x):
    """Modified Bessel function of the first kind, order 0 (ints -> floatx, int64 -> float64)."""
    x = _tensor(x)
    dtype = _dtype(x)
    if dtype in ("int64", "float64"):
        dtype = "float64"
    elif dtype not in ("bfloat16", "float16"):
        dtype = config.floatx()
    return torch.i0(_cast(x, dtype))


@keras_op("numpy")
def deg2rad(x):
    """Degrees to radians (ints -> float32; int64 -> float64)."""
    x = _tensor(x)
    out = torch.deg2rad(x)
    return out.to(torch.float64) if x.dtype == torch.int64 else out


@keras_op("numpy")
def rad2deg(x):
    """Radians to degrees (ints -> float32; int64 -> float64)."""
    x = _tensor(x)
    out = torch.rad2deg(x)
    return out.to(torch.float64) if x.dtype == torch.int64 else out


@keras_op("numpy", tensors=("x1", "x2"))
def maximum(x1, x2):
    """Element-wise maximum (NaN propagates), in `result_type(x1, x2)` (Python scalars weak)."""
    return torch.maximum(*_promoted(x1, x2))


@keras_op("numpy", tensors=("x1", "x2"))
def minimum(x1, x2):
    """Element-wise minimum (NaN propagates), in `result_type(x1, x2)` (Python scalars weak)."""
    return torch.minimum(*_promoted(x1, x2))


@keras_op("numpy", tensors=("x1", "x2"))
def fmax(x1, x2):
    """Element-wise maximum ignoring NaN, in `result_type(x1, x2)`."""
    return torch.fmax(*_promoted(x1, x2))


@keras_op("numpy", tensors=("x1", "x2"))
def fmin(x1, x2):
    """Element-wise minimum ignoring NaN, in `result_type(x1, x2)`."""
    return torch.fmin(*_promoted(x1, x2))


def _promoted(x1, x2):
    dtype = dtypes.result_type(_weak_dtype(x1), _weak_dtype(x2))
    return _tensors(_tensor(x1, dtype), _tensor(x2, dtype))


@keras_op("numpy", tensors=("x",))
def clip(x, x_min, x_max):
    """Element-wise clip to `[x_min, x_max]`; bool computes as int32."""
    x, x_min, x_max = _tensors(x, x_min, x_max)
    if x.dtype == torch.float16 and x.device.type == "cpu":
        return torch.clip(x.float(), min=x_min, max=x_max).to(torch.float16)
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    return torch.clip(x, min=x_min, max=x_max)


gcd = _binary("gcd", torch.gcd, "Element-wise greatest common divisor (integers).")
lcm = _binary("lcm", torch.lcm, "Element-wise least common multiple (integers).")


# ----------------------------------------------------------------------------- rounding
@keras_op("numpy")
def round(x, decimals=0):
    """Round half to even to `decimals` places; int inputs round in floatx and stay int."""
    x = _tensor(x)
    dtype = _dtype(x)
    if "int" in dtype:
        return _cast(torch.round(_cast(x, config.floatx()), decimals=decimals), dtype)
    return torch.round(x, decimals=decimals)


def _round_dtype(x):
    return config.floatx() if _dtype(x) == "int64" else dtypes.result_type(x.dtype, float)


@keras_op("numpy")
def floor(x):
    """Element-wise floor, as a float (ints -> float32)."""
    x = _tensor(x)
    return torch.floor(_cast(x, _round_dtype(x)))


@keras_op("numpy")
def ceil(x):
    """Element-wise ceiling, as a float (ints -> float32)."""
    x = _tensor(x)
    dtype = _round_dtype(x)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    elif x.dtype == torch.float16 and x.device.type == "cpu":
        x = _cast(x, config.floatx())
    return _cast(torch.ceil(x), dtype)


@keras_op("numpy")
def trunc(x):
    """Element-wise truncation towards zero, in the input dtype."""
    x = _tensor(x)
    return x if x.dtype == torch.bool else torch.trunc(x)


# ----------------------------------------------------------------------------- complex
def _complex_tensor(x):
    return x if isinstance(x, torch.Tensor) else _tensor(x)


@keras_op("numpy")
def real(x):
    """Real part (real inputs unchanged)."""
    return torch.real(_complex_tensor(x))


@keras_op("numpy")
def imag(x):
    """Imaginary part (zeros for real inputs, as NumPy; Keras's torch backend raises)."""
    x = _complex_tensor(x)
    return torch.imag(x) if x.is_complex() else torch.zeros_like(x)


@keras_op("numpy")
def conjugate(x):
    """Complex conjugate (real inputs unchanged)."""
    return torch.conj(_complex_tensor(x)).resolve_conj()


@keras_export("keras.ops.conj", "keras.ops.numpy.conj")
def conj(x):
    """Alias of `conjugate` (builds Keras's `Conjugate` node)."""
    return conjugate(x)


@keras_op("numpy")
def angle(x):
    """Element-wise argument of complex numbers (0 or pi for reals)."""
    x = _tensor(x)
    if x.dtype == torch.float16 and x.device.type != "cpu":
        return torch.angle(x.float()).to(torch.float16)
    return torch.angle(x)


# ----------------------------------------------------------------------------- predicates
isfinite = _unary("isfinite", torch.isfinite, "Element-wise finiteness test (bool).")
isinf = _unary("isinf", torch.isinf, "Element-wise infinity test (bool).")
isnan = _unary("isnan", torch.isnan, "Element-wise NaN test (bool).")
isneginf = _unary("isneginf", torch.isneginf, "Element-wise negative-infinity test (bool).")
isposinf = _unary("isposinf", torch.isposinf, "Element-wise positive-infinity test (bool).")
isreal = _unary("isreal", torch.isreal, "Element-wise test for a zero imaginary part (bool).")
signbit = _unary("signbit", torch.signbit, "Element-wise sign-bit test (True for -0.0).")


def _close_operands(x1, x2):
    x1, x2 = _tensors(x1, x2)
    dtype = dtypes.result_type(x1.dtype, x2.dtype)
    return _cast(x1, dtype), _cast(x2, dtype), "float" in dtype


@keras_op("numpy", tensors=("x1", "x2", "rtol", "atol"))
def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Element-wise `|x1 - x2| <= atol + rtol * |x2|` (exact equality for non-floats).

    As in Keras, `rtol` and `atol` are node arguments, not op configuration."""
    x1, x2, is_float = _close_operands(x1, x2)
    if is_float:
        return torch.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return torch.eq(x1, x2)


@keras_op("numpy", tensors=("x1", "x2"), class_name="AllClose")
def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Whether all elements are `isclose` (a bool scalar)."""
    x1, x2, is_float = _close_operands(x1, x2)
    if is_float:
        return torch.all(torch.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan))
    return torch.all(torch.eq(x1, x2))


# ----------------------------------------------------------------------------- comparisons, logic
equal = _binary("equal", torch.eq, "Element-wise `x1 == x2` (bool).")
not_equal = _binary("not_equal", torch.not_equal, "Element-wise `x1 != x2` (bool).")
greater = _binary("greater", torch.greater, "Element-wise `x1 > x2` (bool).")
greater_equal = _binary("greater_equal", torch.greater_equal, "Element-wise `x1 >= x2` (bool).")
less = _binary("less", torch.less, "Element-wise `x1 < x2` (bool).")
less_equal = _binary("less_equal", torch.less_equal, "Element-wise `x1 <= x2` (bool).")
logical_and = _binary("logical_and", torch.logical_and, "Element-wise logical AND (bool).")
logical_or = _binary("logical_or", torch.logical_or, "Element-wise logical OR (bool).")
logical_xor = _binary("logical_xor", torch.logical_xor, "Element-wise logical XOR (bool).")
logical_not = _unary("logical_not", torch.logical_not, "Element-wise logical NOT (bool).")


# ----------------------------------------------------------------------------- bitwise
bitwise_and = _binary("bitwise_and", torch.bitwise_and, "Element-wise bitwise AND.", ("x", "y"))
bitwise_or = _binary("bitwise_or", torch.bitwise_or, "Element-wise bitwise OR.", ("x", "y"))
bitwise_xor = _binary("bitwise_xor", torch.bitwise_xor, "Element-wise bitwise XOR.", ("x", "y"))
bitwise_invert = _unary("bitwise_invert", torch.bitwise_not, "Element-wise bitwise NOT.")


@keras_op("numpy")
def bitwise_not(x):
    """Alias of `bitwise_invert` (builds Keras's `BitwiseNot` node)."""
    return torch.bitwise_not(_tensor(x))


def _shift(fn, x, y):
    x = _tensor(x)
    if not isinstance(y, int):  # Keras passes a Python int shift to torch as is
        x, y = _tensors(x, y)
    return fn(x, y)


@keras_op("numpy", tensors=("x", "y"))
def bitwise_left_shift(x, y):
    """Element-wise `x << y`."""
    return _shift(torch.bitwise_left_shift, x, y)


@keras_op("numpy", tensors=("x", "y"))
def left_shift(x, y):
    """Alias of `bitwise_left_shift` (builds Keras's `LeftShift` node)."""
    return _shift(torch.bitwise_left_shift, x, y)


@keras_op("numpy", tensors=("x", "y"))
def bitwise_right_shift(x, y):
    """Element-wise `x >> y` (arithmetic shift for signed ints)."""
    return _shift(torch.bitwise_right_shift, x, y)


@keras_op("numpy", tensors=("x", "y"))
def right_shift(x, y):
    """Alias of `bitwise_right_shift` (builds Keras's `RightShift` node)."""
    return _shift(torch.bitwise_right_shift, x, y)


# ----------------------------------------------------------------------------- reductions
def _reduction_sum_dtype(dtype):
    """JAX's rule Keras follows: small ints and bool accumulate (and return) as int32."""
    return "int32" if dtype in ("bool", "uint8", "int8", "int16") else dtype


@keras_op("numpy")
def sum(x, axis=None, keepdims=False):
    """Sum over `axis` (all axes when None); bool/int8/int16/uint8 -> int32."""
    x = _tensor(x)
    if _empty_axis(axis):
        return x
    dtype = _reduction_sum_dtype(_dtype(x))
    if axis is None:
        return _cast(torch.sum(x), dtype)
    return _cast(torch.sum(x, dim=_dim(axis), keepdim=keepdims), dtype)


@keras_op("numpy")
def nansum(x, axis=None, keepdims=False):
    """Sum treating NaN as 0; bool/int8/int16/uint8 -> int32."""
    x = _tensor(x)
    dtype = _reduction_sum_dtype(_dtype(x))
    if _empty_axis(axis):
        return _cast(torch.nan_to_num(x, nan=0), dtype)
    return _cast(torch.nansum(x, dim=_dim(axis), keepdim=keepdims), dtype)


def _mean_dtypes(x):
    """(compute dtype, result dtype) of Keras's `mean`: ints and bool -> float32."""
    ori = _dtype(x)
    compute = dtypes.result_type(x.dtype, "float32")
    return compute, compute if _is_int_or_bool(ori) else ori


@keras_op("numpy")
def mean(x, axis=None, keepdims=False):
    """Mean over `axis`; ints and bool -> float32, floats keep their dtype."""
    x = _tensor(x)
    if _empty_axis(axis):
        return x
    compute, result = _mean_dtypes(x)
    x = _cast(x, compute)
    out = torch.mean(x) if axis is None and not keepdims else torch.mean(
        x, dim=_dim(_axes(axis)), keepdim=keepdims)
    return _cast(out, result)


@keras_op("numpy")
def nanmean(x, axis=None, keepdims=False):
    """Mean ignoring NaN, in `result_type(x, float)`."""
    x = _tensor(x)
    if _empty_axis(axis):
        return x
    dtype = dtypes.result_type(x.dtype, float)
    return torch.nanmean(_cast(x, dtype), dim=_dim(axis), keepdim=keepdims)


def _average(x, axis=None, weights=None):
    x = _tensor(x)
    dtype_args = [x.dtype, float]
    if weights is not None:
        weights = _tensors(x, weights)[1]
        dtype_args.append(weights.dtype)
    dtype = dtypes.result_type(*dtype_args)
    x = _cast(x, dtype)
    if _empty_axis(axis):
        return x
    if weights is None:
        return torch.mean(x) if axis is None else torch.mean(x, dim=_dim(_axes(axis)))
    weights = _cast(weights, dtype)
    if weights.ndim == 1 and x.ndim > 1 and axis is not None:
        shape = [1] * x.ndim
        shape[_canonical(axis, x.ndim)] = -1
        weights = weights.reshape(shape)
    weights = torch.broadcast_to(weights, x.shape)
    if axis is None:
        return torch.sum(x * weights) / torch.sum(weights)
    dim = _dim(_axes(axis))
    return torch.sum(x * weights, dim=dim) / torch.sum(weights, dim=dim)


# Keras records `weights` as a keyword argument of the node: build the node by hand.
_Average = keras_op("numpy", tensors=("x", "weights"), class_name="Average",
                    export=False)(_average).operation_class


@keras_export("keras.ops.average", "keras.ops.numpy.average")
def average(x, axis=None, weights=None):
    """Weighted average over `axis` (NumPy semantics: 1-D `weights` lie along `axis`), in
    `result_type(x, weights, float)`."""
    if _is_symbolic((x, weights), {}):
        return _Average(axis=axis)(x, weights=weights)
    return _average(x, axis=axis, weights=weights)


def _var(x, axis, keepdims):
    compute = dtypes.result_type(x.dtype, "float32")
    result = dtypes.result_type(x.dtype, float)
    if _empty_axis(axis):
        return torch.zeros_like(x, dtype=dtypes.torch_dtype(result))
    out = torch.var(_cast(x, compute), dim=_dim(axis), keepdim=keepdims, correction=0)
    return _cast(out, result)


@keras_op("numpy")
def var(x, axis=None, keepdims=False):
    """Population variance (no Bessel correction), in `result_type(x, float)`."""
    return _var(_tensor(x), axis, keepdims)


@keras_op("numpy")
def std(x, axis=None, keepdims=False):
    """Population standard deviation (no Bessel correction); ints and bool -> float32."""
    x = _tensor(x)
    if _is_int_or_bool(_dtype(x)):
        x = x.to(torch.float32)
    return torch.std(x, dim=_dim(axis), keepdim=keepdims, unbiased=False)


@keras_op("numpy")
def nanvar(x, axis=None, keepdims=False):
    """Population variance ignoring NaN, in `result_type(x, float)`."""
    x = _tensor(x)
    x = _cast(x, dtypes.result_type(x.dtype, float))
    if _empty_axis(axis):
        return torch.where(torch.isnan(x), x, torch.zeros((), dtype=x.dtype, device=x.device))
    dim = _dim(axis)
    valid = ~torch.isnan(x)
    centered = torch.where(valid, x - torch.nanmean(x, dim=dim, keepdim=True),
                           torch.zeros_like(x))
    if torch.is_complex(centered):
        centered = centered.real * centered.real + centered.imag * centered.imag
    else:
        centered = centered.square()
    if dim is None:
        out = centered.sum() / valid.sum()
        return out.reshape((1,) * x.ndim) if keepdims else out
    return centered.sum(dim=dim, keepdim=keepdims) / valid.sum(dim=dim, keepdim=keepdims)


@keras_op("numpy")
def nanstd(x, axis=None, keepdims=False):
    """Population standard deviation ignoring NaN."""
    return torch.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def _prod_dtype(x, dtype):
    if dtype is not None:
        return dtypes.standardize_dtype(dtype)
    dtype = dtypes.result_type(x.dtype)
    return "int32" if dtype in ("bool", "int8", "int16", "uint8") else dtype


@keras_op("numpy")
def prod(x, axis=None, keepdims=False, dtype=None):
    """Product over `axis`; bool and small ints -> int32 unless `dtype` is given."""
    x = _tensor(x)
    dtype = _prod_dtype(x, dtype)
    compute = "float32" if dtype == "float16" and x.device.type == "cpu" else dtype
    compute_dt = dtypes.torch_dtype(compute)
    if axis is None:
        out = torch.prod(x, dtype=compute_dt)
        return _cast(out.reshape((1,) * x.ndim) if keepdims else out, dtype)
    for a in sorted((_canonical(a, x.ndim) for a in _axes(axis)), reverse=True):
        x = _cast(torch.prod(x, dim=a, keepdim=keepdims, dtype=compute_dt), dtype)
    return x


@keras_op("numpy")
def nanprod(x, axis=None, keepdims=False):
    """Product treating NaN as 1."""
    x = _tensor(x)
    if _empty_axis(axis):
        return torch.nan_to_num(x, nan=1)
    if torch.is_floating_point(x):
        x = torch.where(torch.isnan(x), torch.ones((), dtype=x.dtype, device=x.device), x)
    return prod(x, axis=axis, keepdims=keepdims)


def _extreme(x, axis, keepdims, initial, amax_fn, pair_fn, name):
    x = _tensor(x)
    if 0 in x.shape:
        if initial is None:
            raise ValueError(f"Cannot compute the {name} of an empty tensor.")
        return torch.full((1,) * x.ndim if keepdims else (), initial, device=x.device)
    if _empty_axis(axis):
        out = x
    elif axis is None:
        out = amax_fn(x)
        if keepdims:
            out = out.reshape((1,) * x.ndim)
    else:
        out = amax_fn(x, dim=_dim(axis), keepdim=keepdims)
    if initial is not None:
        out = pair_fn(out, torch.full(out.shape, initial, dtype=out.dtype, device=out.device))
    return out


@keras_op("numpy")
def max(x, axis=None, keepdims=False, initial=None):
    """Maximum over `axis`; `initial` is a lower bound (and the result of an empty tensor)."""
    return _extreme(x, axis, keepdims, initial, torch.amax, torch.maximum, "max")


@keras_op("numpy")
def min(x, axis=None, keepdims=False, initial=None):
    """Minimum over `axis`; `initial` is an upper bound (and the result of an empty tensor)."""
    return _extreme(x, axis, keepdims, initial, torch.amin, torch.minimum, "min")


@keras_op("numpy")
def amax(x, axis=None, keepdims=False):
    """Maximum over `axis`."""
    return _extreme(x, axis, keepdims, None, torch.amax, None, "max")


@keras_op("numpy")
def amin(x, axis=None, keepdims=False):
    """Minimum over `axis`."""
    return _extreme(x, axis, keepdims, None, torch.amin, None, "min")


def _nan_extreme(x, axis, keepdims, fn, fill):
    x = _tensor(x)
    if not torch.is_floating_point(x):
        return _extreme(x, axis, keepdims, None, fn, None, "max")
    if _empty_axis(axis):
        return x
    clean = torch.where(torch.isnan(x), torch.full((), fill, dtype=x.dtype, device=x.device), x)
    dim = _dim(axis)
    if dim is None:
        out, all_nan = fn(clean), torch.isnan(x).all()
        if keepdims:
            out, all_nan = out.reshape((1,) * x.ndim), all_nan.reshape((1,) * x.ndim)
    else:
        out, all_nan = fn(clean, dim=dim, keepdim=keepdims), torch.isnan(x).all(
            dim=dim, keepdim=keepdims)
    return torch.where(all_nan, torch.full((), math.nan, dtype=x.dtype, device=x.device), out)


@keras_op("numpy")
def nanmax(x, axis=None, keepdims=False):
    """Maximum ignoring NaN (NaN where every element is NaN)."""
    return _nan_extreme(x, axis, keepdims, torch.amax, -math.inf)


@keras_op("numpy")
def nanmin(x, axis=None, keepdims=False):
    """Minimum ignoring NaN (NaN where every element is NaN)."""
    return _nan_extreme(x, axis, keepdims, torch.amin, math.inf)


@keras_op("numpy")
def ptp(x, axis=None, keepdims=False):
    """Range (`max - min`) over `axis`; bool inputs raise (as in NumPy and Keras)."""
    x = _tensor(x)
    if x.dtype == torch.bool:
        raise TypeError("ptp does not support bool inputs (max - min of booleans).")
    if _empty_axis(axis):
        return x - x  # NumPy: zeros, NaN where x is NaN or infinite
    return amax(x, axis=axis, keepdims=keepdims) - amin(x, axis=axis, keepdims=keepdims)


def _arg_extreme(fn, x, axis, keepdims):
    x = _tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    out = fn(x, dim=axis, keepdim=keepdims)
    if axis is None and keepdims:
        out = out.reshape((1,) * x.ndim)
    return out.to(torch.int32)


@keras_op("numpy")
def argmax(x, axis=None, keepdims=False):
    """Index of the maximum (first occurrence), over the flattened tensor when `axis` is None;
    int32."""
    return _arg_extreme(torch.argmax, x, axis, keepdims)


@keras_op("numpy")
def argmin(x, axis=None, keepdims=False):
    """Index of the minimum (first occurrence); int32."""
    return _arg_extreme(torch.argmin, x, axis, keepdims)


def _nan_arg_extreme(fn, fill, x, axis, keepdims):
    x = _tensor(x)
    if not torch.is_floating_point(x):
        return _arg_extreme(fn, x, axis, keepdims)
    nan = torch.isnan(x)
    clean = torch.where(nan, torch.full((), fill, dtype=x.dtype, device=x.device), x)
    all_nan = nan.all() if axis is None else nan.all(dim=axis, keepdim=keepdims)
    out = _arg_extreme(fn, clean, axis, keepdims)
    if axis is None and keepdims:
        all_nan = all_nan.reshape(out.shape)
    return torch.where(all_nan, torch.full((), -1, dtype=torch.int32, device=x.device), out)


@keras_op("numpy")
def nanargmax(x, axis=None, keepdims=False):
    """`argmax` ignoring NaN; -1 where every element is NaN."""
    return _nan_arg_extreme(torch.argmax, -math.inf, x, axis, keepdims)


@keras_op("numpy")
def nanargmin(x, axis=None, keepdims=False):
    """`argmin` ignoring NaN; -1 where every element is NaN."""
    return _nan_arg_extreme(torch.argmin, math.inf, x, axis, keepdims)


def _logical_reduce(fn, x, axis, keepdims):
    x = _tensor(x)
    if _empty_axis(axis):
        return x.to(torch.bool)
    if axis is None:
        out = fn(x)
        return (out.reshape((1,) * x.ndim) if keepdims else out).to(torch.bool)
    return fn(x, dim=_dim(_axes(axis)), keepdim=keepdims).to(torch.bool)


@keras_op("numpy")
def all(x, axis=None, keepdims=False):
    """Whether all elements over `axis` are truthy (bool)."""
    return _logical_reduce(torch.all, x, axis, keepdims)


@keras_op("numpy")
def any(x, axis=None, keepdims=False):
    """Whether any element over `axis` is truthy (bool)."""
    return _logical_reduce(torch.any, x, axis, keepdims)


@keras_op("numpy")
def count_nonzero(x, axis=None):
    """Number of non-zero elements over `axis` (int32)."""
    x = _tensor(x)
    if _empty_axis(axis):
        return torch.ne(x, 0).to(torch.int32)
    return torch.count_nonzero(x, dim=_dim(axis)).to(torch.int32)


def _cumulative(fn, x, axis, dtype):
    x = _tensor(x)
    if axis is None:
        x, axis = x.flatten(), 0
    dtype = dtypes.result_type(dtype or x.dtype)
    if dtype == "bool":
        dtype = "int32"
    elif dtype == "float16" and x.device.type == "cpu":
        return fn(x, dim=axis, dtype=torch.float32).to(torch.float16)
    return fn(x, dim=axis, dtype=dtypes.torch_dtype(dtype))


@keras_op("numpy")
def cumsum(x, axis=None, dtype=None):
    """Cumulative sum along `axis` (of the flattened tensor when None); bool -> int32."""
    dtype = None if dtype is None else dtypes.standardize_dtype(dtype)
    return _cumulative(torch.cumsum, x, axis, dtype)


@keras_op("numpy")
def cumprod(x, axis=None, dtype=None):
    """Cumulative product along `axis` (of the flattened tensor when None); bool -> int32."""
    dtype = None if dtype is None else dtypes.standardize_dtype(dtype)
    return _cumulative(torch.cumprod, x, axis, dtype)


@keras_op("numpy")
def nancumsum(x, axis=None, dtype=None):
    """`cumsum` treating NaN as 0."""
    return _cumulative(torch.cumsum, torch.nan_to_num(_tensor(x)), axis, dtype)


@keras_op("numpy")
def nancumprod(x, axis=None, dtype=None):
    """`cumprod` treating NaN as 1."""
    return _cumulative(torch.cumprod, torch.nan_to_num(_tensor(x), nan=1.0), axis, dtype)


def _quantile(fn, x, q, axis, method, keepdims):
    x, q = _tensors(x, q)
    axis = _axes(axis)
    compute = dtypes.result_type(x.dtype, "float32")
    result = dtypes.result_type(x.dtype, float)
    x = _cast(x, compute)
    q = _cast(q, x.dtype)
    if axis is None:
        y = x.reshape(-1)
    else:
        axis = [_canonical(a, x.ndim) for a in axis]
        others = sorted(set(range(x.ndim)).difference(axis))
        y = x.permute(others + axis)
        y = y.reshape([x.shape[i] for i in others] + [math.prod(x.shape[i] for i in axis)])
    y = fn(y, q, dim=-1, interpolation=method)
    if keepdims:
        if axis is None:
            y = y.reshape(tuple(y.shape) + (1,) * x.ndim)
        else:
            for i in sorted(axis):
                y = y.unsqueeze(i + 1 if q.ndim > 0 else i)
    return _cast(y, result)


@keras_op("numpy", tensors=("x", "q"))
def quantile(x, q, axis=None, method="linear", keepdims=False):
    """`q`-th quantiles (q in [0, 1]) over `axis`; quantile axes lead the result; ints -> float32.

    `method`: "linear", "lower", "higher", "midpoint" or "nearest"."""
    return _quantile(torch.quantile, x, q, axis, method, keepdims)


@keras_op("numpy", tensors=("x", "q"))
def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """`quantile` ignoring NaN."""
    return _quantile(torch.nanquantile, x, q, axis, method, keepdims)


@keras_op("numpy", tensors=("x", "q"))
def percentile(x, q, axis=None, method="linear", keepdims=False):
    """`q`-th percentiles (q in [0, 100]) over `axis`."""
    q = _tensor(q, config.floatx()) / 100.0
    return _quantile(torch.quantile, x, q, axis, method, keepdims)


@keras_op("numpy", tensors=("x", "q"))
def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """`percentile` ignoring NaN."""
    q = _tensor(q, config.floatx()) / 100.0
    return _quantile(torch.nanquantile, x, q, axis, method, keepdims)


@keras_op("numpy")
def median(x, axis=None, keepdims=False):
    """Median over `axis` (the mean of the two middle values for even counts); ints -> float32."""
    return _quantile(torch.quantile, x, 0.5, axis, "linear", keepdims)


@keras_op("numpy")
def nanmedian(x, axis=None, keepdims=False):
    """Median ignoring NaN."""
    x = _tensor(x)
    if _empty_axis(axis):
        return x
    return _quantile(torch.nanquantile, x, 0.5, axis, "linear", keepdims)


@keras_op("numpy")
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """Replace NaN by `nan`, +inf by `posinf`, -inf by `neginf` (dtype extremes when None)."""
    return torch.nan_to_num(_tensor(x), nan=nan, posinf=posinf, neginf=neginf)


__all__ = [
    "abs", "absolute", "add", "all", "allclose", "amax", "amin", "angle", "any", "arccos",
    "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "argmax", "argmin", "average",
    "bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_not", "bitwise_or",
    "bitwise_right_shift", "bitwise_xor", "cbrt", "ceil", "clip", "conj", "conjugate", "cos",
    "cosh", "count_nonzero", "cumprod", "cumsum", "deg2rad", "divide", "divide_no_nan", "equal",
    "exp", "exp2", "expm1", "fabs", "floor", "floor_divide", "fmax", "fmin", "fmod", "gcd",
    "greater", "greater_equal", "heaviside", "hypot", "i0", "imag", "isclose", "isfinite",
    "isinf", "isnan", "isneginf", "isposinf", "isreal", "lcm", "ldexp", "left_shift", "less",
    "less_equal", "log", "log10", "log1p", "log2", "logaddexp", "logaddexp2", "logical_and",
    "logical_not", "logical_or", "logical_xor", "max", "maximum", "mean", "median", "min",
    "minimum", "mod", "multiply", "nan_to_num", "nanargmax", "nanargmin", "nancumprod",
    "nancumsum", "nanmax", "nanmean", "nanmedian", "nanmin", "nanpercentile", "nanprod",
    "nanquantile", "nanstd", "nansum", "nanvar", "negative", "nextafter", "not_equal",
    "percentile", "power", "prod", "ptp", "quantile", "rad2deg", "real", "reciprocal",
    "right_shift", "round", "sign", "signbit", "sin", "sinc", "sinh", "sqrt", "square", "std",
    "subtract", "sum", "tan", "tanh", "true_divide", "trunc", "var",
]
