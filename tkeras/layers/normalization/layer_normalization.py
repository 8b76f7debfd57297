"""`LayerNormalization`: normalize each example over `axis` (default the last one).

Keras behaviour kept: `gamma`/`beta` of shape `input_shape[axis]` (axes sorted, `axis` becomes a
sorted list after `build`, as in Keras's config), `epsilon=1e-3` added to the variance, float32
computation for half-precision inputs, and the deprecated `rms_scaling=True` (scales by the
rsqrt of the VARIANCE, without centering, `gamma` only). Trailing axes run `F.layer_norm`;
other axes use Keras's moments formula `x * inv + (beta - mean * inv)`,
`inv = rsqrt(E[x^2] - E[x]^2 + eps) * gamma`.

Deliberate difference: Keras's torch backend sends any *contiguous* axis list (e.g. `axis=1` of
a rank-3 input) to `F.layer_norm`, which then normalizes the trailing axes instead (or fails on
the shape); tkeras normalizes the requested axes.
"""

import warnings

import torch
import torch.nn.functional as F

from tkeras.core import constraints
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer


def axes_tuple(axis):
    """`axis` as a tuple (list attributes of layers are tracked lists, which torch ops refuse)."""
    return (axis,) if isinstance(axis, int) else tuple(axis)


def check_axes_in_bounds(axis, input_shape):
    for a in [axis] if isinstance(axis, int) else axis:
        if a >= len(input_shape) or a < -len(input_shape):
            raise ValueError(
                f"Axis {a} is out of bounds for input shape {input_shape}. Received: axis={axis}")


def is_trailing(axes, ndim):
    """Whether the (sorted) axes are exactly the last `len(axes)` axes."""
    return sorted(a % ndim for a in axes) == list(range(ndim - len(axes), ndim))


def cast_like(weight, x):
    """`weight` in `x`'s dtype (no op call when it already is)."""
    if weight is None or weight.dtype == x.dtype:
        return weight
    return weight.to(x.dtype)


def broadcast_shape(axes, shape):
    out = [1] * len(shape)
    for a in axes:
        out[a] = shape[a]
    return out


class AffineNormalization(Layer):
    """What LayerNormalization and GroupNormalization share: `epsilon`, the `center`/`scale`
    flags, the beta/gamma initializer, regularizer and constraint arguments, float32 `gamma` and
    `beta` weights (in Keras's order) and their config keys, the output shape (the input's, once
    `axis` is checked). Masks pass through."""

    def __init__(self, epsilon, center, scale, beta_initializer, gamma_initializer,
                 beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint,
                 **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.supports_masking = True
        self.autocast = False

    def _add_gamma_beta(self, shape, gamma, beta):
        """`gamma` then `beta` of `shape`, each only where wanted (else None)."""
        self.gamma = self.add_weight(
            name="gamma", shape=shape, initializer=self.gamma_initializer,
            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint,
            autocast=False) if gamma else None
        self.beta = self.add_weight(
            name="beta", shape=shape, initializer=self.beta_initializer,
            regularizer=self.beta_regularizer, constraint=self.beta_constraint,
            autocast=False) if beta else None
        self.built = True

    def compute_output_shape(self, input_shape):
        check_axes_in_bounds(self.axis, input_shape)
        return input_shape

    def _gamma_beta_config(self):
        return {
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }


@keras_export("keras.layers.LayerNormalization")
class LayerNormalization(AffineNormalization):
    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        rms_scaling = kwargs.pop("rms_scaling", False)
        if rms_scaling:
            warnings.warn(
                "You passed `rms_scaling=True`, which is deprecated. This argument incorrectly "
                "scales the input by the variance, not the root mean square. To correctly use "
                "RMS Normalization, please use `keras.layers.RMSNormalization` instead.")
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint,
                         **kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = list(axis)
        elif isinstance(axis, int):
            self.axis = axis
        else:
            raise TypeError(
                "Expected an int or a list/tuple of ints for the argument 'axis', but "
                f"received: {axis!r}")
        self.rms_scaling = rms_scaling

    def build(self, input_shape):
        if isinstance(self.axis, (list, tuple)):
            self.axis = sorted(self.axis)
            shape = tuple(input_shape[dim] for dim in self.axis)
        else:
            shape = (input_shape[self.axis],)
            self.axis = [self.axis]
        self._add_gamma_beta(shape, gamma=self.scale or self.rms_scaling,
                             beta=self.center and not self.rms_scaling)

    def call(self, inputs):
        dtype = inputs.dtype
        x = inputs if dtype in (torch.float32, torch.float64) else inputs.float()
        gamma, beta = cast_like(self.gamma, x), cast_like(self.beta, x)
        axes = tuple(self.axis)
        bshape = broadcast_shape(axes, x.shape)
        trailing = is_trailing(axes, x.dim())

        def bcast(w):
            return w if w is None or trailing else w.reshape(bshape)

        if self.rms_scaling:
            variance = torch.var(x, dim=axes, correction=0, keepdim=True)
            out = x * torch.rsqrt(variance + self.epsilon)
            if gamma is not None:
                out = out * bcast(gamma)
        elif trailing:
            out = F.layer_norm(x, tuple(x.shape[a] for a in axes), gamma, beta, self.epsilon)
        else:
            mean = x.mean(dim=axes, keepdim=True)
            variance = x.square().mean(dim=axes, keepdim=True) - mean.square()
            inv = torch.rsqrt(variance + self.epsilon)
            if gamma is not None:
                inv = inv * bcast(gamma)
            res = -mean * inv
            if beta is not None:
                res = res + bcast(beta)
            out = x * inv + res
        return out.to(dtype)

    def get_config(self):
        config = {
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            **self._gamma_beta_config(),
        }
        return {**super().get_config(), **config}
