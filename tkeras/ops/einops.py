"""`keras.ops.rearrange`: einops-style axis rearrangement (reshape + transpose + reshape).

As Keras, the graph node (`Rearrange`) records the pattern and axis lengths as call
arguments, not as config. Deliberate difference: on symbolic tensors an unknown (None) dimension
gives an unknown output dimension, where Keras 3.15.1 raises a TypeError.
"""

import math
import re

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.layer import _is_symbolic
from tkeras.ops.operation import Operation
from tkeras.ops.operation import to_tensor

__all__ = ["rearrange"]

_GROUP = re.compile(r"\(([\w\s]+)\)")


def _parse(pattern):
    input_pattern, output_pattern = re.split(r"\s*->\s*", pattern)
    return (re.findall(r"\w+|\(.*?\)", input_pattern),
            re.findall(r"\w+|\(.*?\)", output_pattern))


def _prod(sizes):
    """Product of axis sizes; None (unknown) when any is unknown."""
    sizes = list(sizes)
    return None if any(s is None for s in sizes) else math.prod(sizes)


def _groups(axes):
    """Each axis entry as the list of elementary axes it holds (`(h w)` -> [h, w])."""
    return [m.group(1).split() if (m := _GROUP.match(a)) else [a] for a in axes]


def _axes_map(input_axes, input_shape, axes_lengths):
    """Size of every elementary input axis; one unknown axis per group is inferred."""
    sizes = dict(axes_lengths)
    for group, dim in zip(_groups(input_axes), input_shape):
        if len(group) == 1 and not _GROUP.match(group[0]):
            sizes[group[0]] = dim
            continue
        unknown = [a for a in group if a not in axes_lengths]
        if unknown:
            known = math.prod(axes_lengths[a] for a in group if a in axes_lengths)
            sizes[unknown[0]] = None if dim is None else dim // known
    return sizes


def _plan(pattern, shape, axes_lengths):
    input_axes, output_axes = _parse(pattern)
    sizes = _axes_map(input_axes, shape, axes_lengths)
    in_flat = [a for g in _groups(input_axes) for a in g]
    out_groups = _groups(output_axes)
    out_flat = [a for g in out_groups for a in g]
    decomposed = [sizes[a] for a in in_flat]
    order = [in_flat.index(a) for a in out_flat]
    out_shape = tuple(_prod(sizes[a] for a in g) for g in out_groups)
    return decomposed, order, out_shape


def _rearrange(tensor, pattern, **axes_lengths):
    tensor = to_tensor(tensor)
    decomposed, order, out_shape = _plan(pattern, tuple(tensor.shape), axes_lengths)
    if list(tensor.shape) != decomposed:
        tensor = tensor.reshape(decomposed)
    return torch.permute(tensor, order).reshape(out_shape)


@keras_export("keras.src.ops.einops.Rearrange")
class Rearrange(Operation):
    """Graph node of `keras.ops.rearrange` (pattern and axis lengths are call arguments)."""

    _keras_registered_name = "Rearrange"

    def call(self, tensor, pattern, **axes_lengths):
        return _rearrange(tensor, pattern, **axes_lengths)

    def compute_output_spec(self, tensor, pattern, **axes_lengths):
        from tkeras.model.keras_tensor import KerasTensor

        _, _, out_shape = _plan(pattern, tensor.shape, axes_lengths)
        return KerasTensor(out_shape, dtype=tensor.dtype)


@keras_export("keras.ops.rearrange")
def rearrange(tensor, pattern, **axes_lengths):
    """Rearrange the axes of `tensor` by an einops pattern, e.g. `"b h w c -> b (c h w)"`,
    `"b (h1 h) w c -> (b h1) h w c"` with `h1=2`."""
    if _is_symbolic((tensor,), {}):
        return Rearrange()(tensor, pattern, **axes_lengths)
    return _rearrange(tensor, pattern, **axes_lengths)
