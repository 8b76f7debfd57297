"""`keras.distillation`: knowledge distillation from a teacher model to a student model."""

from tkeras.distillation.distillation_loss import DistillationLoss
from tkeras.distillation.distillation_loss import FeatureDistillation
from tkeras.distillation.distillation_loss import LogitsDistillation
from tkeras.distillation.distiller import Distiller

__all__ = ["DistillationLoss", "FeatureDistillation", "LogitsDistillation", "Distiller"]
