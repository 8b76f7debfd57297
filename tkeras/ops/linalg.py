"""`keras.ops.linalg`: `torch.linalg` with Keras's checks and conventions.

As Keras on torch: `lu_factor` pivots are 0-based, `solve`/`solve_triangular` accept a vector
right-hand side, `norm` computes in float (int64 -> floatx), `matrix_rank` returns int32, and
`lstsq` with an explicit `rcond` uses the SVD driver (numpy's semantics). Symbolic output specs
are Keras's (computed from shapes: the decompositions cannot run on the zero tensors used to
infer other ops' specs).
"""

import torch

from tkeras.core import config as _config
from tkeras.ops import dtypes
from tkeras.ops.operation import keras_op
from tkeras.ops.operation import to_tensor

__all__ = [
    "cholesky", "cholesky_inverse", "det", "eig", "eigh", "inv", "lu_factor", "norm", "qr",
    "solve", "solve_triangular", "svd", "lstsq", "matrix_rank", "pinv", "jvp",
]


def _assert_2d(*arrays):
    for a in arrays:
        if len(a.shape) < 2:
            raise ValueError(
                f"Expected input to have rank >= 2. Received input with shape {tuple(a.shape)}.")


def _assert_1d(*arrays):
    for a in arrays:
        if len(a.shape) < 1:
            raise ValueError(f"Expected input to have rank >= 1. Received scalar input {a}.")


def _assert_square(*arrays):
    for a in arrays:
        m, n = a.shape[-2:]
        if m != n:
            raise ValueError(
                f"Expected a square matrix. Received non-square input with shape {tuple(a.shape)}")


def _assert_a_b_compat(a, b):
    if len(a.shape) == len(b.shape):
        if a.shape[-2] != b.shape[-2]:
            raise ValueError(
                "Incompatible shapes between `a` and `b`. Expected `a.shape[-2] == "
                f"b.shape[-2]`. Received: a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}")
    elif len(a.shape) == len(b.shape) - 1:
        if a.shape[-1] != b.shape[-1]:
            raise ValueError(
                "Incompatible shapes between `a` and `b`. Expected `a.shape[-1] == "
                f"b.shape[-1]`. Received: a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}")


def _spec(op):
    """Give `op`'s graph node a shape-only `compute_output_spec(self, *tensors)`."""

    def register(fn):
        def compute_output_spec(self, *args, **kwargs):
            return fn(*args, **kwargs, **self._op_config)

        op.operation_class.compute_output_spec = compute_output_spec
        return fn

    return register


def _tensor_spec(shape, dtype):
    from tkeras.model.keras_tensor import KerasTensor

    return KerasTensor(tuple(shape), dtype=dtype)


def _square_spec(x, **config):
    _assert_2d(x)
    _assert_square(x)
    return _tensor_spec(x.shape, x.dtype)


def _square(x):
    x = to_tensor(x)
    _assert_2d(x)
    _assert_square(x)
    return x


@keras_op("linalg")
def cholesky(x, upper=False):
    x = _square(x)
    try:
        return torch.linalg.cholesky(x, upper=upper)
    except Exception as e:
        raise ValueError(f"Cholesky decomposition failed: {e}")


@keras_op("linalg")
def cholesky_inverse(x, upper=False):
    """Inverse of `A` from its Cholesky factor `x`."""
    x = _square(x)
    try:
        return torch.cholesky_inverse(x, upper=upper)
    except Exception as e:
        raise ValueError(f"Cholesky inverse failed: {e}")


@keras_op("linalg")
def det(x):
    return torch.det(_square(x))


@keras_op("linalg")
def eig(x):
    """Complex `(eigenvalues, eigenvectors)` (`torch.linalg.eig`)."""
    return tuple(torch.linalg.eig(_square(x)))


@keras_op("linalg")
def eigh(x):
    return tuple(torch.linalg.eigh(_square(x)))


@keras_op("linalg")
def inv(x):
    return torch.linalg.inv(_square(x))


@keras_op("linalg")
def lu_factor(x):
    """`(LU, pivots)` with 0-based pivots."""
    x = to_tensor(x)
    _assert_2d(x)
    lu, pivots = torch.linalg.lu_factor(x)
    return lu, pivots - 1


@keras_op("linalg")
def norm(x, ord=None, axis=None, keepdims=False):
    if isinstance(ord, str) and ord not in ("fro", "nuc"):
        raise ValueError("Invalid `ord` argument. Expected one of {'fro', 'nuc'} when using "
                         f"string. Received: ord={ord}")
    x = to_tensor(x)
    dtype = _config.floatx() if x.dtype == torch.int64 else dtypes.result_type(x.dtype, float)
    return torch.linalg.norm(x.to(dtypes.torch_dtype(dtype)), ord=ord, dim=axis,
                             keepdim=keepdims)


@keras_op("linalg")
def qr(x, mode="reduced"):
    if mode not in {"reduced", "complete"}:
        raise ValueError("`mode` argument value not supported. Expected one of {'reduced', "
                         f"'complete'}}. Received: mode={mode}")
    return tuple(torch.linalg.qr(to_tensor(x), mode=mode))


def _solve_args(a, b):
    a, b = to_tensor(a), to_tensor(b)
    _assert_2d(a)
    _assert_square(a)
    _assert_1d(b)
    _assert_a_b_compat(a, b)
    return a, b


@keras_op("linalg", tensors=("a", "b"))
def solve(a, b):
    return torch.linalg.solve(*_solve_args(a, b))


@keras_op("linalg", tensors=("a", "b"))
def solve_triangular(a, b, lower=False):
    a, b = _solve_args(a, b)
    if b.ndim == a.ndim - 1:
        return torch.linalg.solve_triangular(a, b.unsqueeze(-1), upper=not lower).squeeze(-1)
    return torch.linalg.solve_triangular(a, b, upper=not lower)


@keras_op("linalg", class_name="SVD")
def svd(x, full_matrices=True, compute_uv=True):
    """`(u, s, vh)`, or the singular values only when `compute_uv=False`."""
    x = to_tensor(x)
    _assert_2d(x)
    if not compute_uv:
        return torch.linalg.svdvals(x)
    return tuple(torch.linalg.svd(x, full_matrices=full_matrices))


@keras_op("linalg", tensors=("a", "b"))
def lstsq(a, b, rcond=None):
    a, b = to_tensor(a), to_tensor(b)
    if rcond is not None:
        if a.device.type == "cuda":
            return torch.linalg.pinv(a, rtol=rcond) @ b
        return torch.linalg.lstsq(a, b, rcond=rcond, driver="gelsd")[0]
    return torch.linalg.lstsq(a, b)[0]


@keras_op("linalg")
def matrix_rank(x, tol=None):
    return torch.linalg.matrix_rank(to_tensor(x), atol=tol).to(torch.int32)


@keras_op("linalg")
def pinv(x, rcond=None):
    return torch.linalg.pinv(to_tensor(x), rtol=rcond)


@keras_op("linalg", tensors=("fun", "primals", "tangents"), class_name="JVP")
def jvp(fun, primals, tangents, has_aux=False):
    """`(fun(*primals), J @ tangents)` (and the aux output with `has_aux`), `torch.func.jvp`."""
    return torch.func.jvp(fun, tuple(primals), tuple(tangents), has_aux=has_aux)


# ----------------------------------------------------------------------------- output specs
_spec(cholesky)(_square_spec)
_spec(cholesky_inverse)(_square_spec)
_spec(inv)(_square_spec)


@_spec(det)
def _det_spec(x):
    _assert_2d(x)
    _assert_square(x)
    return _tensor_spec(x.shape[:-2], x.dtype)


@_spec(eig)
def _eig_spec(x):
    _assert_2d(x)
    _assert_square(x)
    return _tensor_spec(x.shape[:-1], x.dtype), _tensor_spec(x.shape, x.dtype)


_spec(eigh)(_eig_spec)


@_spec(lu_factor)
def _lu_factor_spec(x):
    _assert_2d(x)
    m, n = x.shape[-2:]
    k = None if m is None or n is None else min(m, n)
    return (_tensor_spec(x.shape, x.dtype), _tensor_spec(tuple(x.shape[:-2]) + (k,), x.dtype))


@_spec(solve)
def _solve_spec(a, b):
    _assert_2d(a)
    _assert_square(a)
    _assert_1d(b)
    _assert_a_b_compat(a, b)
    return _tensor_spec(b.shape, b.dtype)


@_spec(solve_triangular)
def _solve_triangular_spec(a, b, lower=False):
    return _solve_spec(a, b)
