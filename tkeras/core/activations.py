"""Keras 3 activation functions on torch tensors.

Same names, signatures and defaults as `keras.activations`, computed with torch's fused ops
(`F.relu`, `F.gelu`, `F.silu`, ...) the way Keras's torch backend does, so results match Keras to
float rounding. Inputs that are not tensors (NumPy arrays, Python numbers) go through
`torch.as_tensor`. Deliberate difference: `softmax`/`sigmoid` do not attach `_keras_logits` to
their output (only Keras's TensorFlow backend reads it).
"""

import types

import torch
import torch.nn.functional as F

from tkeras.core.object_families import get_object
from tkeras.core.registry import deserialize_keras_object, keras_export, serialize_keras_object


def _tensor(x):
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


@keras_export("keras.activations.relu")
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """ReLU with Keras's options: `max(x, 0)` by default; values at or below `threshold` become
    0 (or `negative_slope * (x - threshold)`), and the result is clipped at `max_value`."""
    x = _tensor(x)
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return F.leaky_relu(x, negative_slope=negative_slope)
        negative_part = F.relu(threshold - x)
    clip = max_value is not None
    if threshold != 0:
        y = torch.where(x > threshold, x, torch.zeros((), dtype=x.dtype, device=x.device))
    elif max_value == 6:
        y, clip = F.relu6(x), False
    else:
        y = F.relu(x)
    if clip:
        y = torch.clamp(y, 0.0, max_value)
    if negative_slope != 0.0:
        y = y - negative_slope * negative_part
    return y


@keras_export("keras.activations.leaky_relu")
def leaky_relu(x, negative_slope=0.2):
    return F.leaky_relu(_tensor(x), negative_slope=negative_slope)


@keras_export("keras.activations.relu6")
def relu6(x):
    return F.relu6(_tensor(x))


def _over_axes(fn, x, axis):
    """Apply a last-axis normalizer (`F.softmax`, `F.log_softmax`) over `axis`: an int, a tuple
    of ints, or None for all axes (as Keras's `ops.softmax`)."""
    if axis is None:
        return fn(x.reshape(-1), dim=-1).reshape(x.shape)
    if isinstance(axis, (tuple, list)):
        axes = [a % x.ndim for a in axis]
        keep = [d for d in range(x.ndim) if d not in axes]
        moved = x.permute(*keep, *axes)
        out = fn(moved.reshape(*moved.shape[: len(keep)], -1), dim=-1).reshape(moved.shape)
        order = keep + axes
        return out.permute(*sorted(range(x.ndim), key=order.__getitem__))
    return fn(x, dim=axis)


@keras_export("keras.activations.softmax")
def softmax(x, axis=-1):
    return _over_axes(F.softmax, _tensor(x), axis)


@keras_export("keras.activations.elu")
def elu(x, alpha=1.0):
    return F.elu(_tensor(x), alpha=alpha)


@keras_export("keras.activations.selu")
def selu(x):
    return F.selu(_tensor(x))


@keras_export("keras.activations.softplus")
def softplus(x):
    return F.softplus(_tensor(x))


@keras_export("keras.activations.softsign")
def softsign(x):
    return F.softsign(_tensor(x))


@keras_export("keras.activations.soft_shrink")
def soft_shrink(x, threshold=0.5):
    return F.softshrink(_tensor(x), lambd=threshold)


@keras_export("keras.activations.sparse_plus")
def sparse_plus(x):
    """0 for `x <= -1`, `(x + 1)**2 / 4` for `-1 < x < 1`, `x` for `x >= 1`."""
    x = _tensor(x)
    return torch.where(
        x <= -1, torch.zeros_like(x), torch.where(x < 1, 0.25 * (x + 1) ** 2, x)
    )


@keras_export("keras.activations.silu", "keras.activations.swish")
def silu(x):
    return F.silu(_tensor(x))


@keras_export("keras.activations.squareplus")
def squareplus(x, b=4):
    x = _tensor(x)
    return (x + torch.sqrt(x**2 + b)) / 2


@keras_export("keras.activations.gelu")
def gelu(x, approximate=False):
    return F.gelu(_tensor(x), approximate="tanh" if approximate else "none")


@keras_export("keras.activations.celu")
def celu(x, alpha=1.0):
    return F.celu(_tensor(x), alpha=alpha)


@keras_export("keras.activations.glu")
def glu(x, axis=-1):
    return F.glu(_tensor(x), dim=axis)


@keras_export("keras.activations.tanh")
def tanh(x):
    return torch.tanh(_tensor(x))


@keras_export("keras.activations.tanh_shrink")
def tanh_shrink(x):
    return F.tanhshrink(_tensor(x))


@keras_export("keras.activations.hard_tanh")
def hard_tanh(x):
    return F.hardtanh(_tensor(x), min_val=-1.0, max_val=1.0)


@keras_export("keras.activations.hard_shrink")
def hard_shrink(x, threshold=0.5):
    return F.hardshrink(_tensor(x), lambd=threshold)


@keras_export("keras.activations.threshold")
def threshold(x, threshold, default_value):
    """`x` where `x > threshold`, else `default_value`."""
    return F.threshold(_tensor(x), threshold, default_value)


@keras_export("keras.activations.sigmoid")
def sigmoid(x):
    return torch.sigmoid(_tensor(x))


@keras_export("keras.activations.exponential")
def exponential(x):
    return torch.exp(_tensor(x))


@keras_export("keras.activations.hard_sigmoid")
def hard_sigmoid(x):
    """`clip(x / 6 + 0.5, 0, 1)`."""
    return F.hardsigmoid(_tensor(x))


@keras_export("keras.activations.log_sigmoid")
def log_sigmoid(x):
    return F.logsigmoid(_tensor(x))


@keras_export("keras.activations.sparse_sigmoid")
def sparse_sigmoid(x):
    """`clip((x + 1) / 2, 0, 1)`."""
    return torch.clamp(0.5 * (_tensor(x) + 1), 0.0, 1.0)


@keras_export("keras.activations.hard_silu", "keras.activations.hard_swish")
def hard_silu(x):
    return F.hardswish(_tensor(x))


@keras_export("keras.activations.linear")
def linear(x):
    return x


@keras_export("keras.activations.mish")
def mish(x):
    return F.mish(_tensor(x))


@keras_export("keras.activations.log_softmax")
def log_softmax(x, axis=-1):
    return _over_axes(F.log_softmax, _tensor(x), axis)


@keras_export("keras.activations.sparsemax")
def sparsemax(x, axis=-1):
    """Euclidean projection of `x` onto the probability simplex along `axis`."""
    logits = _tensor(x)
    logits_sorted = torch.sort(logits, dim=axis, descending=True).values
    cumsum = torch.cumsum(logits_sorted, dim=axis)
    r_shape = [1] * logits.ndim
    r_shape[axis] = -1
    r = torch.arange(1, logits.shape[axis] + 1, device=logits.device, dtype=logits.dtype)
    support = logits_sorted - (cumsum - 1) / r.view(r_shape) > 0
    k = torch.sum(support, dim=axis, keepdim=True)
    cumsum_support = torch.where(support, cumsum, torch.zeros((), dtype=cumsum.dtype))
    tau = (torch.sum(cumsum_support, dim=axis, keepdim=True) - 1) / k
    return torch.clamp(logits - tau, min=0.0)


ALL_OBJECTS = (
    relu, leaky_relu, relu6, softmax, celu, elu, selu, softplus, softsign, squareplus,
    soft_shrink, sparse_plus, silu, gelu, glu, tanh, tanh_shrink, threshold, sigmoid,
    sparse_sigmoid, exponential, hard_sigmoid, hard_silu, hard_tanh, hard_shrink, linear, mish,
    log_softmax, log_sigmoid, sparsemax,
)
ALL_OBJECTS_DICT = {fn.__name__: fn for fn in ALL_OBJECTS}
ALL_OBJECTS_DICT["swish"] = silu
ALL_OBJECTS_DICT["hard_swish"] = hard_silu
swish = silu
hard_swish = hard_silu


def serialize(activation):
    """The name (a string) for built-in activations, as Keras writes them in layer configs; the
    full function config for registered custom functions; the object config for callables
    such as layers."""
    config = serialize_keras_object(activation)
    if not isinstance(config, dict) or "config" not in config:
        raise ValueError(
            f"Unknown activation function '{activation}' cannot be serialized. Use a name from "
            "`tkeras.activations`, or register custom activations with "
            f"`@tkeras.saving.register_keras_serializable()`. config={config}"
        )
    if isinstance(activation, types.FunctionType) and activation in ALL_OBJECTS:
        return config["config"]
    return config


def deserialize(config, custom_objects=None):
    """The activation named by a string or a Keras function/object config."""
    return deserialize_keras_object(config, custom_objects, module_objects=ALL_OBJECTS_DICT,
                                    printable_module_name="activations")


def get(identifier):
    """`None` -> `linear`; a built-in name; a config dict; or any callable (a class too),
    returned as is."""
    if identifier is None:
        return linear
    return get_object(identifier, deserialize, ALL_OBJECTS_DICT.get, "activation function",
                      instantiate=False)
