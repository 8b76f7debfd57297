"""Merging layers: one `Merge` base (shape checks, masks) and thin elementwise subclasses.

Kept from Keras: inputs are a list of >= 2 tensors, elementwise layers broadcast like
`keras.ops`, masks are combined with logical AND (Concatenate concatenates them).
"""

import string

import torch
import torch.nn.functional as F

from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer


class Merge(Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not isinstance(input_shape[0],
                                                                         (list, tuple)):
            raise ValueError(
                f"A merge layer should be called on a list of inputs. Received: "
                f"input_shape={input_shape} (not a list of shapes)"
            )
        if len(input_shape) < 1:
            raise ValueError(
                "A merge layer should be called on a list of at least 1 input. "
                f"Got {len(input_shape)} inputs. Full input_shape received: {input_shape}"
            )
        self.built = True

    def _merge_function(self, inputs):
        raise NotImplementedError

    def call(self, inputs):
        return self._merge_function(list(inputs))

    def compute_output_shape(self, input_shape):
        output = list(input_shape[0])
        for shape in input_shape[1:]:
            output = _broadcast_shapes(output, list(shape), self.name)
        return tuple(output)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        masks = [m for m in mask if m is not None]
        out = masks[0]
        for m in masks[1:]:
            out = out & m
        return out

    def get_config(self):
        return super().get_config()


def _broadcast_shapes(a, b, name):
    if len(a) < len(b):
        a, b = b, a
    b = [1] * (len(a) - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x is None or y is None:
            out.append(None if (x in (None, 1) and y in (None, 1)) or x is None and y is None
                       else (x if y in (None, 1) else y))
        elif x == 1 or y == 1 or x == y:
            out.append(max(x, y))
        else:
            raise ValueError(
                f"Inputs have incompatible shapes for layer '{name}'. Received shapes "
                f"{tuple(a)} and {tuple(b)}"
            )
    return out


@keras_export("keras.layers.Add")
class Add(Merge):
    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


@keras_export("keras.layers.Subtract")
class Subtract(Merge):
    def build(self, input_shape):
        super().build(input_shape)
        if len(input_shape) != 2:
            raise ValueError(
                "A `Subtract` layer should be called on exactly 2 inputs. "
                f"Received: input_shape={input_shape}"
            )

    def _merge_function(self, inputs):
        if len(inputs) != 2:
            raise ValueError(
                "A `Subtract` layer should be called on exactly 2 inputs. "
                f"Received: inputs={inputs}"
            )
        return inputs[0] - inputs[1]


@keras_export("keras.layers.Multiply")
class Multiply(Merge):
    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


@keras_export("keras.layers.Average")
class Average(Merge):
    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out / len(inputs)


@keras_export("keras.layers.Maximum")
class Maximum(Merge):
    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = torch.maximum(out, x)
        return out


@keras_export("keras.layers.Minimum")
class Minimum(Merge):
    def _merge_function(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = torch.minimum(out, x)
        return out


@keras_export("keras.layers.Concatenate")
class Concatenate(Merge):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        super().build(input_shape)
        ranks = {len(s) for s in input_shape}
        if len(ranks) != 1:
            raise ValueError(
                "A `Concatenate` layer requires inputs with matching shapes except for the "
                f"concatenation axis. Received: input_shape={input_shape}"
            )

    def _merge_function(self, inputs):
        return torch.cat(inputs, dim=self.axis)

    def compute_output_shape(self, input_shape):
        output = list(input_shape[0])
        axis = self.axis % len(output)
        for shape in input_shape[1:]:
            if output[axis] is None or shape[axis] is None:
                output[axis] = None
            else:
                output[axis] += shape[axis]
        return tuple(output)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        masks = []
        for x, m in zip(inputs, mask):
            if m is None:
                m = torch.ones(x.shape, dtype=torch.bool, device=x.device)
            elif m.ndim < x.ndim:
                m = m.unsqueeze(-1).expand(x.shape)
            masks.append(m)
        return torch.cat(masks, dim=self.axis).all(dim=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@keras_export("keras.layers.Dot")
class Dot(Merge):
    """Batch dot product of two tensors along `axes` (optionally of L2-normalized inputs)."""

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, (int, list, tuple)):
            raise TypeError(f"Invalid type for argument `axes`: it should be a list or an int. "
                            f"Received: axes={axes}")
        self.axes = list(axes) if isinstance(axes, (list, tuple)) else axes
        self.normalize = normalize
        self.supports_masking = True

    def _axes_for(self, ndims):
        axes = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        return [a % n for a, n in zip(axes, ndims)]

    def _merge_function(self, inputs):
        x1, x2 = inputs
        ax1, ax2 = self._axes_for([x1.ndim, x2.ndim])
        if self.normalize:
            x1 = F.normalize(x1, p=2, dim=ax1, eps=1e-12)
            x2 = F.normalize(x2, p=2, dim=ax2, eps=1e-12)
        return batch_dot(x1, x2, (ax1, ax2))

    def compute_output_shape(self, input_shape):
        s1, s2 = list(input_shape[0]), list(input_shape[1])
        ax1, ax2 = self._axes_for([len(s1), len(s2)])
        s1.pop(ax1)
        s2.pop(ax2)
        s2.pop(0)
        out = s1 + s2
        return tuple(out) if len(out) > 1 else (out[0], 1)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def batch_dot(x1, x2, axes):
    """Keras's batch_dot: contract axes[0] of x1 with axes[1] of x2, sharing the batch axis."""
    letters = iter(string.ascii_letters)
    batch = next(letters)
    s1 = [batch] + [next(letters) for _ in range(x1.ndim - 1)]
    s2 = [batch] + [next(letters) for _ in range(x2.ndim - 1)]
    s2[axes[1]] = s1[axes[0]]
    out = [c for i, c in enumerate(s1) if i != axes[0]] + [
        c for i, c in enumerate(s2) if i not in (0, axes[1])]
    result = torch.einsum(f"{''.join(s1)},{''.join(s2)}->{''.join(out)}", x1, x2)
    return result.unsqueeze(-1) if result.ndim == 1 else result


def _functional(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"Functional interface to the `{cls.__name__}` layer."
    return merge


add = keras_export("keras.layers.add")(_functional(Add))
subtract = keras_export("keras.layers.subtract")(_functional(Subtract))
multiply = keras_export("keras.layers.multiply")(_functional(Multiply))
average = keras_export("keras.layers.average")(_functional(Average))
maximum = keras_export("keras.layers.maximum")(_functional(Maximum))
minimum = keras_export("keras.layers.minimum")(_functional(Minimum))


@keras_export("keras.layers.concatenate")
def concatenate(inputs, axis=-1, **kwargs):
    """Functional interface to the `Concatenate` layer."""
    return Concatenate(axis=axis, **kwargs)(inputs)


@keras_export("keras.layers.dot")
def dot(inputs, axes=-1, **kwargs):
    """Functional interface to the `Dot` layer."""
    return Dot(axes=axes, **kwargs)(inputs)
