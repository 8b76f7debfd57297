"""`keras.ops.numpy` array ops: creation, shapes and layout, joining and splitting, indexing,
searching and sorting, products, windows and other NumPy-style helpers.

Each op follows Keras 3's torch backend (`keras/src/backend/torch/numpy.py`): same result dtypes
(e.g. `arange` of Python ints -> int32, `linspace` -> floatx, `argsort` -> int32, `matmul` of two
int8 -> int32) and the same node (Keras's `Operation` class name and config) on `KerasTensor`s.
Ops whose Keras function never builds a node (`eye`, `ones`, `zeros`, `tri`, `identity`, `empty`,
`vectorize`, the windows) are plain functions. Deliberate differences are listed in docs/ops.md.
"""

import builtins
import math
import re

import torch

from tkeras.core import config
from tkeras.core.registry import keras_export
from tkeras.layers.layer import _is_symbolic
from tkeras.model.keras_tensor import KerasTensor
from tkeras.model.keras_tensor import spec_call
from tkeras.ops import dtypes
from tkeras.ops.operation import keras_op
from tkeras.ops.operation import to_tensor

__all__ = [
    "append", "arange", "argpartition", "argsort", "array", "array_split", "bartlett", "bincount",
    "blackman", "broadcast_to", "concatenate", "copy", "corrcoef", "correlate", "cross", "diag",
    "diagflat", "diagonal", "diff", "digitize", "dot", "dsplit", "dstack", "einsum", "empty",
    "empty_like", "expand_dims", "eye", "flip", "fliplr", "flipud", "full", "full_like",
    "geomspace", "get_item", "hamming", "hanning", "histogram", "hsplit", "hstack", "identity",
    "inner", "isin", "kaiser", "kron", "linspace", "logspace", "matmul", "meshgrid", "moveaxis",
    "ndim", "nonzero", "ones", "ones_like", "outer", "pad", "ravel", "repeat", "reshape", "roll",
    "rot90", "searchsorted", "select", "size", "slogdet", "sort", "split", "squeeze", "stack",
    "swapaxes", "take", "take_along_axis", "tensordot", "tile", "trace", "transpose", "trapezoid",
    "tri", "tril", "triu", "unique", "unravel_index", "vander", "vdot", "vectorize", "view",
    "vsplit", "vstack", "where", "zeros", "zeros_like",
]


# ----------------------------------------------------------------------------- helpers
def _export(fn):
    """Register a plain function (no graph node) as `keras.ops.<name>`."""
    return keras_export(f"keras.ops.{fn.__name__}", f"keras.ops.numpy.{fn.__name__}")(fn)


def _dtype(x):
    return dtypes.standardize_dtype(x.dtype)


def _cast(x, dtype):
    return x.to(dtypes.torch_dtype(dtype))


def _torch_dtype(dtype, default=None):
    """torch dtype of `dtype`; `None` -> `default` (floatx when no default is given)."""
    if dtype is None:
        dtype = default if default is not None else config.floatx()
    return dtype if isinstance(dtype, torch.dtype) else dtypes.torch_dtype(dtype)


def _dtype_or_type(x):
    """What Keras's backend passes to result_type: a value's dtype, or the Python type."""
    return getattr(x, "dtype", type(x))


def _standardize(dtype):
    return None if dtype is None else dtypes.standardize_dtype(dtype)


def _canonical_axis(axis, ndim):
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


def _float_compute(x1, x2):
    """Keras's rule for dot-like products: compute in a float dtype, return the promoted one."""
    result = dtypes.result_type(x1.dtype, x2.dtype)
    compute = dtypes.result_type(result, float)
    if x1.device.type == "cpu" and compute == "float16":
        compute = "float32"
    return _cast(x1, compute), _cast(x2, compute), result


def _symbolic_unsupported(name, x):
    if isinstance(x, KerasTensor):
        raise TypeError(f"{name} operation does not support symbolic tensors. "
                        f"Received input x = {x} of type {type(x)}")


# ----------------------------------------------------------------------------- creation
def _arange(start, stop=None, step=None, *, dtype=None):
    if dtype is None:
        dtype = dtypes.result_type(*[_dtype_or_type(v) for v in (start, stop, step)
                                     if v is not None])
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    return torch.arange(start, stop, step, dtype=_torch_dtype(dtype))


_Arange = keras_op("numpy", tensors=("start", "stop", "step"), class_name="Arange",
                   export=False)(_arange).operation_class


@_export
def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in `[start, stop)`; the dtype is promoted from the arguments
    (Python ints -> int32, any float -> floatx) unless given."""
    dtype = _standardize(dtype)
    if _is_symbolic((start, stop, step), {}):
        return _Arange(dtype=dtype)(start, stop, step=step)
    return _arange(start, stop, step, dtype=dtype)


@keras_op("numpy", tensors=("x",))
def array(x, dtype=None):
    return to_tensor(x, _standardize(dtype))


@_export
def empty(shape, dtype=None):
    return torch.empty(shape, dtype=_torch_dtype(dtype))


@_export
def zeros(shape, dtype=None):
    return torch.zeros((shape,) if isinstance(shape, int) else shape, dtype=_torch_dtype(dtype))


@_export
def ones(shape, dtype=None):
    return torch.ones((shape,) if isinstance(shape, int) else shape, dtype=_torch_dtype(dtype))


@keras_op("numpy", class_name="EmptyLike")
def empty_like(x, dtype=None):
    x = to_tensor(x)
    return torch.empty_like(x, dtype=_torch_dtype(_standardize(dtype), x.dtype))


@keras_op("numpy", class_name="ZerosLike")
def zeros_like(x, dtype=None):
    x = to_tensor(x)
    return torch.zeros_like(x, dtype=_torch_dtype(_standardize(dtype), x.dtype))


@keras_op("numpy", class_name="OnesLike")
def ones_like(x, dtype=None):
    x = to_tensor(x)
    return torch.ones_like(x, dtype=_torch_dtype(_standardize(dtype), x.dtype))


@keras_op("numpy", tensors=("fill_value",))
def full(shape, fill_value, dtype=None):
    dtype = _torch_dtype(_standardize(dtype))
    fill_value = to_tensor(fill_value).to(dtype)
    if fill_value.ndim > 0:
        lead = len(shape) - fill_value.ndim
        return torch.tile(fill_value, tuple(shape[:lead]) + (1,) * fill_value.ndim)
    return torch.full(tuple(shape) if not isinstance(shape, int) else (shape,), 0,
                      dtype=dtype, device=fill_value.device) + fill_value


@keras_op("numpy", tensors=("x", "fill_value"), class_name="FullLike")
def full_like(x, fill_value, dtype=None):
    x = to_tensor(x)
    return full(tuple(x.shape), fill_value, dtype=_standardize(dtype) or _dtype(x))


def _check_eye_arg(v, message):
    if isinstance(v, float) or _standardize(getattr(v, "dtype", None) or "bool") in \
            dtypes.FLOAT_TYPES:
        raise TypeError(message)


@_export
def eye(N, M=None, k=0, dtype=None):
    """`N x M` matrix with ones on diagonal `k`."""
    _check_eye_arg(N, "Argument `N` must be an integer or an integer tensor.")
    _check_eye_arg(M, "Argument `M` must be an integer, an integer tensor, or `None`.")
    N, M = int(N), int(N if M is None else M)
    dtype = _torch_dtype(dtype)
    k = 0 if k is None else int(k)
    if k == 0:
        return torch.eye(N, M, dtype=torch.float32).to(dtype)
    return torch.diag(torch.ones(builtins.max(N, M), dtype=dtype), diagonal=k)[:N, :M]


@_export
def identity(n, dtype=None):
    return torch.eye(int(n), dtype=torch.float32).to(_torch_dtype(dtype))


@_export
def tri(N, M=None, k=0, dtype=None):
    return torch.tril(torch.ones((N, M or N), dtype=_torch_dtype(dtype)), diagonal=k)


def _linear_steps(start, stop, num, dtype):
    start, stop = to_tensor(start, dtype), to_tensor(stop, dtype)
    steps = torch.arange(num, dtype=start.dtype, device=start.device) / (num - 1)
    steps = steps.reshape((num,) + (1,) * start.ndim)
    return start[None] + steps * (stop - start)[None]


def _space_dtype(start, stop, dtype):
    if dtype is None:
        return dtypes.result_type(_dtype_or_type(start), _dtype_or_type(stop), float)
    return dtypes.standardize_dtype(dtype)


@keras_op("numpy", tensors=("start", "stop"))
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """`num` evenly spaced values from `start` to `stop` (floatx unless `dtype` is given).
    As on Keras's torch backend, `axis` must be 0."""
    if axis != 0:
        raise ValueError(f"torch.linspace does not support an `axis` argument. "
                         f"Received axis={axis}")
    dtype = _space_dtype(start, stop, dtype)
    step = torch.tensor(math.nan)
    if endpoint:
        if num > 1:
            step = (stop - start) / (num - 1)
    else:
        if num > 0:
            step = (stop - start) / num
        if num > 1:
            stop = stop - ((stop - start) / num)
    if hasattr(start, "__len__") and hasattr(stop, "__len__"):
        result = _linear_steps(start, stop, num, dtype)
    else:
        result = torch.linspace(start, stop, num, dtype=_torch_dtype(dtype))
    return (result, step) if retstep is True else result


@keras_op("numpy", tensors=("start", "stop"))
def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """`base ** linspace(start, stop)`; `axis` must be 0 as on Keras's torch backend."""
    if axis != 0:
        raise ValueError(f"torch.logspace does not support an `axis` argument. "
                         f"Received axis={axis}")
    dtype = _space_dtype(start, stop, dtype)
    if endpoint is False:
        stop = stop - ((stop - start) / num)
    if hasattr(start, "__len__") and hasattr(stop, "__len__"):
        return base ** _linear_steps(start, stop, num, dtype)
    torch_dtype = _torch_dtype(dtype)
    compute = torch.float32 if torch_dtype == torch.float16 else torch_dtype
    return torch.logspace(start, stop, num, base=base, dtype=compute).to(torch_dtype)


@keras_op("numpy", tensors=("start", "stop"))
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    if axis != 0:
        raise ValueError("torch does not support an `axis` argument for geomspace. "
                         f"Received axis={axis}")
    dtype = _space_dtype(start, stop, dtype)
    start, stop = to_tensor(start, dtype), to_tensor(stop, dtype)
    result = logspace(torch.log10(torch.abs(start)), torch.log10(torch.abs(stop)), num=num,
                      endpoint=endpoint, base=10, dtype=dtype)
    return result * torch.sign(start)


def _meshgrid(*x, indexing="xy"):
    return torch.meshgrid([to_tensor(v) for v in x], indexing=indexing)


_Meshgrid = keras_op("numpy", tensors=("x",), class_name="Meshgrid", export=False)(
    _meshgrid).operation_class


@_export
def meshgrid(*x, indexing="xy"):
    """Coordinate grids from 1-D vectors."""
    if _is_symbolic(x, {}):
        return _Meshgrid(indexing=indexing)(*x)
    return _meshgrid(*x, indexing=indexing)


# ----------------------------------------------------------------------------- windows
def _window(name, torch_fn):
    def window(x):
        _symbolic_unsupported(name, x)
        return torch_fn(int(x))

    return window


@_export
def bartlett(x):
    return _window("Bartlett", torch.signal.windows.bartlett)(x)


@_export
def blackman(x):
    return _window("Blackman", torch.signal.windows.blackman)(x)


@_export
def hamming(x):
    return _window("Hamming", torch.signal.windows.hamming)(x)


@_export
def hanning(x):
    return _window("Hanning", torch.signal.windows.hann)(x)


@_export
def kaiser(x, beta):
    _symbolic_unsupported("Kaiser", x)
    return torch.signal.windows.kaiser(int(x), beta=beta)


# ----------------------------------------------------------------------------- shape and layout
@keras_op("numpy")
def reshape(x, newshape):
    if not isinstance(newshape, (list, tuple, torch.Tensor)):
        newshape = (newshape,)
    if not isinstance(newshape, torch.Tensor):
        newshape = tuple(newshape)
        if builtins.sum(1 for d in newshape if d == -1) > 1:
            raise ValueError(f"There must be at most one unknown dimension (-1) in newshape. "
                             f"Received: newshape={newshape}")
    return torch.reshape(to_tensor(x), tuple(int(d) for d in newshape))


@keras_op("numpy")
def ravel(x):
    return torch.ravel(to_tensor(x))


@keras_op("numpy")
def transpose(x, axes=None):
    x = to_tensor(x)
    if axes is not None:
        return torch.permute(x, tuple(axes))
    return torch.permute(x, tuple(reversed(range(x.ndim))))


@keras_op("numpy")
def moveaxis(x, source, destination):
    return torch.moveaxis(to_tensor(x), source, destination)


@keras_op("numpy")
def swapaxes(x, axis1, axis2):
    return torch.swapaxes(to_tensor(x), axis1, axis2)


@keras_op("numpy", class_name="ExpandDims")
def expand_dims(x, axis):
    x = to_tensor(x)
    axis = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    out_ndim = x.ndim + len(axis)
    for a in sorted(_canonical_axis(a, out_ndim) for a in axis):
        x = torch.unsqueeze(x, a)
    return x


@keras_op("numpy")
def squeeze(x, axis=None):
    x = to_tensor(x)
    if axis is None:
        return torch.squeeze(x)
    return torch.squeeze(x, dim=tuple(axis) if isinstance(axis, (list, tuple)) else axis)


@keras_op("numpy", class_name="BroadcastTo")
def broadcast_to(x, shape):
    return torch.broadcast_to(to_tensor(x), tuple(shape))


@keras_op("numpy")
def flip(x, axis=None):
    x = to_tensor(x)
    if axis is None:
        axis = tuple(range(x.ndim))
    return torch.flip(x, dims=tuple(axis) if isinstance(axis, (list, tuple)) else (axis,))


@keras_op("numpy")
def fliplr(x):
    return torch.fliplr(to_tensor(x))


@keras_op("numpy")
def flipud(x):
    return torch.flipud(to_tensor(x))


@keras_op("numpy", tensors=("array",), class_name="Rot90")
def rot90(array, k=1, axes=(0, 1)):
    array = to_tensor(array)
    if array.ndim < 2:
        raise ValueError("Input array must have at least 2 dimensions. "
                         f"Received: array.ndim={array.ndim}")
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ValueError(f"Invalid axes: {axes}. Axes must be a tuple of two different "
                         "dimensions.")
    axes = tuple(a if a >= 0 else array.ndim + a for a in axes)
    if not builtins.all(0 <= a < array.ndim for a in axes):
        raise ValueError(f"Invalid axes {axes} for tensor with {array.ndim} dimensions")
    return torch.rot90(array, k=k, dims=axes)


@keras_op("numpy")
def roll(x, shift, axis=None):
    x = to_tensor(x)
    if axis is None:
        return torch.roll(x, shift)
    return torch.roll(x, shift, dims=axis)


@keras_op("numpy")
def tile(x, repeats):
    if isinstance(repeats, torch.Tensor):
        repeats = tuple(int(r) for r in repeats.tolist())
    if isinstance(repeats, int):
        repeats = (repeats,)
    return torch.tile(to_tensor(x), dims=tuple(repeats))


@keras_op("numpy")
def repeat(x, repeats, axis=None):
    x = to_tensor(x)
    if isinstance(repeats, int) and axis is not None:
        # unsqueeze/expand/reshape keeps the output shape static (Keras does the same)
        axis = _canonical_axis(axis, x.ndim)
        shape = list(x.shape)
        expanded = [-1] * (x.ndim + 1)
        expanded[axis + 1] = repeats
        shape[axis] *= repeats
        return x.unsqueeze(axis + 1).expand(expanded).reshape(shape)
    if not isinstance(repeats, int):
        repeats = to_tensor(repeats, "int32")
    return torch.repeat_interleave(x, repeats, dim=axis)


def _pad(x, constant_values=None, *, pad_width, mode="constant"):
    kwargs = {}
    if constant_values is not None:
        if mode != "constant":
            raise ValueError("Argument `constant_values` can only be provided when "
                             f"`mode == 'constant'`. Received: mode={mode}")
        kwargs["value"] = constant_values
    x = to_tensor(x)
    pad_width = [list(p) for p in pad_width]
    if len(pad_width) == 1 and x.ndim > 1:
        pad_width = pad_width * x.ndim
    flat = []
    remaining = builtins.sum(p[0] + p[1] for p in pad_width)
    for p in reversed(pad_width):  # torch pads from the last dimension
        flat += p
        remaining -= p[0] + p[1]
        if remaining == 0:
            break
    mode = "replicate" if mode == "symmetric" else mode
    if mode == "constant":
        return torch.nn.functional.pad(x, flat, mode=mode, **kwargs)
    # reflect/replicate pad only the trailing 1-3 dims of 2-5D float32/64 inputs
    dtype, ndim = x.dtype, x.ndim
    if ndim < 3:
        x = x.view(*([1] * (3 - ndim)), *x.shape)
    if dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)
    x = torch.nn.functional.pad(x, flat, mode=mode).to(dtype)
    if ndim < 3:
        x = torch.squeeze(x, dim=tuple(range(3 - ndim)))
    return x


_Pad = keras_op("numpy", tensors=("x", "constant_values"), class_name="Pad", export=False)(
    _pad).operation_class


@_export
def pad(x, pad_width, mode="constant", constant_values=None):
    """Pad a tensor. As Keras's torch backend, mode "symmetric" pads as "replicate"."""
    if _is_symbolic((x,), {}):
        return _Pad(pad_width=pad_width, mode=mode)(x, constant_values=constant_values)
    return _pad(x, constant_values, pad_width=pad_width, mode=mode)


# ----------------------------------------------------------------------------- join and split
@keras_op("numpy", tensors=("xs",))
def concatenate(xs, axis=0):
    return torch.cat([to_tensor(x) for x in xs], dim=axis)


@keras_op("numpy", tensors=("x1", "x2"))
def append(x1, x2, axis=None):
    x1, x2 = to_tensor(x1), to_tensor(x2)
    if axis is None:
        return torch.cat((x1.flatten(), x2.flatten()))
    return torch.cat((x1, x2), dim=axis)


@keras_op("numpy")
def stack(x, axis=0):
    return torch.stack([to_tensor(v) for v in x], dim=axis)


@keras_op("numpy", tensors=("xs",))
def hstack(xs):
    return torch.hstack([to_tensor(x) for x in xs])


@keras_op("numpy", tensors=("xs",))
def vstack(xs):
    return torch.vstack([to_tensor(x) for x in xs])


@keras_op("numpy", tensors=("xs",))
def dstack(xs):
    return torch.dstack([to_tensor(x) for x in xs])


def _sections(indices_or_sections):
    if isinstance(indices_or_sections, int):
        return indices_or_sections
    return [int(i) for i in to_tensor(indices_or_sections).tolist()]


@keras_op("numpy")
def split(x, indices_or_sections, axis=0):
    x = to_tensor(x)
    dim = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if dim % indices_or_sections != 0:
            raise ValueError(
                f"Received indices_or_sections={indices_or_sections} (interpreted as a number "
                f"of sections) and axis={axis}, but input dimension x.shape[{axis}]={dim} is "
                f"not divisible by {indices_or_sections}. Full input shape: x.shape={x.shape}")
        if dim == 0:
            return [x.clone() for _ in range(indices_or_sections)]
        return list(torch.split(x, dim // indices_or_sections, dim=axis))
    bounds = [0] + _sections(indices_or_sections) + [dim]
    return list(torch.split(x, [b - a for a, b in zip(bounds[:-1], bounds[1:])], dim=axis))


@keras_op("numpy", class_name="ArraySplit")
def array_split(x, indices_or_sections, axis=0):
    if not isinstance(indices_or_sections, int):
        raise TypeError("Argument `indices_or_sections` must be of type `int`. "
                        f"Received: indices_or_sections={indices_or_sections}")
    if indices_or_sections <= 0:
        raise ValueError("Argument `indices_or_sections` must be a positive integer. "
                         f"Received: indices_or_sections={indices_or_sections}")
    if not isinstance(axis, int):
        raise TypeError(f"Argument `axis` must be of type `int`. Received: {axis}")
    return list(torch.tensor_split(to_tensor(x), indices_or_sections, dim=axis))


@keras_op("numpy")
def hsplit(x, indices_or_sections):
    return list(torch.hsplit(to_tensor(x), _sections(indices_or_sections)))


@keras_op("numpy")
def vsplit(x, indices_or_sections):
    return list(torch.vsplit(to_tensor(x), _sections(indices_or_sections)))


@keras_op("numpy")
def dsplit(x, indices_or_sections):
    return list(torch.dsplit(to_tensor(x), _sections(indices_or_sections)))


# ----------------------------------------------------------------------------- diagonals
@keras_op("numpy")
def diag(x, k=0):
    return torch.diag(to_tensor(x), diagonal=k)


@keras_op("numpy")
def diagflat(x, k=0):
    return torch.diagflat(to_tensor(x), offset=k)


@keras_op("numpy")
def diagonal(x, offset=0, axis1=0, axis2=1):
    x = to_tensor(x)
    if _canonical_axis(axis1, x.ndim) == _canonical_axis(axis2, x.ndim):
        raise ValueError("`axis1` and `axis2` cannot be the same. "
                         f"Received: axis1={axis1}, axis2={axis2}")
    return torch.diagonal(x, offset=offset, dim1=axis1, dim2=axis2)


@keras_op("numpy")
def trace(x, offset=0, axis1=0, axis2=1):
    """Sum along a diagonal; bool and small ints sum as int32, like Keras."""
    x = to_tensor(x)
    dtype = _dtype(x)
    if dtype in ("bool", "int8", "int16", "uint8"):
        dtype = "int32"
    return torch.sum(torch.diagonal(x, offset, axis1, axis2), dim=-1,
                     dtype=dtypes.torch_dtype(dtype))


@keras_op("numpy")
def tril(x, k=0):
    return torch.tril(to_tensor(x), diagonal=k)


@keras_op("numpy")
def triu(x, k=0):
    return torch.triu(to_tensor(x), diagonal=k)


@keras_op("numpy")
def vander(x, N=None, increasing=False):
    x = to_tensor(x)
    if x.ndim != 1:
        raise ValueError(f"Input tensor must be 1-dimensional. Received: input.shape={x.shape}")
    if N is not None:
        if not isinstance(N, int):
            raise TypeError(f"Argument `N` must be of type `int`. Received: N={N} of type "
                            f"{type(N)}")
        if N < 0:
            raise ValueError(f"Argument 'N' must be nonnegative. Received: N={N}")
    if not isinstance(increasing, bool):
        raise TypeError("Argument `increasing` must be of type `bool`. Received: "
                        f"increasing={increasing} of type {type(increasing)}")
    return _cast(torch.vander(x, N=N, increasing=increasing), dtypes.result_type(x.dtype))


# ----------------------------------------------------------------------------- indexing
@keras_op("numpy", tensors=("x", "key"), class_name="GetItem")
def get_item(x, key):
    """`x[key]` (the key may hold ints, slices, None, Ellipsis and tensors)."""
    return to_tensor(x)[key]


def _get_item_call(self, x, key):
    # a key read back from a saved config is a list: a node indexes with it as a tuple (Keras)
    return get_item(x, tuple(key) if isinstance(key, list) else key)


get_item.operation_class.call = _get_item_call


def _fill_negative(indices, size):
    indices = to_tensor(indices).long()
    return torch.where(indices < 0, indices + size, indices)


@keras_op("numpy", tensors=("x", "indices"))
def take(x, indices, axis=None):
    """Elements of `x` at `indices` along `axis` (flattened `x` when `axis` is None);
    negative indices count from the end."""
    x = to_tensor(x)
    indices = _fill_negative(indices, x.shape[axis] if axis is not None else x.shape[0])
    if x.ndim == 2 and axis == 0:
        return torch.nn.functional.embedding(indices, x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = _canonical_axis(axis, x.ndim)
    shape = x.shape[:axis] + indices.shape + x.shape[axis + 1:]
    return torch.index_select(x, axis, indices.ravel()).reshape(shape)


@keras_op("numpy", tensors=("x", "indices"), class_name="TakeAlongAxis")
def take_along_axis(x, indices, axis=None):
    x = to_tensor(x)
    indices = _fill_negative(indices, x.shape[axis] if axis is not None else x.shape[0])
    return torch.take_along_dim(x, indices, dim=axis)


@keras_op("numpy", tensors=("condition", "x1", "x2"))
def where(condition, x1=None, x2=None):
    """`x1` where `condition` else `x2` (torch promotion of the two, as Keras's torch backend);
    with `condition` alone, the (ndim, n) int64 indices of its true elements."""
    if (x1 is None) != (x2 is None):
        raise ValueError("`x1` and `x2` either both should be `None` or both should have "
                         "non-None value.")
    condition = to_tensor(condition, "bool")
    if x1 is None:
        return torch.stack(torch.where(condition), dim=0)
    return torch.where(condition, to_tensor(x1), to_tensor(x2))


@keras_op("numpy", tensors=("condlist", "choicelist", "default"))
def select(condlist, choicelist, default=0):
    if not isinstance(condlist, (list, tuple)) or not isinstance(choicelist, (list, tuple)):
        raise ValueError("condlist and choicelist must be lists. Received: type(condlist) = "
                         f"{type(condlist)}, type(choicelist) = {type(choicelist)}")
    if not condlist or not choicelist:
        raise ValueError("condlist and choicelist must not be empty. Received: condlist = "
                         f"{condlist}, choicelist = {choicelist}")
    out = to_tensor(default)
    for c, v in reversed(list(zip(condlist, choicelist))):
        out = torch.where(to_tensor(c), to_tensor(v), out)
    return out


@keras_op("numpy")
def nonzero(x):
    """Indices of the non-zero elements, one row per dimension (a (ndim, n) int32 tensor,
    as Keras's torch backend returns)."""
    return torch.nonzero(to_tensor(x)).T.to(torch.int32)


@keras_op("numpy", tensors=("indices",), class_name="UnravelIndex")
def unravel_index(indices, shape):
    indices = to_tensor(indices)
    dtype = dtypes.result_type(indices.dtype)
    return tuple(_cast(i, dtype) for i in torch.unravel_index(indices, tuple(shape)))


# ------------------------------------------------------------------------- searching and sorting
@keras_op("numpy")
def sort(x, axis=-1):
    x = to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    if x.dtype == torch.bool and x.device.type == "cuda":
        return torch.sort(x.to(torch.uint8), dim=axis).values.bool()
    return torch.sort(x, dim=axis).values


@keras_op("numpy")
def argsort(x, axis=-1):
    """Stable argsort; int32 indices."""
    x = to_tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    if axis is None:
        x, axis = x.reshape(-1), -1
    return torch.argsort(x, dim=axis, stable=True).to(torch.int32)


@keras_op("numpy")
def argpartition(x, kth, axis=-1):
    """Indices that partition `x` around its `kth` smallest element (int32). The `kth + 1`
    smallest come first in ascending order, then the rest, as Keras's torch backend orders
    them (which, unlike this, first casts `x` to int32)."""
    x = to_tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    if axis is None:
        x, axis = x.flatten(), 0
    x = torch.transpose(x, axis, -1)
    bottom = torch.topk(-x, kth + 1)[1]
    rest = torch.ones_like(x, dtype=torch.int32).scatter(-1, bottom, 0)
    top = torch.topk(rest, x.shape[-1] - kth - 1)[1]
    return torch.transpose(torch.cat([bottom, top], dim=-1), -1, axis).to(torch.int32)


@keras_op("numpy", tensors=("sorted_sequence", "values"), class_name="SearchSorted")
def searchsorted(sorted_sequence, values, side="left"):
    sorted_sequence, values = to_tensor(sorted_sequence), to_tensor(values)
    if sorted_sequence.ndim != 1:
        raise ValueError(
            "`searchsorted` only supports 1-D sorted sequences. You can use "
            "`keras.ops.vectorized_map` to extend it to N-D sequences. Received: "
            f"sorted_sequence.shape={tuple(sorted_sequence.shape)}")
    out_int32 = sorted_sequence.shape[0] <= 2**31 - 1
    return torch.searchsorted(sorted_sequence, values, side=side, out_int32=out_int32)


@keras_op("numpy", tensors=("x", "bins"))
def digitize(x, bins):
    x, bins = to_tensor(x), to_tensor(bins)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    return torch.bucketize(x, bins, right=True).to(torch.int32)


@keras_op("numpy", tensors=("x1", "x2"), class_name="IsIn")
def isin(x1, x2, assume_unique=False, invert=False):
    x1, x2 = to_tensor(x1), to_tensor(x2)
    if dtypes.result_type(x1.dtype, x2.dtype) == "bool":
        x1, x2 = x1.to(torch.int32), x2.to(torch.int32)
    if x1.dtype == torch.bool:
        x1 = x1.to(x2.dtype)
    if x2.dtype == torch.bool:
        x2 = x2.to(x1.dtype)
    return torch.isin(x1, x2, assume_unique=assume_unique, invert=invert)


@keras_op("numpy")
def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,
           axis=None, size=None, fill_value=None):
    """Unique values (and optionally first indices, inverse and counts); with `size` the
    values are truncated or padded with `fill_value` (0) to a static length."""
    x = to_tensor(x)
    output = torch.unique(x, sorted=sorted, return_inverse=return_inverse or return_index,
                          return_counts=return_counts, dim=axis)
    output = list(output) if (return_inverse or return_counts or return_index) else [output]
    values = output[0]
    dim = 0 if axis is None else _canonical_axis(axis, x.ndim)
    if return_index:
        inverse = output[1]
        order = torch.arange(inverse.numel(), dtype=inverse.dtype, device=inverse.device)
        first = inverse.new_empty(values.size(dim)).scatter_reduce_(
            0, inverse.reshape(-1), order, reduce="min", include_self=False)
    if size is not None:
        count = values.shape[dim]
        if count > size:
            values = values.narrow(dim, 0, size)
            if return_counts:
                output[-1] = output[-1][:size]
            if return_index:
                first = first[:size]
        elif count < size:
            widths = [0, 0] * values.ndim
            at = (values.ndim - 1 - dim) * 2
            widths[at + 1] = size - count
            values = torch.nn.functional.pad(values, widths, value=0 if fill_value is None
                                             else fill_value)
            if return_counts:
                output[-1] = torch.nn.functional.pad(output[-1], widths[at:at + 2], value=0)
            if return_index:
                first = torch.nn.functional.pad(first, widths[at:at + 2], value=1)
    output[0] = values
    if return_index and return_inverse:
        output.insert(1, first)
    elif return_index:
        output[1] = first
    return output[0] if len(output) == 1 else tuple(output)


@keras_op("numpy")
def bincount(x, weights=None, minlength=0, sparse=False):
    """Counts of each non-negative int (rows counted separately for 2-D `x`); int32, or the
    promoted dtype of `x` and `weights`."""
    if sparse:
        raise ValueError("Unsupported value `sparse=True` with torch backend")
    x = to_tensor(x)
    if weights is not None:
        weights = to_tensor(weights)
        dtype = dtypes.result_type(x.dtype, weights.dtype)
    else:
        dtype = "int32"
    if x.ndim == 2:
        rows = [torch.bincount(r, None if weights is None else w, minlength)
                for r, w in zip(x, x if weights is None else weights)]
        return _cast(torch.stack(rows), dtype)
    return _cast(torch.bincount(x, weights, minlength), dtype)


@keras_op("numpy")
def histogram(x, bins=10, range=None):
    """`(counts, bin_edges)` of a 1-D tensor."""
    if not isinstance(bins, int):
        raise TypeError(f"Argument `bins` must be of type `int`. Received: bins={bins}")
    if bins < 0:
        raise ValueError(f"Argument `bins` should be a non-negative integer. Received: bins={bins}")
    if range:
        if len(range) < 2 or not isinstance(range, tuple):
            raise ValueError("Argument `range` must be a tuple of two elements. "
                             f"Received: range={range}")
        if range[1] < range[0]:
            raise ValueError("The second element of `range` must be greater than the first. "
                             f"Received: range={range}")
    x = to_tensor(x)
    if x.ndim > 1:
        raise ValueError(f"Input tensor must be 1-dimensional. Received: input.shape={x.shape}")
    result = torch.histogram(x, bins=bins, range=range)
    return result.hist, result.bin_edges


# ----------------------------------------------------------------------------- products
@keras_op("numpy", tensors=("x1", "x2"))
def matmul(x1, x2):
    """Matrix product; int8 @ int8 -> int32, otherwise the promoted dtype (bool and CPU
    float16 computed in a wider float, as Keras's torch backend)."""
    x1, x2 = to_tensor(x1), to_tensor(x2)
    if _dtype(x1) == "int8" and _dtype(x2) == "int8":
        result = "int32"
    else:
        result = dtypes.result_type(x1.dtype, x2.dtype)
    compute = result
    if compute == "bool":
        compute = config.floatx()
    if x1.device.type == "cpu" and compute == "float16":
        compute = "float32"
    if x1.device.type == "cuda" and "int" in compute:
        compute = config.floatx()
    return _cast(torch.matmul(_cast(x1, compute), _cast(x2, compute)), result)


@keras_op("numpy", tensors=("x1", "x2"))
def dot(x1, x2):
    x1, x2, result = _float_compute(to_tensor(x1), to_tensor(x2))
    if x1.ndim == 0 or x2.ndim == 0:
        return _cast(torch.multiply(x1, x2), result)
    return _cast(torch.matmul(x1, x2), result)


@keras_op("numpy", tensors=("x1", "x2"))
def vdot(x1, x2):
    x1, x2, result = _float_compute(to_tensor(x1), to_tensor(x2))
    return _cast(torch.vdot(x1, x2), result)


@keras_op("numpy", tensors=("x1", "x2"))
def inner(x1, x2):
    x1, x2, result = _float_compute(to_tensor(x1), to_tensor(x2))
    return _cast(torch.inner(x1, x2), result)


@keras_op("numpy", tensors=("x1", "x2"))
def outer(x1, x2):
    return torch.outer(to_tensor(x1).flatten(), to_tensor(x2).flatten())


@keras_op("numpy", tensors=("x1", "x2"))
def tensordot(x1, x2, axes=2):
    x1, x2, result = _float_compute(to_tensor(x1), to_tensor(x2))
    if isinstance(axes, (list, tuple)):
        first, second = axes
        first = tuple(first) if isinstance(first, (list, tuple)) else (first,)
        second = tuple(second) if isinstance(second, (list, tuple)) else (second,)
        axes = (first, second)
    return _cast(torch.tensordot(x1, x2, dims=axes), result)


@keras_op("numpy", tensors=("x1", "x2"))
def kron(x1, x2):
    return torch.kron(to_tensor(x1), to_tensor(x2))


@keras_op("numpy", tensors=("x1", "x2"))
def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors. As on Keras's torch backend, only `axis` (not
    `axisa`/`axisb`/`axisc`) may be set; `axis=None` is the last axis."""
    if axisa != -1 or axisb != -1 or axisc != -1:
        raise ValueError(
            "Torch backend does not support `axisa`, `axisb`, or `axisc`. Received: "
            f"axisa={axisa}, axisb={axisb}, axisc={axisc}. Please use `axis` arg in torch "
            "backend.")
    x1, x2 = to_tensor(x1), to_tensor(x2)
    result = dtypes.result_type(x1.dtype, x2.dtype)
    compute = "float32" if result == "float16" and x1.device.type == "cpu" else result
    out = torch.linalg.cross(_cast(x1, compute), _cast(x2, compute),
                             dim=-1 if axis is None else axis)
    return _cast(out, result)


def _einsum(*operands, subscripts):
    operands = [to_tensor(x) for x in operands]
    if {_dtype(x) for x in operands} == {"int8"}:
        compute = config.floatx() if operands[0].device.type == "cuda" else "int32"
        return _cast(torch.einsum(subscripts, *[_cast(x, compute) for x in operands]), "int32")
    return torch.einsum(subscripts, *operands)


_Einsum = keras_op("numpy", tensors=("operands",), class_name="Einsum", export=False)(
    _einsum).operation_class


@_export
def einsum(subscripts, *operands, **kwargs):
    """Einstein summation; all-int8 operands give int32, as Keras."""
    if _is_symbolic(operands, {}):
        return _Einsum(subscripts=subscripts)(*operands, **kwargs)
    return _einsum(*operands, subscripts=subscripts)


@keras_op("numpy")
def slogdet(x):
    """`(sign, log|det|)` of square matrices."""
    return tuple(torch.linalg.slogdet(to_tensor(x)))


@keras_op("numpy", tensors=("x1", "x2"))
def correlate(x1, x2, mode="valid"):
    """Cross-correlation of 1-D signals (computed in float32, float64 for int64 inputs)."""
    x1, x2 = to_tensor(x1), to_tensor(x2)
    dtype = dtypes.result_type(x1.dtype, x2.dtype)
    if dtype == "int64":
        dtype = "float64"
    elif dtype not in ("bfloat16", "float16", "float64"):
        dtype = "float32"
    x1, x2 = _cast(x1, dtype), _cast(x2, dtype)
    len1, len2 = x1.size(-1), x2.size(-1)
    if x1.shape[:-1] != x2.shape[:-1]:
        batch = [builtins.max(i, j) for i, j in zip(x1.shape[:-1], x2.shape[:-1])]
        x1 = torch.broadcast_to(x1, batch + [len1])
        x2 = torch.broadcast_to(x2, batch + [len2])
    signals = math.prod(x1.shape[:-1])
    x1, x2 = x1.reshape(signals, len1), x2.reshape(signals, len2)
    result = torch.nn.functional.conv1d(x1, x2.unsqueeze(1), groups=signals,
                                        padding=len2 - 1).reshape(x1.shape[:-1] + (-1,))
    if mode == "valid":
        target = builtins.max(len1, len2) - builtins.min(len1, len2) + 1
        start = (result.size(-1) - target) // 2
        result = result[..., start:start + target]
    elif mode == "same":
        start = (result.size(-1) - len1) // 2
        result = result[..., start:start + len1]
    return torch.squeeze(result)


@keras_op("numpy")
def corrcoef(x):
    x = to_tensor(x)
    if x.dtype == torch.bool:
        x = _cast(x, config.floatx())
    elif x.dtype == torch.int64:
        x = x.to(torch.float64)
    return torch.corrcoef(x)


@keras_op("numpy", tensors=("a",))
def diff(a, n=1, axis=-1):
    return torch.diff(to_tensor(a), n=n, dim=axis)


@keras_op("numpy", tensors=("y",))
def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = to_tensor(y)
    if y.dtype == torch.bool:
        y = _cast(y, config.floatx())
    if x is not None:
        return torch.trapezoid(y, to_tensor(x), dim=axis)
    return torch.trapezoid(y, dx=dx, dim=axis)


# ----------------------------------------------------------------------------- misc
@keras_op("numpy")
def copy(x):
    return torch.clone(to_tensor(x))


@keras_op("numpy")
def view(x, dtype=None):
    """The same memory read as `dtype` (bit reinterpretation)."""
    return to_tensor(x).view(_torch_dtype(_standardize(dtype)))


@keras_op("numpy")
def ndim(x):
    return to_tensor(x).ndim


@keras_op("numpy")
def size(x):
    """Number of elements, as a 0-d tensor (int64 on Keras's torch backend)."""
    shape = x.shape if hasattr(x, "shape") else to_tensor(x).shape
    return torch.prod(torch.tensor(tuple(shape), dtype=torch.int32))


_SIGNATURE = re.compile(r"^\s*(\([\w,\s]*\)(?:\s*,\s*\([\w,\s]*\))*)\s*->\s*"
                        r"(\([\w,\s]*\)(?:\s*,\s*\([\w,\s]*\))*)\s*$")


def _core_dims(spec):
    return [tuple(d.strip() for d in group.split(",") if d.strip())
            for group in re.findall(r"\(([\w,\s]*)\)", spec)]


@_export
def vectorize(pyfunc, *, excluded=None, signature=None):
    """`pyfunc` mapped over the leading (broadcast) dimensions of its tensor arguments with
    `torch.vmap`; `signature` ("(n),(n)->()") names the trailing core dimensions. Positional
    indices and keyword names in `excluded` are passed through unchanged."""
    if not callable(pyfunc):
        raise ValueError(f"Expected argument `pyfunc` to be a callable. Received: pyfunc={pyfunc}")
    excluded = set(excluded or ())
    if signature is not None:
        match = _SIGNATURE.match(signature)
        if match is None:
            raise ValueError(f"Invalid signature: {signature}")
        input_core = _core_dims(match.group(1))

    def wrapped(*args, **kwargs):
        static = {i: a for i, a in enumerate(args) if i in excluded or a is None}
        static_kwargs = {k: v for k, v in kwargs.items() if k in excluded}
        kwargs = {k: v for k, v in kwargs.items() if k not in excluded}
        dynamic = [to_tensor(a) for i, a in enumerate(args) if i not in static]
        cores = input_core if signature is not None else [()] * len(args)
        cores = [c for i, c in enumerate(cores) if i not in static]
        if len(cores) != len(dynamic):
            raise TypeError(f"wrong number of positional arguments: expected {len(cores)}, "
                            f"got {len(dynamic)}")
        loop_shapes = [tuple(a.shape[:a.ndim - len(c)]) for a, c in zip(dynamic, cores)]
        loop = torch.broadcast_shapes(*loop_shapes) if loop_shapes else ()
        dynamic = [a.expand(loop + tuple(a.shape[a.ndim - len(c):]))
                   for a, c in zip(dynamic, cores)]

        def call(*tensors):
            merged, it = [], iter(tensors)
            for i in range(len(args)):
                merged.append(static[i] if i in static else next(it))
            return pyfunc(*merged, **kwargs, **static_kwargs)

        fn = call
        for _ in loop:
            fn = torch.vmap(fn)
        return fn(*dynamic)

    return wrapped


# ------------------------------------------------------------------------- data-dependent shapes
def _unknown(spec, dims):
    """`spec` with the given dimensions unknown (data-dependent output lengths)."""
    shape = list(spec.shape)
    for d in dims:
        shape[d] = None
    return KerasTensor(tuple(shape), dtype=spec.dtype)


def _nonzero_spec(self, x):
    return _unknown(spec_call(self, (x,), {}), [1])


def _bincount_spec(self, x):
    spec = spec_call(self, (x,), {})
    return _unknown(spec, [spec.ndim - 1])


def _where_spec(self, condition, x1=None, x2=None):
    spec = spec_call(self, (condition, x1, x2), {})
    return _unknown(spec, [1]) if x1 is None else spec


def _unique_spec(self, x):
    specs = spec_call(self, (x,), {})
    if self._op_config["size"] is not None:
        return specs
    config = self._op_config
    axis = 0 if config["axis"] is None else _canonical_axis(config["axis"], len(x.shape))
    specs = list(specs) if isinstance(specs, tuple) else [specs]
    out = [_unknown(specs[0], [axis])]
    flags = [config["return_index"], config["return_inverse"], config["return_counts"]]
    rest = iter(specs[1:])
    for is_set, dynamic in zip(flags, (True, False, True)):
        if is_set:
            spec = next(rest)
            out.append(_unknown(spec, [0]) if dynamic else spec)
    return out[0] if len(out) == 1 else tuple(out)


bincount.operation_class.compute_output_spec = _bincount_spec
nonzero.operation_class.compute_output_spec = _nonzero_spec
where.operation_class.compute_output_spec = _where_spec
unique.operation_class.compute_output_spec = _unique_spec
