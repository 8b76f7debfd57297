"""`BaseConv`: the N-D convolution behind Conv1D/2D/3D.

Kernel in Keras's layout `(*kernel_size, in_channels // groups, filters)`, permuted (a view) to
torch's `(filters, in // groups, *kernel_size)` on each call; channels_last inputs are run as a
channels-first *view* (torch's channels_last memory format), so no input copy is made. "same"
padding is TF's (odd pixel at the end; `F.pad` only when asymmetric), "causal" (1D) left-pads
`dilation * (kernel - 1)`.

LoRA (`lora_rank`, `enable_lora`) is kept; deliberate difference: `layer.kernel` is always the
base kernel parameter (Keras returns the merged kernel from its `kernel` property).
"""

import torch
import torch.nn.functional as F

from tkeras.core import activations
from tkeras.core import constraints
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.config import standardize_data_format
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def torch_kernel(kernel, rank):
    """Keras `(*k, in, out)` kernel as torch's `(out, in, *k)` (a permuted view)."""
    return kernel.permute(rank + 1, rank, *range(rank))


def finish(layer, outputs):
    """Back to the layer's data format, then the activation."""
    outputs = conv_utils.to_data_format(outputs, layer.data_format)
    if layer.activation is activations.linear:
        return outputs
    return layer.activation(outputs)


class BaseConv(Layer):
    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.filters = filters
        self.groups = groups
        self.kernel_size = conv_utils.standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = conv_utils.standardize_tuple(strides, rank, "strides")
        self.dilation_rate = conv_utils.standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = conv_utils.standardize_padding(padding, allow_causal=rank == 1)
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False
        self.input_spec = InputSpec(min_ndim=rank + 2)
        if filters is not None and filters <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters}.")
        if groups <= 0:
            raise ValueError(
                f"The number of groups must be a positive integer. Received: groups={groups}.")
        if filters is not None and filters % groups != 0:
            raise ValueError("The number of filters must be evenly divisible by the number of "
                             f"groups. Received: groups={groups}, filters={filters}.")
        check_kernel_and_strides(self)

    def build(self, input_shape):
        axis = conv_utils.channel_axis(self.data_format)
        input_channel = input_shape[axis]
        self.input_spec = InputSpec(min_ndim=self.rank + 2, axes={axis: input_channel})
        if input_channel % self.groups != 0:
            raise ValueError(
                "The number of input channels must be evenly divisible by the number of groups. "
                f"Received groups={self.groups}, but the input has {input_channel} channels "
                f"(full input shape is {tuple(input_shape)}).")
        self.compute_output_shape(input_shape)  # validates the output size
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (input_channel // self.groups, self.filters),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        self.bias = add_bias(self, self.filters)
        self.built = True
        if self.lora_rank:
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform",
                    b_initializer="zeros"):
        """Freeze the kernel and learn a low-rank delta `(alpha / rank) * A @ B` (Keras LoRA)."""
        if self.kernel_constraint:
            raise ValueError("Lora is incompatible with kernel constraints. In order to enable "
                             "lora on this layer, remove the `kernel_constraint` argument.")
        if not self.built:
            raise ValueError("Cannot enable lora on a layer that isn't yet built.")
        if self.lora_enabled:
            raise ValueError("lora is already enabled. This can only be done once per layer.")
        self.lora_kernel_a = self.add_weight(
            name="lora_kernel_a", shape=tuple(self.kernel.shape[:-1]) + (rank,),
            initializer=initializers.get(a_initializer), dtype="float32",
            regularizer=self.kernel_regularizer)
        self.lora_kernel_b = self.add_weight(
            name="lora_kernel_b", shape=(rank, self.filters),
            initializer=initializers.get(b_initializer), dtype="float32",
            regularizer=self.kernel_regularizer)
        self.kernel.trainable = False
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    def effective_kernel(self):
        if not self.lora_enabled:
            return self.kernel
        delta = torch.matmul(self.lora_kernel_a, self.lora_kernel_b)
        return (self.kernel + (self.lora_alpha / self.lora_rank) * delta).to(self.kernel.dtype)

    def call(self, inputs):
        x = conv_utils.to_channels_first(inputs, self.data_format)
        if self.padding == "same":
            x, padding = conv_utils.apply_same_padding(x, self.kernel_size, self.strides,
                                                       self.dilation_rate)
        elif self.padding == "causal":
            x, padding = F.pad(x, (self.dilation_rate[0] * (self.kernel_size[0] - 1), 0)), 0
        else:
            padding = 0
        outputs = CONV[self.rank](x, torch_kernel(self.effective_kernel(), self.rank), self.bias,
                                  self.strides, padding, self.dilation_rate, self.groups)
        return finish(self, outputs)

    def compute_output_shape(self, input_shape):
        return conv_utils.conv_output_shape(input_shape, self.filters, self.kernel_size,
                                            self.strides, self.padding, self.data_format,
                                            self.dilation_rate)

    def get_config(self):
        config = {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
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
        if self.lora_rank:
            config["lora_rank"] = self.lora_rank
            config["lora_alpha"] = self.lora_alpha
        return config


def check_kernel_and_strides(layer, check_dilation=True):
    """Keras's shared constructor checks of conv layers."""
    if not all(layer.kernel_size):
        raise ValueError("The argument `kernel_size` cannot contain 0. Received "
                         f"kernel_size={layer.kernel_size}.")
    if not all(layer.strides):
        raise ValueError(
            f"The argument `strides` cannot contains 0. Received strides={layer.strides}")
    if check_dilation and max(layer.strides) > 1 and max(layer.dilation_rate) > 1:
        raise ValueError(
            "`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: "
            f"strides={layer.strides} and dilation_rate={layer.dilation_rate}")


def add_bias(layer, size):
    if not layer.use_bias:
        return None
    return layer.add_weight(name="bias", shape=(size,), initializer=layer.bias_initializer,
                            regularizer=layer.bias_regularizer, constraint=layer.bias_constraint)
