"""`BaseDepthwiseConv` and DepthwiseConv1D/2D.

Kernel in Keras's layout `(*kernel_size, in_channels, depth_multiplier)`; viewed as torch's
grouped-conv weight `(in * depth_multiplier, 1, *kernel_size)` (output channel `c * dm + m`, as in
Keras) and run with `groups=in_channels`. Padding as `BaseConv` ("same" is TF's).
"""

from tkeras.core import activations
from tkeras.core import constraints
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.convolutional.base_conv import CONV
from tkeras.layers.convolutional.base_conv import add_bias
from tkeras.layers.convolutional.base_conv import check_kernel_and_strides
from tkeras.layers.convolutional.base_conv import finish
from tkeras.layers.convolutional.base_conv import torch_kernel
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer


def depthwise_conv(x, kernel, bias, layer):
    """Depthwise convolution of a channels-first `x` with a Keras `(*k, in, dm)` kernel."""
    rank = layer.rank
    in_channels = kernel.shape[-2]
    kernel = kernel.reshape(*kernel.shape[:-2], 1, in_channels * kernel.shape[-1])
    if layer.padding == "same":
        x, padding = conv_utils.apply_same_padding(x, layer.kernel_size, layer.strides,
                                                   layer.dilation_rate)
    else:
        padding = 0
    return CONV[rank](x, torch_kernel(kernel, rank), bias, layer.strides, padding,
                      layer.dilation_rate, in_channels)


class BaseDepthwiseConv(Layer):
    def __init__(self, rank, depth_multiplier, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.depth_multiplier = depth_multiplier
        self.kernel_size = conv_utils.standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = conv_utils.standardize_tuple(strides, rank, "strides")
        self.dilation_rate = conv_utils.standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = conv_utils.standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=rank + 2)
        if depth_multiplier is not None and depth_multiplier <= 0:
            raise ValueError("Invalid value for argument `depth_multiplier`. Expected a strictly "
                             f"positive value. Received depth_multiplier={depth_multiplier}.")
        check_kernel_and_strides(self, check_dilation=False)

    def build(self, input_shape):
        axis = conv_utils.channel_axis(self.data_format)
        input_channel = input_shape[axis]
        self.input_spec = InputSpec(min_ndim=self.rank + 2, axes={axis: input_channel})
        self.compute_output_shape(input_shape)  # validates the output size
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (input_channel, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.bias = add_bias(self, self.depth_multiplier * input_channel)
        self.built = True

    def call(self, inputs):
        x = conv_utils.to_channels_first(inputs, self.data_format)
        return finish(self, depthwise_conv(x, self.kernel, self.bias, self))

    def compute_output_shape(self, input_shape):
        channels = input_shape[conv_utils.channel_axis(self.data_format)]
        return conv_utils.conv_output_shape(input_shape, self.depth_multiplier * channels,
                                            self.kernel_size, self.strides, self.padding,
                                            self.data_format, self.dilation_rate)

    def get_config(self):
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


@keras_export("keras.layers.DepthwiseConv1D")
class DepthwiseConv1D(BaseDepthwiseConv):
    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(
            rank=1, depth_multiplier=depth_multiplier, kernel_size=kernel_size, strides=strides,
            padding=padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, use_bias=use_bias, depthwise_initializer=depthwise_initializer,
            bias_initializer=bias_initializer, depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint, bias_constraint=bias_constraint, **kwargs)


@keras_export("keras.layers.DepthwiseConv2D")
class DepthwiseConv2D(BaseDepthwiseConv):
    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(
            rank=2, depth_multiplier=depth_multiplier, kernel_size=kernel_size, strides=strides,
            padding=padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, use_bias=use_bias, depthwise_initializer=depthwise_initializer,
            bias_initializer=bias_initializer, depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint, bias_constraint=bias_constraint, **kwargs)
