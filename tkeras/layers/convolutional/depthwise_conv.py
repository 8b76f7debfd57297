"""`BaseDepthwiseConv` and DepthwiseConv1D/2D.

Kernel in Keras's layout `(*kernel_size, in_channels, depth_multiplier)`; viewed as torch's
grouped-conv weight `(in * depth_multiplier, 1, *kernel_size)` (output channel `c * dm + m`, as in
Keras) and run with `groups=in_channels` (`conv_utils.depthwise_conv`). Padding as `BaseConv`
("same" is TF's).
"""

from tkeras.core.registry import keras_export
from tkeras.layers.arguments import init_args
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.convolutional.base_conv import ConvNd
from tkeras.layers.convolutional.base_conv import check_positive


class BaseDepthwiseConv(ConvNd):
    config_keys = ("depth_multiplier", "kernel_size", "strides", "padding", "data_format",
                   "dilation_rate")
    weight_names = ("depthwise",)

    def __init__(self, rank, depth_multiplier, kernel_size, **kwargs):
        check_positive("depth_multiplier", depth_multiplier)
        super().__init__(rank, kernel_size, check_dilation=False, **kwargs)
        self.depth_multiplier = depth_multiplier

    def build(self, input_shape):
        input_channel = self._input_channel(input_shape)
        self.compute_output_shape(input_shape)  # validates the output size
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (input_channel, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.bias = self._add_bias(self.depth_multiplier * input_channel)
        self.built = True

    def call(self, inputs):
        x = conv_utils.to_channels_first(inputs, self.data_format)
        return self._finish(conv_utils.depthwise_conv(x, self.kernel, self.bias, self.strides,
                                                      self.padding, self.dilation_rate))

    def _output_channels(self, input_shape):
        return self.depth_multiplier * input_shape[conv_utils.channel_axis(self.data_format)]


@keras_export("keras.layers.DepthwiseConv1D")
class DepthwiseConv1D(BaseDepthwiseConv):
    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=1, **init_args(locals()))


@keras_export("keras.layers.DepthwiseConv2D")
class DepthwiseConv2D(BaseDepthwiseConv):
    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=2, **init_args(locals()))
