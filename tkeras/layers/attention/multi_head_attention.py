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

The options, sub-layers, call, masks and the two computation paths (fused SDPA for rank-3
inputs without dropout or returned scores, else the explicit einsum/softmax path with
`1/sqrt(key_dim)` scaling) are `ProjectedAttention`'s; this class adds the N-D projection and
attention equations (`attention_axes`) and `output_shape`.

Deliberate differences: the inputs' `_keras_mask` is read but not deleted from the input
tensors; the symbolic attention-scores shape uses the key's attention dims (Keras repeats the
query length); `flash_attention=True` only validates Keras's restrictions (torch chooses the
SDPA kernel).
"""

import string

from tkeras.core.registry import keras_export
from tkeras.layers.arguments import init_args
from tkeras.layers.attention.projected_attention import ProjectedAttention
from tkeras.layers.attention.projected_attention import check_key_shape


def _check_dim(name, value, allow_none=False):
    if allow_none and value is None:
        return
    if not isinstance(value, int) or value <= 0:
        expected = "a positive integer or `None`" if allow_none else "a positive integer"
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected {expected}. "
            f"Received: {name}={value}")


@keras_export("keras.layers.MultiHeadAttention")
class MultiHeadAttention(ProjectedAttention):
    _query_mask_argument = False  # as Keras: the query mask is the query's `_keras_mask` only

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate=False, seed=None, **kwargs):
        options = init_args(locals())
        for own in ("num_heads", "key_dim", "value_dim", "output_shape", "attention_axes"):
            del options[own]
        _check_dim("num_heads", num_heads)
        _check_dim("key_dim", key_dim)
        _check_dim("value_dim", value_dim, allow_none=True)
        super().__init__(key_dim, **options)
        self._num_heads = num_heads
        self._key_dim = key_dim
        self._value_dim = value_dim if value_dim else key_dim
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
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(
                "`attention_axes` must be an int, list, or tuple."
                f"Received: attention_axes={attention_axes}")
        self._attention_axes = tuple(attention_axes) if attention_axes else attention_axes

    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)

    # ------------------------------------------------------------------------------ build
    def _projection_spec(self, name, rank):
        dim = self._key_dim if name in ("query", "key") else self._value_dim
        equation, bias_axes, output_rank = _build_proj_equation(rank - 1, bound_dims=1,
                                                                output_dims=2)
        return equation, _get_output_shape(output_rank - 1, [self._num_heads, dim]), bias_axes

    def _output_spec(self, query_shape):
        output_shape = self._output_shape if self._output_shape else [query_shape[-1]]
        equation, bias_axes, output_rank = _build_proj_equation(
            len(query_shape) - 1, bound_dims=2, output_dims=len(output_shape))
        dense_input = list(self.query_dense.compute_output_shape(query_shape))
        dense_input[-1] = self._value_dim
        return (tuple(dense_input), equation, _get_output_shape(output_rank - 1, output_shape),
                bias_axes)

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        check_key_shape(value_shape, key_shape)
        self._build_attention(len(value_shape) + 1)
        super().build(query_shape, value_shape, key_shape)

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
        self._mask_axis = -n * 2 - 1

    # ------------------------------------------------------------------------------ shapes
    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape = tuple(query_shape), tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        check_key_shape(value_shape, key_shape)
        if self._output_shape:
            query_shape = query_shape[:-1] + tuple(self._output_shape)
        return query_shape

    def _scores_shape(self, query_shape, key_shape):
        rank = len(query_shape) + 1
        attn = self._attention_axes
        batch_dims = [i for i in range(rank - 1) if i not in attn]
        q = tuple(query_shape[:-1]) + (self._num_heads,)
        k = tuple(key_shape[:-1]) + (self._num_heads,)
        return [q[i] for i in batch_dims] + [q[i] for i in attn] + [k[i] for i in attn]

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
            **self._options_config(),
        }
        return {**super().get_config(), **config}


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
