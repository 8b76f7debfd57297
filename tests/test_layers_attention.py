"""Parity of the attention layers (and EinsumDense) with real Keras, through the layer harness.

MultiHeadAttention/GroupQueryAttention take `(query, value, key)` as separate arguments
(`positional=True`); Keras-style masks on the inputs go through `input_masks` (attached as
`_keras_mask`), explicit mask arguments through `call_arrays`.
"""

import dataclasses

import numpy as np
import pytest
import torch

import tkeras
import tkeras.layers
from keras_oracle import requires_keras
from layer_harness import LayerCase, parametrize_cases, rand

Q = rand(2, 4, 5, seed=1)
V = rand(2, 6, 5, seed=2)
K = rand(2, 6, 7, seed=3)
V3 = rand(2, 6, 3, seed=4)
X4 = rand(2, 3, 4, 5, seed=5)
Q_MASK = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=bool)
V_MASK = np.array([[1, 1, 1, 0, 0, 0], [1, 0, 1, 1, 1, 1]], dtype=bool)
# Row 1 of example 0 fully masked: the fused and explicit paths treat it differently in Keras.
ATT_MASK = np.ones((2, 4, 6), dtype=bool)
ATT_MASK[0, 1, :] = False
ATT_MASK[1, :, 4:] = False
SELF_MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=bool)

MHA = "MultiHeadAttention"
GQA = "GroupQueryAttention"
SCORES = {"return_attention_scores": True}
CAUSAL = {"use_causal_mask": True}

CASES = [
    # EinsumDense.
    LayerCase("einsum_dense_matmul", "EinsumDense",
              {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"}, rand(3, 5)),
    LayerCase("einsum_dense_3d", "EinsumDense",
              {"equation": "abc,cde->abde", "output_shape": [None, 2, 3], "bias_axes": "de",
               "activation": "relu"}, rand(2, 4, 5)),
    LayerCase("einsum_dense_left_elided", "EinsumDense",
              {"equation": "...b,bc->...c", "output_shape": 3, "bias_axes": "c"},
              rand(2, 3, 4, 5)),
    LayerCase("einsum_dense_right_elided", "EinsumDense",
              {"equation": "ab...,bc->ac...", "output_shape": 3, "bias_axes": "c"},
              rand(2, 4, 5)),
    LayerCase("einsum_dense_no_bias", "EinsumDense",
              {"equation": "abcd,cde->abe", "output_shape": [None, 6]}, rand(2, 3, 4, 5)),
    # Attention / AdditiveAttention.
    LayerCase("att_dot", "Attention", {}, [Q, V]),
    LayerCase("att_dot_scale_key", "Attention", {"use_scale": True}, [Q, V3, rand(2, 6, 5)]),
    LayerCase("att_dot_scores", "Attention", {"use_scale": True}, [Q, V], call_kwargs=SCORES),
    LayerCase("att_concat", "Attention", {"score_mode": "concat"}, [Q, V]),
    LayerCase("att_concat_scale_scores", "Attention", {"score_mode": "concat", "use_scale": True},
              [Q, V], call_kwargs=SCORES),
    LayerCase("att_causal", "Attention", {}, [Q, Q * 0.5], call_kwargs=CAUSAL),
    LayerCase("att_causal_scores", "Attention", {}, [Q, Q * 0.5],
              call_kwargs={**CAUSAL, **SCORES}),
    LayerCase("att_masks", "Attention", {"use_scale": True}, [Q, V], input_masks=[Q_MASK, V_MASK]),
    LayerCase("att_masks_causal_scores", "Attention", {}, [Q, Q * 2.0],
              input_masks=[Q_MASK, SELF_MASK], call_kwargs={**CAUSAL, **SCORES}),
    LayerCase("att_value_mask_only", "Attention", {"dropout": 0.4}, [Q, V],
              input_masks=[None, V_MASK]),
    LayerCase("additive", "AdditiveAttention", {}, [Q, V]),
    LayerCase("additive_no_scale_key", "AdditiveAttention", {"use_scale": False},
              [Q, V3, rand(2, 6, 5, seed=7)]),
    LayerCase("additive_masks_scores", "AdditiveAttention", {"dropout": 0.2}, [Q, V],
              input_masks=[Q_MASK, V_MASK], call_kwargs=SCORES),
    LayerCase("additive_causal", "AdditiveAttention", {}, [Q, Q], call_kwargs=CAUSAL),
    # MultiHeadAttention: fused (SDPA) path ...
    LayerCase("mha_self", MHA, {"num_heads": 2, "key_dim": 3}, [Q, Q], positional=True),
    LayerCase("mha_cross", MHA, {"num_heads": 3, "key_dim": 2}, [Q, V3], positional=True),
    LayerCase("mha_key", MHA, {"num_heads": 2, "key_dim": 4}, [Q, V3, K], positional=True),
    LayerCase("mha_value_dim_output_shape", MHA,
              {"num_heads": 2, "key_dim": 3, "value_dim": 4, "output_shape": 6}, [Q, V],
              positional=True),
    LayerCase("mha_output_shape_2d", MHA,
              {"num_heads": 2, "key_dim": 3, "output_shape": [2, 3], "use_bias": False},
              [Q, V], positional=True),
    LayerCase("mha_causal", MHA, {"num_heads": 2, "key_dim": 3}, [Q, Q], positional=True,
              call_kwargs=CAUSAL),
    LayerCase("mha_causal_cross", MHA, {"num_heads": 2, "key_dim": 3}, [Q, V],
              positional=True, call_kwargs=CAUSAL),
    LayerCase("mha_attention_mask", MHA, {"num_heads": 2, "key_dim": 3}, [Q, V],
              positional=True, call_arrays={"attention_mask": ATT_MASK}),
    LayerCase("mha_value_mask_arg", MHA, {"num_heads": 2, "key_dim": 3}, [Q, V],
              positional=True, call_arrays={"value_mask": V_MASK}),
    LayerCase("mha_query_mask_arg_ignored", MHA, {"num_heads": 2, "key_dim": 3}, [Q, V],
              positional=True, call_arrays={"query_mask": Q_MASK}),
    LayerCase("mha_keras_masks", MHA, {"num_heads": 2, "key_dim": 3}, [Q, V],
              positional=True, input_masks=[Q_MASK, V_MASK]),
    LayerCase("mha_key_keras_mask", MHA, {"num_heads": 2, "key_dim": 3}, [Q, V, K],
              positional=True, input_masks=[None, None, V_MASK]),
    LayerCase("mha_causal_and_masks", MHA, {"num_heads": 2, "key_dim": 3}, [Q, Q],
              positional=True, input_masks=[SELF_MASK, SELF_MASK], call_kwargs=CAUSAL),
    LayerCase("mha_sliding_window", MHA, {"num_heads": 2, "key_dim": 3, "sliding_window": 2},
              [Q, Q], positional=True, call_kwargs=CAUSAL),
    LayerCase("mha_gate", MHA, {"num_heads": 2, "key_dim": 3, "use_gate": True}, [Q, V],
              positional=True),
    LayerCase("mha_regularized", MHA,
              {"num_heads": 2, "key_dim": 2, "kernel_regularizer": "l2",
               "bias_constraint": "non_neg", "kernel_initializer": "he_normal"}, [Q, V],
              positional=True),
    # ... and explicit path (scores, dropout, attention_axes).
    LayerCase("mha_scores", MHA, {"num_heads": 2, "key_dim": 3}, [Q, V], positional=True,
              call_kwargs=SCORES),
    LayerCase("mha_attention_mask_scores", MHA, {"num_heads": 2, "key_dim": 3}, [Q, V],
              positional=True, call_arrays={"attention_mask": ATT_MASK}, call_kwargs=SCORES),
    LayerCase("mha_causal_scores", MHA, {"num_heads": 2, "key_dim": 3}, [Q, Q],
              positional=True, call_kwargs={**CAUSAL, **SCORES}),
    LayerCase("mha_keras_masks_scores", MHA, {"num_heads": 2, "key_dim": 3}, [Q, V],
              positional=True, input_masks=[Q_MASK, V_MASK], call_kwargs=SCORES),
    LayerCase("mha_sliding_window_scores", MHA,
              {"num_heads": 2, "key_dim": 3, "sliding_window": 2}, [Q, V], positional=True,
              call_kwargs=SCORES),
    LayerCase("mha_dropout_inference", MHA, {"num_heads": 2, "key_dim": 3, "dropout": 0.3},
              [Q, V], positional=True, input_masks=[Q_MASK, None]),
    LayerCase("mha_gate_scores", MHA, {"num_heads": 2, "key_dim": 3, "use_gate": True},
              [Q, V], positional=True, call_kwargs=SCORES),
    LayerCase("mha_attention_axes_2", MHA,
              {"num_heads": 2, "key_dim": 3, "attention_axes": [2]}, [X4, X4], positional=True),
    LayerCase("mha_attention_axes_12_scores", MHA,
              {"num_heads": 2, "key_dim": 3, "attention_axes": (1, 2)}, [X4, X4 * 0.5],
              positional=True, call_kwargs=SCORES),
    LayerCase("mha_attention_axes_negative", MHA,
              {"num_heads": 1, "key_dim": 2, "attention_axes": -2, "output_shape": 3},
              [X4, X4], positional=True),
    # Mixed precision: bfloat16 compute (~3 significant digits, hence the tolerance).
    LayerCase("mha_mixed_bfloat16", MHA, {"num_heads": 2, "key_dim": 3, "dtype": "mixed_bfloat16"},
              [Q, V], positional=True, input_masks=[None, V_MASK], atol=3e-2, rtol=3e-2),
    LayerCase("mha_mixed_bfloat16_scores", MHA,
              {"num_heads": 2, "key_dim": 3, "dtype": "mixed_bfloat16"}, [Q, V],
              positional=True, call_kwargs=SCORES, atol=3e-2, rtol=3e-2),
    LayerCase("att_mixed_bfloat16", "Attention", {"use_scale": True, "dtype": "mixed_bfloat16"},
              [Q, V], input_masks=[Q_MASK, V_MASK], atol=3e-2, rtol=3e-2),
    # GroupQueryAttention.
    LayerCase("gqa", GQA, {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2},
              [Q, V], positional=True),
    LayerCase("gqa_key", GQA, {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 2},
              [Q, V, K], positional=True),
    LayerCase("gqa_mqa_scores", GQA,
              {"head_dim": 3, "num_query_heads": 3, "num_key_value_heads": 1}, [Q, V],
              positional=True, call_kwargs=SCORES),
    LayerCase("gqa_causal", GQA, {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2},
              [Q, Q], positional=True, call_kwargs=CAUSAL),
    LayerCase("gqa_causal_scores", GQA,
              {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2}, [Q, Q],
              positional=True, call_kwargs={**CAUSAL, **SCORES}),
    LayerCase("gqa_query_mask_arg", GQA,
              {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2}, [Q, V],
              positional=True, call_arrays={"query_mask": Q_MASK, "value_mask": V_MASK}),
    LayerCase("gqa_keras_masks_scores", GQA,
              {"head_dim": 3, "num_query_heads": 2, "num_key_value_heads": 1}, [Q, V],
              positional=True, input_masks=[Q_MASK, V_MASK], call_kwargs=SCORES),
    LayerCase("gqa_attention_mask", GQA,
              {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2,
               "use_bias": False}, [Q, V], positional=True,
              call_arrays={"attention_mask": ATT_MASK}),
    LayerCase("gqa_sliding_window_gate", GQA,
              {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2,
               "sliding_window": 3, "use_gate": True}, [Q, Q], positional=True),
    LayerCase("gqa_mixed_bfloat16", GQA,
              {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2,
               "dtype": "mixed_bfloat16"}, [Q, V], positional=True, atol=3e-2, rtol=3e-2),
    LayerCase("gqa_dropout_inference", GQA,
              {"head_dim": 3, "num_query_heads": 2, "num_key_value_heads": 2, "dropout": 0.5},
              [Q, V], positional=True),
]

# torch.compile(fullgraph) costs ~1.5 s a case: checked on one case per layer and code path.
COMPILED = {"einsum_dense_3d", "att_masks", "att_concat_scale_scores", "additive_masks_scores",
            "mha_keras_masks", "mha_causal", "mha_keras_masks_scores", "mha_gate",
            "mha_attention_axes_12_scores", "gqa_keras_masks_scores", "gqa_causal",
            "gqa_attention_mask"}
CASES = [dataclasses.replace(c, compile=c.id in COMPILED) for c in CASES]

test_attention_layer_parity = requires_keras(parametrize_cases(CASES))


def test_symbolic_output_specs():
    q, v, k = tkeras.Input((4, 5)), tkeras.Input((6, 3)), tkeras.Input((6, 7))
    mha = tkeras.layers.MultiHeadAttention(num_heads=2, key_dim=3, output_shape=[2, 4])
    out, scores = mha(q, v, key=k, return_attention_scores=True)
    assert (out.shape, scores.shape) == ((None, 4, 2, 4), (None, 2, 4, 6))
    x = tkeras.Input((3, 4, 5))
    mha = tkeras.layers.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=(1, 2))
    out, scores = mha(x, x, return_attention_scores=True)
    assert (out.shape, scores.shape) == ((None, 3, 4, 5), (None, 2, 3, 4, 3, 4))
    assert mha.get_config()["attention_axes"] == (1, 2)
    gqa = tkeras.layers.GroupQueryAttention(head_dim=2, num_query_heads=4, num_key_value_heads=2)
    out, scores = gqa(q, tkeras.Input((6, 5)), return_attention_scores=True)
    assert (out.shape, scores.shape) == ((None, 4, 5), (None, 4, 4, 6))
    for layer in (tkeras.layers.Attention(), tkeras.layers.AdditiveAttention()):
        out, scores = layer([q, tkeras.Input((6, 5))], return_attention_scores=True)
        assert (out.shape, scores.shape) == ((None, 4, 5), (None, 4, 6))


def test_matches_keras_weights_layout_and_build_config():
    mha = tkeras.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    mha(torch.tensor(Q), torch.tensor(V3))
    assert [tuple(w.shape) for w in mha.weights] == [
        (5, 2, 3), (2, 3), (3, 2, 3), (2, 3), (3, 2, 4), (2, 4), (2, 4, 5), (5,)]
    assert [m.name for m in (mha.query_dense, mha.key_dense, mha.value_dense,
                             mha.output_dense)] == ["query", "key", "value", "attention_output"]
    build_config = mha.get_build_config()
    assert build_config["shapes_dict"]["query_shape"] == [2, 4, 5]
    assert build_config["shapes_dict"]["value_shape"] == [2, 6, 3]
    clone = tkeras.layers.MultiHeadAttention.from_config(mha.get_config())
    clone.build_from_config(build_config)
    clone.set_weights(mha.get_weights())
    np.testing.assert_allclose(clone(torch.tensor(Q), torch.tensor(V3)).detach().numpy(),
                               mha(torch.tensor(Q), torch.tensor(V3)).detach().numpy())


def test_output_mask_is_query_mask():
    emb = tkeras.layers.Embedding(10, 5, mask_zero=True)
    tokens = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    x = emb(tokens)
    for layer, args in ((tkeras.layers.MultiHeadAttention(2, 3), (x, x)),
                        (tkeras.layers.GroupQueryAttention(3, 2, 1), (x, x)),
                        (tkeras.layers.Attention(), ([x, x],)),
                        (tkeras.layers.AdditiveAttention(), ([x, x],))):
        out = layer(*args)
        assert torch.equal(out._keras_mask, tokens != 0), type(layer).__name__


def test_keras_mask_equals_explicit_masks():
    """Masks from `_keras_mask` (Embedding mask_zero) act as the explicit attention mask."""
    emb = tkeras.layers.Embedding(10, 5, mask_zero=True)
    tokens = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    x = emb(tokens)
    keep = tokens != 0
    plain = x.detach().clone()
    for return_scores in (False, True):
        mha = tkeras.layers.MultiHeadAttention(2, 3)
        got = mha(x, x, return_attention_scores=return_scores)
        want = mha(plain, plain, attention_mask=keep[:, :, None] & keep[:, None, :],
                   return_attention_scores=return_scores)
        for g, w in zip(tkeras.layers.layer.flatten(got), tkeras.layers.layer.flatten(want)):
            np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), atol=1e-6)


def test_flash_attention_restrictions():
    with pytest.raises(ValueError, match="Dropout is not supported"):
        tkeras.layers.MultiHeadAttention(2, 3, dropout=0.1, flash_attention=True)
    mha = tkeras.layers.MultiHeadAttention(2, 3, flash_attention=True)
    with pytest.raises(ValueError, match="Returning attention scores"):
        mha(torch.tensor(Q), torch.tensor(V), return_attention_scores=True)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "float16"])
def test_outputs_in_compute_dtype(policy):
    """As in Keras, outputs (and scores) come out in the policy's compute dtype."""
    dtype = torch.bfloat16 if policy == "mixed_bfloat16" else torch.float16
    x = torch.tensor(Q)
    layers = [
        (tkeras.layers.MultiHeadAttention(2, 3, dtype=policy), (x, x)),
        (tkeras.layers.GroupQueryAttention(3, 2, 1, dtype=policy), (x, x)),
        (tkeras.layers.Attention(dtype=policy), ([x, x],)),
        (tkeras.layers.AdditiveAttention(dtype=policy), ([x, x],)),
        (tkeras.layers.EinsumDense("abc,cd->abd", [None, 3], dtype=policy), (x,)),
    ]
    for name in ("BatchNormalization", "LayerNormalization", "RMSNormalization",
                 "UnitNormalization"):
        layers.append((getattr(tkeras.layers, name)(dtype=policy), (x,)))
    layers.append((tkeras.layers.GroupNormalization(groups=5, dtype=policy), (x,)))
    for layer, args in layers:
        kwargs = {"return_attention_scores": True} if "Attention" in type(layer).__name__ else {}
        for out in tkeras.layers.layer.flatten(layer(*args, **kwargs)):
            assert out.dtype == dtype, type(layer).__name__
