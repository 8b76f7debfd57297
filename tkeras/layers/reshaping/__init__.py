from tkeras.layers.reshaping.cropping import Cropping1D
from tkeras.layers.reshaping.cropping import Cropping2D
from tkeras.layers.reshaping.cropping import Cropping3D
from tkeras.layers.reshaping.flatten import Flatten
from tkeras.layers.reshaping.permute import Permute
from tkeras.layers.reshaping.repeat_vector import RepeatVector
from tkeras.layers.reshaping.reshape import Reshape
from tkeras.layers.reshaping.up_sampling import UpSampling1D
from tkeras.layers.reshaping.up_sampling import UpSampling2D
from tkeras.layers.reshaping.up_sampling import UpSampling3D
from tkeras.layers.reshaping.zero_padding import ZeroPadding1D
from tkeras.layers.reshaping.zero_padding import ZeroPadding2D
from tkeras.layers.reshaping.zero_padding import ZeroPadding3D

__all__ = ["Flatten", "Reshape"]
__all__ += ["Cropping1D", "Cropping2D", "Cropping3D", "Permute", "RepeatVector",
            "UpSampling1D", "UpSampling2D", "UpSampling3D",
            "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"]
