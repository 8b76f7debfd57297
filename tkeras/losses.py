"""`tkeras.losses`: Keras 3's public loss API (implemented in `tkeras.fit.losses`)."""

from tkeras.fit.losses import CTC
from tkeras.fit.losses import BinaryCrossentropy
from tkeras.fit.losses import BinaryFocalCrossentropy
from tkeras.fit.losses import CategoricalCrossentropy
from tkeras.fit.losses import CategoricalFocalCrossentropy
from tkeras.fit.losses import CategoricalGeneralizedCrossEntropy
from tkeras.fit.losses import CategoricalHinge
from tkeras.fit.losses import Circle
from tkeras.fit.losses import CosineSimilarity
from tkeras.fit.losses import Dice
from tkeras.fit.losses import Hinge
from tkeras.fit.losses import Huber
from tkeras.fit.losses import KLDivergence
from tkeras.fit.losses import LogCosh
from tkeras.fit.losses import Loss
from tkeras.fit.losses import MeanAbsoluteError
from tkeras.fit.losses import MeanAbsolutePercentageError
from tkeras.fit.losses import MeanSquaredError
from tkeras.fit.losses import MeanSquaredLogarithmicError
from tkeras.fit.losses import Poisson
from tkeras.fit.losses import SparseCategoricalCrossentropy
from tkeras.fit.losses import SquaredHinge
from tkeras.fit.losses import Tversky
from tkeras.fit.losses import binary_crossentropy
from tkeras.fit.losses import binary_focal_crossentropy
from tkeras.fit.losses import categorical_crossentropy
from tkeras.fit.losses import categorical_focal_crossentropy
from tkeras.fit.losses import categorical_generalized_cross_entropy
from tkeras.fit.losses import categorical_hinge
from tkeras.fit.losses import circle
from tkeras.fit.losses import cosine_similarity
from tkeras.fit.losses import ctc
from tkeras.fit.losses import deserialize
from tkeras.fit.losses import dice
from tkeras.fit.losses import get
from tkeras.fit.losses import hinge
from tkeras.fit.losses import huber
from tkeras.fit.losses import kl_divergence
from tkeras.fit.losses import log_cosh
from tkeras.fit.losses import mean_absolute_error
from tkeras.fit.losses import mean_absolute_percentage_error
from tkeras.fit.losses import mean_squared_error
from tkeras.fit.losses import mean_squared_logarithmic_error
from tkeras.fit.losses import poisson
from tkeras.fit.losses import serialize
from tkeras.fit.losses import sparse_categorical_crossentropy
from tkeras.fit.losses import squared_hinge
from tkeras.fit.losses import tversky

__all__ = [
    "BinaryCrossentropy", "BinaryFocalCrossentropy", "CTC", "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy", "CategoricalGeneralizedCrossEntropy", "CategoricalHinge",
    "Circle", "CosineSimilarity", "Dice", "Hinge", "Huber", "KLDivergence", "LogCosh", "Loss",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "Poisson", "SparseCategoricalCrossentropy", "SquaredHinge",
    "Tversky", "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_generalized_cross_entropy",
    "categorical_hinge", "circle", "cosine_similarity", "ctc", "deserialize", "dice", "get",
    "hinge", "huber", "kl_divergence", "log_cosh", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "poisson", "serialize", "sparse_categorical_crossentropy", "squared_hinge", "tversky",
]
