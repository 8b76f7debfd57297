"""`ConvNd` (what every conv base shares) and `BaseConv`, the N-D convolution behind Conv1D/2D/3D.

`ConvNd` holds the N-D geometry (`kernel_size`, `strides`, `dilation_rate`, `padding`,
`data_format`), the activation, an initializer/regularizer/constraint triple per weight
(`weight_names`, then `bias`), the channels-last handling and Keras's common get_config keys (in
Keras's order: `config_keys`, activation, use_bias, initializers, regularizers with
activity_regularizer, constraints). It is not a Keras class: `BaseConv`, `BaseConvTranspose`,
`BaseDepthwiseConv` and `BaseSeparableConv` derive from it, each as unrelated to the others as
in Keras.

Kernel in Keras's layout `(*kernel_size, in_channels // groups, filters)`, permuted (a view) to
torch's `(filters, in // groups, *kernel_size)` on each call; channels_last inputs are run as a
channels-first *view* (torch's channels_last memory format), so no input copy is made. Padding
and the convolutions themselves are `conv_utils`'s ("same" is TF's, "causal" left-pads).

LoRA (`lora_rank`, `enable_lora`) is kept; deliberate difference: `layer.kernel` is always the
base kernel parameter (Keras returns the merged kernel from its `kernel` property).
"""

import torch

from tkeras.core import activations
from tkeras.core import constraints
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.config import standardize_data_format
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer


def check_positive(name, value):
    if value is not None and value <= 0:
        raise ValueError(f"Invalid value for argument `{name}`. Expected a strictly positive "
                         f"value. Received {name}={value}.")


class ConvNd(Layer):
    config_keys = ()  # the leading and geometry get_config keys, in Keras's order
    weight_names = ("kernel",)  # weights with their own initializer/regularizer/constraint

    def __init__(self, rank, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, activity_regularizer=None,
                 allow_causal=False, check_dilation=True, **kwargs):
        options = {}
        for name in self.weight_names + ("bias",):
            default = "zeros" if name == "bias" else "glorot_uniform"
            options[f"{name}_initializer"] = initializers.get(
                kwargs.pop(f"{name}_initializer", default))
            options[f"{name}_regularizer"] = regularizers.get(
                kwargs.pop(f"{name}_regularizer", None))
            options[f"{name}_constraint"] = constraints.get(kwargs.pop(f"{name}_constraint", None))
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        for key, value in options.items():
            setattr(self, key, value)
        self.rank = rank
        self.kernel_size = conv_utils.standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = conv_utils.standardize_tuple(strides, rank, "strides")
        self.dilation_rate = conv_utils.standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = conv_utils.standardize_padding(padding, allow_causal=allow_causal)
        self.data_format = standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.input_spec = InputSpec(min_ndim=rank + 2)
        if not all(self.kernel_size):
            raise ValueError("The argument `kernel_size` cannot contain 0. Received "
                             f"kernel_size={self.kernel_size}.")
        if not all(self.strides):
            raise ValueError(
                f"The argument `strides` cannot contains 0. Received strides={self.strides}")
        if check_dilation and max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: "
                f"strides={self.strides} and dilation_rate={self.dilation_rate}")

    def _input_channel(self, input_shape):
        """The input's channel count, pinned in `input_spec` (at build)."""
        axis = conv_utils.channel_axis(self.data_format)
        self.input_spec = InputSpec(min_ndim=self.rank + 2, axes={axis: input_shape[axis]})
        return input_shape[axis]

    def _add_bias(self, size):
        if not self.use_bias:
            return None
        return self.add_weight(name="bias", shape=(size,), initializer=self.bias_initializer,
                               regularizer=self.bias_regularizer,
                               constraint=self.bias_constraint)

    def _finish(self, outputs):
        """Back to the layer's data format (a view), then the activation."""
        outputs = conv_utils.to_data_format(outputs, self.data_format)
        if self.activation is activations.linear:
            return outputs
        return self.activation(outputs)

    def _output_channels(self, input_shape):
        return self.filters

    def compute_output_shape(self, input_shape):
        return conv_utils.conv_output_shape(input_shape, self._output_channels(input_shape),
                                            self.kernel_size, self.strides, self.padding,
                                            self.data_format, self.dilation_rate)

    def get_config(self):
        names = self.weight_names + ("bias",)
        config = {**super().get_config(), **{key: getattr(self, key) for key in self.config_keys},
                  "activation": activations.serialize(self.activation),
                  "use_bias": self.use_bias}
        config.update({f"{n}_initializer": initializers.serialize(getattr(self, f"{n}_initializer"))
                       for n in names})
        config.update({f"{n}_regularizer": regularizers.serialize(getattr(self, f"{n}_regularizer"))
                       for n in names})
        config["activity_regularizer"] = regularizers.serialize(self._activity_regularizer)
        config.update({f"{n}_constraint": constraints.serialize(getattr(self, f"{n}_constraint"))
                       for n in names})
        return config


class BaseConv(ConvNd):
    config_keys = ("filters", "kernel_size", "strides", "padding", "data_format",
                   "dilation_rate", "groups")

    def __init__(self, rank, filters, kernel_size, groups=1, lora_rank=None, lora_alpha=None,
                 **kwargs):
        check_positive("filters", filters)
        if groups <= 0:
            raise ValueError(
                f"The number of groups must be a positive integer. Received: groups={groups}.")
        if filters is not None and filters % groups != 0:
            raise ValueError("The number of filters must be evenly divisible by the number of "
                             f"groups. Received: groups={groups}, filters={filters}.")
        super().__init__(rank, kernel_size, allow_causal=rank == 1, **kwargs)
        self.filters = filters
        self.groups = groups
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False

    def build(self, input_shape):
        input_channel = self._input_channel(input_shape)
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
        self.bias = self._add_bias(self.filters)
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
        return self._finish(conv_utils.conv(x, self.effective_kernel(), self.bias, self.strides,
                                            self.padding, self.dilation_rate, self.groups))

    def get_config(self):
        config = super().get_config()
        if self.lora_rank:
            config["lora_rank"] = self.lora_rank
            config["lora_alpha"] = self.lora_alpha
        return config
