"""`EinsumDense`: `activation(einsum(equation, inputs, kernel) + bias)`.

Keras behaviour kept: the equation forms `ab,bc->ac`, `...b,bc->...c` and `ab...,bc->ac...`;
`output_shape` giving the output's non-batch dims (`None` for dims taken from the input); the
kernel and bias shapes Keras derives from them (bias broadcast over the output dims after the
first bias axis); `VarianceScaling` kernel initializers get `input_axes`/`output_axes` filled in
from the equation (fans computed over the contracted and produced kernel axes). The einsum runs
through `torch.einsum` (batched matmul).

LoRA (`lora_rank`, `enable_lora`) and int8/int4 quantization are Keras's (see
`tkeras.layers.core.quantization`): per-axis int8 scales laid out as Keras derives them from the
equation, int4 kernels flattened to `(reduced, other)` and packed along the last axis.
Differences: `layer.kernel` is always the stored variable (Keras's `kernel` property merges LoRA
and unpacks int4); quantizing an equation with `...` raises `NotImplementedError` (Keras 3.15
fails there too); `gptq_unpacked_column_size` is kept in the config only (GPTQ is not
implemented).
"""

import math
import re

import numpy as np
import torch

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


@keras_export("keras.layers.EinsumDense")
class EinsumDense(q.QuantizableMixin, Layer):
    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None,
                 gptq_unpacked_column_size=None, quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        self.equation = equation
        if isinstance(output_shape, int):
            self.partial_output_shape = (output_shape,)
        else:
            self.partial_output_shape = tuple(output_shape)
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False
        self.gptq_unpacked_column_size = gptq_unpacked_column_size
        self.quantization_config = quantization_config

    def build(self, input_shape):
        kernel_shape, bias_shape, _, input_axes, output_axes = _analyze_einsum_string(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        self.input_spec = InputSpec(ndim=len(input_shape))
        kernel_initializer = self.kernel_initializer
        if isinstance(kernel_initializer, initializers.VarianceScaling) and (
                kernel_initializer.input_axes is None or kernel_initializer.output_axes is None):
            config = kernel_initializer.get_config()
            config.update(seed=kernel_initializer.seed, input_axes=input_axes,
                          output_axes=output_axes)
            kernel_initializer = kernel_initializer.__class__.from_config(config)
        mode = self._check_buildable_mode()
        if mode:
            self._quantized_build(tuple(kernel_shape), mode, self.quantization_config)
        else:
            self.kernel = self.add_weight(
                name="kernel", shape=tuple(kernel_shape), initializer=kernel_initializer,
                regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if bias_shape is not None:
            self.bias = self.add_weight(
                name="bias", shape=tuple(bias_shape), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        else:
            self.bias = None
        self.built = True
        if self.lora_rank:
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)
        self._refresh_call_path()

    def call(self, inputs, training=None):
        if self._lora_or_quantized:
            return self._lora_or_quantized_call(inputs)
        # Variables are read in the compute dtype (Keras's autocast under mixed precision).
        kernel = self.kernel if self.kernel.dtype == inputs.dtype else self.kernel.to(
            inputs.dtype)
        x = torch.einsum(self.equation, inputs, kernel)
        if self.bias is not None:
            x = x + (self.bias if self.bias.dtype == x.dtype else self.bias.to(x.dtype))
        return self.activation(x) if self.activation is not activations.linear else x

    def compute_output_shape(self, input_shape):
        _, _, full_output_shape, _, _ = _analyze_einsum_string(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        return tuple(full_output_shape)

    def get_config(self):
        config = {
            "output_shape": self.partial_output_shape,
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "quantization_config": serialize_keras_object(self.quantization_config),
        }
        if self.lora_rank:
            config["lora_rank"] = self.lora_rank
            config["lora_alpha"] = self.lora_alpha
        if self.gptq_unpacked_column_size:
            config["gptq_unpacked_column_size"] = self.gptq_unpacked_column_size
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
        shape = tuple(self.original_kernel_shape if self.quantization_mode == "int4" else
                      self.kernel.shape)
        self.lora_kernel_a, self.lora_kernel_b = q.add_lora_weights(
            self, self.kernel, ("lora_kernel_a", "lora_kernel_b"), shape[:-1] + (rank,),
            (rank, shape[-1]), a_initializer, b_initializer, self.kernel_regularizer)
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
        if not self.lora_enabled:
            return self.kernel
        return (self.kernel + self._lora_delta()).to(dtype_policies.torch_dtype(
            self.compute_dtype))

    # ---------------------------------------------------------------------------------- call
    def _lora_or_quantized_call(self, inputs):
        mode = self.quantization_mode
        if mode is None:
            kernel = self._float_kernel()
            x = torch.einsum(self.equation, inputs, kernel.to(inputs.dtype))
        else:
            x = self._int8_einsum(inputs) if mode == "int8" else self._int4_einsum(inputs)
            if self.lora_enabled:
                lora_x = torch.matmul(torch.einsum(self.equation, inputs, self.lora_kernel_a),
                                      self.lora_kernel_b)
                x = (x + (self.lora_alpha / self.lora_rank) * lora_x).to(x.dtype)
        if self.bias is not None:
            x = x + self.bias
        return self.activation(x) if self.activation is not activations.linear else x

    def _int8_einsum(self, inputs):
        kernel, kernel_scale = self.kernel, self.kernel_scale

        def float_kernel():
            return kernel.to(inputs.dtype) / self._adjust_scale_for_dequant(kernel_scale)

        if self.inputs_quantizer:
            x_in, inputs_scale = self.inputs_quantizer(inputs.detach(),
                                                       axis=self.quantization_axis)
            inputs_scale = self._adjust_scale_for_quant(inputs_scale, "input")
            x = q.int8_einsum(self.equation, x_in, kernel) if x_in.dtype == torch.int8 else (
                torch.einsum(self.equation, x_in, kernel.to(x_in.dtype)))
            x = x.to(inputs.dtype) / (inputs_scale * kernel_scale)
        else:
            x = torch.einsum(self.equation, inputs.detach(), float_kernel())
        return q.with_inputs_gradient(x, inputs, float_kernel, self._custom_gradient_equation)

    def _int4_einsum(self, inputs):
        unpacked = q.unpack_int4(self.kernel, self._int4_unpacked_column_size, axis=-1)
        if self._int4_block_size is not None:
            float_kernel = q.dequantize_with_sz_map(unpacked, self.kernel_scale,
                                                   self.kernel_zero, self.g_idx, group_axis=0)
            float_kernel = float_kernel.to(inputs.dtype).reshape(self.original_kernel_shape)
            return torch.einsum(self.equation, inputs, float_kernel)
        float_kernel = (unpacked.to(inputs.dtype) / self.kernel_scale).reshape(
            self.original_kernel_shape)
        if not self.inputs_quantizer:
            return torch.einsum(self.equation, inputs, float_kernel)
        x_in, inputs_scale = self.inputs_quantizer(inputs.detach(), axis=self.quantization_axis)
        inputs_scale = self._adjust_scale_for_quant(inputs_scale, "input")
        x = torch.einsum(self.equation, x_in.to(inputs.dtype), float_kernel.detach()) / (
            inputs_scale)
        return q.with_inputs_gradient(x, inputs, lambda: float_kernel,
                                      self._custom_gradient_equation)

    # ---------------------------------------------------------------------------------- quantize
    def _quantizable_class(self):
        return EinsumDense

    @property
    def variable_serialization_spec(self):
        """Keras's saved variable order per quantization mode."""
        return {None: ["kernel", "bias"], "int8": ["kernel", "bias", "kernel_scale"],
                "int4": ["kernel", "bias", "kernel_scale", "kernel_zero", "g_idx"]}

    def _set_quantization_info(self):
        if hasattr(self, "_input_reduced_axes"):
            return
        if "..." in self.equation:
            raise NotImplementedError(
                f"EinsumDense quantization does not support the equation '{self.equation}' "
                "(with '...'), as in Keras.")
        (self._input_reduced_axes, self._kernel_reduced_axes, self._input_transpose_axes,
         self._kernel_transpose_axes, self._input_expand_axes, self._kernel_expand_axes,
         self._input_squeeze_axes, self._kernel_squeeze_axes, self._custom_gradient_equation,
         self._kernel_reverse_transpose_axes) = _analyze_quantization_info(self.equation)

    def _rows_and_columns(self, kernel_shape):
        rows = math.prod(d for i, d in enumerate(kernel_shape) if i in self._kernel_reduced_axes)
        columns = math.prod(
            d for i, d in enumerate(kernel_shape) if i not in self._kernel_reduced_axes)
        return rows, columns

    def _quantized_build(self, kernel_shape, mode, config):
        self._set_quantization_info()
        self.quantization_axis = tuple(self._input_reduced_axes)
        if mode == "int8":
            self.inputs_quantizer = q.QuantizationConfig.activation_quantizer_or_default(
                config, q.AbsMaxQuantizer())
            self.kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer="zeros",
                                          dtype="int8", trainable=False)
            scale_shape = np.array(kernel_shape)
            scale_shape[self._kernel_reduced_axes] = 1
            scale_shape = scale_shape[self._kernel_transpose_axes].tolist()
            for a in sorted(self._kernel_expand_axes):
                scale_shape.insert(a, 1)
            for a in sorted(self._kernel_squeeze_axes, reverse=True):
                scale_shape.pop(a)
            self.kernel_scale = self.add_weight(name="kernel_scale", shape=scale_shape,
                                                initializer="ones", trainable=False)
        else:
            self.inputs_quantizer = q.QuantizationConfig.activation_quantizer_or_default(
                config, None)
            self.original_kernel_shape = tuple(kernel_shape)
            rows, columns = self._rows_and_columns(kernel_shape)
            block_size = q.get_block_size_for_layer(self, config)
            grouped = block_size is not None and block_size != -1
            self._int4_block_size = block_size if grouped else None
            self._int4_unpacked_column_size = columns
            self._int4_rows = rows
            self.kernel = self.add_weight(name="kernel", shape=(rows, (columns + 1) // 2),
                                          initializer="zeros", dtype="int8", trainable=False)
            scale_shape = (math.ceil(rows / block_size), columns) if grouped else (columns,)
            self.kernel_scale = self.add_weight(name="kernel_scale", shape=scale_shape,
                                                initializer="ones", trainable=False)
            if grouped:
                self.kernel_zero = self.add_weight(name="kernel_zero", shape=scale_shape,
                                                   initializer="zeros", dtype="int8",
                                                   trainable=False)
                self.g_idx = self.add_weight(name="g_idx", shape=(rows,), initializer="zeros",
                                             dtype="float32", trainable=False)
                self.g_idx.assign(torch.div(torch.arange(rows, dtype=torch.float32),
                                            block_size, rounding_mode="floor"))
        self._is_quantized = True

    def _quantize_weights(self, mode, config):
        self._set_quantization_info()
        kernel_shape = tuple(self.kernel.shape)
        kernel_zero = None
        if mode == "int8":
            quantizer = q.QuantizationConfig.weight_quantizer_or_default(
                config, q.AbsMaxQuantizer(axis=self._kernel_reduced_axes))
            kernel_value, kernel_scale = quantizer(self.kernel, to_numpy=True)
            kernel_scale = self._adjust_scale_for_quant(kernel_scale, "kernel")
        else:
            block_size = config.block_size if isinstance(
                config, q.Int4QuantizationConfig) else None
            kernel_value, kernel_scale, kernel_zero = self._quantize_int4(
                self.kernel, kernel_shape, block_size)
        scope = self._remove_variable("kernel")
        with q.variable_scope(scope):
            self._quantized_build(kernel_shape, mode, config)
        self.kernel.assign(kernel_value)
        self.kernel_scale.assign(kernel_scale)
        if kernel_zero is not None:
            self.kernel_zero.assign(kernel_zero)

    def _quantize_int4(self, kernel, kernel_shape, block_size):
        flat = kernel.reshape(self._rows_and_columns(kernel_shape))
        if block_size is None or block_size == -1:
            value, scale = q.abs_max_quantize(flat, axis=0, value_range=(-8, 7), to_numpy=True)
            scale, zero = scale.squeeze(0), None
        else:
            value, scale, zero = q.abs_max_quantize_grouped_with_zero_point(flat, block_size)
        return q.pack_int4(value, axis=-1)[0], scale, zero

    def _adjust_scale_for_dequant(self, scale):
        """Keras's scale layout for dequantizing the kernel (the reverse of the quant layout)."""
        if self._kernel_squeeze_axes:
            for a in sorted(self._kernel_squeeze_axes):
                scale = scale.unsqueeze(a)
        if self._kernel_expand_axes:
            scale = scale.squeeze(tuple(self._kernel_expand_axes))
        if self._kernel_transpose_axes:
            reverse = sorted(range(len(self._kernel_transpose_axes)),
                             key=self._kernel_transpose_axes.__getitem__)
            scale = scale.permute(reverse)
        return scale

    def _adjust_scale_for_quant(self, scale, tensor_type="kernel"):
        """Keras's scale layout after quantizing the kernel or the inputs."""
        if tensor_type == "kernel":
            transpose, expand, squeeze = (self._kernel_transpose_axes, self._kernel_expand_axes,
                                          self._kernel_squeeze_axes)
        else:
            transpose, expand, squeeze = (self._input_transpose_axes, self._input_expand_axes,
                                          self._input_squeeze_axes)
        if transpose:
            scale = scale.permute(transpose)
        for a in sorted(expand):
            scale = scale.unsqueeze(a)
        if squeeze:
            scale = scale.squeeze(tuple(squeeze))
        return scale

    def _merged_for_saving(self):
        """Keras's `_get_kernel_with_merged_lora` (dequantize, add the delta, quantize again)."""
        mode = self.quantization_mode
        if mode is None:
            return {"kernel": self._float_kernel()}
        if not self.lora_enabled:
            return {}
        with torch.no_grad():
            compute_dtype = dtype_policies.torch_dtype(self.compute_dtype)
            if mode == "int4":
                unpacked = q.unpack_int4(self.kernel, self._int4_unpacked_column_size, axis=-1)
                if self._int4_block_size is not None:
                    kernel = q.dequantize_with_sz_map(unpacked, self.kernel_scale,
                                                      self.kernel_zero, self.g_idx, group_axis=0)
                else:
                    kernel = unpacked.to(compute_dtype) / self.kernel_scale
                merged = kernel.reshape(self.original_kernel_shape) + self._lora_delta()
                value, scale, zero = self._quantize_int4(merged, self.original_kernel_shape,
                                                         self._int4_block_size)
                return {"kernel": value, "kernel_scale": scale, "kernel_zero": zero}
            merged = self.kernel / self._adjust_scale_for_dequant(self.kernel_scale) + (
                self._lora_delta())
            value, scale = q.abs_max_quantize(merged, axis=self._kernel_reduced_axes,
                                              to_numpy=True)
        return {"kernel": value, "kernel_scale": self._adjust_scale_for_quant(scale, "kernel")}


def _analyze_einsum_string(equation, bias_axes, input_shape, output_shape):
    """Kernel shape, bias shape, full output shape, kernel input axes, kernel output axes."""
    dot_replaced = re.sub(r"\.\.\.", "0", equation)
    split = re.match(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", dot_replaced)
    if split:
        return _analyze_split_string(split, bias_axes, input_shape, output_shape)
    split = re.match(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", dot_replaced)
    if split:
        return _analyze_split_string(split, bias_axes, input_shape, output_shape,
                                     left_elided=True)
    split = re.match(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", dot_replaced)
    if split:
        return _analyze_split_string(split, bias_axes, input_shape, output_shape)
    raise ValueError(
        f"Invalid einsum equation '{equation}'. Equations must be in the form "
        "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")


def _analyze_split_string(split, bias_axes, input_shape, output_shape, left_elided=False):
    input_spec, weight_spec, output_spec = split.group(1), split.group(2), split.group(3)
    elided = len(input_shape) - len(input_spec)
    output_shape = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    output_shape.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        for i in range(1, elided):
            # Elided dims come straight after the batch dim.
            output_shape.insert(1, input_shape[i])
    elif elided > 0:
        for i in range(len(input_shape) - elided, len(input_shape)):
            output_shape.append(input_shape[i])

    if left_elided:
        input_dim_map = {dim: i + elided - len(input_shape) for i, dim in enumerate(input_spec)}
        output_dim_map = {dim: i + elided for i, dim in enumerate(output_spec)}
    else:
        input_dim_map = {dim: i for i, dim in enumerate(input_spec)}
        output_dim_map = {dim: i for i, dim in enumerate(output_spec)}

    for dim in input_spec:
        input_at_dim = input_shape[input_dim_map[dim]]
        if dim in output_dim_map:
            output_at_dim = output_shape[output_dim_map[dim]]
            if output_at_dim is not None and output_at_dim != input_at_dim:
                raise ValueError(
                    f"Input shape and output shape do not match at shared dimension '{dim}'. "
                    f"Input shape is {input_at_dim}, and output shape is {output_at_dim}.")
    for dim in output_spec:
        if dim not in input_spec and dim not in weight_spec:
            raise ValueError(
                f"Dimension '{dim}' was specified in the output '{output_spec}' but has no "
                f"corresponding dim in the input spec '{input_spec}' or weight spec "
                f"'{weight_spec}'")

    weight_shape, input_axes, output_axes = [], [], []
    for i, dim in enumerate(weight_spec):
        if dim in output_dim_map:
            weight_shape.append(output_shape[output_dim_map[dim]])
            output_axes.append(i)
        elif dim in input_dim_map:
            weight_shape.append(input_shape[input_dim_map[dim]])
            input_axes.append(i)
        else:
            raise ValueError(
                f"Weight dimension '{dim}' did not have a match in either the input spec "
                f"'{input_spec}' or the output spec '{output_spec}'. For this layer, the "
                "weight must be fully specified.")

    if bias_axes is not None:
        num_left_elided = elided if left_elided else 0
        idx_map = {char: output_shape[i + num_left_elided] for i, char in enumerate(output_spec)}
        for char in bias_axes:
            if char not in output_spec:
                raise ValueError(
                    f"Bias dimension '{char}' was requested, but is not part of the output "
                    f"spec '{output_spec}'")
        first_bias_location = min(output_spec.find(char) for char in bias_axes)
        bias_output_spec = output_spec[first_bias_location:]
        bias_shape = [idx_map[char] if char in bias_axes else 1 for char in bias_output_spec]
        if not left_elided:
            bias_shape.extend([1] * elided)
    else:
        bias_shape = None
    return weight_shape, bias_shape, output_shape, input_axes, output_axes


def _analyze_quantization_info(equation):
    """Keras's per-axis quantization layout for an einsum equation without `...`: reduced axes
    of inputs and kernel, how their scales are transposed / expanded / squeezed to the output
    layout, the inputs-gradient equation, and the kernel's reverse transpose."""
    split = re.match("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", equation)
    if split is None:
        raise ValueError(f"Invalid einsum equation '{equation}'. Equations must be in the form "
                         "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")
    input_spec, weight_spec, output_spec = split.group(1), split.group(2), split.group(3)
    input_reduced = [i for i, label in enumerate(input_spec) if label not in output_spec]
    weight_reduced = [i for i, label in enumerate(weight_spec) if label not in output_spec]
    input_expand = [i for i, label in enumerate(output_spec) if label not in input_spec]
    weight_expand = [i for i, label in enumerate(output_spec) if label not in weight_spec]
    input_transpose = [input_spec.find(label) for label in output_spec if label in input_spec]
    weight_transpose = [weight_spec.find(label) for label in output_spec if label in weight_spec]
    input_squeeze, weight_squeeze = [], []
    # Keras's loop, kept as is: a reduced axis with no expand slot left reuses the last index
    # (initially where the kernel's last label sits in the output).
    index = output_spec.find(weight_spec[-1])
    for original in input_reduced:
        try:
            index = input_expand.pop(0)
        except IndexError:
            input_squeeze.append(original)
        input_transpose.insert(index, original)
    for original in weight_reduced:
        try:
            index = weight_expand.pop(0)
        except IndexError:
            weight_squeeze.append(original)
        weight_transpose.insert(index, original)
    gradient_equation = f"{output_spec},{weight_spec}->{input_spec}"
    weight_reverse = [i for (_, i) in sorted((v, i) for (i, v) in enumerate(weight_transpose))]
    return (input_reduced, weight_reduced, input_transpose, weight_transpose, input_expand,
            weight_expand, input_squeeze, weight_squeeze, gradient_equation, weight_reverse)
