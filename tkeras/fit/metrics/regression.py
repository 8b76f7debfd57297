"""Mean-of-a-function metrics (regression, probabilistic, hinge, correlation), plus
RootMeanSquaredError and R2Score."""

import warnings

import torch

from tkeras.core import config as _config
from tkeras.core.registry import keras_export
from tkeras.fit.losses import binary_crossentropy
from tkeras.fit.losses import categorical_crossentropy
from tkeras.fit.losses import categorical_hinge
from tkeras.fit.losses import convert_to_tensor
from tkeras.fit.losses import hinge
from tkeras.fit.losses import kl_divergence
from tkeras.fit.losses import l2_normalize
from tkeras.fit.losses import log_cosh
from tkeras.fit.losses import mean_absolute_error
from tkeras.fit.losses import mean_absolute_percentage_error
from tkeras.fit.losses import mean_squared_error
from tkeras.fit.losses import mean_squared_logarithmic_error
from tkeras.fit.losses import poisson
from tkeras.fit.losses import sparse_categorical_crossentropy
from tkeras.fit.losses import squared_hinge
from tkeras.fit.losses import squeeze_or_expand_to_same_rank
from tkeras.fit.metrics.base import Mean
from tkeras.fit.metrics.base import Metric
from tkeras.fit.metrics.base import _FunctionMetric
from tkeras.fit.metrics.base import check_2d_inputs
from tkeras.layers.arguments import init_args


def _pair(y_true, y_pred):
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype, device=y_pred.device)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Cosine similarity along `axis` (the metric's sign: higher is more similar)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return torch.sum(l2_normalize(y_true, axis=axis) * l2_normalize(y_pred, axis=axis), dim=axis)


@keras_export("keras.metrics.pearson_correlation")
def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson correlation coefficient along `axis`."""
    y_true, y_pred = _pair(y_true, y_pred)
    y_true_norm = y_true - torch.mean(y_true, dim=axis, keepdim=True)
    y_pred_norm = y_pred - torch.mean(y_pred, dim=axis, keepdim=True)
    y_true_norm = y_true_norm / torch.std(y_true_norm, dim=axis, keepdim=True, correction=0)
    y_pred_norm = y_pred_norm / torch.std(y_pred_norm, dim=axis, keepdim=True, correction=0)
    return torch.mean(y_true_norm * y_pred_norm, dim=axis)


@keras_export("keras.metrics.concordance_correlation")
def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation coefficient along `axis` (Keras's formula, including its
    `(y_true - mean(y_pred))` covariance term)."""
    y_true, y_pred = _pair(y_true, y_pred)
    y_true_mean = torch.mean(y_true, dim=axis, keepdim=True)
    y_pred_mean = torch.mean(y_pred, dim=axis, keepdim=True)
    y_true_var = torch.var(y_true - y_true_mean, dim=axis, keepdim=True, correction=0)
    y_pred_var = torch.var(y_pred - y_pred_mean, dim=axis, keepdim=True, correction=0)
    covar = (y_true - y_pred_mean) * (y_pred - y_pred_mean)
    norm = y_true_var + y_pred_var + torch.square(y_true_mean - y_pred_mean)
    return torch.mean(2 * covar / (norm + _config.epsilon()), dim=axis)


# ----------------------------------------------------------------------------- regression


@keras_export("keras.metrics.MeanSquaredError")
class MeanSquaredError(_FunctionMetric):
    """Mean squared error between `y_true` and `y_pred`."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, **init_args(locals()))


@keras_export("keras.metrics.MeanAbsoluteError")
class MeanAbsoluteError(_FunctionMetric):
    """Mean absolute error between `y_true` and `y_pred`."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, **init_args(locals()))


@keras_export("keras.metrics.MeanAbsolutePercentageError")
class MeanAbsolutePercentageError(_FunctionMetric):
    """Mean absolute percentage error between `y_true` and `y_pred`."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, **init_args(locals()))


@keras_export("keras.metrics.MeanSquaredLogarithmicError")
class MeanSquaredLogarithmicError(_FunctionMetric):
    """Mean squared logarithmic error between `y_true` and `y_pred`."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, **init_args(locals()))


@keras_export("keras.metrics.CosineSimilarity")
class CosineSimilarity(_FunctionMetric):
    """Cosine similarity between labels and predictions. Keras keeps `axis` out of the config;
    so do we."""

    _direction = "up"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, **init_args(locals()))


@keras_export("keras.metrics.LogCoshError")
class LogCoshError(_FunctionMetric):
    """Logarithm of the hyperbolic cosine of the prediction error."""

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(log_cosh, **init_args(locals()))


@keras_export("keras.metrics.RootMeanSquaredError")
class RootMeanSquaredError(Mean):
    """`sqrt(mean(square(y_pred - y_true)))` over all samples and features seen."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype=dtype)
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight,
                                                     dtype=self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return super().update_state(torch.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        return torch.sqrt(super().result())


@keras_export("keras.metrics.R2Score")
class R2Score(Metric):
    """Coefficient of determination, per output column then aggregated (`class_aggregation`:
    "uniform_average", "variance_weighted_average" or None); adjusted when `num_regressors`."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        valid = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in valid:
            raise ValueError(
                "Invalid value for argument `class_aggregation`. Expected one of "
                f"{valid}. Received: class_aggregation={class_aggregation}"
            )
        if num_regressors < 0:
            raise ValueError(
                "Invalid value for argument `num_regressors`. Expected a value >= 0. "
                f"Received: num_regressors={num_regressors}"
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.num_samples = self.add_variable(shape=(), initializer="zeros", name="num_samples")
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        check_2d_inputs("R2Score", y_true_shape, y_pred_shape)
        num_classes = y_pred_shape[-1]
        self.squared_sum = self.add_variable((num_classes,), "zeros", name="squared_sum")
        self.sum = self.add_variable((num_classes,), "zeros", name="sum")
        self.total_mse = self.add_variable((num_classes,), "zeros", name="residual")
        self.count = self.add_variable((num_classes,), "zeros", name="count")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight,
                                                     dtype=self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if sample_weight is None:
            sample_weight = torch.ones((), dtype=y_true.dtype, device=y_true.device)
        if sample_weight.dim() == 1:
            sample_weight = sample_weight.unsqueeze(1)
        sample_weight = torch.broadcast_to(sample_weight, y_true.shape).to(y_true.dtype)
        weighted_y_true = y_true * sample_weight
        with torch.no_grad():
            self.sum.add_(torch.sum(weighted_y_true, dim=0))
            self.squared_sum.add_(torch.sum(y_true * weighted_y_true, dim=0))
            self.total_mse.add_(torch.sum((y_true - y_pred) ** 2 * sample_weight, dim=0))
            self.count.add_(torch.sum(sample_weight, dim=0))
            self.num_samples.add_(y_true.numel())

    def result(self):
        mean = self.sum / self.count
        total = self.squared_sum - self.sum * mean
        raw_scores = 1 - self.total_mse / total
        raw_scores = torch.where(torch.isinf(raw_scores), 0.0, raw_scores).detach()
        total = total.detach()
        if self.class_aggregation == "uniform_average":
            r2_score = torch.mean(raw_scores)
        elif self.class_aggregation == "variance_weighted_average":
            r2_score = torch.sum(total * raw_scores) / torch.sum(total)
        else:
            r2_score = raw_scores
        if self.num_regressors != 0:
            num_samples = float(self.num_samples)
            if self.num_regressors > num_samples - 1:
                warnings.warn(
                    "More independent predictors than datapoints in adjusted R2 score. "
                    "Falling back to standard R2 score.", stacklevel=2)
            elif self.num_regressors == num_samples - 1:
                warnings.warn(
                    "Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                    stacklevel=2)
            else:
                n = torch.tensor(num_samples, dtype=torch.float32)
                p = torch.tensor(float(self.num_regressors), dtype=torch.float32)
                r2_score = 1.0 - ((1.0 - r2_score) * (n - 1.0)) / (n - p - 1.0)
        return r2_score

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype,
                  "class_aggregation": self.class_aggregation,
                  "num_regressors": self.num_regressors}
        return {**super().get_config(), **config}


# ----------------------------------------------------------------------------- probabilistic


@keras_export("keras.metrics.KLDivergence")
class KLDivergence(_FunctionMetric):
    """Kullback-Leibler divergence between `y_true` and `y_pred`."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, **init_args(locals()))


@keras_export("keras.metrics.Poisson")
class Poisson(_FunctionMetric):
    """Poisson metric: `y_pred - y_true * log(y_pred)`."""

    def __init__(self, name="poisson", dtype=None):
        super().__init__(poisson, **init_args(locals()))


@keras_export("keras.metrics.BinaryCrossentropy")
class BinaryCrossentropy(_FunctionMetric):
    """Binary cross-entropy between labels and predictions."""

    _config_keys = ("from_logits", "label_smoothing")

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0):
        super().__init__(binary_crossentropy, **init_args(locals()))


@keras_export("keras.metrics.CategoricalCrossentropy")
class CategoricalCrossentropy(_FunctionMetric):
    """Categorical cross-entropy between one-hot labels and predictions."""

    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0, axis=-1):
        super().__init__(categorical_crossentropy, **init_args(locals()))


@keras_export("keras.metrics.SparseCategoricalCrossentropy")
class SparseCategoricalCrossentropy(_FunctionMetric):
    """Cross-entropy between integer labels and predictions."""

    _config_keys = ("from_logits", "ignore_class", "axis")

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 ignore_class=None, axis=-1):
        super().__init__(sparse_categorical_crossentropy, **init_args(locals()))


# ----------------------------------------------------------------------------- hinge


@keras_export("keras.metrics.Hinge")
class Hinge(_FunctionMetric):
    """Hinge metric; 0/1 labels are mapped to -1/1."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__(hinge, **init_args(locals()))


@keras_export("keras.metrics.SquaredHinge")
class SquaredHinge(_FunctionMetric):
    """Squared hinge metric; 0/1 labels are mapped to -1/1."""

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, **init_args(locals()))


@keras_export("keras.metrics.CategoricalHinge")
class CategoricalHinge(_FunctionMetric):
    """Categorical hinge metric."""

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, **init_args(locals()))


# ----------------------------------------------------------------------------- correlation


@keras_export("keras.metrics.PearsonCorrelation")
class PearsonCorrelation(_FunctionMetric):
    """Mean of the per-sample Pearson correlation along `axis`."""

    _config_keys = ("axis",)
    _direction = "up"

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, **init_args(locals()))


@keras_export("keras.metrics.ConcordanceCorrelation")
class ConcordanceCorrelation(_FunctionMetric):
    """Mean of the per-sample concordance correlation along `axis`."""

    _config_keys = ("axis",)
    _direction = "up"

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, **init_args(locals()))
