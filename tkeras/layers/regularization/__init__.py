from tkeras.layers.regularization.activity_regularization import ActivityRegularization
from tkeras.layers.regularization.alpha_dropout import AlphaDropout
from tkeras.layers.regularization.dropout import Dropout
from tkeras.layers.regularization.gaussian_dropout import GaussianDropout
from tkeras.layers.regularization.gaussian_noise import GaussianNoise
from tkeras.layers.regularization.spatial_dropout import SpatialDropout1D
from tkeras.layers.regularization.spatial_dropout import SpatialDropout2D
from tkeras.layers.regularization.spatial_dropout import SpatialDropout3D

__all__ = ["Dropout"]
__all__ += ["ActivityRegularization", "AlphaDropout", "GaussianDropout", "GaussianNoise",
            "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"]
