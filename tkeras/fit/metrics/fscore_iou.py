"""FBetaScore/F1Score and the IoU family (IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU).

States are sums: per-class TP/FP/FN/label weights for F-scores, a `num_classes x num_classes`
confusion matrix for IoU (int32 by default, as Keras: float sample weights are truncated)."""

import warnings

import torch

from tkeras.core import config as _config
from tkeras.core.registry import keras_export
from tkeras.fit.losses import torch_dtype
from tkeras.fit.metrics.base import Metric
from tkeras.fit.metrics.base import check_2d_inputs
from tkeras.fit.metrics.confusion import FN
from tkeras.fit.metrics.confusion import FP
from tkeras.fit.metrics.confusion import TP
from tkeras.fit.metrics.confusion import add_count_variables


@keras_export("keras.metrics.FBetaScore")
class FBetaScore(Metric):
    """F-beta score for multi-class/multi-label classification, from 2D `(batch, classes)`
    inputs. `average`: None (per class), "micro", "macro" or "weighted"; `threshold`: None takes
    the per-row maximum as the positive class."""

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                "Invalid `average` argument value. Expected one of: "
                f"{{None, 'micro', 'macro', 'weighted'}}. Received: average={average}"
            )
        if not isinstance(beta, float):
            raise ValueError(
                "Invalid `beta` argument value. It should be a Python float. "
                f"Received: beta={beta} of type '{type(beta)}'"
            )
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(
                    "Invalid `threshold` argument value. It should be a Python float. "
                    f"Received: threshold={threshold} of type '{type(threshold)}'"
                )
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(
                    "Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                    f"Received: threshold={threshold}"
                )
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        check_2d_inputs("FBetaScore", y_true_shape, y_pred_shape)
        shape = (y_pred_shape[-1],) if self.average != "micro" else ()
        add_count_variables(self, shape, (TP, FP, FN))
        self.intermediate_weights = self.add_variable(shape, "zeros", name="intermediate_weights")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight,
                                                     dtype=self.dtype)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if self.threshold is None:
            threshold = torch.amax(y_pred, dim=-1, keepdim=True)
            y_pred = (y_pred >= threshold) & (torch.abs(y_pred) > 1e-9)
        else:
            y_pred = y_pred > self.threshold
        y_pred = y_pred.to(y_true.dtype)

        def weighted_sum(val):
            if sample_weight is not None:
                val = val * sample_weight.unsqueeze(1)
            dims = tuple(range(val.dim())) if self.axis is None else self.axis
            return torch.sum(val, dim=dims)

        with torch.no_grad():
            self.true_positives.add_(weighted_sum(y_pred * y_true))
            self.false_positives.add_(weighted_sum(y_pred * (1 - y_true)))
            self.false_negatives.add_(weighted_sum((1 - y_pred) * y_true))
            self.intermediate_weights.add_(weighted_sum(y_true))

    def result(self):
        eps = _config.epsilon()
        tp = self.true_positives.detach()
        precision = tp / (tp + self.false_positives.detach() + eps)
        recall = tp / (tp + self.false_negatives.detach() + eps)
        mean = precision * recall / (self.beta**2 * precision + recall + eps)
        f1_score = mean * (1 + self.beta**2)
        if self.average == "weighted":
            weights = self.intermediate_weights.detach()
            weights = weights / (torch.sum(weights) + eps)
            f1_score = torch.sum(f1_score * weights)
        elif self.average is not None:
            f1_score = torch.mean(f1_score)
        return f1_score

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "average": self.average,
                  "beta": self.beta, "threshold": self.threshold}
        return {**super().get_config(), **config}


@keras_export("keras.metrics.F1Score")
class F1Score(FBetaScore):
    """F1 score: `FBetaScore` with `beta=1.0`."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


def confusion_matrix(labels, predictions, num_classes, weights, dtype):
    """`(num_classes, num_classes)` matrix of summed weights, rows = labels."""
    cm = torch.zeros((num_classes, num_classes), dtype=dtype, device=labels.device)
    cm.index_put_((labels.long(), predictions.long()), weights.to(dtype), accumulate=True)
    return cm


class _IoUBase(Metric):
    """Accumulates the confusion matrix of sparse (or argmax-ed) labels and predictions;
    labels/predictions outside `[0, num_classes)` and `ignore_class` are skipped."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype or "int32")
        self._direction = "up"
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self.total_cm = self.add_variable((num_classes, num_classes), "zeros", dtype=self.dtype,
                                          name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        if not self.sparse_y_true:
            y_true = torch.argmax(y_true, dim=self.axis)
        if not self.sparse_y_pred:
            y_pred = torch.argmax(y_pred, dim=self.axis)
        dtype = torch_dtype(self.dtype)
        y_true = y_true.to(dtype).reshape(-1)
        y_pred = y_pred.to(dtype).reshape(-1)
        if sample_weight is None:
            sample_weight = torch.ones((), dtype=dtype, device=y_true.device)
        else:
            if sample_weight.is_floating_point() and not dtype.is_floating_point:
                warnings.warn(
                    "You are passing weight as `float`, but dtype is `int`. This may result in "
                    "an incorrect weight due to type casting Consider using integer weights.",
                    stacklevel=2,
                )
            sample_weight = sample_weight.to(dtype)
            if sample_weight.dim() > 1:
                sample_weight = sample_weight.reshape(-1)
        sample_weight = torch.broadcast_to(sample_weight, y_true.shape)
        in_bounds = ((y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0)
                     & (y_pred < self.num_classes))
        if self.ignore_class is not None:
            in_bounds = in_bounds & (y_true != self.ignore_class)
        zero = torch.zeros((), dtype=dtype, device=y_true.device)
        y_true = torch.where(in_bounds, y_true, zero)
        y_pred = torch.where(in_bounds, y_pred, zero)
        sample_weight = torch.where(in_bounds, sample_weight, zero)
        with torch.no_grad():
            self.total_cm.add_(confusion_matrix(y_true, y_pred, self.num_classes,
                                                sample_weight, dtype))


@keras_export("keras.metrics.IoU")
class IoU(_IoUBase):
    """Intersection-over-Union averaged over `target_class_ids` (classes that never appear
    are left out of the mean)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(name=name, num_classes=num_classes, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis,
                         dtype=dtype)
        if max(target_class_ids) >= num_classes:
            raise ValueError(
                f"Target class id {max(target_class_ids)} is out of range, which is "
                f"[0, {num_classes})."
            )
        self.target_class_ids = list(target_class_ids)

    def result(self):
        cm = self.total_cm.detach()
        dtype = torch_dtype(self.dtype)
        sum_over_row = torch.sum(cm, dim=0).to(dtype)
        sum_over_col = torch.sum(cm, dim=1).to(dtype)
        true_positives = torch.diag(cm).to(dtype)
        denominator = sum_over_row + sum_over_col - true_positives
        ids = torch.tensor(self.target_class_ids, dtype=torch.long, device=cm.device)
        true_positives = true_positives[ids].to(torch.float32)
        denominator = denominator[ids].to(torch.float32)
        valid_entries = denominator > 1e-9
        num_valid_entries = torch.sum(valid_entries.to(torch.float32))
        iou = true_positives / (denominator + _config.epsilon())
        iou = torch.where(valid_entries, iou, 0.0)
        return torch.sum(iou, dim=self.axis) / (num_valid_entries + _config.epsilon())

    def get_config(self):
        config = {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                  "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                  "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}
        return {**super().get_config(), **config}


@keras_export("keras.metrics.BinaryIoU")
class BinaryIoU(IoU):
    """IoU for binary labels, predictions thresholded with `y_pred >= threshold`."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        y_pred = (y_pred.to(torch.float32) >= self.threshold).to(torch_dtype(self.dtype))
        return super().update_state(y_true.to(torch_dtype(self.dtype)), y_pred, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold,
                "name": self.name, "dtype": self.dtype}


@keras_export("keras.metrics.MeanIoU")
class MeanIoU(IoU):
    """IoU averaged over all classes."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, num_classes=num_classes,
                         target_class_ids=list(range(num_classes)), axis=axis, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


@keras_export("keras.metrics.OneHotIoU")
class OneHotIoU(IoU):
    """IoU over `target_class_ids` for one-hot labels (and probabilities unless
    `sparse_y_pred`)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=target_class_ids, name=name,
                         dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "name": self.name, "dtype": self.dtype, "ignore_class": self.ignore_class,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


@keras_export("keras.metrics.OneHotMeanIoU")
class OneHotMeanIoU(MeanIoU):
    """Mean IoU over all classes for one-hot labels."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes=num_classes, axis=axis, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}
