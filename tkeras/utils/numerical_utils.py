"""`to_categorical` and `normalize`, as in Keras.

NumPy (and list) inputs give NumPy outputs with Keras's exact rules (`to_categorical` returns
float64, like Keras; a trailing axis of size 1 is dropped; a negative label indexes from the end,
as NumPy indexing does in Keras). Torch tensors give torch tensors (int64 for `to_categorical`,
negative labels give all-zero rows, like Keras's torch backend; `num_classes=None` is inferred as
for NumPy, where Keras's torch backend fails).

Deliberate difference: Keras's NumPy `normalize` expands the norm on the last axis whatever
`axis` is (`axis = axis or -1`), which is wrong for `axis=0` on a 2-D array; tkeras expands it
on `axis`.
"""

import numpy as np
import torch

from tkeras.core import config
from tkeras.core.dtype_policies import torch_dtype


def to_categorical(x, num_classes=None):
    """Class vector (integers) -> one-hot matrix, the class axis last."""
    if isinstance(x, torch.Tensor):
        if x.dim() > 1 and x.shape[-1] == 1:
            x = x.reshape(x.shape[:-1])
        x = x.long()
        if num_classes is None:
            num_classes = int(x.max()) + 1
        one_hot = torch.nn.functional.one_hot(x.clamp(min=0), num_classes)
        return torch.where(x.unsqueeze(-1) >= 0, one_hot, 0)
    x = np.array(x, dtype="int64")
    input_shape = x.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = tuple(input_shape[:-1])
    x = x.reshape(-1)
    if not num_classes:
        num_classes = np.max(x) + 1
    categorical = np.zeros((x.shape[0], num_classes))
    categorical[np.arange(x.shape[0]), x] = 1
    return np.reshape(categorical, input_shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """A copy of `x` divided by its `order`-norm along `axis` (zero vectors stay zero)."""
    if isinstance(x, torch.Tensor):
        return _normalize_tensor(x, axis, order)
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def _normalize_tensor(x, axis, order):
    """Keras's `ops.normalize`: the norm is bounded below by `epsilon()`."""
    if not isinstance(order, int) or not order >= 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
    if not x.is_floating_point():
        x = x.to(torch_dtype(config.floatx()))
    if x.dim() == 0:
        x = x.unsqueeze(0)
    eps = config.epsilon()
    if order == 2:
        inv_norm = torch.rsqrt(torch.sum(x * x, dim=axis, keepdim=True))
        return x * torch.clamp(inv_norm, max=1.0 / eps)
    norm = torch.linalg.norm(x, ord=order, dim=axis, keepdim=True)
    return x / torch.clamp(norm, min=eps)
