"""Accuracy metrics: Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, and their functions."""

import torch

from tkeras.core import config as _config
from tkeras.core.registry import keras_export
from tkeras.fit.losses import convert_to_tensor
from tkeras.fit.losses import squeeze_or_expand_to_same_rank
from tkeras.fit.losses import torch_dtype
from tkeras.fit.metrics.base import _FunctionMetric
from tkeras.layers.arguments import init_args


def _floatx():
    return torch_dtype(_config.floatx())


def accuracy(y_true, y_pred):
    """1.0 where `y_true == y_pred`, else 0.0."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype, device=y_pred.device)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == y_pred).to(_floatx())


@keras_export("keras.metrics.binary_accuracy")
def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where `y_true == (y_pred > threshold)`, else 0.0."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, device=y_pred.device)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = (y_pred > threshold).to(y_true.dtype)
    return (y_true == y_pred).to(_floatx())


@keras_export("keras.metrics.categorical_accuracy")
def categorical_accuracy(y_true, y_pred):
    """1.0 where `argmax(y_true) == argmax(y_pred)` along the last axis."""
    y_pred = convert_to_tensor(y_pred)
    y_true = torch.argmax(convert_to_tensor(y_true, device=y_pred.device), dim=-1)
    y_true = y_true.to(y_pred.dtype)
    org_shape = y_true.shape
    reshape_matches = y_true.dim() == y_pred.dim()
    if reshape_matches:
        y_true = y_true.squeeze(-1)
    y_pred = torch.argmax(y_pred, dim=-1).to(y_true.dtype)
    matches = (y_true == y_pred).to(_floatx())
    return matches.reshape(org_shape) if reshape_matches else matches


@keras_export("keras.metrics.sparse_categorical_accuracy")
def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label `y_true` equals `argmax(y_pred)`."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype, device=y_pred.device)
    org_shape = y_true.shape
    reshape_matches = y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1
    if reshape_matches:
        y_true = y_true.squeeze(-1)
    y_pred = torch.argmax(y_pred, dim=-1).to(y_true.dtype)
    matches = (y_true == y_pred).to(_floatx())
    if reshape_matches:
        matches = matches.reshape(org_shape)
    if matches.dim() > 1 and matches.shape[-1] == 1:
        matches = matches.squeeze(-1)
    return matches


def _in_top_k(targets, predictions, k):
    """Keras's `ops.in_top_k` on torch: ties with the k-th value count as hits."""
    targets = targets.long()[:, None]
    topk_values = torch.topk(predictions, k).values
    target_values = torch.take_along_dim(predictions, targets, dim=-1)
    return torch.any(target_values >= topk_values, dim=-1)


def _flatten_for_top_k(y_true, y_pred):
    org_shape = y_true.shape
    if y_pred.dim() > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    reshape_matches = y_true.dim() > 1
    if reshape_matches:
        y_true = y_true.reshape(-1)
    return y_true, y_pred, org_shape, reshape_matches


@keras_export("keras.metrics.top_k_categorical_accuracy")
def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot target is among the top `k` predictions."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype, device=y_pred.device)
    y_true = torch.argmax(y_true, dim=-1)
    y_true, y_pred, org_shape, reshape_matches = _flatten_for_top_k(y_true, y_pred)
    matches = _in_top_k(y_true.to(torch.int32), y_pred, k).to(_floatx())
    return matches.reshape(org_shape) if reshape_matches else matches


@keras_export("keras.metrics.sparse_top_k_categorical_accuracy")
def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer target is among the top `k` predictions; with
    `from_sorted_ids=True`, `y_pred` holds class ids sorted by score."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype if from_sorted_ids else "int32",
                               device=y_pred.device)
    y_true, y_pred, org_shape, reshape_matches = _flatten_for_top_k(y_true, y_pred)
    if from_sorted_ids:
        matches = torch.any(y_true.unsqueeze(1) == y_pred[:, :k], dim=1)
    else:
        matches = _in_top_k(y_true, y_pred, k)
    matches = matches.to(_floatx())
    return matches.reshape(org_shape) if reshape_matches else matches


@keras_export("keras.metrics.Accuracy")
class Accuracy(_FunctionMetric):
    """How often predictions equal labels."""

    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, **init_args(locals()))


@keras_export("keras.metrics.BinaryAccuracy")
class BinaryAccuracy(_FunctionMetric):
    """How often predictions match binary labels (`y_pred > threshold`)."""

    _config_keys = ("threshold",)
    _direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, **init_args(locals()))


@keras_export("keras.metrics.CategoricalAccuracy")
class CategoricalAccuracy(_FunctionMetric):
    """How often `argmax(y_pred)` matches the one-hot label."""

    _direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, **init_args(locals()))


@keras_export("keras.metrics.SparseCategoricalAccuracy")
class SparseCategoricalAccuracy(_FunctionMetric):
    """How often `argmax(y_pred)` matches the integer label."""

    _direction = "up"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, **init_args(locals()))


@keras_export("keras.metrics.TopKCategoricalAccuracy")
class TopKCategoricalAccuracy(_FunctionMetric):
    """How often the one-hot target is in the top `k` predictions."""

    _config_keys = ("k",)
    _direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, **init_args(locals()))


@keras_export("keras.metrics.SparseTopKCategoricalAccuracy")
class SparseTopKCategoricalAccuracy(_FunctionMetric):
    """How often the integer target is in the top `k` predictions."""

    _config_keys = ("k",)
    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, **init_args(locals()))
        self.from_sorted_ids = from_sorted_ids

    def get_config(self):
        config = super().get_config()
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config
