"""`keras.applications.resnet50`: ResNet50 with its ImageNet helpers (as in Keras)."""

from tkeras.applications.resnet import ResNet50
from tkeras.applications.resnet import decode_predictions
from tkeras.applications.resnet import preprocess_input

__all__ = ["ResNet50", "decode_predictions", "preprocess_input"]
