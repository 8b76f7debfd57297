"""Parity of the normalization layers with real Keras, through the layer harness."""

import dataclasses

import numpy as np
import pytest
import torch

from keras_oracle import requires_keras
from layer_harness import LayerCase, parametrize_cases, rand

MASK_2x5 = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)

# Inputs with a non-zero mean and non-unit spread, so the statistics matter.
X2 = rand(6, 4, low=-1.0, high=3.0)
X3 = rand(2, 5, 3, low=-2.0, high=1.0)
X4 = rand(2, 3, 4, 6, low=0.0, high=2.0)


def _layer(class_name, **config):
    """A wrapped layer's config (wrappers are built with from_config)."""
    return {"module": "keras.layers", "class_name": class_name, "config": config}


CASES = [
    # BatchNormalization: inference, training (batch stats + moving-stat update), options.
    LayerCase("bn_2d", "BatchNormalization", {}, X2, training=True, check_updates=True),
    LayerCase("bn_3d", "BatchNormalization", {"momentum": 0.9}, X3, training=True,
              check_updates=True),
    LayerCase("bn_4d_channels_last", "BatchNormalization", {"epsilon": 1e-5}, X4,
              training=True, check_updates=True),
    LayerCase("bn_4d_axis1", "BatchNormalization", {"axis": 1, "momentum": 0.5}, X4,
              training=True, check_updates=True),
    LayerCase("bn_axis_neg2", "BatchNormalization", {"axis": -2, "momentum": 0.8}, X3,
              training=True, check_updates=True),
    LayerCase("bn_no_center_scale", "BatchNormalization",
              {"center": False, "scale": False, "momentum": 0.7}, X3, training=True,
              check_updates=True),
    LayerCase("bn_no_scale", "BatchNormalization", {"scale": False}, X2, training=True,
              check_updates=True),
    LayerCase("bn_initializers_regularizers", "BatchNormalization",
              {"gamma_initializer": "random_uniform", "moving_variance_initializer": "zeros",
               "beta_regularizer": "l2", "gamma_constraint": "non_neg"}, X2, training=True,
              check_updates=True),
    LayerCase("bn_frozen_trains_as_inference", "BatchNormalization",
              {"trainable": False, "momentum": 0.5}, X3, training=True, check_updates=True),
    LayerCase("bn_masked_training", "BatchNormalization", {"momentum": 0.6}, X3,
              call_arrays={"mask": MASK_2x5}, training=True, check_updates=True),
    LayerCase("bn_masked_training_4d", "BatchNormalization", {"momentum": 0.6}, X4,
              call_arrays={"mask": X4[..., 0] > 1.0}, training=True, check_updates=True),
    LayerCase("bn_renorm", "BatchNormalization",
              {"renorm": True, "renorm_clipping": {"rmax": 1.5, "rmin": 0.7, "dmax": 0.3},
               "renorm_momentum": 0.5, "momentum": 0.6}, X3, training=True,
              check_updates=True),
    LayerCase("bn_renorm_no_clipping", "BatchNormalization", {"renorm": True}, X2,
              training=True, check_updates=True),
    # Mixed precision: bfloat16 compute, float32 statistics (bfloat16 keeps ~3 significant
    # digits, hence the tolerance).
    LayerCase("bn_mixed_bfloat16", "BatchNormalization", {"dtype": "mixed_bfloat16"}, X3,
              training=True, check_updates=True, atol=2e-2, rtol=2e-2),
    LayerCase("ln_mixed_bfloat16", "LayerNormalization", {"dtype": "mixed_bfloat16"}, X3,
              atol=2e-2, rtol=2e-2),
    LayerCase("gn_float16", "GroupNormalization", {"groups": 3, "dtype": "float16"}, X4,
              atol=5e-3, rtol=5e-3),
    # LayerNormalization: trailing axes (F.layer_norm), non-contiguous axes (moments path).
    LayerCase("ln_last", "LayerNormalization", {}, X3),
    LayerCase("ln_2d_eps", "LayerNormalization", {"epsilon": 1e-5}, X2),
    LayerCase("ln_two_trailing_axes", "LayerNormalization", {"axis": [-2, -1]}, X4),
    LayerCase("ln_positive_trailing_axes", "LayerNormalization", {"axis": [2, 3]}, X4),
    LayerCase("ln_non_contiguous_axes", "LayerNormalization", {"axis": [1, 3]}, X4),
    LayerCase("ln_no_center", "LayerNormalization", {"center": False}, X3),
    LayerCase("ln_no_scale", "LayerNormalization", {"scale": False, "beta_initializer": "ones"},
              X3),
    LayerCase("ln_rms_scaling", "LayerNormalization", {"rms_scaling": True}, X3),
    LayerCase("ln_regularized", "LayerNormalization",
              {"gamma_regularizer": "l1", "beta_constraint": "unit_norm"}, X2),
    # GroupNormalization.
    LayerCase("gn_channels_last", "GroupNormalization", {"groups": 2}, X4),
    LayerCase("gn_instance_norm", "GroupNormalization", {"groups": -1}, X3),
    LayerCase("gn_channels_first", "GroupNormalization", {"groups": 3, "axis": 1},
              rand(2, 6, 4, 5, low=-1.0, high=2.0)),
    LayerCase("gn_2d_one_group", "GroupNormalization", {"groups": 1, "epsilon": 1e-4}, X2),
    LayerCase("gn_axis_neg2", "GroupNormalization", {"groups": 5, "axis": -2, "center": False},
              X3),
    LayerCase("gn_no_scale", "GroupNormalization", {"groups": 3, "scale": False}, X4),
    # RMSNormalization.
    LayerCase("rms_last", "RMSNormalization", {}, X3),
    LayerCase("rms_two_axes", "RMSNormalization", {"axis": [-2, -1], "epsilon": 1e-3}, X4),
    # UnitNormalization.
    LayerCase("unit_last", "UnitNormalization", {}, X3),
    LayerCase("unit_axes", "UnitNormalization", {"axis": [1, 2]}, X3),
    LayerCase("unit_zero_rows", "UnitNormalization", {"axis": 1},
              np.concatenate([np.zeros((1, 4), np.float32), X2[:2]]), grads=False),
    # SpectralNormalization: inference, and training (power iteration overwrites the kernel).
    LayerCase("spectral_dense", "SpectralNormalization", {"layer": _layer("Dense", units=3)}, X2,
              training=True, check_updates=True, from_config=True),
    LayerCase("spectral_dense_3_iterations", "SpectralNormalization",
              {"layer": _layer("Dense", units=5, use_bias=False), "power_iterations": 3}, X3,
              training=True, check_updates=True, from_config=True),
    LayerCase("spectral_conv2d", "SpectralNormalization",
              {"layer": _layer("Conv2D", filters=3, kernel_size=2)}, X4, training=True,
              check_updates=True, from_config=True),

]

# torch.compile(fullgraph) costs ~1.5 s a case: checked on one case per layer and code path.
COMPILED = {"bn_4d_channels_last", "bn_masked_training", "bn_renorm", "ln_last",
            "ln_non_contiguous_axes", "ln_rms_scaling", "gn_channels_last", "gn_no_scale",
            "rms_last", "rms_two_axes", "unit_axes", "spectral_dense"}
CASES = [dataclasses.replace(c, compile=c.id in COMPILED) for c in CASES]

test_normalization_layer_parity = requires_keras(parametrize_cases(CASES))


def _bn_pair(**kwargs):
    import tkeras

    a = tkeras.layers.BatchNormalization(**kwargs)
    b = tkeras.layers.BatchNormalization(**kwargs)
    x = torch.tensor(X4)
    a(x), b(x)
    b.set_weights([w + 0.1 * i for i, w in enumerate(a.get_weights())])
    a.set_weights(b.get_weights())
    return a, b, x


def test_batch_norm_training_compiles_fullgraph():
    a, b, x = _bn_pair(momentum=0.5)
    torch._dynamo.reset()
    compiled = torch.compile(b, backend="eager", fullgraph=True)
    before = a.moving_mean.numpy().copy()
    eager, traced = a(x, training=True), compiled(x, training=True)
    np.testing.assert_allclose(traced.detach().numpy(), eager.detach().numpy(), atol=1e-6)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_allclose(wb.numpy(), wa.numpy(), atol=1e-6)
    assert not np.allclose(a.moving_mean.numpy(), before)  # the statistics were updated


def test_batch_norm_synchronized_single_process(tmp_path):
    """With a (one-process) process group, synchronized=True takes the all-reduce path and
    gives the same outputs, gradients and statistics as synchronized=False."""
    import torch.distributed as dist

    a, b, x = _bn_pair(momentum=0.5)
    b.synchronized = True
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0,
                            world_size=1)
    try:
        assert b._distributed()
        outs = []
        for layer in (a, b):
            xi = x.clone().requires_grad_(True)
            out = layer(xi, training=True)
            (out * torch.tensor(X4).cos()).sum().backward()
            outs.append((out.detach().numpy(), xi.grad.numpy(), layer.gamma.grad.numpy()))
    finally:
        dist.destroy_process_group()
    for got, want in zip(outs[1], outs[0]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_allclose(wb.numpy(), wa.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", ["LayerNormalization", "RMSNormalization"])
def test_contiguous_non_trailing_axis(cls):
    """Keras's torch backend cannot normalize `axis=1` of a rank-3 input (it calls
    F.layer_norm/F.rms_norm on the wrong axes); tkeras normalizes the requested axis."""
    import tkeras

    layer = getattr(tkeras.layers, cls)(axis=1)
    out = layer(torch.tensor(X3)).detach().numpy()
    x = X3.astype(np.float64)
    if cls == "LayerNormalization":
        want = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-3)
    else:
        want = x / np.sqrt((x ** 2).mean(1, keepdims=True) + 1e-6)
    assert layer.get_weights()[0].shape == (5,)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_symbolic_shapes_and_masks():
    import tkeras

    inp = tkeras.Input((5, 3))
    for layer in (tkeras.layers.BatchNormalization(), tkeras.layers.LayerNormalization(),
                  tkeras.layers.GroupNormalization(groups=3), tkeras.layers.RMSNormalization(),
                  tkeras.layers.UnitNormalization(),
                  tkeras.layers.SpectralNormalization(tkeras.layers.Dense(4))):
        out = layer(inp)
        expected = (None, 5, 4) if isinstance(layer, tkeras.layers.SpectralNormalization) else (
            None, 5, 3)
        assert out.shape == expected, type(layer).__name__
    # Masks pass through the normalization layers (supports_masking, as in Keras).
    x = torch.tensor(X3)
    masked = tkeras.layers.Masking(mask_value=0.0)(torch.cat([x, torch.zeros(2, 1, 3)], 1))
    for layer in (tkeras.layers.BatchNormalization(), tkeras.layers.LayerNormalization(),
                  tkeras.layers.GroupNormalization(groups=1), tkeras.layers.UnitNormalization()):
        out = layer(masked)
        assert torch.equal(out._keras_mask, masked._keras_mask), type(layer).__name__


def test_spectral_normalization_embedding():
    """Wrapping an Embedding normalizes `embeddings`; repeated training calls drive the largest
    singular value to 1. (Keras casts the output to the input dtype, i.e. to int for token
    ids; tkeras keeps the float output.)"""
    import tkeras

    # Power iteration's convergence depends on the singular-value gap of the random init: seed it.
    tkeras.utils.set_random_seed(0)
    layer = tkeras.layers.SpectralNormalization(tkeras.layers.Embedding(7, 4))
    ids = torch.tensor([[1, 2, 6], [0, 3, 3]])
    out = layer(ids)
    assert out.dtype == torch.float32 and layer.vector_u.shape == (1, 4)
    assert [w.name for w in layer.weights] == ["embeddings", "vector_u"]
    for _ in range(30):
        layer(ids, training=True)
    sigma = torch.linalg.matrix_norm(layer.kernel.detach(), ord=2)
    np.testing.assert_allclose(float(sigma), 1.0, rtol=1e-4)
