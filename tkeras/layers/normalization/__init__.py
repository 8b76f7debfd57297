from tkeras.layers.normalization.batch_normalization import BatchNormalization
from tkeras.layers.normalization.group_normalization import GroupNormalization
from tkeras.layers.normalization.layer_normalization import LayerNormalization
from tkeras.layers.normalization.rms_normalization import RMSNormalization
from tkeras.layers.normalization.spectral_normalization import SpectralNormalization
from tkeras.layers.normalization.unit_normalization import UnitNormalization

__all__ = [
    "BatchNormalization",
    "GroupNormalization",
    "LayerNormalization",
    "RMSNormalization",
    "SpectralNormalization",
    "UnitNormalization",
]
