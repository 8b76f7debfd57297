"""`BaseConvTranspose` and Conv1D/2D/3DTranspose.

Kernel in Keras's layout `(*kernel_size, filters, in_channels)`, permuted (a view) to torch's
`(in, filters, *kernel_size)`. Output sizes and "same" cropping follow Keras: the full transposed
convolution (length `(L - 1) * s + (k - 1) * d + 1`) loses `(left, right)` positions computed as
in Keras's JAX-equivalent rule. They are expressed as torch's `padding=left` plus
`output_padding=left - right` when `left >= right` (always valid since Keras requires
`output_padding < strides`), else as `padding=left` and a slice of `right - left` at the end.
"""

from tkeras.core.registry import keras_export
from tkeras.layers.arguments import init_args
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.convolutional.base_conv import ConvNd
from tkeras.layers.convolutional.base_conv import check_positive


class BaseConvTranspose(ConvNd):
    config_keys = ("filters", "kernel_size", "strides", "padding", "output_padding",
                   "data_format", "dilation_rate")

    def __init__(self, rank, filters, kernel_size, strides=1, output_padding=None, **kwargs):
        check_positive("filters", filters)
        super().__init__(rank, kernel_size, strides, **kwargs)
        self.filters = filters
        self.output_padding = None if output_padding is None else conv_utils.standardize_tuple(
            output_padding, rank, "output_padding", allow_zero=True)
        if self.output_padding is not None:
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise ValueError(
                        "`output_padding` must be strictly less than `strides` for all "
                        f"dimensions. At dimension {i}, `output_padding` is {op} but `strides` "
                        f"is {s}. Received: output_padding={self.output_padding}, "
                        f"strides={self.strides}")

    def build(self, input_shape):
        input_channel = self._input_channel(input_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (self.filters, input_channel),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        self.bias = self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        x = conv_utils.to_channels_first(inputs, self.data_format)
        return self._finish(conv_utils.conv_transpose(x, self.kernel, self.bias, self.strides,
                                                      self.padding, self.output_padding,
                                                      self.dilation_rate))

    def compute_output_shape(self, input_shape):
        output_paddings = self.output_padding or (None,) * self.rank
        spatial = [conv_utils.conv_transpose_output_length(n, k, s, self.padding, op, d)
                   for n, k, s, op, d in zip(
                       conv_utils.spatial_shape(input_shape, self.data_format), self.kernel_size,
                       self.strides, output_paddings, self.dilation_rate)]
        return conv_utils.with_spatial(input_shape, spatial, self.filters, self.data_format)


@keras_export("keras.layers.Conv1DTranspose", "keras.layers.Convolution1DTranspose")
class Conv1DTranspose(BaseConvTranspose):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=1, **init_args(locals()))


@keras_export("keras.layers.Conv2DTranspose", "keras.layers.Convolution2DTranspose")
class Conv2DTranspose(BaseConvTranspose):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=2, **init_args(locals()))


@keras_export("keras.layers.Conv3DTranspose", "keras.layers.Convolution3DTranspose")
class Conv3DTranspose(BaseConvTranspose):
    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, output_padding=None, dilation_rate=(1, 1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=3, **init_args(locals()))
