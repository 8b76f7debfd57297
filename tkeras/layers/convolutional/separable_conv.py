"""`BaseSeparableConv` and SeparableConv1D/2D: a depthwise convolution (strides, padding,
dilation) followed by a 1x1 pointwise convolution, then bias and activation (as Keras).

Weights in Keras's order and layouts: `depthwise_kernel (*k, in, dm)`,
`pointwise_kernel (1, ..., in * dm, filters)`, `bias (filters,)`.
"""

from tkeras.core.registry import keras_export
from tkeras.layers.arguments import init_args
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.convolutional.base_conv import ConvNd
from tkeras.layers.convolutional.base_conv import check_positive


class BaseSeparableConv(ConvNd):
    config_keys = ("depth_multiplier", "filters", "kernel_size", "strides", "padding",
                   "data_format", "dilation_rate")
    weight_names = ("depthwise", "pointwise")

    def __init__(self, rank, depth_multiplier, filters, kernel_size, **kwargs):
        check_positive("depth_multiplier", depth_multiplier)
        check_positive("filters", filters)
        super().__init__(rank, kernel_size, check_dilation=False, **kwargs)
        self.depth_multiplier = depth_multiplier
        self.filters = filters

    def build(self, input_shape):
        input_channel = self._input_channel(input_shape)
        self.compute_output_shape(input_shape)  # validates the output size
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel",
            shape=self.kernel_size + (input_channel, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel",
            shape=(1,) * self.rank + (self.depth_multiplier * input_channel, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self.bias = self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        x = conv_utils.to_channels_first(inputs, self.data_format)
        return self._finish(conv_utils.separable_conv(
            x, self.depthwise_kernel, self.pointwise_kernel, self.bias, self.strides,
            self.padding, self.dilation_rate))


@keras_export("keras.layers.SeparableConv1D", "keras.layers.SeparableConvolution1D")
class SeparableConv1D(BaseSeparableConv):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=1, **init_args(locals()))


@keras_export("keras.layers.SeparableConv2D", "keras.layers.SeparableConvolution2D")
class SeparableConv2D(BaseSeparableConv):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=2, **init_args(locals()))
