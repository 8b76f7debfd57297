"""Keras 3's preprocessing layers that run inside models on torch tensors."""

from tkeras.layers.preprocessing.audio import MelSpectrogram
from tkeras.layers.preprocessing.audio import STFTSpectrogram
from tkeras.layers.preprocessing.base import BaseImagePreprocessingLayer
from tkeras.layers.preprocessing.category_encoding import CategoryEncoding
from tkeras.layers.preprocessing.clahe import ContrastLimitedAdaptiveHistogramEqualization
from tkeras.layers.preprocessing.color import AutoContrast
from tkeras.layers.preprocessing.color import Equalization
from tkeras.layers.preprocessing.color import Solarization
from tkeras.layers.preprocessing.discretization import Discretization
from tkeras.layers.preprocessing.hashed_crossing import HashedCrossing
from tkeras.layers.preprocessing.hashing import Hashing
from tkeras.layers.preprocessing.index_lookup import IntegerLookup
from tkeras.layers.preprocessing.index_lookup import StringLookup
from tkeras.layers.preprocessing.max_num_bounding_boxes import MaxNumBoundingBoxes
from tkeras.layers.preprocessing.mixing import AugMix
from tkeras.layers.preprocessing.mixing import CutMix
from tkeras.layers.preprocessing.mixing import MixUp
from tkeras.layers.preprocessing.mixing import RandAugment
from tkeras.layers.preprocessing.normalization import Normalization
from tkeras.layers.preprocessing.pipeline import Pipeline
from tkeras.layers.preprocessing.random_color import RandomBrightness
from tkeras.layers.preprocessing.random_color import RandomContrast
from tkeras.layers.preprocessing.random_color_ops import RandomColorDegeneration
from tkeras.layers.preprocessing.random_color_ops import RandomColorJitter
from tkeras.layers.preprocessing.random_color_ops import RandomGaussianBlur
from tkeras.layers.preprocessing.random_color_ops import RandomGrayscale
from tkeras.layers.preprocessing.random_color_ops import RandomHue
from tkeras.layers.preprocessing.random_color_ops import RandomInvert
from tkeras.layers.preprocessing.random_color_ops import RandomPosterization
from tkeras.layers.preprocessing.random_color_ops import RandomSaturation
from tkeras.layers.preprocessing.random_color_ops import RandomSharpness
from tkeras.layers.preprocessing.random_geometric import RandomCrop
from tkeras.layers.preprocessing.random_geometric import RandomFlip
from tkeras.layers.preprocessing.random_geometric import RandomRotation
from tkeras.layers.preprocessing.random_geometric import RandomTranslation
from tkeras.layers.preprocessing.random_geometric import RandomZoom
from tkeras.layers.preprocessing.random_warps import RandomElasticTransform
from tkeras.layers.preprocessing.random_warps import RandomErasing
from tkeras.layers.preprocessing.random_warps import RandomPerspective
from tkeras.layers.preprocessing.random_warps import RandomShear
from tkeras.layers.preprocessing.rescaling import Rescaling
from tkeras.layers.preprocessing.resizing import CenterCrop
from tkeras.layers.preprocessing.resizing import Resizing
from tkeras.layers.preprocessing.text_vectorization import TextVectorization

__all__ = [
    "AugMix", "AutoContrast", "CategoryEncoding", "CenterCrop",
    "ContrastLimitedAdaptiveHistogramEqualization", "CutMix", "Discretization", "Equalization",
    "HashedCrossing", "Hashing", "IntegerLookup", "MaxNumBoundingBoxes", "MelSpectrogram", "MixUp",
    "Normalization", "Pipeline", "RandAugment", "RandomBrightness", "RandomColorDegeneration",
    "RandomColorJitter", "RandomContrast", "RandomCrop", "RandomElasticTransform", "RandomErasing",
    "RandomFlip", "RandomGaussianBlur", "RandomGrayscale", "RandomHue", "RandomInvert",
    "RandomPerspective", "RandomPosterization", "RandomRotation", "RandomSaturation",
    "RandomSharpness", "RandomShear", "RandomTranslation", "RandomZoom", "Rescaling", "Resizing",
    "STFTSpectrogram", "Solarization", "StringLookup", "TextVectorization",
]
