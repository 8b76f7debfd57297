"""`tkeras.optimizers.legacy`: as in Keras 3, each name raises `ImportError` when used."""

from tkeras.fit.optimizers.legacy import LegacyOptimizerWarning as Adagrad
from tkeras.fit.optimizers.legacy import LegacyOptimizerWarning as Adam
from tkeras.fit.optimizers.legacy import LegacyOptimizerWarning as Ftrl
from tkeras.fit.optimizers.legacy import LegacyOptimizerWarning as Optimizer
from tkeras.fit.optimizers.legacy import LegacyOptimizerWarning as RMSprop
from tkeras.fit.optimizers.legacy import LegacyOptimizerWarning as SGD

__all__ = ["Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"]
