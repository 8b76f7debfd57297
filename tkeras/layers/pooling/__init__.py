"""Pooling layers (Keras 3 `keras.layers.*Pooling*`)."""

from tkeras.layers.pooling.adaptive_pooling import AdaptiveAveragePooling1D
from tkeras.layers.pooling.adaptive_pooling import AdaptiveAveragePooling2D
from tkeras.layers.pooling.adaptive_pooling import AdaptiveAveragePooling3D
from tkeras.layers.pooling.adaptive_pooling import AdaptiveMaxPooling1D
from tkeras.layers.pooling.adaptive_pooling import AdaptiveMaxPooling2D
from tkeras.layers.pooling.adaptive_pooling import AdaptiveMaxPooling3D
from tkeras.layers.pooling.global_pooling import GlobalAveragePooling1D
from tkeras.layers.pooling.global_pooling import GlobalAveragePooling2D
from tkeras.layers.pooling.global_pooling import GlobalAveragePooling3D
from tkeras.layers.pooling.global_pooling import GlobalMaxPooling1D
from tkeras.layers.pooling.global_pooling import GlobalMaxPooling2D
from tkeras.layers.pooling.global_pooling import GlobalMaxPooling3D
from tkeras.layers.pooling.pooling import AveragePooling1D
from tkeras.layers.pooling.pooling import AveragePooling2D
from tkeras.layers.pooling.pooling import AveragePooling3D
from tkeras.layers.pooling.pooling import MaxPooling1D
from tkeras.layers.pooling.pooling import MaxPooling2D
from tkeras.layers.pooling.pooling import MaxPooling3D

MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
MaxPool3D = MaxPooling3D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
AvgPool3D = AveragePooling3D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalAvgPool3D = GlobalAveragePooling3D

__all__ = [
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
    "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
]
