"""`BaseConvTranspose` and Conv1D/2D/3DTranspose.

Kernel in Keras's layout `(*kernel_size, filters, in_channels)`, permuted (a view) to torch's
`(in, filters, *kernel_size)`. Output sizes and "same" cropping follow Keras: the full transposed
convolution (length `(L - 1) * s + (k - 1) * d + 1`) loses `(left, right)` positions computed as
in Keras's JAX-equivalent rule. They are expressed as torch's `padding=left` plus
`output_padding=left - right` when `left >= right` (always valid since Keras requires
`output_padding < strides`), else as `padding=left` and a slice of `right - left` at the end.
"""

import torch.nn.functional as F

from tkeras.core import activations
from tkeras.core import constraints
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.convolutional.base_conv import add_bias
from tkeras.layers.convolutional.base_conv import check_kernel_and_strides
from tkeras.layers.convolutional.base_conv import finish
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer

CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


class BaseConvTranspose(Layer):
    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.filters = filters
        self.kernel_size = conv_utils.standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = conv_utils.standardize_tuple(strides, rank, "strides")
        self.dilation_rate = conv_utils.standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = conv_utils.standardize_padding(padding)
        self.output_padding = None if output_padding is None else conv_utils.standardize_tuple(
            output_padding, rank, "output_padding", allow_zero=True)
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=rank + 2)
        if filters is not None and filters <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters}.")
        check_kernel_and_strides(self)
        if self.output_padding is not None:
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise ValueError(
                        "`output_padding` must be strictly less than `strides` for all "
                        f"dimensions. At dimension {i}, `output_padding` is {op} but `strides` "
                        f"is {s}. Received: output_padding={self.output_padding}, "
                        f"strides={self.strides}")

    def build(self, input_shape):
        axis = conv_utils.channel_axis(self.data_format)
        input_channel = input_shape[axis]
        self.input_spec = InputSpec(min_ndim=self.rank + 2, axes={axis: input_channel})
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (self.filters, input_channel),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        self.bias = add_bias(self, self.filters)
        self.built = True

    def _torch_padding(self):
        """Per dimension: torch `padding`, `output_padding`, and positions to trim at the end."""
        padding, output_padding, trims = [], [], []
        output_paddings = self.output_padding or (None,) * self.rank
        for k, s, op, d in zip(self.kernel_size, self.strides, output_paddings,
                               self.dilation_rate):
            left, right = conv_utils.conv_transpose_crops(k, s, self.padding, op, d)
            padding.append(left)
            output_padding.append(max(0, left - right))
            trims.append(max(0, right - left))
        return tuple(padding), tuple(output_padding), trims

    def call(self, inputs):
        x = conv_utils.to_channels_first(inputs, self.data_format)
        kernel = self.kernel.permute(self.rank + 1, self.rank, *range(self.rank))
        padding, output_padding, trims = self._torch_padding()
        outputs = CONV_TRANSPOSE[self.rank](x, kernel, self.bias, self.strides, padding,
                                            output_padding, 1, self.dilation_rate)
        for dim, trim in enumerate(trims, start=2):
            if trim:
                outputs = outputs.narrow(dim, 0, outputs.shape[dim] - trim)
        return finish(self, outputs)

    def compute_output_shape(self, input_shape):
        output_paddings = self.output_padding or (None,) * self.rank
        spatial = [conv_utils.conv_transpose_output_length(n, k, s, self.padding, op, d)
                   for n, k, s, op, d in zip(
                       conv_utils.spatial_shape(input_shape, self.data_format), self.kernel_size,
                       self.strides, output_paddings, self.dilation_rate)]
        return conv_utils.with_spatial(input_shape, spatial, self.filters, self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


@keras_export("keras.layers.Conv1DTranspose", "keras.layers.Convolution1DTranspose")
class Conv1DTranspose(BaseConvTranspose):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(
            rank=1, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)


@keras_export("keras.layers.Conv2DTranspose", "keras.layers.Convolution2DTranspose")
class Conv2DTranspose(BaseConvTranspose):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(
            rank=2, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)


@keras_export("keras.layers.Conv3DTranspose", "keras.layers.Convolution3DTranspose")
class Conv3DTranspose(BaseConvTranspose):
    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, output_padding=None, dilation_rate=(1, 1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(
            rank=3, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)
