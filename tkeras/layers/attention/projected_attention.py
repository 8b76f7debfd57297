"""`ProjectedAttention`: the base of MultiHeadAttention and GroupedQueryAttention, and the mask
and scaled-dot-product helpers of the attention layers.

What the two layers share, as Keras has it in each: the options (dropout, use_bias, use_gate,
sliding_window, flash_attention, kernel/bias initializers, regularizers and constraints, seed)
and their checks; `EinsumDense` sub-layers `query_dense`, `key_dense`, (`gate_dense`),
`value_dense`, `output_dense` built in that order (= weight order) with fresh initializer
instances each; the call (masks from the arguments or the tensors' `_keras_mask`, ANDed with
`attention_mask`, the causal mask and the sliding window into one `(B, T, S)` mask; the sigmoid
gate multiplies the attention output); and the two computation paths, chosen as Keras chooses
them (their results differ for fully masked rows): with no dropout, no
`return_attention_scores` and rank-4 projections, `F.scaled_dot_product_attention` (masks as an
additive `-0.7 * 3.38953e38` bias, `is_causal=True` when the causal mask is the only mask: fully
masked rows attend uniformly); otherwise the explicit path: query pre-scaled by
`1/sqrt(head size)`, einsum scores, softmax with masked logits set to -1e9 and masked
probabilities zeroed, dropout on the probabilities, einsum with the values.

A subclass gives the sub-layers' equations (`_projection_spec`, `_output_spec`), the explicit
path's einsum equations, normalized axes and mask expansion axis, and how many query heads share
a key/value head (`_shared_heads`).
"""

import math

import torch
import torch.nn.functional as F

from tkeras.core import constraints
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.config import is_flash_attention_enabled
from tkeras.layers.core.einsum_dense import EinsumDense
from tkeras.layers.layer import Layer

_SDPA_MASK_VALUE = 3.38953e38 * -0.7  # Keras's torch dot_product_attention mask value


def large_negative_number(dtype):
    """Keras's Softmax masked logit."""
    return -30000.0 if dtype == torch.float16 else -1.0e9


def sdpa_mask_value(dtype):
    return 65500.0 * -0.7 if dtype == torch.float16 else _SDPA_MASK_VALUE


def masked_softmax(scores, mask, axes):
    """Keras's `Softmax(axis=axes)(scores, mask=mask)`: masked logits -1e9, masked outputs 0."""
    if mask is not None:
        scores = torch.where(mask, scores, large_negative_number(scores.dtype))
    if len(axes) == 1:
        out = torch.softmax(scores, dim=axes[0])
    else:
        out = torch.exp(scores - torch.logsumexp(scores, dim=axes, keepdim=True))
    if mask is not None:
        out = torch.where(mask, out, 0.0)
    return out


def causal_mask(q_len, v_len, device):
    """`(1, T, S)` boolean lower-triangular mask (row >= column)."""
    return torch.ones(1, q_len, v_len, dtype=torch.bool, device=device).tril()


def sliding_window_mask(q_len, v_len, window, device):
    rows = torch.arange(q_len, device=device).reshape(1, q_len, 1)
    cols = torch.arange(v_len, device=device).reshape(1, 1, v_len)
    return (rows - cols).abs() < window


def combine_masks(query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
                  causal=None, window=None):
    """Keras's `_compute_attention_mask`: AND of every given mask, `(B, T, S)`-broadcastable."""
    auto_mask = None
    for mask in (query_mask.to(torch.bool).unsqueeze(-1) if query_mask is not None else None,
                 value_mask.to(torch.bool).unsqueeze(-2) if value_mask is not None else None,
                 key_mask.to(torch.bool).unsqueeze(-2) if key_mask is not None else None,
                 causal, window):
        if mask is not None:
            auto_mask = mask if auto_mask is None else auto_mask & mask
    if attention_mask is not None:
        attention_mask = attention_mask.to(torch.bool)
    if auto_mask is not None:
        attention_mask = auto_mask if attention_mask is None else attention_mask & auto_mask
    return attention_mask


def sdpa(query, key, value, attention_mask, scale, is_causal, mask_expansion_axis=-3):
    """Keras's torch `ops.dot_product_attention` on `(B, T, N, H)` tensors, via the fused
    `F.scaled_dot_product_attention` on `(B, N, T, H)` views. Fewer key/value heads than query
    heads are shared by consecutive query heads (grouped-query attention)."""
    bias = None
    if attention_mask is not None:
        for _ in range(4 - attention_mask.dim()):
            attention_mask = attention_mask.unsqueeze(mask_expansion_axis)
        bias = torch.where(attention_mask.to(torch.bool), 0.0,
                           sdpa_mask_value(query.dtype)).to(query.dtype)
        is_causal = False
    q, k, v = query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=is_causal,
                                         scale=scale, enable_gqa=k.shape[1] != q.shape[1])
    return out.transpose(1, 2)


def check_key_shape(value_shape, key_shape):
    if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
        raise ValueError(
            "All dimensions of `value` and `key`, except the last one, must be equal. "
            f"Received: value_shape={value_shape} and key_shape={key_shape}")


class ProjectedAttention(Layer):
    """Attention over `EinsumDense` projections of query, key and value (see the module
    docstring). Options are stored as MultiHeadAttention stores them (`_dropout`, `_use_bias`,
    `_kernel_initializer`, ...)."""

    # Explicit path: `einsum(_dot_product_equation, key, query)` gives the scores, softmax over
    # `_norm_axes`, `einsum(_combine_equation, probabilities, value)` the output; a mask gains
    # its missing dimensions at `_mask_axis`.
    _dot_product_equation = _combine_equation = None
    _norm_axes = (-1,)
    _mask_axis = -3
    # Whether an explicit `query_mask=` argument is used (else only the query's `_keras_mask`).
    _query_mask_argument = True

    def __init__(self, head_size, dropout=0.0, use_bias=True, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate=False, seed=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.supports_masking = True
        self._dropout = dropout
        self._use_bias = use_bias
        self._use_gate = use_gate
        if sliding_window is not None and (
                not isinstance(sliding_window, int) or sliding_window <= 0):
            raise ValueError(
                "`sliding_window` must be `None` or a positive integer. "
                f"Received: sliding_window={sliding_window}")
        self._sliding_window = sliding_window
        self._flash_attention = flash_attention or is_flash_attention_enabled()
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self._kernel_regularizer = regularizers.get(kernel_regularizer)
        self._bias_regularizer = regularizers.get(bias_regularizer)
        self._kernel_constraint = constraints.get(kernel_constraint)
        self._bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(head_size))
        if self._flash_attention and self._dropout > 0.0:
            raise ValueError(
                "Dropout is not supported when flash attention is enabled. Please set dropout "
                "to 0.0 to use flash attention.")

    # ------------------------------------------------------------------------------ build
    def _projection_spec(self, name, rank):
        """`(equation, output_shape, bias_axes)` of the "query"/"key"/"gate"/"value"
        projection of a rank-`rank` input."""
        raise NotImplementedError

    def _output_spec(self, query_shape):
        """`(input_shape, equation, output_shape, bias_axes)` of the output projection."""
        raise NotImplementedError

    def _projection(self, name, input_shape, equation, output_shape, bias_axes,
                    activation=None):
        # Fresh initializer instances per sub-layer, so unseeded ones draw different values.
        dense = EinsumDense(
            equation, output_shape=output_shape,
            bias_axes=bias_axes if self._use_bias else None, activation=activation, name=name,
            kernel_initializer=self._kernel_initializer.__class__.from_config(
                self._kernel_initializer.get_config()),
            bias_initializer=self._bias_initializer.__class__.from_config(
                self._bias_initializer.get_config()),
            kernel_regularizer=self._kernel_regularizer,
            bias_regularizer=self._bias_regularizer,
            activity_regularizer=self._activity_regularizer,
            kernel_constraint=self._kernel_constraint,
            bias_constraint=self._bias_constraint,
            dtype=self.dtype_policy)
        dense.build_from_config({"input_shape": input_shape})
        return dense

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        self.query_dense = self._projection(
            "query", query_shape, *self._projection_spec("query", len(query_shape)))
        self.key_dense = self._projection(
            "key", key_shape, *self._projection_spec("key", len(key_shape)))
        if self._use_gate:
            self.gate_dense = self._projection(
                "gate", query_shape, *self._projection_spec("gate", len(query_shape)),
                activation="sigmoid")
        self.value_dense = self._projection(
            "value", value_shape, *self._projection_spec("value", len(value_shape)))
        self.output_dense = self._projection("attention_output",
                                             *self._output_spec(query_shape))
        self.built = True

    # ------------------------------------------------------------------------------ call
    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False):
        # Keras fills `<arg>_mask` from `<arg>._keras_mask` when not given.
        if query_mask is None or not self._query_mask_argument:
            query_mask = getattr(query, "_keras_mask", None)
        if value_mask is None:
            value_mask = getattr(value, "_keras_mask", None)
        if key is not None and key_mask is None:
            key_mask = getattr(key, "_keras_mask", None)
        if key is None:
            key = value

        # A causal mask alone runs as SDPA's `is_causal` (unless `_compute_attention` is
        # overridden: it would get no mask).
        causal_only = (
            use_causal_mask and query_mask is None and value_mask is None and key_mask is None
            and attention_mask is None and self._sliding_window is None
            and type(self)._compute_attention is ProjectedAttention._compute_attention)
        if causal_only:
            attention_mask = None
        else:
            attention_mask = self._compute_attention_mask(
                query, value, query_mask=query_mask, value_mask=value_mask, key_mask=key_mask,
                attention_mask=attention_mask, use_causal_mask=use_causal_mask)

        gate = self.gate_dense(query) if self._use_gate else None
        query = self.query_dense(query)
        key = self.key_dense(key)
        value = self.value_dense(value)
        extra = {"use_causal_mask": True} if causal_only else {}
        attention_output, attention_scores = self._compute_attention(
            query, key, value, attention_mask, training, return_attention_scores, **extra)
        if gate is not None:
            attention_output = attention_output * gate
        # (The query mask is attached to the output by `Layer.__call__`: supports_masking.)
        attention_output = self.output_dense(attention_output)
        if return_attention_scores:
            return attention_output, attention_scores
        return attention_output

    def _compute_attention_mask(self, query, value, query_mask=None, value_mask=None,
                                key_mask=None, attention_mask=None, use_causal_mask=False):
        q_len, v_len, device = query.shape[1], value.shape[1], query.device
        return combine_masks(
            query_mask, value_mask, key_mask, attention_mask,
            causal=causal_mask(q_len, v_len, device) if use_causal_mask else None,
            window=(sliding_window_mask(q_len, v_len, self._sliding_window, device)
                    if self._sliding_window is not None else None))

    def _shared_heads(self, tensor):
        """Projected keys/values with one head per query head (explicit path)."""
        return tensor

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, use_causal_mask=False):
        if self._flash_attention and return_attention_scores:
            raise ValueError(
                "Returning attention scores is not supported when flash attention is enabled. "
                "Please disable flash attention to access attention scores.")
        if not (self._dropout > 0.0 or return_attention_scores or query.dim() != 4):
            return sdpa(query, key, value, attention_mask, self._inverse_sqrt_key_dim,
                        use_causal_mask, mask_expansion_axis=self._mask_axis), None

        key, value = self._shared_heads(key), self._shared_heads(value)
        if use_causal_mask:
            causal = causal_mask(query.shape[1], value.shape[1], query.device)
            attention_mask = causal if attention_mask is None else (
                attention_mask.to(torch.bool) & causal)
        query = query * self._inverse_sqrt_key_dim
        scores = torch.einsum(self._dot_product_equation, key, query)
        if attention_mask is not None:
            for _ in range(scores.dim() - attention_mask.dim()):
                attention_mask = attention_mask.unsqueeze(self._mask_axis)
        scores = masked_softmax(scores, attention_mask, self._norm_axes)
        dropped = scores
        if self._dropout > 0.0 and training:
            dropped = F.dropout(scores, self._dropout, training=True)
        return torch.einsum(self._combine_equation, dropped, value), scores

    # ------------------------------------------------------------------------------ shapes
    def _scores_shape(self, query_shape, key_shape):
        raise NotImplementedError

    def compute_output_spec(self, query, value, key=None, query_mask=None, value_mask=None,
                            key_mask=None, attention_mask=None, return_attention_scores=False,
                            training=None, use_causal_mask=False):
        from tkeras.model.keras_tensor import KerasTensor

        key_shape = key.shape if key is not None else None
        output = KerasTensor(self.compute_output_shape(query.shape, value.shape, key_shape),
                             dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        scores_shape = self._scores_shape(query.shape, (value if key is None else key).shape)
        return output, KerasTensor(tuple(scores_shape), dtype=self.compute_dtype)

    def _options_config(self):
        """The config entries both layers end with, in Keras's order."""
        return {
            "kernel_initializer": initializers.serialize(self._kernel_initializer),
            "bias_initializer": initializers.serialize(self._bias_initializer),
            "kernel_regularizer": regularizers.serialize(self._kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self._bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer),
            "kernel_constraint": constraints.serialize(self._kernel_constraint),
            "bias_constraint": constraints.serialize(self._bias_constraint),
            "seed": self.seed,
        }
