"""`GroupedQueryAttention` (exported as `keras.layers.GroupQueryAttention`): attention with
`num_query_heads` query heads sharing `num_key_value_heads` key/value heads.

Keras behaviour kept: sub-layers `query_dense` (`bqm,muh->bquh`), `key_dense`, (`gate_dense`),
`value_dense` (`bkm,mvh->bkvh`) and `output_dense` (`bquh,uhm->bqm`), built in that order; each
key/value head serves `num_query_heads // num_key_value_heads` consecutive query heads; an
explicit `query_mask=` is used (else the query's `_keras_mask`); the options are public
attributes (`dropout`, `use_bias`, `kernel_initializer`, ...). Options, call, masks and the two
computation paths (fused `F.scaled_dot_product_attention` with `enable_gqa` unless dropout or
`return_attention_scores`; explicit einsum/softmax otherwise) are `ProjectedAttention`'s.
"""

from tkeras.core.registry import keras_export
from tkeras.layers.arguments import init_args
from tkeras.layers.attention.projected_attention import ProjectedAttention
from tkeras.layers.attention.projected_attention import check_key_shape


def _option(name):
    """Keras's public, assignable attribute for the option stored as `_<name>`."""
    private = "_" + name
    return property(lambda self: getattr(self, private),
                    lambda self, value: setattr(self, private, value))


@keras_export("keras.layers.GroupQueryAttention", "keras.layers.GroupedQueryAttention")
class GroupedQueryAttention(ProjectedAttention):
    _dot_product_equation = "bkuh,bquh->buqk"
    _combine_equation = "buqk,bkuh->bquh"

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0,
                 use_bias=True, sliding_window=None, flash_attention=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None,
                 **kwargs):
        options = init_args(locals())
        for own in ("head_dim", "num_query_heads", "num_key_value_heads"):
            del options[own]
        if num_query_heads % num_key_value_heads != 0:
            raise ValueError(
                "`num_query_heads` must be divisible by `num_key_value_heads`.")
        super().__init__(head_dim, **options)
        self.head_dim = head_dim
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.num_repeats = num_query_heads // num_key_value_heads

    (dropout, use_bias, use_gate, sliding_window, kernel_initializer, bias_initializer,
     kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint) = map(_option, (
        "dropout", "use_bias", "use_gate", "sliding_window", "kernel_initializer",
        "bias_initializer", "kernel_regularizer", "bias_regularizer", "kernel_constraint",
        "bias_constraint"))

    def _projection_spec(self, name, rank):
        if name in ("query", "gate"):
            return "bqm,muh->bquh", (None, self.num_query_heads, self.head_dim), "uh"
        return "bkm,mvh->bkvh", (None, self.num_key_value_heads, self.head_dim), "vh"

    def _output_spec(self, query_shape):
        return ((None, None, self.num_query_heads, self.head_dim), "bquh,uhm->bqm",
                (None, self.feature_dim), "m")

    def build(self, query_shape, value_shape, key_shape=None):
        self.feature_dim = query_shape[-1]
        super().build(query_shape, value_shape, key_shape)

    def _shared_heads(self, tensor):
        return tensor.repeat_interleave(self.num_repeats, dim=2)

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        if query_shape[-1] != value_shape[-1]:
            raise ValueError(
                "The last dimension of `query_shape` and `value_shape` must be equal, but are "
                f"{query_shape[-1]}, {value_shape[-1]}. Received: query_shape={query_shape}, "
                f"value_shape={value_shape}")
        check_key_shape(value_shape, key_shape)
        return tuple(query_shape)

    def _scores_shape(self, query_shape, key_shape):
        return query_shape[0], self.num_query_heads, query_shape[1], key_shape[1]

    def get_config(self):
        config = {
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self._use_bias,
            "use_gate": self._use_gate,
            "sliding_window": self._sliding_window,
            "dropout": self._dropout,
            **self._options_config(),
        }
        return {**super().get_config(), **config}


GroupQueryAttention = GroupedQueryAttention
