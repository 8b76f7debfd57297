"""Keras 3 metrics on torch tensors; `get`/`serialize`/`deserialize`, and
`get_metric_for_compile`, which resolves `compile(metrics=[...])` entries as Keras does.

Every metric's state is `metric.variables`: tensors on the data's device, updated in place with no
host synchronization. Each has `aggregation == "sum"`; a metric's result across processes is
`metric.synced_result(all_reduce)` (sum the states, then `result()`)."""

from tkeras.core.object_families import abbreviations
from tkeras.core.object_families import deserialize_by_name
from tkeras.core.object_families import get_object
from tkeras.core.object_families import names_table
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.fit.losses import binary_crossentropy
from tkeras.fit.losses import binary_focal_crossentropy
from tkeras.fit.losses import categorical_crossentropy
from tkeras.fit.losses import categorical_focal_crossentropy
from tkeras.fit.losses import categorical_hinge
from tkeras.fit.losses import get_object_name
from tkeras.fit.losses import hinge
from tkeras.fit.losses import huber
from tkeras.fit.losses import is_binary_or_sparse_categorical
from tkeras.fit.losses import kl_divergence
from tkeras.fit.losses import log_cosh
from tkeras.fit.losses import mean_absolute_error
from tkeras.fit.losses import mean_absolute_percentage_error
from tkeras.fit.losses import mean_squared_error
from tkeras.fit.losses import mean_squared_logarithmic_error
from tkeras.fit.losses import poisson
from tkeras.fit.losses import sparse_categorical_crossentropy
from tkeras.fit.losses import squared_hinge
from tkeras.fit.metrics.accuracy import Accuracy
from tkeras.fit.metrics.accuracy import BinaryAccuracy
from tkeras.fit.metrics.accuracy import CategoricalAccuracy
from tkeras.fit.metrics.accuracy import SparseCategoricalAccuracy
from tkeras.fit.metrics.accuracy import SparseTopKCategoricalAccuracy
from tkeras.fit.metrics.accuracy import TopKCategoricalAccuracy
from tkeras.fit.metrics.accuracy import binary_accuracy
from tkeras.fit.metrics.accuracy import categorical_accuracy
from tkeras.fit.metrics.accuracy import sparse_categorical_accuracy
from tkeras.fit.metrics.accuracy import sparse_top_k_categorical_accuracy
from tkeras.fit.metrics.accuracy import top_k_categorical_accuracy
from tkeras.fit.metrics.base import Mean
from tkeras.fit.metrics.base import MeanMetricWrapper
from tkeras.fit.metrics.base import Metric
from tkeras.fit.metrics.base import Sum
from tkeras.fit.metrics.confusion import AUC
from tkeras.fit.metrics.confusion import FalseNegatives
from tkeras.fit.metrics.confusion import FalsePositives
from tkeras.fit.metrics.confusion import Precision
from tkeras.fit.metrics.confusion import PrecisionAtRecall
from tkeras.fit.metrics.confusion import Recall
from tkeras.fit.metrics.confusion import RecallAtPrecision
from tkeras.fit.metrics.confusion import SensitivityAtSpecificity
from tkeras.fit.metrics.confusion import SpecificityAtSensitivity
from tkeras.fit.metrics.confusion import TrueNegatives
from tkeras.fit.metrics.confusion import TruePositives
from tkeras.fit.metrics.fscore_iou import BinaryIoU
from tkeras.fit.metrics.fscore_iou import F1Score
from tkeras.fit.metrics.fscore_iou import FBetaScore
from tkeras.fit.metrics.fscore_iou import IoU
from tkeras.fit.metrics.fscore_iou import MeanIoU
from tkeras.fit.metrics.fscore_iou import OneHotIoU
from tkeras.fit.metrics.fscore_iou import OneHotMeanIoU
from tkeras.fit.metrics.regression import BinaryCrossentropy
from tkeras.fit.metrics.regression import CategoricalCrossentropy
from tkeras.fit.metrics.regression import CategoricalHinge
from tkeras.fit.metrics.regression import ConcordanceCorrelation
from tkeras.fit.metrics.regression import CosineSimilarity
from tkeras.fit.metrics.regression import Hinge
from tkeras.fit.metrics.regression import KLDivergence
from tkeras.fit.metrics.regression import LogCoshError
from tkeras.fit.metrics.regression import MeanAbsoluteError
from tkeras.fit.metrics.regression import MeanAbsolutePercentageError
from tkeras.fit.metrics.regression import MeanSquaredError
from tkeras.fit.metrics.regression import MeanSquaredLogarithmicError
from tkeras.fit.metrics.regression import PearsonCorrelation
from tkeras.fit.metrics.regression import Poisson
from tkeras.fit.metrics.regression import R2Score
from tkeras.fit.metrics.regression import RootMeanSquaredError
from tkeras.fit.metrics.regression import SparseCategoricalCrossentropy
from tkeras.fit.metrics.regression import SquaredHinge
from tkeras.fit.metrics.regression import concordance_correlation
from tkeras.fit.metrics.regression import pearson_correlation

ALL_OBJECTS = (
    Metric, Mean, Sum, MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError,
    MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity,
    LogCoshError, R2Score, AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall,
    Recall, RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives,
    TruePositives, ConcordanceCorrelation, PearsonCorrelation, Hinge, SquaredHinge,
    CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, Accuracy, BinaryAccuracy, CategoricalAccuracy,
    SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, F1Score,
    FBetaScore, IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU,
)

ALL_OBJECTS_DICT = names_table(ALL_OBJECTS, **abbreviations(
    bce=BinaryCrossentropy, mse=MeanSquaredError, mae=MeanAbsoluteError,
    mape=MeanAbsolutePercentageError, msle=MeanSquaredLogarithmicError))


@keras_export("keras.metrics.serialize")
def serialize(metric):
    """Config dict of a metric instance or function."""
    return serialize_keras_object(metric)


@keras_export("keras.metrics.deserialize")
def deserialize(config, custom_objects=None):
    """A metric instance or function from its config (or name). Names ("mse", "auc") resolve
    through this module's table; configs through the registry, so a nested function config
    (`MeanMetricWrapper`'s `fn`) is never mistaken for the metric class of the same name."""
    return deserialize_by_name(config, ALL_OBJECTS_DICT, custom_objects, "metrics")


@keras_export("keras.metrics.get")
def get(identifier):
    """A metric from a name ("mse", "auc", "AUC", ...), config dict, class, instance or
    callable; a class is instantiated with its defaults."""
    if identifier is None:
        return None
    return get_object(identifier, deserialize, ALL_OBJECTS_DICT.get, "metric")


def get_metric_for_compile(identifier, y_true, y_pred):
    """The `Metric` that `compile(metrics=[identifier])` builds (keras/src/trainers/
    compile_utils.py `get_metric`): "accuracy"/"acc" become BinaryAccuracy when `y_pred` has
    one column, SparseCategoricalAccuracy when `y_true` has lower rank (or one column against
    several), else CategoricalAccuracy; functions are wrapped in `MeanMetricWrapper`. The metric
    is named after a string identifier. `y_true`/`y_pred` are tensors or shapes."""
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if str(identifier).lower() not in ("accuracy", "acc"):
        metric_obj = get(identifier)
    else:
        is_binary, is_sparse = is_binary_or_sparse_categorical(y_true, y_pred)
        if is_binary:
            metric_obj = BinaryAccuracy(name=str(identifier))
        elif is_sparse:
            metric_obj = SparseCategoricalAccuracy(name=str(identifier))
        else:
            metric_obj = CategoricalAccuracy(name=str(identifier))
    metric_name = identifier if isinstance(identifier, str) else get_object_name(metric_obj)
    if not isinstance(metric_obj, Metric):
        metric_obj = MeanMetricWrapper(metric_obj)
    metric_obj.name = metric_name
    return metric_obj


__all__ = [
    *(cls.__name__ for cls in ALL_OBJECTS),
    "binary_accuracy", "binary_crossentropy", "binary_focal_crossentropy",
    "categorical_accuracy", "categorical_crossentropy", "categorical_focal_crossentropy",
    "categorical_hinge", "concordance_correlation", "hinge", "huber", "kl_divergence",
    "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "pearson_correlation", "poisson",
    "sparse_categorical_accuracy", "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy", "squared_hinge", "top_k_categorical_accuracy",
    "get", "serialize", "deserialize", "get_metric_for_compile",
]
