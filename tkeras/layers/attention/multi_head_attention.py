"""`MultiHeadAttention`: projected multi-head scaled dot-product attention.

Keras behaviour kept: sub-layers `query_dense`, `key_dense`, (`gate_dense`), `value_dense`,
`output_dense` are `EinsumDense`s with Keras's equations and weight shapes (query kernel
`(E, H, key_dim)` + bias `(H, key_dim)`, output kernel `(H, value_dim, E)` + bias `(E,)`), built
in that order (= weight order); `attention_axes` (normalized and stored as a tuple at build);
`output_shape`; `sliding_window`; `use_gate`; masks: the query mask is ALWAYS the query's
`_keras_mask` (as in Keras, an explicit `query_mask=` is ignored), `value_mask`/`key_mask` come
from the arguments or the `value`/`key` tensors' `_keras_mask`; all masks, `attention_mask`,
the causal mask and the sliding window are ANDed into a `(B, T, S)` mask; the output carries the
query mask.

Two computation paths, chosen as Keras chooses them (their results differ for fully masked
rows, so the choice matters): with no dropout, no `return_attention_scores` and rank-3
inputs, `F.scaled_dot_product_attention` (scale `1/sqrt(key_dim)`, masks as an additive
`-0.7 * 3.38953e38` bias, `is_causal=True` when the causal mask is the only mask: fully masked
rows attend uniformly); otherwise the explicit path: query pre-scaled by `1/sqrt(key_dim)`,
einsum scores, softmax with masked logits set to -1e9 and masked probabilities zeroed, dropout
on the probabilities, einsum with the values.

Deliberate differences: the inputs' `_keras_mask` is read but not deleted from the input
tensors; the symbolic attention-scores shape uses the key's attention dims (Keras repeats the
query length); `flash_attention=True` only validates Keras's restrictions (torch chooses the
SDPA kernel).
"""

import math
import string

import torch
import torch.nn.functional as F

from tkeras.core import constraints
from tkeras.core.config import is_flash_attention_enabled
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.registry import keras_export
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


@keras_export("keras.layers.MultiHeadAttention")
class MultiHeadAttention(Layer):
    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate=False, seed=None, **kwargs):
        if not isinstance(num_heads, int) or num_heads <= 0:
            raise ValueError(
                "Received an invalid value for argument `num_heads`, expected a positive "
                f"integer. Received: num_heads={num_heads}")
        if not isinstance(key_dim, int) or key_dim <= 0:
            raise ValueError(
                "Received an invalid value for argument `key_dim`, expected a positive "
                f"integer. Received: key_dim={key_dim}")
        if value_dim is not None and (not isinstance(value_dim, int) or value_dim <= 0):
            raise ValueError(
                "Received an invalid value for argument `value_dim`, expected a positive "
                f"integer or `None`. Received: value_dim={value_dim}")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.supports_masking = True
        self._num_heads = num_heads
        self._key_dim = key_dim
        self._value_dim = value_dim if value_dim else key_dim
        self._dropout = dropout
        self._use_bias = use_bias
        self._use_gate = use_gate
        if output_shape:
            if isinstance(output_shape, int):
                output_shape = (output_shape,)
            try:
                output_shape = tuple(output_shape)
            except TypeError:
                raise ValueError(
                    f"Invalid `output_shape`: {output_shape}. When specified, the "
                    "`output_shape` should be of type tuple, list, or int.")
        self._output_shape = output_shape
        self._flash_attention = flash_attention or is_flash_attention_enabled()
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self._kernel_regularizer = regularizers.get(kernel_regularizer)
        self._bias_regularizer = regularizers.get(bias_regularizer)
        self._kernel_constraint = constraints.get(kernel_constraint)
        self._bias_constraint = constraints.get(bias_constraint)
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(
                "`attention_axes` must be an int, list, or tuple."
                f"Received: attention_axes={attention_axes}")
        self._attention_axes = tuple(attention_axes) if attention_axes else attention_axes
        if sliding_window is not None and (
                not isinstance(sliding_window, int) or sliding_window <= 0):
            raise ValueError(
                "`sliding_window` must be `None` or a positive integer. "
                f"Received: sliding_window={sliding_window}")
        self._sliding_window = sliding_window
        self.seed = seed
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self._key_dim))
        if self._flash_attention and self._dropout > 0.0:
            raise ValueError(
                "Dropout is not supported when flash attention is enabled. Please set dropout "
                "to 0.0 to use flash attention.")

    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)

    # ------------------------------------------------------------------------------ build
    def _sublayer_kwargs(self):
        # Fresh initializer instances per sub-layer, so unseeded ones draw different values.
        return dict(
            kernel_initializer=self._kernel_initializer.__class__.from_config(
                self._kernel_initializer.get_config()),
            bias_initializer=self._bias_initializer.__class__.from_config(
                self._bias_initializer.get_config()),
            kernel_regularizer=self._kernel_regularizer,
            bias_regularizer=self._bias_regularizer,
            activity_regularizer=self._activity_regularizer,
            kernel_constraint=self._kernel_constraint,
            bias_constraint=self._bias_constraint,
            dtype=self.dtype_policy,
        )

    def _projection(self, rank, last_dims, name, activation=None):
        equation, bias_axes, output_rank = _build_proj_equation(rank - 1, bound_dims=1,
                                                                output_dims=2)
        return EinsumDense(equation, output_shape=_get_output_shape(output_rank - 1, last_dims),
                           bias_axes=bias_axes if self._use_bias else None,
                           activation=activation, name=name, **self._sublayer_kwargs())

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={value_shape} and key_shape={key_shape}")
        query_rank, value_rank, key_rank = len(query_shape), len(value_shape), len(key_shape)
        heads = self._num_heads
        self.query_dense = self._projection(query_rank, [heads, self._key_dim], "query")
        self.query_dense.build_from_config({"input_shape": query_shape})
        self.key_dense = self._projection(key_rank, [heads, self._key_dim], "key")
        self.key_dense.build_from_config({"input_shape": key_shape})
        if self._use_gate:
            self.gate_dense = self._projection(query_rank, [heads, self._value_dim], "gate",
                                               activation="sigmoid")
            self.gate_dense.build_from_config({"input_shape": query_shape})
        self.value_dense = self._projection(value_rank, [heads, self._value_dim], "value")
        self.value_dense.build_from_config({"input_shape": value_shape})

        self._build_attention(value_rank + 1)
        output_shape = self._output_shape if self._output_shape else [query_shape[-1]]
        equation, bias_axes, output_rank = _build_proj_equation(
            query_rank - 1, bound_dims=2, output_dims=len(output_shape))
        self.output_dense = EinsumDense(
            equation, output_shape=_get_output_shape(output_rank - 1, output_shape),
            bias_axes=bias_axes if self._use_bias else None, name="attention_output",
            **self._sublayer_kwargs())
        dense_input = list(self.query_dense.compute_output_shape(query_shape))
        dense_input[-1] = self._value_dim
        self.output_dense.build_from_config({"input_shape": tuple(dense_input)})
        self.built = True

    def _build_attention(self, rank):
        if self._attention_axes is None:
            self._attention_axes = tuple(range(1, rank - 2))
        else:
            self._attention_axes = tuple(
                axis if axis >= 0 else (rank - 1) + axis for axis in self._attention_axes)
        self._dot_product_equation, self._combine_equation, scores_rank = (
            _build_attention_equation(rank, attn_axes=self._attention_axes))
        n = len(self._attention_axes)
        self._norm_axes = tuple(range(scores_rank - n, scores_rank))

    # ------------------------------------------------------------------------------ call
    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False):
        # Keras fills `<arg>_mask` from `<arg>._keras_mask`; MultiHeadAttention then reads the
        # query mask from the tensor alone.
        if value_mask is None:
            value_mask = getattr(value, "_keras_mask", None)
        if key is not None and key_mask is None:
            key_mask = getattr(key, "_keras_mask", None)
        if key is None:
            key = value
        query_mask = getattr(query, "_keras_mask", None)

        causal_only = (
            use_causal_mask and query_mask is None and value_mask is None and key_mask is None
            and attention_mask is None and self._sliding_window is None
            and type(self)._compute_attention is MultiHeadAttention._compute_attention)
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

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, use_causal_mask=False):
        if self._flash_attention and return_attention_scores:
            raise ValueError(
                "Returning attention scores is not supported when flash attention is enabled. "
                "Please disable flash attention to access attention scores.")
        if not (self._dropout > 0.0 or return_attention_scores or query.dim() != 4):
            return sdpa(query, key, value, attention_mask, self._inverse_sqrt_key_dim,
                        use_causal_mask, mask_expansion_axis=-len(self._attention_axes) * 2 - 1
                        ), None

        if use_causal_mask:
            causal = causal_mask(query.shape[1], value.shape[1], query.device)
            attention_mask = causal if attention_mask is None else (
                attention_mask.to(torch.bool) & causal)
        query = query * self._inverse_sqrt_key_dim
        scores = torch.einsum(self._dot_product_equation, key, query)
        if attention_mask is not None:
            axis = -len(self._attention_axes) * 2 - 1
            for _ in range(scores.dim() - attention_mask.dim()):
                attention_mask = attention_mask.unsqueeze(axis)
        scores = masked_softmax(scores, attention_mask, self._norm_axes)
        dropped = scores
        if self._dropout > 0.0 and training:
            dropped = F.dropout(scores, self._dropout, training=True)
        return torch.einsum(self._combine_equation, dropped, value), scores

    # ------------------------------------------------------------------------------ shapes
    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={value_shape} and key_shape={key_shape}")
        if self._output_shape:
            query_shape = query_shape[:-1] + tuple(self._output_shape)
        return query_shape

    def compute_output_spec(self, query, value, key=None, query_mask=None, value_mask=None,
                            key_mask=None, attention_mask=None, return_attention_scores=False,
                            training=None, use_causal_mask=False):
        from tkeras.model.keras_tensor import KerasTensor

        key_shape = key.shape if key is not None else None
        output = KerasTensor(self.compute_output_shape(query.shape, value.shape, key_shape),
                             dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        rank = len(query.shape) + 1
        attn = self._attention_axes
        batch_dims = [i for i in range(rank - 1) if i not in attn]
        q = tuple(query.shape[:-1]) + (self._num_heads,)
        k = tuple((key if key is not None else value).shape[:-1]) + (self._num_heads,)
        scores_shape = [q[i] for i in batch_dims] + [q[i] for i in attn] + [k[i] for i in attn]
        return output, KerasTensor(tuple(scores_shape), dtype=self.compute_dtype)

    def get_config(self):
        config = {
            "num_heads": self._num_heads,
            "key_dim": self._key_dim,
            "value_dim": self._value_dim,
            "dropout": self._dropout,
            "use_bias": self._use_bias,
            "use_gate": self._use_gate,
            "output_shape": self._output_shape,
            "attention_axes": self._attention_axes,
            "sliding_window": self._sliding_window,
            "kernel_initializer": initializers.serialize(self._kernel_initializer),
            "bias_initializer": initializers.serialize(self._bias_initializer),
            "kernel_regularizer": regularizers.serialize(self._kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self._bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer),
            "kernel_constraint": constraints.serialize(self._kernel_constraint),
            "bias_constraint": constraints.serialize(self._bias_constraint),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


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


def _build_attention_equation(rank, attn_axes):
    """Einsum equations `(key, query) -> scores` and `(scores, value) -> output`, as Keras."""
    letters = string.ascii_lowercase
    target = letters[:rank]
    batch_dims = tuple(i for i in range(rank) if i not in attn_axes + (rank - 1,))
    offset = rank
    source = ""
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += letters[offset]
            offset += 1
    product = "".join([target[i] for i in batch_dims] + [target[i] for i in attn_axes]
                      + [source[i] for i in attn_axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def _build_proj_equation(free_dims, bound_dims, output_dims):
    letters = string.ascii_lowercase
    free = letters[:free_dims]
    bound = letters[free_dims:free_dims + bound_dims]
    out = letters[free_dims + bound_dims:free_dims + bound_dims + output_dims]
    return f"{free}{bound},{bound}{out}->{free}{out}", out, free_dims + output_dims


def _get_output_shape(output_rank, known_last_dims):
    return [None] * (output_rank - len(known_last_dims)) + list(known_last_dims)
