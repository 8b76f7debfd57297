"""`Dense`: `activation(x @ kernel + bias)` on the last axis; kernel in Keras's `(in, out)` layout.

LoRA (`lora_rank`, `enable_lora`) and int8/int4 quantization (`quantize`, or a layer built with a
quantized dtype policy) are Keras's: the variables, their order and the saved layout (LoRA merged
into the kernel) are Keras's; see `tkeras.layers.core.quantization`. Kept quirk: Keras's `build`
enables LoRA with `lora_alpha = lora_rank` (the constructor's `lora_alpha` is dropped).
Deliberate difference: `layer.kernel` is always the stored variable (int8, or packed int4, once
quantized); Keras's `kernel` property returns the LoRA-merged / unpacked kernel.
"""

import math

import torch
import torch.nn.functional as F

from tkeras.core import activations
from tkeras.core import constraints
from tkeras.core import dtype_policies
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.core import quantization as q
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer


@keras_export("keras.layers.Dense")
class Dense(q.QuantizableMixin, Layer):
    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(
                "Received an invalid value for `units`, expected a positive integer. "
                f"Received: units={units}"
            )
        self.units = units
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
        self.quantization_config = quantization_config
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = input_shape[-1]
        mode = self._check_buildable_mode()
        if mode:
            self._quantized_build((input_dim, self.units), mode, self.quantization_config)
        else:
            self.kernel = self.add_weight(
                name="kernel", shape=(input_dim, self.units),
                initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        else:
            self.bias = None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True
        if self.lora_rank:
            self.enable_lora(self.lora_rank)
        self._refresh_call_path()

    def call(self, inputs, training=None):
        if self._lora_or_quantized:
            return self._lora_or_quantized_call(inputs)
        kernel, bias = self.kernel, self.bias
        if inputs.dtype is not kernel.dtype:
            inputs, kernel, bias = _promote(inputs, kernel, bias)
        if inputs.dim() == 2:
            # Keras's (in, out) layout is what mm wants: no transposed view, and in training
            # one AddmmBackward node instead of F.linear's addmm plus two TBackward.
            x = torch.mm(inputs, kernel) if bias is None else torch.addmm(bias, inputs, kernel)
        else:
            # F.linear folds the leading axes into one fused addmm (faster than matmul + add
            # on large N-D inputs); it wants (out, in), a transposed view of the kernel.
            x = F.linear(inputs, kernel.t(), bias)
        activation = self.activation
        if activation is activations.relu:
            return torch.relu(x)  # Keras's relu with its default arguments
        return x if activation is activations.linear else activation(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "quantization_config": serialize_keras_object(self.quantization_config),
        }
        if self.lora_rank:
            config["lora_rank"] = self.lora_rank
            config["lora_alpha"] = self.lora_alpha
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = {**config,
                  "quantization_config": q.deserialize_config(config.get("quantization_config"))}
        return super().from_config(config)

    # ---------------------------------------------------------------------------------- LoRA
    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform",
                    b_initializer="zeros"):
        """Freeze the kernel and learn a low-rank delta `(lora_alpha / rank) * A @ B`."""
        q.check_enable_lora(self, self.kernel_constraint)
        input_dim = self.kernel.shape[0] if self.quantization_mode != "int4" else (
            self._orig_input_dim)
        self.lora_kernel_a, self.lora_kernel_b = q.add_lora_weights(
            self, self.kernel, ("lora_kernel_a", "lora_kernel_b"), (input_dim, rank),
            (rank, self.units), a_initializer, b_initializer, self.kernel_regularizer)
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank
        self._refresh_call_path()

    def _lora_variables(self):
        return [self.lora_kernel_a, self.lora_kernel_b] if self.lora_enabled else []

    def _lora_delta(self):
        return (self.lora_alpha / self.lora_rank) * torch.matmul(self.lora_kernel_a,
                                                                 self.lora_kernel_b)

    def _float_kernel(self):
        """Keras's `kernel` property for a float layer: the kernel with LoRA merged."""
        if not self.lora_enabled:
            return self.kernel
        return (self.kernel + self._lora_delta()).to(dtype_policies.torch_dtype(
            self.compute_dtype))

    # ---------------------------------------------------------------------------------- call
    def _lora_or_quantized_call(self, inputs):
        mode = self.quantization_mode
        if not inputs.is_floating_point():
            inputs = inputs.to(dtype_policies.torch_dtype(self.compute_dtype))
        if mode is None:
            x = torch.matmul(inputs, self._float_kernel())
        else:
            x = self._int8_matmul(inputs) if mode == "int8" else self._int4_matmul(inputs)
            if self.lora_enabled:
                lora_x = torch.matmul(torch.matmul(inputs, self.lora_kernel_a),
                                      self.lora_kernel_b)
                x = (x + (self.lora_alpha / self.lora_rank) * lora_x).to(x.dtype)
        if self.bias is not None:
            x = x + self.bias
        return self.activation(x) if self.activation is not activations.linear else x

    def _int8_matmul(self, inputs):
        kernel, kernel_scale = self.kernel, self.kernel_scale
        x_in, output_scale = inputs.detach(), kernel_scale
        if self.inputs_quantizer:
            x_in, inputs_scale = self.inputs_quantizer(x_in, axis=-1)
            output_scale = output_scale * inputs_scale
        if x_in.dtype == torch.int8:
            x = q.int8_einsum("...i,io->...o", x_in, kernel)
        else:
            x = torch.matmul(x_in, kernel.to(x_in.dtype))
        x = x.to(inputs.dtype) / output_scale
        return q.with_inputs_gradient(x, inputs, lambda: kernel.to(inputs.dtype) / kernel_scale,
                                      "...o,io->...i")

    def _int4_matmul(self, inputs):
        unpacked = q.unpack_int4(self.kernel, self._orig_output_dim, axis=-1)
        if self._int4_block_size is not None and self._int4_block_size != -1:
            float_kernel = q.dequantize_with_sz_map(unpacked, self.kernel_scale,
                                                   self.kernel_zero, self.g_idx, group_axis=0)
            return torch.matmul(inputs, float_kernel.to(inputs.dtype))
        kernel_scale = self.kernel_scale
        x_in, output_scale = inputs.detach(), kernel_scale
        if self.inputs_quantizer:
            x_in, inputs_scale = self.inputs_quantizer(x_in, axis=-1)
            output_scale = output_scale * inputs_scale
        if x_in.dtype == torch.int8:
            x = q.int8_einsum("...i,io->...o", x_in, unpacked)
        else:
            x = torch.matmul(x_in, unpacked.to(x_in.dtype))
        x = x.to(inputs.dtype) / output_scale
        return q.with_inputs_gradient(x, inputs,
                                      lambda: unpacked.to(inputs.dtype) / kernel_scale,
                                      "...o,io->...i")

    # ---------------------------------------------------------------------------------- quantize
    def _quantizable_class(self):
        return Dense

    @property
    def variable_serialization_spec(self):
        """Keras's saved variable order per quantization mode."""
        return {None: ["kernel", "bias"], "int8": ["kernel", "bias", "kernel_scale"],
                "int4": ["kernel", "bias", "kernel_scale", "kernel_zero", "g_idx"]}

    def _quantized_build(self, kernel_shape, mode, config):
        input_dim, units = kernel_shape
        if mode == "int8":
            self.inputs_quantizer = q.QuantizationConfig.activation_quantizer_or_default(
                config, q.AbsMaxQuantizer())
            self.kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer="zeros",
                                          dtype="int8", trainable=False)
            self.kernel_scale = self.add_weight(name="kernel_scale", shape=(units,),
                                                initializer="ones", trainable=False)
        else:
            self.inputs_quantizer = q.QuantizationConfig.activation_quantizer_or_default(
                config, None)
            self.kernel = self.add_weight(name="kernel", shape=(input_dim, (units + 1) // 2),
                                          initializer="zeros", dtype="int8", trainable=False)
            block_size = q.get_block_size_for_layer(self, config)
            self._int4_block_size = block_size
            grouped = block_size is not None and block_size != -1
            scale_shape = (math.ceil(input_dim / block_size), units) if grouped else (units,)
            self.kernel_scale = self.add_weight(name="kernel_scale", shape=scale_shape,
                                                initializer="ones", trainable=False)
            if grouped:
                self.kernel_zero = self.add_weight(name="kernel_zero", shape=scale_shape,
                                                   initializer="zeros", dtype="int8",
                                                   trainable=False)
                self.g_idx = self.add_weight(
                    name="g_idx", shape=(input_dim,), dtype="float32", trainable=False,
                    initializer=lambda shape, dtype=None: torch.div(
                        torch.arange(input_dim, dtype=torch.float32), block_size,
                        rounding_mode="floor"))
            self._orig_input_dim, self._orig_output_dim = input_dim, units
        self._is_quantized = True

    def _quantize_weights(self, mode, config):
        kernel_shape = tuple(self.kernel.shape)
        kernel_zero = None
        if mode == "int8":
            quantizer = q.QuantizationConfig.weight_quantizer_or_default(
                config, q.AbsMaxQuantizer(axis=0))
            kernel_value, kernel_scale = quantizer(self.kernel, to_numpy=True)
            kernel_scale = kernel_scale.squeeze(0)
        else:
            kernel_value, kernel_scale, kernel_zero = _quantize_int4(
                self.kernel, q.get_block_size_for_layer(self, config), config)
        scope = self._remove_variable("kernel")
        with q.variable_scope(scope):
            self._quantized_build(kernel_shape, mode, config)
        self.kernel.assign(kernel_value)
        self.kernel_scale.assign(kernel_scale)
        if kernel_zero is not None:
            self.kernel_zero.assign(kernel_zero)

    def _merged_for_saving(self):
        """Keras's `_get_kernel_with_merged_lora`: the kernel (and scales) to save, with LoRA
        merged (dequantize, add the delta, quantize again)."""
        mode = self.quantization_mode
        if mode is None:
            return {"kernel": self._float_kernel()}
        if not self.lora_enabled:
            return {}
        with torch.no_grad():
            compute_dtype = dtype_policies.torch_dtype(self.compute_dtype)
            block_size = getattr(self, "_int4_block_size", None)
            grouped = mode == "int4" and block_size is not None and block_size != -1
            kernel = self.kernel
            if mode == "int4":
                kernel = q.unpack_int4(kernel, self._orig_output_dim, axis=-1)
            if grouped:
                float_kernel = q.dequantize_with_sz_map(
                    kernel, self.kernel_scale, self.kernel_zero, self.g_idx,
                    group_axis=0).to(compute_dtype)
            else:
                float_kernel = kernel.to(compute_dtype) / self.kernel_scale
            merged = float_kernel + self._lora_delta()
            value, scale, zero = _quantize_int4(merged, block_size, None) if mode == "int4" else (
                *q.abs_max_quantize(merged, axis=0, to_numpy=True), None)
            if mode == "int8":
                scale = scale.squeeze(0)
        return {"kernel": value, "kernel_scale": scale, "kernel_zero": zero}


def _quantize_int4(kernel, block_size, config):
    """Packed int4 kernel `(in, ceil(out / 2))`, scale and zero point (None per-channel)."""
    if block_size is None or block_size == -1:
        quantizer = q.QuantizationConfig.weight_quantizer_or_default(
            config, q.AbsMaxQuantizer(axis=0, value_range=(-8, 7), output_dtype="int8"))
        value, scale = quantizer(kernel, to_numpy=True)
        scale, zero = scale.squeeze(0), None
    else:
        value, scale, zero = q.abs_max_quantize_grouped_with_zero_point(kernel, block_size)
    return q.pack_int4(value, axis=-1)[0], scale, zero


def _promote(inputs, kernel, bias):
    """Keras's `matmul` promotion for inputs whose dtype is not the kernel's: integers take the
    kernel's dtype; two different float dtypes meet in float32 (Keras's lattice with 64-bit
    results narrowed to 32 on torch), e.g. a float32 kernel of a layer whose policy was set to
    "float16"/"bfloat16"/"float64" after build. Under torch.autocast (mixed policies) the
    kernel is autocast to the inputs' dtype instead, as Keras's autocast scope does."""
    if not inputs.is_floating_point():
        return inputs.to(kernel.dtype), kernel, bias
    if torch.is_autocast_enabled(inputs.device.type):
        return inputs, kernel, bias
    dtype = torch.float32
    inputs, kernel = inputs.to(dtype), kernel.to(dtype)
    return inputs, kernel, None if bias is None else bias.to(dtype)

