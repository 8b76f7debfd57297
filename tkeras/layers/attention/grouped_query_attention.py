"""`GroupedQueryAttention` (exported as `keras.layers.GroupQueryAttention`): attention with
`num_query_heads` query heads sharing `num_key_value_heads` key/value heads.

Keras behaviour kept: sub-layers `query_dense` (`bqm,muh->bquh`), `key_dense`, (`gate_dense`),
`value_dense` (`bkm,mvh->bkvh`) and `output_dense` (`bquh,uhm->bqm`), built in that order; each
key/value head serves `num_query_heads // num_key_value_heads` consecutive query heads; masks
(`query_mask`/`value_mask`/`key_mask` from the arguments or the tensors' `_keras_mask`,
`attention_mask`, causal, sliding window) ANDed as in MultiHeadAttention; the same two paths
as MultiHeadAttention (fused `F.scaled_dot_product_attention` with `enable_gqa` unless dropout
or `return_attention_scores`; explicit einsum/softmax otherwise).
"""

import math

import torch
import torch.nn.functional as F

from tkeras.core import constraints
from tkeras.core.config import is_flash_attention_enabled
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.registry import keras_export
from tkeras.layers.attention.multi_head_attention import causal_mask
from tkeras.layers.attention.multi_head_attention import combine_masks
from tkeras.layers.attention.multi_head_attention import masked_softmax
from tkeras.layers.attention.multi_head_attention import sdpa
from tkeras.layers.attention.multi_head_attention import sliding_window_mask
from tkeras.layers.core.einsum_dense import EinsumDense
from tkeras.layers.layer import Layer


@keras_export("keras.layers.GroupQueryAttention", "keras.layers.GroupedQueryAttention")
class GroupedQueryAttention(Layer):
    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0,
                 use_bias=True, sliding_window=None, flash_attention=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.supports_masking = True
        self.head_dim = head_dim
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        if num_query_heads % num_key_value_heads != 0:
            raise ValueError(
                "`num_query_heads` must be divisible by `num_key_value_heads`.")
        self.num_repeats = num_query_heads // num_key_value_heads
        self.dropout = dropout
        self.use_bias = use_bias
        self.use_gate = use_gate
        if sliding_window is not None and (
                not isinstance(sliding_window, int) or sliding_window <= 0):
            raise ValueError(
                "`sliding_window` must be `None` or a positive integer. "
                f"Received: sliding_window={sliding_window}")
        self.sliding_window = sliding_window
        self._flash_attention = flash_attention or is_flash_attention_enabled()
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._inverse_sqrt_head_dim = 1.0 / math.sqrt(float(self.head_dim))
        if self._flash_attention and self.dropout > 0.0:
            raise ValueError(
                "Dropout is not supported when flash attention is enabled. Please set dropout "
                "to 0.0 to use flash attention.")

    def _dense(self, equation, heads, bias_axes, name, activation=None, last=None):
        return EinsumDense(
            equation, output_shape=(None, heads, self.head_dim) if last is None else (None, last),
            bias_axes=bias_axes if self.use_bias else None, activation=activation, name=name,
            kernel_initializer=self.kernel_initializer.__class__.from_config(
                self.kernel_initializer.get_config()),
            bias_initializer=self.bias_initializer.__class__.from_config(
                self.bias_initializer.get_config()),
            kernel_regularizer=self.kernel_regularizer, bias_regularizer=self.bias_regularizer,
            activity_regularizer=self._activity_regularizer,
            kernel_constraint=self.kernel_constraint, bias_constraint=self.bias_constraint,
            dtype=self.dtype_policy)

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        self.feature_dim = query_shape[-1]
        q_heads, kv_heads = self.num_query_heads, self.num_key_value_heads
        self.query_dense = self._dense("bqm,muh->bquh", q_heads, "uh", "query")
        self.query_dense.build_from_config({"input_shape": query_shape})
        self.key_dense = self._dense("bkm,mvh->bkvh", kv_heads, "vh", "key")
        self.key_dense.build_from_config({"input_shape": key_shape})
        if self.use_gate:
            self.gate_dense = self._dense("bqm,muh->bquh", q_heads, "uh", "gate",
                                          activation="sigmoid")
            self.gate_dense.build_from_config({"input_shape": query_shape})
        self.value_dense = self._dense("bkm,mvh->bkvh", kv_heads, "vh", "value")
        self.value_dense.build_from_config({"input_shape": value_shape})
        self.output_dense = self._dense("bquh,uhm->bqm", None, "m", "attention_output",
                                        last=self.feature_dim)
        self.output_dense.build_from_config(
            {"input_shape": (None, None, q_heads, self.head_dim)})
        self.built = True

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False):
        # Keras fills `<arg>_mask` from `<arg>._keras_mask` when not given.
        if query_mask is None:
            query_mask = getattr(query, "_keras_mask", None)
        if value_mask is None:
            value_mask = getattr(value, "_keras_mask", None)
        if key is not None and key_mask is None:
            key_mask = getattr(key, "_keras_mask", None)
        if key is None:
            key = value
        causal_only = (
            use_causal_mask and query_mask is None and value_mask is None and key_mask is None
            and attention_mask is None and self.sliding_window is None
            and type(self)._compute_attention is GroupedQueryAttention._compute_attention)
        if not causal_only:
            q_len, v_len, device = query.shape[1], value.shape[1], query.device
            attention_mask = combine_masks(
                query_mask, value_mask, key_mask, attention_mask,
                causal=causal_mask(q_len, v_len, device) if use_causal_mask else None,
                window=(sliding_window_mask(q_len, v_len, self.sliding_window, device)
                        if self.sliding_window is not None else None))
        gate = self.gate_dense(query) if self.use_gate else None
        query = self.query_dense(query)
        key = self.key_dense(key)
        value = self.value_dense(value)
        output, scores = self._compute_attention(
            query, key, value, attention_mask=None if causal_only else attention_mask,
            training=training, return_attention_scores=return_attention_scores,
            use_causal_mask=causal_only)
        if gate is not None:
            output = output * gate
        output = self.output_dense(output)
        if return_attention_scores:
            return output, scores
        return output

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, use_causal_mask=False):
        if self._flash_attention and return_attention_scores:
            raise ValueError(
                "Returning attention scores is not supported when flash attention is enabled. "
                "Please disable flash attention to access attention scores.")
        if not (self.dropout > 0.0 or return_attention_scores):
            # SDPA shares each key/value head across its query-head group (enable_gqa).
            return sdpa(query, key, value, attention_mask, self._inverse_sqrt_head_dim,
                        use_causal_mask), None
        key = key.repeat_interleave(self.num_repeats, dim=2)
        value = value.repeat_interleave(self.num_repeats, dim=2)
        if use_causal_mask:
            causal = causal_mask(query.shape[1], value.shape[1], query.device)
            attention_mask = causal if attention_mask is None else (
                attention_mask.to(torch.bool) & causal)
        query = query * self._inverse_sqrt_head_dim
        scores = torch.einsum("bquh,bkuh->buqk", query, key)
        if attention_mask is not None:
            for _ in range(scores.dim() - attention_mask.dim()):
                attention_mask = attention_mask.unsqueeze(-3)
        scores = masked_softmax(scores, attention_mask, (-1,))
        dropped = scores
        if self.dropout > 0.0 and training:
            dropped = F.dropout(scores, self.dropout, training=True)
        return torch.einsum("buqk,bkuh->bquh", dropped, value), scores

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        if query_shape[-1] != value_shape[-1]:
            raise ValueError(
                "The last dimension of `query_shape` and `value_shape` must be equal, but are "
                f"{query_shape[-1]}, {value_shape[-1]}. Received: query_shape={query_shape}, "
                f"value_shape={value_shape}")
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={value_shape} and key_shape={key_shape}")
        return tuple(query_shape)

    def compute_output_spec(self, query, value, key=None, query_mask=None, value_mask=None,
                            key_mask=None, attention_mask=None, return_attention_scores=False,
                            training=None, use_causal_mask=False):
        from tkeras.model.keras_tensor import KerasTensor

        output = KerasTensor(self.compute_output_shape(
            query.shape, value.shape, key.shape if key is not None else None),
            dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        kv_len = (value if key is None else key).shape[1]
        scores = KerasTensor((query.shape[0], self.num_query_heads, query.shape[1], kv_len),
                             dtype=self.compute_dtype)
        return output, scores

    def get_config(self):
        config = {
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            "dropout": self.dropout,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


GroupQueryAttention = GroupedQueryAttention
