"""Keras 3 losses on torch tensors: the `Loss` base, the 23 built-in classes and their functions.

Numbers follow Keras 3 with the torch backend exactly: probabilities are clipped to
`[epsilon(), 1 - epsilon()]` when `from_logits=False`, logits go through the fused torch kernels
Keras itself uses (`log_softmax`, `F.cross_entropy`, `F.binary_cross_entropy_with_logits`,
`F.ctc_loss`). Masks travel as a `_keras_mask` attribute on tensors, as in Keras's torch backend:
`Loss.__call__` reads it from `y_pred` and from the per-sample losses (`sparse_categorical_crossentropy`
with `ignore_class`, `circle`). Everything stays on the device of `y_pred` and is differentiable.

Deliberate differences: losses over class ids keep integer `y_true` integer (Keras casts it to
float32, exact only below 2**24); Keras scales a caller's `sample_weight` tensor in place when a
mask is present, tkeras never modifies its inputs.
"""

import functools
import inspect
import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from tkeras.core import config as _config
from tkeras.core.naming import auto_name
from tkeras.core.object_families import abbreviations
from tkeras.core.object_families import deserialize_by_name
from tkeras.core.object_families import get_object
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.core.registry import to_snake_case

REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")

_TORCH_DTYPES = {
    "float16": torch.float16, "float32": torch.float32, "float64": torch.float64,
    "bfloat16": torch.bfloat16, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
    "int64": torch.int64, "uint8": torch.uint8, "bool": torch.bool,
}


# ----------------------------------------------------------------------------- tensor helpers


def standardize_dtype(dtype):
    """Keras dtype name for a string, torch dtype or dtype policy (its compute dtype)."""
    if dtype is None:
        return _config.floatx()
    if hasattr(dtype, "compute_dtype"):
        return standardize_dtype(dtype.compute_dtype)
    if isinstance(dtype, dict):  # a serialized DTypePolicy
        return standardize_dtype(dtype.get("config", {}).get("name"))
    if isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", "")
    name = str(dtype)
    if name.startswith("mixed_"):
        return name[len("mixed_"):]
    if name == "int":
        return "int32"
    if name == "float":
        return _config.floatx()
    if name not in _TORCH_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype!r}")
    return name


def torch_dtype(dtype):
    return _TORCH_DTYPES[standardize_dtype(dtype)]


def convert_to_tensor(x, dtype=None, device=None):
    """`keras.ops.convert_to_tensor` for torch: tensors keep their device (and `_keras_mask`
    when no cast is needed); Python lists become float32/int32; NumPy keeps its dtype."""
    dtype = None if dtype is None else torch_dtype(dtype)
    if isinstance(x, torch.Tensor):
        if device is not None and x.device != torch.device(device):
            x = x.to(device)
        return x if dtype is None or x.dtype == dtype else x.to(dtype)
    if isinstance(x, (bool, int, float)) and dtype is None:
        dtype = torch.bool if isinstance(x, bool) else (
            torch.int32 if isinstance(x, int) else torch_dtype(_config.floatx()))
    if isinstance(x, (list, tuple)) and dtype is None:
        arr = np.asarray(x)
        if arr.dtype == np.float64:
            arr = arr.astype(_config.floatx())
        elif arr.dtype == np.int64:
            arr = arr.astype(np.int32)
        x = arr
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def _is_floating(x):
    if isinstance(x, torch.Tensor):
        return x.is_floating_point()
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def get_keras_mask(x):
    return getattr(x, "_keras_mask", None)


def set_keras_mask(x, mask):
    x._keras_mask = mask
    return x


def scalar_like(value, like):
    """A 0-d tensor of `like`'s dtype and device, filled on the device (no host-to-device
    copy, so no synchronization)."""
    return torch.full((), value, dtype=like.dtype, device=like.device)


def divide_no_nan(x, y):
    y = torch.as_tensor(y, dtype=x.dtype if torch.is_tensor(x) else None,
                        device=x.device if torch.is_tensor(x) else None)
    safe_y = torch.where(y == 0, torch.ones_like(y), y)
    return torch.where(y == 0, torch.zeros_like(x / safe_y), x / safe_y)


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        return tuple(axis)
    return axis


def l2_normalize(x, axis=-1):
    """`keras.ops.normalize(x, axis, order=2)`: `x * min(rsqrt(sum(x**2)), 1 / epsilon)`."""
    if x.dim() == 0:
        x = x.unsqueeze(0)
    square_sum = torch.sum(torch.square(x), dim=_axes(axis, x.dim()), keepdim=True)
    inv_norm = torch.clamp(torch.rsqrt(square_sum), max=1.0 / _config.epsilon())
    return x * inv_norm


def _map_structure(fn, x):
    """Apply `fn` to each array of a dict/list/tuple of arrays; a nested list of numbers is one
    array."""
    if isinstance(x, dict):
        return {k: _map_structure(fn, v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and any(
        isinstance(v, (torch.Tensor, np.ndarray, dict)) for v in x
    ):
        return type(x)(_map_structure(fn, v) for v in x)
    return fn(x)


# ----------------------------------------------------------------------------- reduction


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            "Invalid value for argument `reduction`. "
            f"Expected one of {set(REDUCTIONS)}. Received: reduction={reduction}"
        )
    return reduction


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Squeeze/expand the last dim when the ranks differ by exactly one (as Keras)."""
    r1, r2 = x1.dim(), x2.dim()
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def apply_mask(sample_weight, mask, dtype, reduction):
    """Merge a mask into the sample weights. For "mean"/"sum_over_batch_size", valid entries
    weigh `total / valid`, so the mean runs over the valid entries only."""
    if mask is None:
        return sample_weight
    dtype = torch_dtype(dtype)
    mask = torch.as_tensor(mask)
    if reduction in ("mean", "sum_over_batch_size"):
        total = float(math.prod(mask.shape))
        valid = torch.sum(mask.to(dtype))
        mask_weight = divide_no_nan(total, valid)
        float_mask = torch.where(mask.bool(), mask_weight, torch.zeros_like(mask_weight))
    else:
        float_mask = mask.to(dtype)
    if sample_weight is not None:
        sample_weight = sample_weight.to(dtype)
        float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
        sample_weight = sample_weight * float_mask
    else:
        sample_weight = float_mask
    return sample_weight


def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    if reduction is None or reduction == "none" or tuple(values.shape) in ((), (0,)):
        return values
    loss = torch.sum(values)
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            loss = divide_no_nan(loss, torch.sum(sample_weight).to(loss.dtype))
        else:
            size = math.prod(values.shape)
            loss = loss / float(size) if size else torch.zeros_like(loss)
    return loss


def reduce_weighted_values(values, sample_weight=None, mask=None,
                           reduction="sum_over_batch_size", dtype=None):
    reduction = standardize_reduction(reduction)
    values = convert_to_tensor(values, dtype=dtype)
    if sample_weight is not None:
        sample_weight = convert_to_tensor(sample_weight, dtype=dtype, device=values.device)
    if mask is not None:
        mask = convert_to_tensor(mask, device=values.device)
    sample_weight = apply_mask(sample_weight, mask, dtype=values.dtype, reduction=reduction)
    if sample_weight is not None:
        sample_weight = sample_weight.to(values.dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        values = values * sample_weight
    return reduce_values(values, sample_weight, reduction)


# ----------------------------------------------------------------------------- base classes


@keras_export("keras.losses.Loss", "keras.Loss")
class Loss:
    """Loss base class: subclass it and implement `call(y_true, y_pred)` returning per-sample
    losses; `__call__` applies masks, `sample_weight` and the reduction exactly as Keras.

    Args:
        name: Optional name for the loss instance.
        reduction: "sum_over_batch_size" (default), "sum", "mean", "mean_with_sample_weight",
            "none" or None.
        dtype: Computation dtype (a name, torch dtype or dtype policy); defaults to `floatx()`.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or auto_name(self.__class__.__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype = standardize_dtype(dtype)

    @property
    def dtype(self):
        return self._dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        if (sample_weight is None and isinstance(y_pred, torch.Tensor)
                and isinstance(y_true, torch.Tensor) and get_keras_mask(y_pred) is None):
            dtype = _TORCH_DTYPES[self._dtype]
            if y_pred.dtype is dtype:
                # Tensors, no weights, no input mask: nothing to convert or merge.
                if y_true.dtype is not dtype and self._y_true_dtype(y_true) is not None:
                    y_true = y_true.to(dtype)
                fused = self._fused_call(y_true, y_pred)
                if fused is not None:
                    return fused
                losses = self.call(y_true, y_pred)
                if (isinstance(losses, torch.Tensor) and losses.dtype is dtype
                        and get_keras_mask(losses) is None):
                    return reduce_values(losses, None, self.reduction)
                return reduce_weighted_values(losses, mask=get_keras_mask(losses),
                                              reduction=self.reduction, dtype=self.dtype)
        in_mask = get_keras_mask(y_pred)
        device = y_pred.device if torch.is_tensor(y_pred) else None
        y_pred = _map_structure(lambda x: convert_to_tensor(x, self.dtype, device), y_pred)
        y_true = _map_structure(lambda x: convert_to_tensor(x, self._y_true_dtype(x), device),
                                y_true)
        losses = self.call(y_true, y_pred)
        out_mask = get_keras_mask(losses)
        if in_mask is not None and out_mask is not None:
            mask = in_mask.bool() & out_mask.bool()
        else:
            mask = in_mask if in_mask is not None else out_mask
        return reduce_weighted_values(losses, sample_weight=sample_weight, mask=mask,
                                      reduction=self.reduction, dtype=self.dtype)

    def _fused_call(self, y_true, y_pred):
        """The reduced loss in fewer torch kernels, or None where no shortcut applies (only
        called without sample weights or masks, on tensors of the loss's dtype)."""
        return None

    # Losses over class ids keep integer `y_true` integer. Keras casts it to float32 first,
    # which gives the same numbers for ids below 2**24 and wrong ones above.
    _keeps_integer_labels = False

    def _y_true_dtype(self, y_true):
        if self._keeps_integer_labels and not _is_floating(y_true):
            return None
        return self.dtype

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{self.__class__.__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A `Loss` around a function `fn(y_true, y_pred, **kwargs)`; ranks are aligned first."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        if torch.is_tensor(y_true) and torch.is_tensor(y_pred):
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def _fused_call(self, y_true, y_pred):
        fused = _FUSED_MEANS.get(self.fn)
        if fused is None or self.reduction not in _MEAN_REDUCTIONS:
            return None
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if y_true.device != y_pred.device or y_pred.numel() == 0:
            return None
        return fused(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"fn": serialize_keras_object(self.fn)})
        config.update(serialize_keras_object(self._fn_kwargs))
        return config

    @classmethod
    def from_config(cls, config):
        if "fn" in config:
            config = deserialize_keras_object(config, printable_module_name="losses")
        return cls(**config)

    def __repr__(self):
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"


class TorchLossWrapper(Loss):
    """A `Loss` around a torch loss (`nn.Module` loss or `torch.nn.functional` function), called
    torch's way, `fn(y_pred, y_true)`, with integer targets kept integer. A torch loss that
    reduces itself returns a scalar, which Keras's reductions leave as it is; use
    `reduction="none"` on the torch side to let `sample_weight` apply. Not serializable."""

    _keeps_integer_labels = True

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_pred, y_true)

    def get_config(self):
        raise NotImplementedError(
            f"A torch loss ({self.fn}) has no Keras config; pass it again to compile() after "
            "loading."
        )


def is_torch_loss(obj):
    """True for torch's own losses, which take `(input, target)` rather than Keras's
    `(y_true, y_pred)`."""
    if isinstance(obj, torch.nn.modules.loss._Loss):
        return True
    return inspect.isfunction(obj) and getattr(obj, "__module__", "") == "torch.nn.functional"


# ----------------------------------------------------------------------------- loss functions


def _pair(y_true, y_pred, align=True):
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype, device=y_pred.device)
    if align:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return y_true, y_pred


def _clip_probs(x):
    eps = _config.epsilon()
    return torch.clip(x, eps, 1.0 - eps)


@keras_export("keras.losses.mean_squared_error", "keras.metrics.mean_squared_error")
def mean_squared_error(y_true, y_pred):
    """`mean(square(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = _pair(y_true, y_pred)
    return torch.mean(torch.square(y_true - y_pred), dim=-1)


@keras_export("keras.losses.mean_absolute_error", "keras.metrics.mean_absolute_error")
def mean_absolute_error(y_true, y_pred):
    """`mean(abs(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = _pair(y_true, y_pred)
    return torch.mean(torch.abs(y_true - y_pred), dim=-1)


@keras_export("keras.losses.mean_absolute_percentage_error",
              "keras.metrics.mean_absolute_percentage_error")
def mean_absolute_percentage_error(y_true, y_pred):
    """`100 * mean(abs((y_true - y_pred) / max(abs(y_true), epsilon)), axis=-1)`."""
    y_true, y_pred = _pair(y_true, y_pred)
    eps = scalar_like(_config.epsilon(), y_pred)
    diff = torch.abs((y_true - y_pred) / torch.maximum(torch.abs(y_true), eps))
    return 100.0 * torch.mean(diff, dim=-1)


@keras_export("keras.losses.mean_squared_logarithmic_error",
              "keras.metrics.mean_squared_logarithmic_error")
def mean_squared_logarithmic_error(y_true, y_pred):
    """`mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)), axis=-1)`."""
    y_true, y_pred = _pair(y_true, y_pred)
    eps = scalar_like(_config.epsilon(), y_pred)
    first_log = torch.log(torch.maximum(y_pred, eps) + 1.0)
    second_log = torch.log(torch.maximum(y_true, eps) + 1.0)
    return torch.mean(torch.square(first_log - second_log), dim=-1)


@keras_export("keras.losses.cosine_similarity")
def cosine_similarity(y_true, y_pred, axis=-1):
    """`-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)` (a loss: lower is better)."""
    y_true, y_pred = _pair(y_true, y_pred)
    y_pred = l2_normalize(y_pred, axis=axis)
    y_true = l2_normalize(y_true, axis=axis)
    return -torch.sum(y_true * y_pred, dim=_axes(axis, y_true.dim()))


@keras_export("keras.losses.huber", "keras.metrics.huber")
def huber(y_true, y_pred, delta=1.0):
    y_true, y_pred = _pair(y_true, y_pred)
    delta = scalar_like(delta, y_pred)
    error = y_pred - y_true
    abs_error = torch.abs(error)
    half = scalar_like(0.5, abs_error)
    return torch.mean(
        torch.where(abs_error <= delta, half * torch.square(error),
                    delta * abs_error - half * torch.square(delta)),
        dim=-1,
    )


@keras_export("keras.losses.log_cosh", "keras.metrics.log_cosh")
def log_cosh(y_true, y_pred):
    """`mean(x + softplus(-2x) - log(2), axis=-1)` with `x = y_pred - y_true` (overflow-safe)."""
    y_true, y_pred = _pair(y_true, y_pred)
    log2 = torch.tensor(math.log(2.0), dtype=torch.float32).to(y_pred.dtype)
    x = y_pred - y_true
    return torch.mean(x + F.softplus(x * -2.0) - log2, dim=-1)


def convert_binary_labels_to_hinge(y_true):
    """0/1 labels become -1/1; other labels are left as they are (decided on device)."""
    is_binary = torch.all((y_true == 0) | (y_true == 1))
    return torch.where(is_binary, 2.0 * y_true - 1.0, y_true)


@keras_export("keras.losses.hinge", "keras.metrics.hinge")
def hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    y_true = convert_binary_labels_to_hinge(y_true)
    return torch.mean(torch.clamp(1.0 - y_true * y_pred, min=0.0), dim=-1)


@keras_export("keras.losses.squared_hinge", "keras.metrics.squared_hinge")
def squared_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    y_true = convert_binary_labels_to_hinge(y_true)
    return torch.mean(torch.square(torch.clamp(1.0 - y_true * y_pred, min=0.0)), dim=-1)


@keras_export("keras.losses.categorical_hinge", "keras.metrics.categorical_hinge")
def categorical_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    pos = torch.sum(y_true * y_pred, dim=-1)
    neg = torch.amax((1.0 - y_true) * y_pred, dim=-1)
    return torch.clamp(neg - pos + 1.0, min=0.0)


@keras_export("keras.losses.kl_divergence", "keras.metrics.kl_divergence")
def kl_divergence(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    eps = _config.epsilon()
    y_true = torch.clip(y_true, eps, 1)
    y_pred = torch.clip(y_pred, eps, 1)
    return torch.sum(y_true * torch.log(y_true / y_pred), dim=-1)


@keras_export("keras.losses.poisson", "keras.metrics.poisson")
def poisson(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    eps = scalar_like(_config.epsilon(), y_pred)
    return torch.mean(y_pred - y_true * torch.log(y_pred + eps), dim=-1)


def _check_axis(axis):
    if isinstance(axis, bool):
        raise ValueError(
            f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}"
        )


def _warn_single_class(fn_name, y_pred):
    if y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss {fn_name}, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={tuple(y_pred.shape)}. Consider using "
            "'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=3,
        )


def _smooth_categorical(y_true, y_pred, label_smoothing):
    if label_smoothing:
        num_classes = float(y_true.shape[-1])
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    return y_true


@keras_export("keras.losses.categorical_crossentropy", "keras.metrics.categorical_crossentropy")
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Cross-entropy against one-hot (or soft) targets. Probabilities are renormalized along
    `axis` and clipped to `[eps, 1 - eps]`; logits use `log_softmax`."""
    _check_axis(axis)
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    _warn_single_class("categorical_crossentropy", y_pred)
    y_true = _smooth_categorical(y_true, y_pred, label_smoothing)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. Received: "
            f"target.shape={tuple(y_true.shape)}, output.shape={tuple(y_pred.shape)}"
        )
    if y_true.dim() < 1:
        raise ValueError("Arguments `target` and `output` must be at least rank 1.")
    if from_logits:
        log_prob = F.log_softmax(y_pred, dim=axis)
    else:
        output = y_pred / torch.sum(y_pred, dim=axis, keepdim=True)
        log_prob = torch.log(_clip_probs(output))
    return -torch.sum(y_true * log_prob, dim=axis)


@keras_export("keras.losses.categorical_focal_crossentropy",
              "keras.metrics.categorical_focal_crossentropy")
def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    _check_axis(axis)
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    _warn_single_class("categorical_focal_crossentropy", y_pred)
    y_true = _smooth_categorical(y_true, y_pred, label_smoothing)
    if from_logits:
        y_pred = F.softmax(y_pred, dim=axis)
    output = _clip_probs(y_pred / torch.sum(y_pred, dim=axis, keepdim=True))
    cce = -y_true * torch.log(output)
    focal_cce = torch.pow(1.0 - output, gamma) * alpha * cce
    return torch.sum(focal_cce, dim=axis)


def _sparse_crossentropy(target, output, from_logits, axis):
    """Keras's torch backend op: class dim moved to 1, then `F.cross_entropy` / `F.nll_loss`."""
    target = target.long()
    if target.dim() == output.dim() and target.shape[axis] == 1:
        target = target.squeeze(axis)
    if output.dim() < 1:
        raise ValueError(f"Argument `output` must be at least rank 1. Received: {output.shape}")
    expected = list(output.shape)
    del expected[axis]
    if list(target.shape) != expected:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape up until the last "
            f"dimension: target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}"
        )
    squeeze = output.dim() == 1
    if squeeze:
        output, target = output.unsqueeze(0), target.unsqueeze(0)
    elif axis % output.dim() != 1:
        output = output.movedim(axis % output.dim(), 1)
    if from_logits:
        result = F.cross_entropy(output, target, reduction="none")
    else:
        output = _clip_probs(output / torch.sum(output, dim=1, keepdim=True))
        result = F.nll_loss(torch.log(output), target, reduction="none")
    return result.squeeze(0) if squeeze else result


@keras_export("keras.losses.sparse_categorical_crossentropy",
              "keras.metrics.sparse_categorical_crossentropy")
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Cross-entropy against integer labels. With `ignore_class`, those positions get loss 0 and
    a `_keras_mask`, so `Loss` reductions average over the other positions only."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, device=y_pred.device)
    if y_true.dim() == y_pred.dim() and y_true.shape[axis] == 1:
        y_true = y_true.squeeze(axis)
    if ignore_class is not None:
        class_axis = axis % y_pred.dim()
        res_shape = tuple(d for i, d in enumerate(y_pred.shape) if i != class_axis)
        valid_mask = y_true != torch.tensor(ignore_class, dtype=y_pred.dtype).to(y_true.dtype)
        y_true = torch.where(valid_mask, y_true, torch.zeros_like(y_true))
        y_pred = torch.where(valid_mask.unsqueeze(axis), y_pred, torch.zeros_like(y_pred))
    res = _sparse_crossentropy(y_true, y_pred, from_logits, axis)
    if ignore_class is not None:
        valid_mask = valid_mask.reshape(res_shape)
        res = torch.where(valid_mask, res, torch.zeros_like(res))
        set_keras_mask(res, valid_mask)
    return res


def _binary_crossentropy(target, output, from_logits):
    if target.shape != output.shape:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. Received: "
            f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}"
        )
    if from_logits:
        return F.binary_cross_entropy_with_logits(output, target, reduction="none")
    return F.binary_cross_entropy(_clip_probs(output), target, reduction="none")


@keras_export("keras.losses.binary_crossentropy", "keras.metrics.binary_crossentropy")
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return torch.mean(_binary_crossentropy(y_true, y_pred, from_logits), dim=axis)


@keras_export("keras.losses.binary_focal_crossentropy", "keras.metrics.binary_focal_crossentropy")
def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = torch.sigmoid(y_pred)
    bce = _binary_crossentropy(y_true, y_pred, from_logits=False)
    p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
    focal_bce = torch.pow(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal_bce = (y_true * alpha + (1 - y_true) * (1 - alpha)) * focal_bce
    return torch.mean(focal_bce, dim=axis)


@keras_export("keras.losses.ctc")
def ctc(y_true, y_pred):
    """CTC loss: `y_true` (batch, max_label_length) int labels padded with 0 (the blank),
    `y_pred` (batch, time, classes) logits; every sequence uses the full time axis."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, device=y_pred.device)
    if y_true.dim() != 2:
        raise ValueError(
            "Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` "
            f"in integer format. Received: y_true.shape={tuple(y_true.shape)}"
        )
    if y_pred.dim() != 3:
        raise ValueError(
            "Logits `y_pred` are expected to be a tensor of shape "
            f"`(batch_size, max_length, num_classes)`. Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    batch, time = y_pred.shape[0], y_pred.shape[1]
    input_length = torch.full((batch,), time, dtype=torch.int32, device=y_pred.device)
    label_length = torch.sum(y_true != 0, dim=-1).to(torch.int32)
    if not y_pred.is_floating_point() or y_pred.dtype in (torch.float16, torch.bfloat16):
        y_pred = y_pred.float()
    log_probs = F.log_softmax(y_pred.transpose(0, 1), dim=-1)
    return F.ctc_loss(log_probs, y_true.long(), input_length, label_length, blank=0,
                      reduction="none")


@keras_export("keras.losses.dice")
def dice(y_true, y_pred, axis=None):
    """`1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + eps)` over `axis`."""
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    dims = _axes(axis, y_pred.dim())
    intersection = torch.sum(y_true * y_pred, dim=dims)
    score = 2.0 * intersection / (
        torch.sum(y_true, dim=dims) + torch.sum(y_pred, dim=dims) + _config.epsilon())
    return 1 - score


@keras_export("keras.losses.tversky")
def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    y_true, y_pred = _pair(y_true, y_pred, align=False)
    dims = _axes(axis, y_pred.dim())
    intersection = torch.sum(y_true * y_pred, dim=dims)
    fp = torch.sum((1 - y_pred) * y_true, dim=dims)
    fn = torch.sum(y_pred * (1 - y_true), dim=dims)
    score = intersection / (intersection + fp * alpha + fn * beta + _config.epsilon())
    return 1 - score


def build_pos_neg_masks(query_labels, key_labels, remove_diagonal=True):
    if query_labels.dim() == 1:
        query_labels = query_labels.reshape(-1, 1)
    if key_labels.dim() == 1:
        key_labels = key_labels.reshape(-1, 1)
    positive_mask = query_labels == key_labels.T
    negative_mask = ~positive_mask
    if remove_diagonal:
        eye = torch.eye(query_labels.numel(), key_labels.numel(), dtype=torch.bool,
                        device=positive_mask.device)
        positive_mask = positive_mask & ~eye
    return positive_mask, negative_mask


@keras_export("keras.losses.circle")
def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80,
           margin=0.4):
    """Circle loss between integer labels and L2-normalized embeddings; samples whose loss is 0
    are masked out of the reduction (`_keras_mask`), as in Keras."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, device=y_pred.device).to(torch.int32)
    ref_embeddings = y_pred if ref_embeddings is None else convert_to_tensor(
        ref_embeddings, device=y_pred.device)
    ref_labels = y_true if ref_labels is None else convert_to_tensor(
        ref_labels, device=y_pred.device).to(torch.int32)
    optim_pos, optim_neg = margin, 1 + margin
    delta_pos, delta_neg = margin, 1 - margin
    distances = torch.clamp(1 - y_pred @ ref_embeddings.T, min=0.0)
    positive_mask, negative_mask = build_pos_neg_masks(y_true, ref_labels, remove_diagonal)
    pos_weights = torch.clamp((optim_pos + distances) * positive_mask.to(distances.dtype), min=0.0)
    neg_weights = torch.clamp((optim_neg - distances) * negative_mask.to(distances.dtype), min=0.0)
    pos_wdists = -1 * gamma * pos_weights * (delta_pos - distances)
    neg_wdists = gamma * neg_weights * (delta_neg - distances)
    p_loss = torch.logsumexp(torch.where(positive_mask, pos_wdists, float("-inf")), dim=1)
    n_loss = torch.logsumexp(torch.where(negative_mask, neg_wdists, float("-inf")), dim=1)
    circle_loss = F.softplus(p_loss + n_loss)
    return set_keras_mask(circle_loss, circle_loss > 0)


@keras_export("keras.losses.categorical_generalized_cross_entropy")
def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """`(1 - p**q) / q` with `p` the predicted probability of the integer label `y_true`."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, device=y_pred.device)
    one_hot = F.one_hot(y_true.long(), num_classes=y_pred.shape[-1]).to(y_pred.dtype)
    p = torch.sum(y_pred * one_hot, dim=-1)
    return (1 - torch.pow(p, q)) / q


# ----------------------------------------------------------------------------- fused means
# Without sample weights or masks, the "mean" reductions of these losses equal one torch kernel
# with its own reduction (`sum(mean(f, axis=-1)) / batch == mean(f)` over equal-sized rows),
# which is fewer kernels forward and backward. Same math as the unfused path; the float32
# rounding differs only in summation order. Each returns None where the shortcut does not apply
# (the general path then runs, raising Keras's errors or warnings).
_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


# torch's Reduction::Mean. `F.mse_loss`/`F.l1_loss` first run `torch.broadcast_tensors`, which
# adds two ExpandBackward nodes to the graph even for equal shapes (about 20 us per training step
# on CPU); with the shapes checked equal, their kernels are called directly.
_TORCH_MEAN = 1


def _fused_mse(y_true, y_pred):
    if y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype:
        return None
    return torch._C._nn.mse_loss(y_pred, y_true, _TORCH_MEAN)


def _fused_mae(y_true, y_pred):
    if y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype:
        return None
    return torch._C._nn.l1_loss(y_pred, y_true, _TORCH_MEAN)


def _fused_binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    if y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype or axis not in (
            -1, y_pred.dim() - 1):
        return None
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return F.binary_cross_entropy_with_logits(y_pred, y_true)
    return F.binary_cross_entropy(_clip_probs(y_pred), y_true)


def _fused_categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0,
                                    axis=-1):
    if (not from_logits or y_pred.dim() != 2 or axis not in (-1, 1) or isinstance(axis, bool)
            or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype
            or y_pred.shape[-1] == 1):
        return None
    # With probability targets, torch's "mean" is the sum over the batch divided by its size.
    return F.cross_entropy(y_pred, _smooth_categorical(y_true, y_pred, label_smoothing))


def _fused_sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                           axis=-1):
    if not from_logits or ignore_class is not None or y_pred.dim() != 2 or axis not in (-1, 1):
        return None
    if y_true.dim() == 2 and y_true.shape[1] == 1:
        y_true = y_true.squeeze(1)
    batch, classes = y_pred.shape
    if tuple(y_true.shape) != (batch,):
        return None
    if y_true.dtype is not torch.int64:
        y_true = y_true.long()
    # Class weights `1 / batch` make the "sum" Keras's mean over the batch in one autograd node.
    # torch's "mean" would leave rows labelled -100 out of the count (Keras counts them, with
    # loss 0), and dividing the sum afterwards costs a second node (about 35 us per CPU training
    # step). Same gradient bits as sum / batch; the loss differs from it by at most an ulp per
    # row (not at all for a power-of-two batch).
    if torch.compiler.is_compiling():
        weight = torch.full((classes,), 1.0 / batch, dtype=y_pred.dtype, device=y_pred.device)
    else:
        weight = _batch_mean_weight(classes, batch, y_pred.dtype, y_pred.device)
    return F.cross_entropy(y_pred, y_true, weight=weight, reduction="sum")


@functools.lru_cache(maxsize=8)
def _batch_mean_weight(classes, batch, dtype, device):
    # Never an inference tensor (one made under `inference_mode` cannot be saved for backward).
    with torch.inference_mode(False):
        return torch.full((classes,), 1.0 / batch, dtype=dtype, device=device)


_FUSED_MEANS = {
    mean_squared_error: _fused_mse,
    mean_absolute_error: _fused_mae,
    binary_crossentropy: _fused_binary_crossentropy,
    categorical_crossentropy: _fused_categorical_crossentropy,
    sparse_categorical_crossentropy: _fused_sparse_categorical_crossentropy,
}


# ----------------------------------------------------------------------------- loss classes


class _FunctionLoss(LossFunctionWrapper):
    """Built-in loss class around one loss function; `_config_keys` lists the constructor
    arguments written to the config besides name and reduction."""

    _config_keys = ()

    def get_config(self):
        config = Loss.get_config(self)
        config.update({key: getattr(self, key) for key in self._config_keys})
        return config


@keras_export("keras.losses.MeanSquaredError")
class MeanSquaredError(_FunctionLoss):
    """Mean of squares of errors: `mean(square(y_true - y_pred))`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, reduction=reduction, dtype=dtype)


@keras_export("keras.losses.MeanAbsoluteError")
class MeanAbsoluteError(_FunctionLoss):
    """Mean of absolute errors: `mean(abs(y_true - y_pred))`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, reduction=reduction, dtype=dtype)


@keras_export("keras.losses.MeanAbsolutePercentageError")
class MeanAbsolutePercentageError(_FunctionLoss):
    """`100 * mean(abs((y_true - y_pred) / y_true))`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error",
                 dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, reduction=reduction,
                         dtype=dtype)


@keras_export("keras.losses.MeanSquaredLogarithmicError")
class MeanSquaredLogarithmicError(_FunctionLoss):
    """`mean(square(log(y_true + 1) - log(y_pred + 1)))`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error",
                 dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, reduction=reduction,
                         dtype=dtype)


@keras_export("keras.losses.CosineSimilarity")
class CosineSimilarity(_FunctionLoss):
    """Negative cosine similarity along `axis`. Keras keeps `axis` out of the config; so do we."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity",
                 dtype=None):
        super().__init__(cosine_similarity, name=name, reduction=reduction, dtype=dtype,
                         axis=axis)


@keras_export("keras.losses.Huber")
class Huber(_FunctionLoss):
    """Huber loss. Keras keeps `delta` out of the config; so do we."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, name=name, reduction=reduction, dtype=dtype, delta=delta)


@keras_export("keras.losses.LogCosh")
class LogCosh(_FunctionLoss):
    """Logarithm of the hyperbolic cosine of the prediction error."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, name=name, reduction=reduction, dtype=dtype)


@keras_export("keras.losses.Hinge")
class Hinge(_FunctionLoss):
    """`maximum(1 - y_true * y_pred, 0)`; 0/1 labels are mapped to -1/1."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, name=name, reduction=reduction, dtype=dtype)


@keras_export("keras.losses.SquaredHinge")
class SquaredHinge(_FunctionLoss):
    """`square(maximum(1 - y_true * y_pred, 0))`; 0/1 labels are mapped to -1/1."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, name=name, reduction=reduction, dtype=dtype)


@keras_export("keras.losses.CategoricalHinge")
class CategoricalHinge(_FunctionLoss):
    """`maximum(neg - pos + 1, 0)`."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, name=name, reduction=reduction, dtype=dtype)


@keras_export("keras.losses.KLDivergence")
class KLDivergence(_FunctionLoss):
    """`y_true * log(y_true / y_pred)`, both clipped to `[eps, 1]`."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, name=name, reduction=reduction, dtype=dtype)


@keras_export("keras.losses.Poisson")
class Poisson(_FunctionLoss):
    """`y_pred - y_true * log(y_pred + eps)`."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, name=name, reduction=reduction, dtype=dtype)


@keras_export("keras.losses.BinaryCrossentropy")
class BinaryCrossentropy(_FunctionLoss):
    """Binary cross-entropy; `label_smoothing` squeezes labels towards 0.5."""

    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


@keras_export("keras.losses.BinaryFocalCrossentropy")
class BinaryFocalCrossentropy(_FunctionLoss):
    """Binary focal cross-entropy (Lin et al., 2018)."""

    _config_keys = ("from_logits", "label_smoothing", "axis", "apply_class_balancing", "alpha",
                    "gamma")

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(binary_focal_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self.apply_class_balancing = apply_class_balancing
        self.alpha = alpha
        self.gamma = gamma


@keras_export("keras.losses.CategoricalCrossentropy")
class CategoricalCrossentropy(_FunctionLoss):
    """Cross-entropy against one-hot targets."""

    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


@keras_export("keras.losses.CategoricalFocalCrossentropy")
class CategoricalFocalCrossentropy(_FunctionLoss):
    """Categorical focal cross-entropy."""

    _config_keys = ("from_logits", "label_smoothing", "axis", "alpha", "gamma")

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy",
                 dtype=None):
        super().__init__(categorical_focal_crossentropy, name=name, reduction=reduction,
                         dtype=dtype, alpha=alpha, gamma=gamma, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self.alpha = alpha
        self.gamma = gamma


@keras_export("keras.losses.SparseCategoricalCrossentropy")
class SparseCategoricalCrossentropy(_FunctionLoss):
    """Cross-entropy against integer labels; `ignore_class` positions are left out of the mean.
    Keras keeps `axis` out of the config; so do we."""

    _config_keys = ("from_logits", "ignore_class")
    _keeps_integer_labels = True

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 axis=-1, name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, name=name, reduction=reduction,
                         dtype=dtype, from_logits=from_logits, ignore_class=ignore_class,
                         axis=axis)
        self.from_logits = from_logits
        self.ignore_class = ignore_class


@keras_export("keras.losses.CTC")
class CTC(_FunctionLoss):
    """Connectionist Temporal Classification loss (blank index 0)."""

    _keeps_integer_labels = True

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, name=name, reduction=reduction, dtype=dtype)


@keras_export("keras.losses.Dice")
class Dice(_FunctionLoss):
    """Dice loss over `axis` (all axes when None)."""

    _config_keys = ("axis",)

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, name=name, reduction=reduction, dtype=dtype, axis=axis)
        self.axis = axis


@keras_export("keras.losses.Tversky")
class Tversky(_FunctionLoss):
    """Tversky loss; `alpha` weighs false positives, `beta` false negatives."""

    _config_keys = ("alpha", "beta", "axis")

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky",
                 axis=None, dtype=None):
        super().__init__(tversky, name=name, reduction=reduction, dtype=dtype, alpha=alpha,
                         beta=beta, axis=axis)
        self.alpha = alpha
        self.beta = beta
        self.axis = axis


@keras_export("keras.losses.Circle")
class Circle(_FunctionLoss):
    """Circle loss between integer labels and L2-normalized embeddings (Sun et al., 2020)."""

    _config_keys = ("gamma", "margin", "remove_diagonal")
    _keeps_integer_labels = True

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True,
                 reduction="sum_over_batch_size", name="circle", dtype=None):
        super().__init__(circle, name=name, reduction=reduction, dtype=dtype, gamma=gamma,
                         margin=margin, remove_diagonal=remove_diagonal)
        self.gamma = gamma
        self.margin = margin
        self.remove_diagonal = remove_diagonal


@keras_export("keras.losses.CategoricalGeneralizedCrossEntropy")
class CategoricalGeneralizedCrossEntropy(_FunctionLoss):
    """Generalized cross-entropy `(1 - p**q) / q` (Zhang & Sabuncu, 2018), integer labels."""

    _config_keys = ("q",)
    _keeps_integer_labels = True

    def __init__(self, q=0.5, reduction="sum_over_batch_size",
                 name="categorical_generalized_cross_entropy", dtype=None):
        if not 0 < q < 1:
            raise ValueError("q must be in the interval (0, 1)")
        super().__init__(categorical_generalized_cross_entropy, name=name, reduction=reduction,
                         dtype=dtype, q=q)
        self.q = q


# ----------------------------------------------------------------------------- get / serialize

ALL_OBJECTS = (
    Loss, LossFunctionWrapper, KLDivergence, Poisson, BinaryCrossentropy, BinaryFocalCrossentropy,
    CategoricalCrossentropy, CategoricalFocalCrossentropy, SparseCategoricalCrossentropy,
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
    CosineSimilarity, LogCosh, Huber, Hinge, SquaredHinge, CategoricalHinge, Dice, Tversky, Circle,
    CTC, kl_divergence, poisson, binary_crossentropy, binary_focal_crossentropy,
    categorical_crossentropy, categorical_focal_crossentropy, sparse_categorical_crossentropy,
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, cosine_similarity, log_cosh, huber, hinge, squared_hinge,
    categorical_hinge, dice, tversky, circle, ctc,
)

ALL_OBJECTS_DICT = {obj.__name__: obj for obj in ALL_OBJECTS}
ALL_OBJECTS_DICT.update(abbreviations(
    bce=binary_crossentropy, kld=kl_divergence, mae=mean_absolute_error, mse=mean_squared_error,
    mape=mean_absolute_percentage_error, msle=mean_squared_logarithmic_error))


@keras_export("keras.losses.serialize")
def serialize(loss):
    """Config dict of a `Loss` instance or loss function."""
    return serialize_keras_object(loss)


@keras_export("keras.losses.deserialize")
def deserialize(name, custom_objects=None):
    """A `Loss` instance or loss function from its config (or name, including "mse"...)."""
    return deserialize_by_name(name, ALL_OBJECTS_DICT, custom_objects, "losses")


@keras_export("keras.losses.get")
def get(identifier):
    """A loss from a name, config dict, `Loss` class/instance or any callable (torch losses and
    `nn.Module` losses are returned as they are)."""
    if identifier is None:
        return None
    return get_object(identifier, deserialize, ALL_OBJECTS_DICT.get, "loss")


def is_binary_or_sparse_categorical(y_true, y_pred):
    """`(is_binary, is_sparse_categorical)` from shapes, as `compile()` decides; takes tensors
    or shapes."""
    t_shape = tuple(getattr(y_true, "shape", y_true))
    p_shape = tuple(getattr(y_pred, "shape", y_pred))
    is_binary = p_shape[-1] == 1
    is_sparse = len(t_shape) < len(p_shape) or (t_shape[-1] == 1 and p_shape[-1] > 1)
    return is_binary, is_sparse


def get_object_name(obj):
    if hasattr(obj, "name"):
        return obj.name
    if hasattr(obj, "__name__"):
        return to_snake_case(obj.__name__)
    return to_snake_case(obj.__class__.__name__)


def get_loss_for_compile(identifier, y_true, y_pred):
    """The `Loss` that `compile(loss=identifier)` uses (keras/src/trainers/compile_utils.py):
    "crossentropy"/"ce" pick binary, sparse or categorical cross-entropy from the shapes of
    `y_true`/`y_pred` (tensors or shapes); plain functions are wrapped in a
    `LossFunctionWrapper` named after the identifier. Torch losses (`nn.CrossEntropyLoss()`,
    `F.mse_loss`) are wrapped in a `TorchLossWrapper`, which calls them as `fn(y_pred, y_true)`."""
    if identifier is None:
        return None
    if str(identifier).lower() not in ("crossentropy", "ce"):
        loss_obj = get(identifier)
    else:
        is_binary, is_sparse = is_binary_or_sparse_categorical(y_true, y_pred)
        if is_binary:
            loss_obj = binary_crossentropy
        elif is_sparse:
            loss_obj = sparse_categorical_crossentropy
        else:
            loss_obj = categorical_crossentropy
    if not isinstance(loss_obj, Loss):
        name = identifier if isinstance(identifier, str) else get_object_name(loss_obj)
        wrapper = TorchLossWrapper if is_torch_loss(loss_obj) else LossFunctionWrapper
        loss_obj = wrapper(loss_obj, name=name)
    return loss_obj
