"""`Embedding`: index lookup into an `(input_dim, output_dim)` table; `mask_zero` masks index 0.

LoRA (`lora_rank`, `enable_lora`: `lora_embeddings_a`/`_b`) and int8/int4 quantization (one scale
per row, int4 packed along the embedding axis, sub-channel groups along it) are Keras's; see
`tkeras.layers.core.quantization`. Kept quirk: Keras's `build` enables LoRA with
`lora_alpha = lora_rank`. Deliberate difference: `layer.embeddings` is always the stored
variable (Keras's property merges LoRA and unpacks int4).
"""

import math

import torch
import torch.nn.functional as F

from tkeras.core import constraints
from tkeras.core import dtype_policies
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.core import quantization as q
from tkeras.layers.layer import Layer


@keras_export("keras.layers.Embedding")
class Embedding(q.QuantizableMixin, Layer):
    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, lora_alpha=None, quantization_config=None,
                 **kwargs):
        input_length = kwargs.pop("input_length", None)  # Keras 2 argument, ignored as in Keras 3
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False
        self.quantization_config = quantization_config
        if weights is not None:
            self.build()
            self.embeddings.assign(weights[0] if isinstance(weights, (list, tuple)) else weights)

    def build(self, input_shape=None):
        if self.built:
            return
        mode = self._check_buildable_mode()
        if mode:
            self._quantized_build((self.input_dim, self.output_dim), mode,
                                  self.quantization_config)
        else:
            self.embeddings = self.add_weight(
                name="embeddings", shape=(self.input_dim, self.output_dim),
                initializer=self.embeddings_initializer, regularizer=self.embeddings_regularizer,
                constraint=self.embeddings_constraint)
        self.built = True
        if self.lora_rank:
            self.enable_lora(self.lora_rank)
        self._refresh_call_path()

    def call(self, inputs):
        if inputs.is_floating_point():
            inputs = inputs.long()
        if self._lora_or_quantized:
            return self._lora_or_quantized_call(inputs)
        outputs = F.embedding(inputs, self.embeddings)
        compute_dtype = self._dtype_policy.compute_torch_dtype
        # As Keras: the looked-up rows are cast to the compute dtype (mixed policies, or a
        # policy set after build).
        return outputs if outputs.dtype is compute_dtype else outputs.to(compute_dtype)

    # ---------------------------------------------------------------------------------- LoRA
    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform",
                    b_initializer="zeros"):
        """Freeze the table and learn a low-rank delta `(lora_alpha / rank) * A @ B`."""
        q.check_enable_lora(self, self.embeddings_constraint, "embeddings")
        self.lora_embeddings_a, self.lora_embeddings_b = q.add_lora_weights(
            self, self.embeddings, ("lora_embeddings_a", "lora_embeddings_b"),
            (self.input_dim, rank), (rank, self.output_dim), a_initializer, b_initializer,
            self.embeddings_regularizer)
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank
        self._refresh_call_path()

    def _lora_variables(self):
        return [self.lora_embeddings_a, self.lora_embeddings_b] if self.lora_enabled else []

    def _lora_delta(self):
        return (self.lora_alpha / self.lora_rank) * torch.matmul(self.lora_embeddings_a,
                                                                 self.lora_embeddings_b)

    def _float_embeddings(self):
        """Keras's `embeddings` property for a float layer: the table with LoRA merged."""
        if not self.lora_enabled:
            return self.embeddings
        return (self.embeddings + self._lora_delta()).to(dtype_policies.torch_dtype(
            self.compute_dtype))

    # ---------------------------------------------------------------------------------- call
    def _lora_or_quantized_call(self, inputs):
        mode = self.quantization_mode
        compute_dtype = dtype_policies.torch_dtype(self.compute_dtype)
        if mode is None:
            return F.embedding(inputs, self._float_embeddings()).to(compute_dtype)
        if mode == "int8":
            outputs = F.embedding(inputs, self.embeddings).to(compute_dtype) / F.embedding(
                inputs, self.embeddings_scale[:, None])
        else:
            unpacked = q.unpack_int4(self.embeddings, self._orig_output_dim, axis=-1)
            outputs = F.embedding(inputs, unpacked).to(compute_dtype)
            scale = F.embedding(inputs, self.embeddings_scale.reshape(self.input_dim, -1))
            if self._int4_block_size is None or self._int4_block_size == -1:
                outputs = outputs / scale
            else:
                zero = F.embedding(inputs, self.embeddings_zero)
                outputs = q.dequantize_with_sz_map(outputs, scale, zero, self.g_idx,
                                                   group_axis=-1)
        if self.lora_enabled:
            lora_outputs = torch.matmul(F.embedding(inputs, self.lora_embeddings_a),
                                        self.lora_embeddings_b)
            outputs = (outputs + (self.lora_alpha / self.lora_rank) * lora_outputs).to(
                compute_dtype)
        return outputs

    # ---------------------------------------------------------------------------------- quantize
    def _quantizable_class(self):
        return Embedding

    @property
    def variable_serialization_spec(self):
        """Keras's saved variable order per quantization mode."""
        return {None: ["embeddings"], "int8": ["embeddings", "embeddings_scale"],
                "int4": ["embeddings", "embeddings_scale", "embeddings_zero", "g_idx"]}

    def _quantized_build(self, shape, mode, config):
        input_dim, output_dim = shape
        if mode == "int8":
            self.embeddings = self.add_weight(name="embeddings", shape=shape, initializer="zeros",
                                              dtype="int8", trainable=False)
            self.embeddings_scale = self.add_weight(name="embeddings_scale", shape=(input_dim,),
                                                    initializer="ones", trainable=False)
        else:
            self.embeddings = self.add_weight(
                name="embeddings", shape=(input_dim, (output_dim + 1) // 2), initializer="zeros",
                dtype="int8", trainable=False)
            block_size = q.get_block_size_for_layer(self, config)
            self._int4_block_size = block_size
            grouped = block_size is not None and block_size != -1
            scale_shape = (input_dim, math.ceil(output_dim / block_size)) if grouped else (
                input_dim,)
            self.embeddings_scale = self.add_weight(name="embeddings_scale", shape=scale_shape,
                                                    initializer="ones", trainable=False)
            if grouped:
                self.embeddings_zero = self.add_weight(
                    name="embeddings_zero", shape=scale_shape, initializer="zeros",
                    dtype="int8", trainable=False)
                self.g_idx = self.add_weight(name="g_idx", shape=(output_dim,),
                                             initializer="zeros", dtype="float32",
                                             trainable=False)
                self.g_idx.assign(torch.div(torch.arange(output_dim, dtype=torch.float32),
                                            block_size, rounding_mode="floor"))
            self._orig_output_dim = output_dim
        self._is_quantized = True

    def _quantize_weights(self, mode, config):
        shape = (self.input_dim, self.output_dim)
        zero = None
        if mode == "int8":
            quantizer = q.QuantizationConfig.weight_quantizer_or_default(
                config, q.AbsMaxQuantizer(axis=-1))
            value, scale = quantizer(self.embeddings, to_numpy=True)
            scale = scale.squeeze(-1)
        else:
            block_size = config.block_size if isinstance(
                config, q.Int4QuantizationConfig) else None
            value, scale, zero = _quantize_int4(self.embeddings, block_size, config)
        scope = self._remove_variable("embeddings")
        with q.variable_scope(scope):
            self._quantized_build(shape, mode, config)
        self.embeddings.assign(value)
        self.embeddings_scale.assign(scale)
        if zero is not None:
            self.embeddings_zero.assign(zero)

    def _merged_for_saving(self):
        """Keras's `_get_embeddings_with_merged_lora` (dequantize, add the delta, quantize
        again)."""
        mode = self.quantization_mode
        if mode is None:
            return {"embeddings": self._float_embeddings()}
        if not self.lora_enabled:
            return {}
        with torch.no_grad():
            compute_dtype = dtype_policies.torch_dtype(self.compute_dtype)
            block_size = getattr(self, "_int4_block_size", None)
            if mode == "int4":
                table = q.unpack_int4(self.embeddings, self._orig_output_dim,
                                      axis=-1).to(compute_dtype)
                if block_size is None or block_size == -1:
                    table = table / self.embeddings_scale[:, None]
                else:
                    table = q.dequantize_with_sz_map(table, self.embeddings_scale,
                                                     self.embeddings_zero, self.g_idx,
                                                     group_axis=-1)
                value, scale, zero = _quantize_int4(table + self._lora_delta(), block_size, None)
                return {"embeddings": value, "embeddings_scale": scale, "embeddings_zero": zero}
            table = self.embeddings.to(compute_dtype) / self.embeddings_scale[:, None]
            value, scale = q.abs_max_quantize(table + self._lora_delta(), axis=-1,
                                              to_numpy=True)
        return {"embeddings": value, "embeddings_scale": scale.squeeze(-1)}

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return inputs != 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_output_spec(self, inputs, **kwargs):
        from tkeras.model.keras_tensor import KerasTensor

        return KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)

    def get_config(self):
        config = {
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
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


def _quantize_int4(table, block_size, config):
    """Packed int4 table `(input_dim, ceil(output_dim / 2))`, per-row scale (and zero point per
    row group when `block_size` is set)."""
    if block_size is None or block_size == -1:
        quantizer = q.QuantizationConfig.weight_quantizer_or_default(
            config, q.AbsMaxQuantizer(axis=-1, value_range=(-8, 7), output_dtype="int8"))
        value, scale = quantizer(table, to_numpy=True)
        scale, zero = scale.squeeze(-1), None
    else:
        value_t, scale_t, zero_t = q.abs_max_quantize_grouped_with_zero_point(table.t(),
                                                                              block_size)
        value, scale, zero = value_t.t(), scale_t.t(), zero_t.t()
    return q.pack_int4(value, axis=-1)[0], scale, zero
