"""Confusion-matrix metrics: TruePositives/TrueNegatives/FalsePositives/FalseNegatives, Precision,
Recall, SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision,
AUC.

All states are per-threshold counts (sums of sample weights): reduce them with a sum. Evenly spaced
thresholds use Keras's bucketed update (one `scatter_add` and a reversed cumulative sum); other
thresholds compare every prediction with every threshold, as Keras does.
"""

import functools
import math

import numpy as np
import torch

from tkeras.core import config as _config
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.fit.losses import divide_no_nan
from tkeras.fit.losses import squeeze_or_expand_to_same_rank
from tkeras.fit.losses import torch_dtype
from tkeras.fit.metrics.base import Metric

NEG_INF = -1e10

TP, FP, TN, FN = "tp", "fp", "tn", "fn"
COUNT_NAMES = {TP: "true_positives", FP: "false_positives", TN: "true_negatives",
               FN: "false_negatives"}


def _to_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def parse_init_thresholds(thresholds, default_threshold=0.5):
    if thresholds is not None:
        invalid = [t for t in _to_list(thresholds) if t is None or t < 0 or t > 1]
        if invalid:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
    return _to_list(default_threshold if thresholds is None else thresholds)


def is_evenly_distributed_thresholds(thresholds):
    num_thresholds = len(thresholds)
    if num_thresholds < 3:
        return False
    even = np.arange(num_thresholds, dtype=np.float32) / (num_thresholds - 1)
    return bool(np.allclose(thresholds, even, atol=_config.epsilon()))


@functools.lru_cache(maxsize=64)
def _thresholds_tensor(thresholds, dtype, device):
    """Thresholds as a tensor on `device`, copied there once (not at every update)."""
    return torch.tensor(thresholds, dtype=dtype).to(device)


def _filter_top_k(x, k):
    _, idx = torch.topk(x, k)
    mask = torch.zeros_like(x).scatter_(-1, idx, 1.0)
    return x * mask + NEG_INF * (1 - mask)


def _update_evenly(variables, y_true, y_pred, num_thresholds, multi_label, sample_weights,
                   label_weights, thresholds_with_epsilon):
    if sample_weights is None:
        sample_weights = 1.0
    else:
        sample_weights = torch.broadcast_to(sample_weights.to(y_pred.dtype), y_pred.shape)
        if not multi_label:
            sample_weights = sample_weights.reshape(-1)
    if label_weights is None:
        label_weights = 1.0
    else:
        label_weights = torch.broadcast_to(label_weights.unsqueeze(0), y_pred.shape)
        if not multi_label:
            label_weights = label_weights.reshape(-1)
    weights = sample_weights * label_weights
    if torch.is_tensor(weights):
        weights = weights.to(y_true.dtype)
    y_pred = torch.clip(y_pred, 0.0, 1.0)
    y_true = y_true.bool().to(y_true.dtype)
    if not multi_label:
        y_true = y_true.reshape(-1)
        y_pred = y_pred.reshape(-1)
    true_labels = y_true * weights
    false_labels = (1.0 - y_true) * weights
    bucket = torch.ceil(y_pred * (num_thresholds - 1)) - 1
    if thresholds_with_epsilon:
        bucket = torch.relu(bucket)
    bucket = bucket.long()
    if multi_label:
        # (labels, samples) rows, one histogram per label.
        true_labels, false_labels, bucket = true_labels.T, false_labels.T, bucket.T
        shape = (true_labels.shape[0], num_thresholds)
        tp_bucket = torch.zeros(shape, dtype=true_labels.dtype, device=true_labels.device)
        fp_bucket = torch.zeros(shape, dtype=true_labels.dtype, device=true_labels.device)
        tp_bucket.scatter_add_(1, bucket, true_labels)
        fp_bucket.scatter_add_(1, bucket, false_labels)
        tp = torch.flip(torch.cumsum(torch.flip(tp_bucket, (1,)), dim=1), (1,)).T
        fp = torch.flip(torch.cumsum(torch.flip(fp_bucket, (1,)), dim=1), (1,)).T
        total_true, total_false = true_labels.sum(dim=1), false_labels.sum(dim=1)
    else:
        tp_bucket = torch.zeros(num_thresholds, dtype=true_labels.dtype, device=y_true.device)
        fp_bucket = torch.zeros(num_thresholds, dtype=true_labels.dtype, device=y_true.device)
        tp_bucket.scatter_add_(0, bucket, torch.broadcast_to(true_labels, bucket.shape))
        fp_bucket.scatter_add_(0, bucket, torch.broadcast_to(false_labels, bucket.shape))
        tp = torch.flip(torch.cumsum(torch.flip(tp_bucket, (0,)), dim=0), (0,))
        fp = torch.flip(torch.cumsum(torch.flip(fp_bucket, (0,)), dim=0), (0,))
        total_true, total_false = true_labels.sum(), false_labels.sum()
    updates = {TP: tp, FP: fp, TN: total_false - fp, FN: total_true - tp}
    with torch.no_grad():
        for key, variable in variables.items():
            variable.add_(updates[key])


def update_confusion_matrix_variables(variables, y_true, y_pred, thresholds, top_k=None,
                                      class_id=None, sample_weight=None, multi_label=False,
                                      label_weights=None, thresholds_distributed_evenly=False):
    """Add this batch's per-threshold TP/FP/TN/FN counts (`variables` maps "tp"/"fp"/"tn"/"fn"
    to state tensors), as Keras's `metrics_utils.update_confusion_matrix_variables`."""
    if multi_label and label_weights is not None:
        raise ValueError(
            "`label_weights` for multilabel data should be handled outside of "
            "`update_confusion_matrix_variables` when `multi_label` is True."
        )
    dtype = next(iter(variables.values())).dtype
    y_true = y_true.to(dtype)
    y_pred = y_pred.to(dtype)
    thresholds = [float(t) for t in thresholds]
    thresholds_with_epsilon = thresholds[0] < 0.0 or thresholds[-1] > 1.0
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = sample_weight.to(dtype).unsqueeze(-1)
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight,
                                                          expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.dim() == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape "
                f"(num_samples, num_classes), found shape: {tuple(y_pred.shape)}"
            )
        y_true = y_true[..., class_id, None]
        y_pred = y_pred[..., class_id, None]
    if label_weights is not None:
        label_weights = label_weights.to(dtype)
    if thresholds_distributed_evenly:
        return _update_evenly(variables, y_true, y_pred, len(thresholds), multi_label,
                              sample_weight, label_weights, thresholds_with_epsilon)

    thresholds = _thresholds_tensor(tuple(thresholds), dtype, y_pred.device)
    num_thresholds = thresholds.shape[0]
    num_predictions = y_pred.shape[0]
    num_labels = 1 if y_pred.dim() == 1 else math.prod(y_pred.shape[1:])
    if multi_label:
        preds = y_pred.unsqueeze(0)
        labels = y_true.bool().unsqueeze(0)
        thresh = thresholds.reshape(num_thresholds, 1, -1)
        tiles = [1, num_predictions, num_labels]
    else:
        preds = y_pred.reshape(1, -1)
        labels = y_true.bool().reshape(1, -1)
        thresh = thresholds.reshape(num_thresholds, -1)
        tiles = [1, num_predictions * num_labels]
    pred_is_pos = preds > thresh  # broadcast over (thresholds, ...)
    label_is_pos = torch.broadcast_to(labels, pred_is_pos.shape)
    weights = None
    if sample_weight is not None:
        weights = torch.broadcast_to(sample_weight.to(y_pred.dtype), y_pred.shape).reshape(tiles)
    if label_weights is not None and not multi_label:
        lw = torch.broadcast_to(label_weights.unsqueeze(0), y_pred.shape).reshape(tiles)
        weights = lw if weights is None else weights * lw
    pred_is_neg = ~pred_is_pos
    label_is_neg = ~label_is_pos
    conditions = {TP: (label_is_pos, pred_is_pos), FN: (label_is_pos, pred_is_neg),
                  FP: (label_is_neg, pred_is_pos), TN: (label_is_neg, pred_is_neg)}
    with torch.no_grad():
        for key, variable in variables.items():
            label, pred = conditions[key]
            hit = label & pred
            if weights is not None:
                counts = torch.where(hit, weights.to(variable.dtype), 0).sum(1)
            else:
                counts = hit.to(variable.dtype).sum(1)
            variable.add_(counts)


def add_count_variables(metric, shape, keys):
    """Zero count variables for `keys` (TP/FP/TN/FN), in that order, named and set as
    attributes as Keras names them (`true_positives`, ...)."""
    for key in keys:
        name = COUNT_NAMES[key]
        setattr(metric, name, metric.add_variable(shape, "zeros", name=name))


class _ConfusionMetric(Metric):
    """Base of the metrics built on per-threshold confusion counts: the counts named in
    `_counts` (created by `add_count_variables`) are updated by
    `update_confusion_matrix_variables` over `self.thresholds`."""

    _counts = (TP, FP, TN, FN)

    def _set_thresholds(self, thresholds, default_threshold):
        self.init_thresholds = thresholds
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=default_threshold)
        self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(self.thresholds)

    def _count_variables(self):
        return {key: getattr(self, COUNT_NAMES[key]) for key in self._counts}

    def _update_options(self):
        """Extra arguments of `update_confusion_matrix_variables` (top_k, class_id, ...)."""
        return {}

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        self._update_counts(y_true, y_pred, sample_weight)

    def _update_counts(self, y_true, y_pred, sample_weight):
        update_confusion_matrix_variables(
            self._count_variables(), y_true, y_pred, thresholds=self.thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            sample_weight=sample_weight, **self._update_options(),
        )


class _ConfusionMatrixConditionCount(_ConfusionMetric):
    """One confusion-matrix count per threshold (a scalar for a single threshold), held in
    Keras's `accumulator` variable."""

    _condition = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._set_thresholds(thresholds, default_threshold=0.5)
        self.accumulator = self.add_variable(shape=(len(self.thresholds),),
                                             initializer="zeros", name="accumulator")

    def _count_variables(self):
        return {self._condition: self.accumulator}

    def result(self):
        acc = self.accumulator.detach()
        return acc[0].clone() if len(self.thresholds) == 1 else acc.clone()

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


@keras_export("keras.metrics.FalsePositives")
class FalsePositives(_ConfusionMatrixConditionCount):
    """Weighted count of false positives, per threshold."""

    _condition = FP


@keras_export("keras.metrics.FalseNegatives")
class FalseNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of false negatives, per threshold."""

    _condition = FN


@keras_export("keras.metrics.TrueNegatives")
class TrueNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of true negatives, per threshold."""

    _condition = TN


@keras_export("keras.metrics.TruePositives")
class TruePositives(_ConfusionMatrixConditionCount):
    """Weighted count of true positives, per threshold."""

    _condition = TP


class _PrecisionRecallBase(_ConfusionMetric):
    """`tp / (tp + second)`, `_counts` being `(TP, second)`."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.top_k = top_k
        self.class_id = class_id
        self._set_thresholds(thresholds, default_threshold=0.5 if top_k is None else NEG_INF)
        add_count_variables(self, (len(self.thresholds),), self._counts)

    def _update_options(self):
        return {"top_k": self.top_k, "class_id": self.class_id}

    def result(self):
        tp, second = (v.detach() for v in self._count_variables().values())
        result = divide_no_nan(tp, tp + second)
        return result[0] if len(self.thresholds) == 1 else result

    def get_config(self):
        config = {"thresholds": self.init_thresholds, "top_k": self.top_k,
                  "class_id": self.class_id}
        return {**super().get_config(), **config}


@keras_export("keras.metrics.Precision")
class Precision(_PrecisionRecallBase):
    """`true_positives / (true_positives + false_positives)`, per threshold."""

    _counts = (TP, FP)


@keras_export("keras.metrics.Recall")
class Recall(_PrecisionRecallBase):
    """`true_positives / (true_positives + false_negatives)`, per threshold."""

    _counts = (TP, FN)


class SensitivitySpecificityBase(_ConfusionMetric):
    """TP/FP/TN/FN over `num_thresholds` evenly spaced thresholds; the result maximizes one rate
    subject to a constraint on another."""

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        if num_thresholds <= 0:
            raise ValueError(
                "Argument `num_thresholds` must be an integer > 0. "
                f"Received: num_thresholds={num_thresholds}"
            )
        self.value = value
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds = [0.5]
            self._thresholds_distributed_evenly = False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0] + inner + [1.0]
            self._thresholds_distributed_evenly = True
        add_count_variables(self, (len(self.thresholds),), self._counts)

    def _update_options(self):
        return {"class_id": self.class_id}

    def _rates(self):
        tp, fp, tn, fn = (v.detach() for v in self._count_variables().values())
        sensitivity = divide_no_nan(tp, tp + fn)
        return {
            "sensitivity": sensitivity,
            "recall": sensitivity,
            "specificity": divide_no_nan(tn, tn + fp),
            "precision": divide_no_nan(tp, tp + fp),
        }

    def _find_max_under_constraint(self, constrained, dependent):
        feasible = constrained >= self.value
        return torch.clamp(torch.max(torch.where(feasible, dependent, 0)), min=0)

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id}


class _AtValueMetric(SensitivitySpecificityBase):
    """The best `_dependent` rate where the rate named by the constructor argument
    `_value_name` is at least its value."""

    _value_name = None
    _dependent = None

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if value < 0 or value > 1:
            raise ValueError(
                f"Argument `{self._value_name}` must be in the range [0, 1]. "
                f"Received: {self._value_name}={value}"
            )
        setattr(self, self._value_name, value)
        self.num_thresholds = num_thresholds
        super().__init__(value, num_thresholds=num_thresholds, class_id=class_id, name=name,
                         dtype=dtype)

    def result(self):
        rates = self._rates()
        return self._find_max_under_constraint(rates[self._value_name], rates[self._dependent])

    def get_config(self):
        config = {"num_thresholds": self.num_thresholds,
                  self._value_name: getattr(self, self._value_name)}
        return {**super().get_config(), **config}


@keras_export("keras.metrics.SensitivityAtSpecificity")
class SensitivityAtSpecificity(_AtValueMetric):
    """Best sensitivity where specificity >= `specificity`."""

    _value_name, _dependent = "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


@keras_export("keras.metrics.SpecificityAtSensitivity")
class SpecificityAtSensitivity(_AtValueMetric):
    """Best specificity where sensitivity >= `sensitivity`."""

    _value_name, _dependent = "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


@keras_export("keras.metrics.PrecisionAtRecall")
class PrecisionAtRecall(_AtValueMetric):
    """Best precision where recall >= `recall`."""

    _value_name, _dependent = "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


@keras_export("keras.metrics.RecallAtPrecision")
class RecallAtPrecision(_AtValueMetric):
    """Best recall where precision >= `precision`."""

    _value_name, _dependent = "precision", "sensitivity"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


def _curve(curve):
    value = getattr(curve, "value", curve)
    if value not in ("ROC", "PR", "PRGAIN", "roc", "pr", "prgain"):
        raise ValueError(
            f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]'
        )
    return _CURVES[value.lower()]


def _summation(method):
    value = getattr(method, "value", method)
    if value not in ("interpolation", "Interpolation", "majoring", "Majoring", "minoring",
                     "Minoring"):
        raise ValueError(
            f'Invalid AUC summation method value: "{method}". Expected values are '
            '["interpolation", "majoring", "minoring"]'
        )
    return value.lower()


@keras_export("keras.metrics.AUC")
class AUC(_ConfusionMetric):
    """Approximate area under the ROC, PR or PR-gain curve, by a Riemann sum over
    `num_thresholds` thresholds (PR with "interpolation" uses Davis & Goadrich's interpolation).

    `curve` and `summation_method` are kept as strings ("ROC"/"PR"/"PRGAIN",
    "interpolation"/"majoring"/"minoring"); the configs equal Keras's.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        self._direction = "up"
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(thresholds)
            self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(
                np.array([0.0] + thresholds + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    "Argument `num_thresholds` must be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds}"
                )
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._thresholds_distributed_evenly = True
        eps = _config.epsilon()
        self._thresholds = np.array([0.0 - eps] + thresholds + [1.0 + eps])
        self.curve = _curve(curve)
        self.summation_method = _summation(summation_method)
        super().__init__(name=name, dtype=dtype)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = (None if label_weights is None else
                              torch.as_tensor(np.asarray(label_weights),
                                              dtype=torch.float32).to(self._torch_dtype()))
        self._from_logits = from_logits
        self._built = False
        if self.multi_label:
            if num_labels:
                self._build([None, num_labels])
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    def _torch_dtype(self):
        return torch_dtype(self.dtype)

    def to(self, device):
        super().to(device)
        if self.label_weights is not None:
            self.label_weights = self.label_weights.to(device)
        return self

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(
                    f"`y_pred` must have rank 2 when `multi_label=True`. Found rank "
                    f"{len(shape)}. Full shape received for `y_pred`: {shape}"
                )
            self._num_labels = shape[1]
            variable_shape = [self.num_thresholds, self._num_labels]
        else:
            variable_shape = [self.num_thresholds]
        self._build_input_shape = shape
        add_count_variables(self, variable_shape, self._counts)
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        if not self._built:
            self._build(tuple(y_pred.shape))
        if self._from_logits:
            y_pred = torch.sigmoid(y_pred)
        self._update_counts(y_true, y_pred, sample_weight)

    def _update_options(self):
        label_weights = None if self.multi_label else self.label_weights
        return {"multi_label": self.multi_label, "label_weights": label_weights}

    def _by_label(self, terms):
        if not self.multi_label:
            return torch.sum(terms)
        by_label_auc = torch.sum(terms, dim=0)
        if self.label_weights is None:
            return torch.mean(by_label_auc)
        lw = self.label_weights.to(by_label_auc.device)
        return divide_no_nan(torch.sum(by_label_auc * lw), torch.sum(lw))

    def interpolate_pr_auc(self):
        n = self.num_thresholds
        tp, fp, fn = (self.true_positives.detach(), self.false_positives.detach(),
                      self.false_negatives.detach())
        dtp = tp[: n - 1] - tp[1:]
        p = tp + fp
        dp = p[: n - 1] - p[1:]
        prec_slope = divide_no_nan(dtp, torch.clamp(dp, min=0))
        intercept = tp[1:] - prec_slope * p[1:]
        safe_p_ratio = torch.where(
            (p[: n - 1] > 0) & (p[1:] > 0),
            divide_no_nan(p[: n - 1], torch.clamp(p[1:], min=0)),
            torch.ones_like(p[1:]),
        )
        pr_auc_increment = divide_no_nan(
            prec_slope * (dtp + intercept * torch.log(safe_p_ratio)),
            torch.clamp(tp[1:] + fn[1:], min=0),
        )
        return self._by_label(pr_auc_increment)

    def result(self):
        if not self._built:
            return torch.tensor(0.0, dtype=self._torch_dtype())
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self.interpolate_pr_auc()
        n = self.num_thresholds
        tp, fp = self.true_positives.detach(), self.false_positives.detach()
        tn, fn = self.true_negatives.detach(), self.false_negatives.detach()
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:
            scaling = divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scaling * divide_no_nan(fn, tp)
            precision_gain = 1.0 - scaling * divide_no_nan(fp, tp)
            recall_gain = torch.where(tp == 0.0, 0.0, recall_gain)
            precision_gain = torch.where(tp == 0.0, 1.0, precision_gain)
            x, y = torch.clamp(recall_gain, min=0.0), precision_gain
        if self.summation_method == "interpolation":
            heights = (y[: n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[: n - 1], y[1:])
        else:
            heights = torch.maximum(y[: n - 1], y[1:])
        return self._by_label((x[: n - 1] - x[1:]) * heights)

    def reset_state(self):
        if self._built:
            super().reset_state()

    def get_config(self):
        label_weights = self.label_weights
        if label_weights is not None:
            label_weights = label_weights.cpu().numpy()
        config = {
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": label_weights,
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        """Also accepts `label_weights` serialized as an array config (`__numpy__`/`__tensor__`),
        which is what a saved config holds."""
        if isinstance(config.get("label_weights"), dict):
            config = {**config,
                      "label_weights": deserialize_keras_object(config["label_weights"])}
        return cls(**config)
