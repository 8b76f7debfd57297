"""Convolution layers (Keras 3 `keras.layers.Conv*`, `DepthwiseConv*`, `SeparableConv*`)."""

from tkeras.layers.convolutional.base_conv import BaseConv
from tkeras.layers.convolutional.conv import Conv1D
from tkeras.layers.convolutional.conv import Conv2D
from tkeras.layers.convolutional.conv import Conv3D
from tkeras.layers.convolutional.conv_transpose import BaseConvTranspose
from tkeras.layers.convolutional.conv_transpose import Conv1DTranspose
from tkeras.layers.convolutional.conv_transpose import Conv2DTranspose
from tkeras.layers.convolutional.conv_transpose import Conv3DTranspose
from tkeras.layers.convolutional.depthwise_conv import BaseDepthwiseConv
from tkeras.layers.convolutional.depthwise_conv import DepthwiseConv1D
from tkeras.layers.convolutional.depthwise_conv import DepthwiseConv2D
from tkeras.layers.convolutional.separable_conv import BaseSeparableConv
from tkeras.layers.convolutional.separable_conv import SeparableConv1D
from tkeras.layers.convolutional.separable_conv import SeparableConv2D

Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D

__all__ = [
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "Convolution1D", "Convolution2D", "Convolution3D", "Convolution1DTranspose",
    "Convolution2DTranspose", "Convolution3DTranspose", "SeparableConvolution1D",
    "SeparableConvolution2D",
]
