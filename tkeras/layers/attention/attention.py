"""`Attention` (dot-product / concat scores) and `AdditiveAttention` (Bahdanau) layers.

Keras behaviour kept: called on `[query, value]` or `[query, value, key]` (key defaults to value)
with an optional `mask=[query_mask, value_mask]` (taken from the inputs' `_keras_mask` when not
given); `use_scale` adds a trainable scalar `scale` (Attention) or a per-feature `scale` of shape
`(dim,)` (AdditiveAttention); `score_mode="concat"` adds `concat_score_weight`; masked value
positions get `scores - 1e9` (65504 in float16) before the softmax; `use_causal_mask` masks
future positions; query-masked output rows are zeroed; the output mask is the query mask;
dropout on the attention weights in training only.

Speed: dot scores without `return_attention_scores` run through
`F.scaled_dot_product_attention` (masks become the same additive `-1e9`).
"""

import torch
import torch.nn.functional as F

from tkeras.core.registry import keras_export
from tkeras.layers.attention.projected_attention import causal_mask
from tkeras.layers.layer import Layer


def _max_value(dtype):
    return 65504.0 if dtype == torch.float16 else 1.0e9


@keras_export("keras.layers.Attention")
class Attention(Layer):
    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = use_scale
        self.score_mode = score_mode
        self.dropout = dropout
        self.seed = seed
        if self.score_mode not in ["dot", "concat"]:
            raise ValueError(
                "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                f"Received: score_mode={score_mode}")

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        # (Attributes are set only once: a weight must not shadow an earlier `None`.)
        self.scale = self.add_weight(
            name="scale", shape=(), initializer="ones", dtype=self.dtype,
            trainable=True) if self.use_scale else None
        self.concat_score_weight = self.add_weight(
            name="concat_score_weight", shape=(), initializer="ones", dtype=self.dtype,
            trainable=True) if self.score_mode == "concat" else None
        self.built = True

    def _weight(self, name, like):
        """A weight (or None) read in the compute dtype, as Keras's autocast does."""
        w = getattr(self, name)
        return w if w is None or w.dtype == like.dtype else w.to(like.dtype)

    def _calculate_scores(self, query, key):
        scale = self._weight("scale", query)
        if self.score_mode == "dot":
            scores = torch.matmul(query, key.transpose(-2, -1))
            return scores * scale if scale is not None else scores
        q = query.unsqueeze(-2)
        k = key.unsqueeze(-3)
        inner = scale * (q + k) if scale is not None else q + k
        return self._weight("concat_score_weight", query) * torch.tanh(inner).sum(dim=-1)

    def _calculate_score_mask(self, q_len, v_len, v_mask, use_causal_mask, device):
        """Boolean mask broadcastable to the scores, True where attention is allowed."""
        if v_mask is not None:
            v_mask = v_mask.to(torch.bool)
            if v_mask.dim() == 2:
                v_mask = v_mask.unsqueeze(-2)
        if not use_causal_mask:
            return v_mask
        causal = causal_mask(q_len, v_len, device)
        return causal if v_mask is None else v_mask & causal

    def call(self, inputs, mask=None, training=False, return_attention_scores=False,
             use_causal_mask=False):
        self._validate_inputs(inputs, mask)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores_mask = self._calculate_score_mask(q.shape[-2], k.shape[-2], v_mask,
                                                 use_causal_mask, q.device)
        dropout = self.dropout if training else 0.0
        fused = (self.score_mode == "dot" and not return_attention_scores
                 and type(self)._calculate_scores is Attention._calculate_scores)
        if fused:
            bias = None
            if scores_mask is not None:
                bias = torch.where(scores_mask, 0.0, -_max_value(q.dtype)).to(q.dtype)
            scale = self._weight("scale", q)
            query = q * scale if scale is not None else q
            output = F.scaled_dot_product_attention(query, k, v, attn_mask=bias,
                                                    dropout_p=dropout, scale=1.0)
            weights = None
        else:
            scores = self._calculate_scores(q, k)
            if scores_mask is not None:
                scores = torch.where(scores_mask, scores, scores - _max_value(scores.dtype))
            weights = torch.softmax(scores, dim=-1)
            dropped = F.dropout(weights, dropout, training=True) if dropout > 0 else weights
            output = torch.matmul(dropped, v)
        if q_mask is not None:
            output = torch.where(q_mask.to(torch.bool).unsqueeze(-1), output, 0.0)
        if return_attention_scores:
            return output, weights
        return output

    def compute_mask(self, inputs, mask=None):
        self._validate_inputs(inputs, mask)
        if mask is None or mask[0] is None:
            return None
        return torch.as_tensor(mask[0])

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], input_shape[1][-1])

    def compute_output_spec(self, inputs, mask=None, return_attention_scores=False,
                            training=None, use_causal_mask=False):
        from tkeras.model.keras_tensor import KerasTensor

        self._validate_inputs(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        output = KerasTensor(self.compute_output_shape([query.shape, value.shape, key.shape]),
                             dtype=self.compute_dtype)
        if return_attention_scores:
            scores = KerasTensor((*query.shape[:-1], key.shape[-2]), dtype=self.compute_dtype)
            return output, scores
        return output

    def _validate_inputs(self, inputs, mask=None):
        class_name = self.__class__.__name__
        if not isinstance(inputs, list):
            raise ValueError(
                f"{class_name} layer must be called on a list of inputs, namely [query, value] "
                f"or [query, value, key]. Received: inputs={inputs}.")
        if len(inputs) < 2 or len(inputs) > 3:
            raise ValueError(
                f"{class_name} layer accepts inputs list of length 2 or 3, namely "
                f"[query, value] or [query, value, key]. Received length: {len(inputs)}.")
        if mask is not None:
            if not isinstance(mask, list):
                raise ValueError(
                    f"{class_name} layer mask must be a list, namely [query_mask, value_mask]. "
                    f"Received: mask={mask}.")
            if len(mask) < 2 or len(mask) > 3:
                raise ValueError(
                    f"{class_name} layer accepts mask list of length 2 or 3. Received: "
                    f"inputs={inputs}, mask={mask}.")

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale,
                "score_mode": self.score_mode, "dropout": self.dropout, "seed": self.seed}


@keras_export("keras.layers.AdditiveAttention")
class AdditiveAttention(Attention):
    """Scores `sum(scale * tanh(query[..., :, None, :] + key[..., None, :, :]), -1)`."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        dim = input_shape[0][-1]
        self.scale = self.add_weight(
            name="scale", shape=[dim], initializer="glorot_uniform", dtype=self.dtype,
            trainable=True) if self.use_scale else None
        self.built = True

    def _calculate_scores(self, query, key):
        tanh = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))
        return (self._weight("scale", query) * tanh if self.use_scale else tanh).sum(dim=-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config
