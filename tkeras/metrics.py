"""`tkeras.metrics`: Keras 3's public metric API (implemented in `tkeras.fit.metrics`)."""

from tkeras.fit.metrics import AUC
from tkeras.fit.metrics import Accuracy
from tkeras.fit.metrics import BinaryAccuracy
from tkeras.fit.metrics import BinaryCrossentropy
from tkeras.fit.metrics import BinaryIoU
from tkeras.fit.metrics import CategoricalAccuracy
from tkeras.fit.metrics import CategoricalCrossentropy
from tkeras.fit.metrics import CategoricalHinge
from tkeras.fit.metrics import ConcordanceCorrelation
from tkeras.fit.metrics import CosineSimilarity
from tkeras.fit.metrics import F1Score
from tkeras.fit.metrics import FBetaScore
from tkeras.fit.metrics import FalseNegatives
from tkeras.fit.metrics import FalsePositives
from tkeras.fit.metrics import Hinge
from tkeras.fit.metrics import IoU
from tkeras.fit.metrics import KLDivergence
from tkeras.fit.metrics import LogCoshError
from tkeras.fit.metrics import Mean
from tkeras.fit.metrics import MeanAbsoluteError
from tkeras.fit.metrics import MeanAbsolutePercentageError
from tkeras.fit.metrics import MeanIoU
from tkeras.fit.metrics import MeanMetricWrapper
from tkeras.fit.metrics import MeanSquaredError
from tkeras.fit.metrics import MeanSquaredLogarithmicError
from tkeras.fit.metrics import Metric
from tkeras.fit.metrics import OneHotIoU
from tkeras.fit.metrics import OneHotMeanIoU
from tkeras.fit.metrics import PearsonCorrelation
from tkeras.fit.metrics import Poisson
from tkeras.fit.metrics import Precision
from tkeras.fit.metrics import PrecisionAtRecall
from tkeras.fit.metrics import R2Score
from tkeras.fit.metrics import Recall
from tkeras.fit.metrics import RecallAtPrecision
from tkeras.fit.metrics import RootMeanSquaredError
from tkeras.fit.metrics import SensitivityAtSpecificity
from tkeras.fit.metrics import SparseCategoricalAccuracy
from tkeras.fit.metrics import SparseCategoricalCrossentropy
from tkeras.fit.metrics import SparseTopKCategoricalAccuracy
from tkeras.fit.metrics import SpecificityAtSensitivity
from tkeras.fit.metrics import SquaredHinge
from tkeras.fit.metrics import Sum
from tkeras.fit.metrics import TopKCategoricalAccuracy
from tkeras.fit.metrics import TrueNegatives
from tkeras.fit.metrics import TruePositives
from tkeras.fit.metrics import binary_accuracy
from tkeras.fit.metrics import binary_crossentropy
from tkeras.fit.metrics import binary_focal_crossentropy
from tkeras.fit.metrics import categorical_accuracy
from tkeras.fit.metrics import categorical_crossentropy
from tkeras.fit.metrics import categorical_focal_crossentropy
from tkeras.fit.metrics import categorical_hinge
from tkeras.fit.metrics import concordance_correlation
from tkeras.fit.metrics import deserialize
from tkeras.fit.metrics import get
from tkeras.fit.metrics import hinge
from tkeras.fit.metrics import huber
from tkeras.fit.metrics import kl_divergence
from tkeras.fit.metrics import log_cosh
from tkeras.fit.metrics import mean_absolute_error
from tkeras.fit.metrics import mean_absolute_percentage_error
from tkeras.fit.metrics import mean_squared_error
from tkeras.fit.metrics import mean_squared_logarithmic_error
from tkeras.fit.metrics import pearson_correlation
from tkeras.fit.metrics import poisson
from tkeras.fit.metrics import serialize
from tkeras.fit.metrics import sparse_categorical_accuracy
from tkeras.fit.metrics import sparse_categorical_crossentropy
from tkeras.fit.metrics import sparse_top_k_categorical_accuracy
from tkeras.fit.metrics import squared_hinge
from tkeras.fit.metrics import top_k_categorical_accuracy

__all__ = [
    "AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "BinaryIoU", "CategoricalAccuracy",
    "CategoricalCrossentropy", "CategoricalHinge", "ConcordanceCorrelation", "CosineSimilarity",
    "F1Score", "FBetaScore", "FalseNegatives", "FalsePositives", "Hinge", "IoU", "KLDivergence",
    "LogCoshError", "Mean", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanIoU",
    "MeanMetricWrapper", "MeanSquaredError", "MeanSquaredLogarithmicError", "Metric", "OneHotIoU",
    "OneHotMeanIoU", "PearsonCorrelation", "Poisson", "Precision", "PrecisionAtRecall", "R2Score",
    "Recall", "RecallAtPrecision", "RootMeanSquaredError", "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy", "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity", "SquaredHinge", "Sum", "TopKCategoricalAccuracy", "TrueNegatives",
    "TruePositives", "binary_accuracy", "binary_crossentropy", "binary_focal_crossentropy",
    "categorical_accuracy", "categorical_crossentropy", "categorical_focal_crossentropy",
    "categorical_hinge", "concordance_correlation", "deserialize", "get", "hinge", "huber",
    "kl_divergence", "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_error", "mean_squared_logarithmic_error", "pearson_correlation", "poisson",
    "serialize", "sparse_categorical_accuracy", "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy", "squared_hinge", "top_k_categorical_accuracy",
]
