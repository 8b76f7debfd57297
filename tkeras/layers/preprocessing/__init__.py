"""Keras 3's preprocessing layers that run inside models on torch tensors."""

from tkeras.layers.preprocessing.base import BaseImagePreprocessingLayer
from tkeras.layers.preprocessing.category_encoding import CategoryEncoding
from tkeras.layers.preprocessing.color import AutoContrast
from tkeras.layers.preprocessing.color import Equalization
from tkeras.layers.preprocessing.color import Solarization
from tkeras.layers.preprocessing.discretization import Discretization
from tkeras.layers.preprocessing.normalization import Normalization
from tkeras.layers.preprocessing.pipeline import Pipeline
from tkeras.layers.preprocessing.random_color import RandomBrightness
from tkeras.layers.preprocessing.random_color import RandomContrast
from tkeras.layers.preprocessing.random_geometric import RandomCrop
from tkeras.layers.preprocessing.random_geometric import RandomFlip
from tkeras.layers.preprocessing.random_geometric import RandomRotation
from tkeras.layers.preprocessing.random_geometric import RandomTranslation
from tkeras.layers.preprocessing.random_geometric import RandomZoom
from tkeras.layers.preprocessing.rescaling import Rescaling
from tkeras.layers.preprocessing.resizing import CenterCrop
from tkeras.layers.preprocessing.resizing import Resizing

__all__ = [
    "AutoContrast", "CategoryEncoding", "CenterCrop", "Discretization", "Equalization",
    "Normalization", "Pipeline", "RandomBrightness", "RandomContrast", "RandomCrop",
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "Rescaling", "Resizing",
    "Solarization",
]
