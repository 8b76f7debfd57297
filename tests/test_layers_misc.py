"""The small layer families against real Keras: reshaping (Permute, RepeatVector, Cropping,
UpSampling, ZeroPadding), activation layers, noise/dropout layers, Identity, Lambda, Masking,
Wrapper, ReversibleEmbedding, and TorchModuleWrapper.

Deterministic layers go through the layer harness (config, weights, outputs in inference and
training mode, gradients, torch.compile). Random layers are compared in inference mode (and at
rate 0 in training mode), and their training-mode statistics are checked here. Masks, activity
losses and Lambda/Wrapper/TorchModuleWrapper configs are compared with Keras in one extra
subprocess (`oracle`).
"""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from keras_oracle import requires_keras
from keras_oracle import run_keras
from layer_harness import LayerCase, parametrize_cases, rand

import tkeras
from tkeras.core.registry import UnsafeConfigError
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import register_keras_serializable
from tkeras.core.registry import serialize_keras_object

CF = "channels_first"
L = tkeras.layers


def with_zero_steps(x, steps, value=0.0):
    """`x` with the given (sample, step) positions set to `value` on every feature."""
    x = x.copy()
    for b, t in steps:
        x[b, t] = value
    return x


def fn_config(name):
    return {"module": "builtins", "class_name": "function", "config": name,
            "registered_name": "function"}


SOFTMAX_IN = rand(3, 5)
SOFTMAX_MASK = np.array([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)

CASES = [
    # Reshaping ---------------------------------------------------------------------------------
    LayerCase("permute_3d", "Permute", {"dims": [2, 1]}, rand(2, 3, 4), training=True),
    LayerCase("permute_4d", "Permute", {"dims": [3, 1, 2]}, rand(2, 3, 4, 5)),
    LayerCase("repeat_vector", "RepeatVector", {"n": 3}, rand(2, 4), training=True),
    LayerCase("cropping1d_default", "Cropping1D", {}, rand(2, 5, 3), training=True),
    LayerCase("cropping1d_asym", "Cropping1D", {"cropping": [2, 0]}, rand(2, 5, 3)),
    LayerCase("cropping2d_default", "Cropping2D", {}, rand(2, 4, 5, 3)),
    LayerCase("cropping2d_int", "Cropping2D", {"cropping": 1}, rand(2, 4, 5, 3)),
    LayerCase("cropping2d_sym_pair", "Cropping2D", {"cropping": [1, 2]}, rand(2, 4, 6, 3)),
    LayerCase("cropping2d_nested_cf", "Cropping2D",
              {"cropping": [[1, 0], [2, 1]], "data_format": CF}, rand(2, 3, 5, 6)),
    LayerCase("cropping3d_default", "Cropping3D", {}, rand(2, 4, 5, 6, 2)),
    LayerCase("cropping3d_mixed_cf", "Cropping3D",
              {"cropping": [[0, 1], 0, [1, 2]], "data_format": CF}, rand(2, 2, 4, 3, 5)),
    LayerCase("upsampling1d_default", "UpSampling1D", {}, rand(2, 3, 4), training=True),
    LayerCase("upsampling1d_3", "UpSampling1D", {"size": 3}, rand(2, 3, 4)),
    LayerCase("upsampling2d_default", "UpSampling2D", {}, rand(2, 3, 4, 2)),
    LayerCase("upsampling2d_23_cf", "UpSampling2D", {"size": [2, 3], "data_format": CF},
              rand(2, 2, 3, 4)),
    LayerCase("upsampling2d_bilinear", "UpSampling2D",
              {"size": [2, 3], "interpolation": "bilinear"}, rand(2, 3, 4, 2), training=True),
    LayerCase("upsampling2d_bilinear_cf", "UpSampling2D",
              {"size": 3, "interpolation": "bilinear", "data_format": CF}, rand(2, 2, 3, 4)),
    LayerCase("upsampling2d_bicubic", "UpSampling2D", {"interpolation": "bicubic"},
              rand(2, 4, 3, 2)),
    LayerCase("upsampling3d_default", "UpSampling3D", {}, rand(2, 2, 3, 2, 2)),
    LayerCase("upsampling3d_123_cf", "UpSampling3D", {"size": [1, 2, 3], "data_format": CF},
              rand(2, 2, 2, 3, 2)),
    LayerCase("zeropadding1d_default", "ZeroPadding1D", {}, rand(2, 3, 4), training=True),
    LayerCase("zeropadding1d_asym_cf", "ZeroPadding1D", {"padding": [2, 0], "data_format": CF},
              rand(2, 3, 4)),
    LayerCase("zeropadding2d_default", "ZeroPadding2D", {}, rand(2, 3, 4, 2)),
    LayerCase("zeropadding2d_int", "ZeroPadding2D", {"padding": 2}, rand(2, 3, 4, 2)),
    LayerCase("zeropadding2d_nested_cf", "ZeroPadding2D",
              {"padding": [[1, 0], [2, 3]], "data_format": CF}, rand(2, 2, 3, 4)),
    LayerCase("zeropadding3d_default", "ZeroPadding3D", {}, rand(2, 2, 3, 2, 2)),
    LayerCase("zeropadding3d_mixed", "ZeroPadding3D", {"padding": [1, [0, 2], 0]},
              rand(2, 2, 3, 2, 2)),
    # Activations -------------------------------------------------------------------------------
    LayerCase("relu_default", "ReLU", {}, rand(3, 4), training=True),
    LayerCase("relu6", "ReLU", {"max_value": 6.0}, rand(3, 4, low=-8, high=8)),
    LayerCase("relu_max_half", "ReLU", {"max_value": 0.5}, rand(3, 4)),
    LayerCase("relu_leaky", "ReLU", {"negative_slope": 0.1}, rand(3, 4)),
    LayerCase("relu_threshold", "ReLU", {"threshold": 0.2}, rand(3, 4)),
    LayerCase("relu_all_options", "ReLU",
              {"max_value": 0.8, "negative_slope": 0.1, "threshold": 0.2}, rand(3, 5)),
    LayerCase("leaky_relu_default", "LeakyReLU", {}, rand(3, 4), training=True),
    LayerCase("leaky_relu_slope", "LeakyReLU", {"negative_slope": 0.05}, rand(2, 3, 4)),
    LayerCase("leaky_relu_keras2_alpha", "LeakyReLU", {"alpha": 0.2}, rand(3, 4)),
    LayerCase("prelu_default", "PReLU", {}, rand(3, 4), training=True),
    LayerCase("prelu_shared_axes", "PReLU",
              {"alpha_initializer": {"class_name": "Constant", "config": {"value": 0.25}},
               "shared_axes": [1, 2]}, rand(2, 3, 4, 5)),
    LayerCase("prelu_shared_int_regularized", "PReLU",
              {"alpha_initializer": "random_uniform", "shared_axes": 1,
               "alpha_regularizer": "l2", "alpha_constraint": "non_neg"}, rand(2, 3, 4)),
    LayerCase("elu_default", "ELU", {}, rand(3, 4), training=True),
    LayerCase("elu_alpha", "ELU", {"alpha": 0.5}, rand(3, 4)),
    LayerCase("softmax_default", "Softmax", {}, rand(3, 4), training=True),
    LayerCase("softmax_axis1", "Softmax", {"axis": 1}, rand(2, 3, 4)),
    LayerCase("softmax_two_axes", "Softmax", {"axis": [1, 2]}, rand(2, 3, 4)),
    LayerCase("softmax_one_axis_list", "Softmax", {"axis": [-1]}, rand(2, 3, 4)),
    LayerCase("softmax_bool_mask", "Softmax", {}, SOFTMAX_IN, call_arrays={"mask": SOFTMAX_MASK}),
    LayerCase("softmax_float_mask_broadcast", "Softmax", {}, rand(2, 3, 4),
              call_arrays={"mask": np.array([[[1.0, 0.0, 0.7, 0.2]], [[0.0, 1.0, 1.0, 0.6]]],
                                            dtype=np.float32)}),
    LayerCase("softmax_input_mask", "Softmax", {}, SOFTMAX_IN, input_masks=[SOFTMAX_MASK]),
    # Regularization (inference; rate 0 in training) -------------------------------------------
    LayerCase("spatial_dropout1d", "SpatialDropout1D", {"rate": 0.5}, rand(2, 3, 4)),
    LayerCase("spatial_dropout2d", "SpatialDropout2D", {"rate": 0.3, "seed": 3},
              rand(2, 3, 4, 2)),
    LayerCase("spatial_dropout2d_cf", "SpatialDropout2D", {"rate": 0.3, "data_format": CF},
              rand(2, 3, 4, 2)),
    LayerCase("spatial_dropout3d", "SpatialDropout3D", {"rate": 0.2}, rand(2, 2, 3, 2, 2)),
    LayerCase("spatial_dropout3d_rate0", "SpatialDropout3D", {"rate": 0.0, "data_format": CF},
              rand(2, 2, 3, 2, 2), training=True),
    LayerCase("gaussian_dropout", "GaussianDropout", {"rate": 0.4, "seed": 1}, rand(3, 4)),
    LayerCase("gaussian_dropout_rate0", "GaussianDropout", {"rate": 0.0}, rand(3, 4),
              training=True),
    LayerCase("gaussian_noise", "GaussianNoise", {"stddev": 0.5}, rand(3, 4)),
    LayerCase("gaussian_noise_zero", "GaussianNoise", {"stddev": 0.0, "seed": 2}, rand(3, 4),
              training=True),
    LayerCase("alpha_dropout", "AlphaDropout", {"rate": 0.3, "noise_shape": [None, 1, 4]},
              rand(2, 3, 4)),
    LayerCase("alpha_dropout_rate0", "AlphaDropout", {"rate": 0.0}, rand(3, 4), training=True),
    LayerCase("activity_regularization", "ActivityRegularization", {"l1": 0.01, "l2": 0.02},
              rand(3, 4), training=True),
    # Core --------------------------------------------------------------------------------------
    LayerCase("identity", "Identity", {}, rand(2, 3), training=True),
    LayerCase("masking_default", "Masking", {},
              with_zero_steps(rand(2, 4, 3), [(0, 1), (1, 3)]), training=True),
    LayerCase("masking_value", "Masking", {"mask_value": 0.5},
              with_zero_steps(rand(2, 4, 3), [(0, 0), (1, 2)], value=0.5)),
    LayerCase("lambda_named_fn", "Lambda",
              {"function": fn_config("relu"), "output_shape": [4], "arguments": {}},
              rand(3, 4), from_config=True, training=True),
    LayerCase("lambda_arguments", "Lambda",
              {"function": fn_config("leaky_relu"), "arguments": {"negative_slope": 0.1}},
              rand(3, 4), from_config=True),
    LayerCase("reversible_embedding", "ReversibleEmbedding", {"input_dim": 7, "output_dim": 3},
              np.array([[1, 2, 0], [6, 3, 3]], dtype=np.int64)),
    LayerCase("reversible_embedding_reverse", "ReversibleEmbedding",
              {"input_dim": 7, "output_dim": 3}, rand(2, 4, 3), call_kwargs={"reverse": True},
              training=True),
    # Untied: each call uses only one of the two tables, so the other gets no gradient (the
    # harness wants one for every weight); outputs are still compared.
    LayerCase("reversible_embedding_untied", "ReversibleEmbedding",
              {"input_dim": 6, "output_dim": 4, "tie_weights": False,
               "embeddings_initializer": "random_normal", "mask_zero": True},
              rand(3, 4), call_kwargs={"reverse": True}, grads=False),
    LayerCase("reversible_embedding_untied_forward", "ReversibleEmbedding",
              {"input_dim": 6, "output_dim": 4, "tie_weights": False, "mask_zero": True},
              np.array([[1, 0, 5]], dtype=np.int64), grads=False),
    LayerCase("reversible_embedding_soft_cap", "ReversibleEmbedding",
              {"input_dim": 5, "output_dim": 3, "logit_soft_cap": 0.5,
               "embeddings_initializer": {"class_name": "RandomUniform",
                                          "config": {"minval": -2.0, "maxval": 2.0}}},
              rand(2, 3, low=-3, high=3), call_kwargs={"reverse": True}),
    LayerCase("reversible_embedding_reverse_dtype", "ReversibleEmbedding",
              {"input_dim": 5, "output_dim": 3, "reverse_dtype": "float64"},
              rand(2, 3), call_kwargs={"reverse": True}, compile=False),
]

# torch.compile (fullgraph) costs ~0.4 s a case: check it on the first case of each layer and on
# the other code paths that run different torch ops.
_COMPILE_ALSO = {"upsampling2d_bilinear_cf", "upsampling2d_bicubic", "relu_all_options",
                 "softmax_two_axes", "softmax_bool_mask", "spatial_dropout3d_rate0",
                 "alpha_dropout_rate0", "reversible_embedding_reverse",
                 "reversible_embedding_soft_cap"}


def _compile_once_per_layer(cases):
    seen = set()
    out = []
    for case in cases:
        first = case.cls not in seen
        seen.add(case.cls)
        out.append(dataclasses.replace(case, compile=case.compile and (
            first or case.id in _COMPILE_ALSO)))
    return out


CASES = _compile_once_per_layer(CASES)
test_misc_layer_parity = requires_keras(parametrize_cases(CASES))


@pytest.mark.parametrize("case", [c for c in CASES if not isinstance(c.inputs, list)],
                         ids=lambda c: c.id)
def test_symbolic_shape_matches_eager(case):
    """The functional API's output shape (batch unknown) agrees with an eager call."""
    cls = getattr(L, case.cls)
    layer = cls.from_config(dict(case.kwargs)) if case.from_config else cls(**case.kwargs)
    x = torch.as_tensor(case.inputs)
    eager = layer(x, **case.call_kwargs)
    symbolic = L.Input(shape=x.shape[1:], dtype=str(x.dtype).replace("torch.", ""))
    out = layer(symbolic, **case.call_kwargs)
    assert out.shape == (None, *eager.shape[1:])


# ---------------------------------------------------------------------------- extra oracle


def _tk_lambda_config():
    k = 3.0  # a closure value (Keras cannot reload lambda *defaults* after JSON: list vs tuple)
    return serialize_keras_object(L.Lambda(lambda x: x * k + 1.0, output_shape=(4,)))


_ORACLE = r"""
import torch
from keras import layers

def masks(layer, x, mask=None):
    t = torch.tensor(x)
    if mask is not None:
        keras.src.backend.set_keras_mask(t, torch.tensor(mask))
    out = layer(t)
    m = keras.src.backend.get_keras_mask(out)
    return None if m is None else m.numpy()

x = inputs["mask_in"]
outputs["masking_mask"] = masks(layers.Masking(), x)
outputs["masking_half_mask"] = masks(layers.Masking(mask_value=0.5), inputs["mask_half_in"])
outputs["relu_passes_mask"] = masks(layers.ReLU(), x, inputs["step_mask"])
outputs["dropout_passes_mask"] = masks(layers.GaussianNoise(0.3), x, inputs["step_mask"])
outputs["permute_drops_mask"] = str(masks(layers.Permute((2, 1)), x, inputs["step_mask"]))

reg = layers.ActivityRegularization(l1=0.01, l2=0.02)
reg(torch.tensor(inputs["reg_in"]))
outputs["activity_loss"] = float(sum(l.detach() for l in reg.losses))

@keras.saving.register_keras_serializable(package="misc")
def double(x):
    return x * 2

outputs["lambda_named_config"] = json.dumps(
    keras.saving.serialize_keras_object(layers.Lambda(double, output_shape=(4,)))["config"])
k = 3.0
lam = layers.Lambda(lambda x: x * k + 1.0, output_shape=(4,))
outputs["lambda_keras_config"] = json.dumps(keras.saving.serialize_keras_object(lam)["config"])
tk_config = json.loads(str(inputs["tk_lambda_config"]))
loaded = keras.saving.deserialize_keras_object(tk_config, safe_mode=False)
outputs["lambda_loaded_out"] = loaded(torch.tensor(inputs["reg_in"])).numpy()

wrapper = keras.layers.Wrapper(keras.layers.Dense(3))
wrapper.build((None, 4))
outputs["wrapper_config"] = json.dumps(keras.saving.serialize_keras_object(wrapper)["config"])

module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
module[0].bias.requires_grad_(False)
tmw = layers.TorchModuleWrapper(module)
outputs["tmw_n_weights"] = len(tmw.weights)
outputs["tmw_n_trainable"] = len(tmw.trainable_weights)
store = {}
tmw.save_own_variables(store)
outputs["tmw_store_keys"] = list(store)
outputs["tmw_config"] = json.dumps(keras.saving.serialize_keras_object(tmw))
"""


@pytest.fixture(scope="module")
def oracle():
    arrays = {
        "mask_in": with_zero_steps(rand(2, 4, 3), [(0, 1), (1, 0), (1, 3)]),
        "mask_half_in": with_zero_steps(rand(2, 4, 3), [(0, 2)], value=0.5),
        "step_mask": np.array([[1, 0, 1, 1], [1, 1, 1, 0]], dtype=bool),
        "reg_in": rand(3, 4),
        "tk_lambda_config": np.array(json.dumps(_tk_lambda_config())),
    }
    return arrays, run_keras(_ORACLE, arrays)


def _mask_of(layer, x, mask=None):
    t = torch.as_tensor(x)
    if mask is not None:
        t._keras_mask = torch.as_tensor(mask)
    m = getattr(layer(t), "_keras_mask", None)
    return None if m is None else m.numpy()


@requires_keras
def test_output_masks_match_keras(oracle):
    arrays, ref = oracle
    np.testing.assert_array_equal(_mask_of(L.Masking(), arrays["mask_in"]), ref["masking_mask"])
    np.testing.assert_array_equal(_mask_of(L.Masking(mask_value=0.5), arrays["mask_half_in"]),
                                  ref["masking_half_mask"])
    np.testing.assert_array_equal(_mask_of(L.ReLU(), arrays["mask_in"], arrays["step_mask"]),
                                  ref["relu_passes_mask"])
    np.testing.assert_array_equal(
        _mask_of(L.GaussianNoise(0.3), arrays["mask_in"], arrays["step_mask"]),
        ref["dropout_passes_mask"])
    assert ref["permute_drops_mask"] == "None"
    assert _mask_of(L.Permute((2, 1)), arrays["mask_in"], arrays["step_mask"]) is None


@requires_keras
def test_activity_regularization_loss_matches_keras(oracle):
    arrays, ref = oracle
    layer = L.ActivityRegularization(l1=0.01, l2=0.02)
    layer(torch.as_tensor(arrays["reg_in"]))
    loss = float(sum(l.detach() for l in layer.losses))
    assert loss == pytest.approx(ref["activity_loss"], rel=1e-6)


@requires_keras
def test_lambda_configs_match_keras(oracle):
    arrays, ref = oracle

    @register_keras_serializable(package="misc")
    def double(x):
        return x * 2

    ours = json.loads(json.dumps(serialize_keras_object(L.Lambda(double, output_shape=(4,)))))
    keras_named = json.loads(ref["lambda_named_config"])
    keras_named.pop("name")
    ours["config"].pop("name")
    assert ours["config"] == keras_named
    restored = L.Lambda.from_config(ours["config"])
    assert restored.function is double and restored.compute_output_shape((None, 2)) == (None, 4)

    # A Python lambda: same entry layout as Keras (bytecode differs with the source location).
    keras_lambda = json.loads(ref["lambda_keras_config"])
    tk_lambda = _tk_lambda_config()["config"]
    assert set(tk_lambda) == set(keras_lambda) - {"name"} | {"name"}
    assert tk_lambda["function"]["class_name"] == keras_lambda["function"]["class_name"] == (
        "__lambda__")
    assert set(tk_lambda["function"]["config"]) == set(keras_lambda["function"]["config"])
    assert tk_lambda["function"]["config"]["closure"] == [3.0]
    assert tk_lambda["function"]["config"]["defaults"] is None
    # ... and Keras (safe_mode=False) runs the function tkeras wrote.
    expected = arrays["reg_in"] * 3.0 + 1.0
    np.testing.assert_allclose(ref["lambda_loaded_out"], expected, rtol=1e-6)


def test_lambda_bytecode_is_never_loaded():
    config = _tk_lambda_config()
    with pytest.raises(UnsafeConfigError):
        L.Lambda.from_config(config["config"])
    with pytest.raises(UnsafeConfigError):
        deserialize_keras_object(config, safe_mode=False)


def test_lambda_mask_training_and_shape_inference():
    seen = {}

    def fn(x, mask=None, training=None):
        seen.update(mask=mask, training=training)
        return x[:, :2] * 2

    layer = L.Lambda(fn, mask=lambda inputs, mask: inputs[:, :2] > 0)
    x = torch.tensor([[1.0, -1.0, 3.0], [-2.0, 5.0, 0.0]])
    x._keras_mask = torch.tensor([True, False])
    y = layer(x, training=True)
    assert seen["training"] is True and torch.equal(seen["mask"], x._keras_mask)
    torch.testing.assert_close(y, x[:, :2] * 2)
    assert torch.equal(y._keras_mask, x[:, :2] > 0)
    out = L.Lambda(lambda t: t[:, :2])(L.Input(shape=(5,)))
    assert out.shape == (None, 2)
    fixed = L.Lambda(lambda t: t, output_shape=lambda s: (s[0], 7))
    assert fixed.compute_output_shape((None, 3)) == (None, 7)


def _strip_names(config):
    if isinstance(config, dict):
        return {k: _strip_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [_strip_names(v) for v in config]
    return config


@requires_keras
def test_wrapper_config_matches_keras(oracle):
    _, ref = oracle
    wrapper = L.Wrapper(L.Dense(3))
    wrapper.build((None, 4))
    assert wrapper.layer.built and tuple(wrapper.layer.kernel.shape) == (4, 3)
    ours = json.loads(json.dumps(serialize_keras_object(wrapper)["config"]))
    assert _strip_names(ours) == _strip_names(json.loads(ref["wrapper_config"]))
    clone = L.Wrapper.from_config(ours)
    assert isinstance(clone.layer, L.Dense) and clone.layer.units == 3
    with pytest.raises(ValueError, match="isn't a supported layer type"):
        L.Wrapper(nn.Linear(2, 2))


# ---------------------------------------------------------------------------- random layers


def _train(layer, x):
    return layer(torch.as_tensor(x), training=True)


@pytest.mark.parametrize("cls,shape,data_format,channel_axis", [
    ("SpatialDropout1D", (16, 6, 32), None, -1),
    ("SpatialDropout2D", (16, 5, 6, 32), "channels_last", -1),
    ("SpatialDropout2D", (16, 32, 5, 6), CF, 1),
    ("SpatialDropout3D", (16, 3, 4, 5, 32), "channels_last", -1),
    ("SpatialDropout3D", (16, 32, 3, 4, 5), CF, 1),
])
def test_spatial_dropout_drops_whole_feature_maps(cls, shape, data_format, channel_axis):
    torch.manual_seed(0)
    kwargs = {} if data_format is None else {"data_format": data_format}
    layer = getattr(L, cls)(0.4, **kwargs)
    y = _train(layer, np.ones(shape, np.float32)).movedim(channel_axis, -1)
    per_map = y.reshape(shape[0], -1, y.shape[-1])  # (batch, positions, channels)
    # Every (sample, channel) map is either all zeros or all 1 / (1 - rate).
    assert torch.all(per_map.amin(1) == per_map.amax(1))
    first = per_map[:, 0]
    assert torch.all((first == 0) | torch.isclose(first, torch.tensor(1 / 0.6)))
    dropped = (per_map[:, 0] == 0).float().mean().item()
    assert abs(dropped - 0.4) < 0.1  # 512 draws: ~0.02 standard deviation
    assert torch.equal(layer(torch.ones(shape)), torch.ones(shape))  # inference: identity


def test_gaussian_dropout_statistics():
    torch.manual_seed(0)
    y = _train(L.GaussianDropout(0.3), np.ones((400, 500), np.float32))
    assert abs(y.mean().item() - 1.0) < 0.01
    assert abs(y.var().item() - 0.3 / 0.7) < 0.01


def test_gaussian_noise_statistics():
    torch.manual_seed(0)
    y = _train(L.GaussianNoise(0.25), np.full((400, 500), 2.0, np.float32))
    assert abs(y.mean().item() - 2.0) < 0.01
    assert abs(y.std().item() - 0.25) < 0.005


def test_alpha_dropout_keeps_selu_statistics_and_noise_shape():
    torch.manual_seed(0)
    x = torch.randn(400, 500)
    y = _train(L.AlphaDropout(0.2), x.numpy())
    assert abs(y.mean().item()) < 0.02 and abs(y.var().item() - 1.0) < 0.03
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - 0.2) * (1 + 0.2 * alpha_p**2)) ** -0.5
    dropped_value = a * alpha_p + (-a * alpha_p * 0.2)
    dropped = torch.isclose(y, torch.tensor(dropped_value))
    assert abs(dropped.float().mean().item() - 0.2) < 0.01
    kept = ~dropped
    torch.testing.assert_close(y[kept], a * x[kept] - a * alpha_p * 0.2)
    # noise_shape: one draw per (sample, feature), shared along axis 1.
    y = _train(L.AlphaDropout(0.5, noise_shape=(None, 1, 8)), torch.randn(20, 6, 8).numpy())
    dropped = torch.isclose(y, torch.tensor(((1 - 0.5) * (1 + 0.5 * alpha_p**2)) ** -0.5
                                            * alpha_p * 0.5))
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))
    assert 0 < dropped.float().mean().item() < 1


def test_activity_regularization_reaches_model_losses():
    layer = L.ActivityRegularization(l2=0.5)
    x = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    layer(x)
    assert float(layer.losses[0]) == pytest.approx(0.5 * 14 / 2)
    assert "activity_regularizer" not in layer.get_config()


# ---------------------------------------------------------------------------- TorchModuleWrapper


def _module():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    module[0].bias.requires_grad_(False)
    return module


def test_torch_module_wrapper_tracks_parameters():
    module = _module()
    weight_data = module[0].weight.data_ptr()
    layer = L.TorchModuleWrapper(module)
    assert [w.name for w in layer.weights] == ["0.weight", "1.weight", "1.bias", "0.bias"]
    assert [w.name for w in layer.trainable_weights] == ["0.weight", "1.weight", "1.bias"]
    assert [w.name for w in layer.non_trainable_weights] == ["0.bias"]
    # The module now holds the same variables (same storage as before wrapping).
    assert layer.weights[0] is module[0].weight and module[0].weight.data_ptr() == weight_data
    assert layer.weights[0].path == f"{layer.name}/0.weight"
    assert set(layer.state_dict()) == {f"module.{k}" for k in module.state_dict()}
    assert {id(p) for p in layer.parameters()} == {id(w) for w in layer.weights}
    x = torch.randn(5, 3)
    module.eval()
    torch.testing.assert_close(layer(x), module(x))
    layer.set_weights([np.zeros(tuple(w.shape), np.float32) for w in layer.weights])
    assert float(module[0].weight.detach().abs().sum()) == 0.0


def test_torch_module_wrapper_shared_parameters_stay_shared():
    linear = nn.Linear(2, 2)
    layer = L.TorchModuleWrapper(nn.Sequential(linear, nn.ReLU(), linear))
    assert len(layer.weights) == 2
    assert layer.module[0].weight is layer.module[2].weight is layer.weights[0]


def test_torch_module_wrapper_trains_with_torch_and_tkeras_optimizers():
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    layer = L.TorchModuleWrapper(nn.Linear(3, 1))
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(50):
        opt.zero_grad()
        loss = ((layer(x, training=True) - y) ** 2).mean()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05

    inputs = L.Input(shape=(3,))
    wrapped = L.TorchModuleWrapper(nn.Linear(3, 1))
    model = tkeras.Model(inputs, wrapped(inputs))
    assert len(model.trainable_weights) == 2
    before = wrapped.module.weight.detach().clone()
    model.compile(optimizer=tkeras.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x.numpy(), y.numpy(), epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
    assert not torch.equal(before, wrapped.module.weight.detach())


def test_torch_module_wrapper_training_flag_sets_module_mode():
    layer = L.TorchModuleWrapper(nn.Dropout(0.5))
    x = torch.ones(1000)
    assert torch.equal(layer(x), x) and not layer.module.training
    assert (layer(x, training=True) == 0).any() and layer.module.training
    assert torch.equal(layer(x), x)
    assert not layer.training  # only the wrapped module's mode changes


def test_torch_module_wrapper_shape_inference():
    inputs = L.Input(shape=(3,))
    assert L.TorchModuleWrapper(nn.Linear(3, 2))(inputs).shape == (None, 2)
    fixed = L.TorchModuleWrapper(nn.Linear(3, 2), output_shape=(None, 2))
    assert fixed.compute_output_shape((None, 3)) == (None, 2)
    with pytest.raises(ValueError, match="LazyModules"):
        L.TorchModuleWrapper(nn.LazyLinear(2))


@register_keras_serializable(package="misc_tests")
class ScaledLinear(nn.Module):
    def __init__(self, features, scale):
        super().__init__()
        self.features, self.scale = features, scale
        self.linear = nn.Linear(features, features)

    def forward(self, x):
        return self.linear(x) * self.scale

    def get_config(self):
        return {"features": self.features, "scale": self.scale}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def test_torch_module_wrapper_config_only_for_registered_modules():
    with pytest.raises(ValueError, match="not a registered class"):
        L.TorchModuleWrapper(nn.Linear(2, 2)).get_config()
    layer = L.TorchModuleWrapper(ScaledLinear(3, 0.5), output_shape=[None, 3])
    config = json.loads(json.dumps(serialize_keras_object(layer)))
    clone = deserialize_keras_object(config)
    assert isinstance(clone.module, ScaledLinear) and clone.module.scale == 0.5
    assert clone.output_shape == (None, 3)
    store = {}
    layer.save_own_variables(store)
    clone.load_own_variables(store)
    x = torch.randn(2, 3)
    torch.testing.assert_close(clone(x), layer(x))


@requires_keras
def test_torch_module_wrapper_weights_layout_and_pickle_refusal_match_keras(oracle):
    _, ref = oracle
    layer = L.TorchModuleWrapper(_module())
    assert len(layer.weights) == ref["tmw_n_weights"]
    assert len(layer.trainable_weights) == ref["tmw_n_trainable"]
    store = {}
    layer.save_own_variables(store)
    assert list(store) == list(ref["tmw_store_keys"])
    keras_config = json.loads(ref["tmw_config"])
    assert isinstance(keras_config["config"]["module"], str)  # Keras's pickled module
    with pytest.raises(ValueError, match="never unpickles"):
        deserialize_keras_object(keras_config)


def test_torch_module_wrapper_weights_file_round_trip(tmp_path):
    inputs = L.Input(shape=(3,))
    model = tkeras.Model(inputs, L.TorchModuleWrapper(_module())(inputs))
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    inputs2 = L.Input(shape=(3,))
    other = tkeras.Model(inputs2, L.TorchModuleWrapper(nn.Sequential(
        nn.Linear(3, 4), nn.BatchNorm1d(4)))(inputs2))
    other.load_weights(path)
    for a, b in zip(model.layers[1].module.state_dict().values(),
                    other.layers[1].module.state_dict().values()):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------------------- misc behaviour


def test_reversible_embedding_masks_only_forward_calls():
    layer = L.ReversibleEmbedding(5, 3, mask_zero=True)
    out = layer(torch.tensor([[1, 0, 2]]))
    assert torch.equal(out._keras_mask, torch.tensor([[True, False, True]]))
    logits = layer(out, reverse=True)
    assert logits.shape == (1, 3, 5) and getattr(logits, "_keras_mask", None) is None
    torch.testing.assert_close(logits, out @ layer.embeddings.detach().t())
    assert L.ReversibleEmbedding(5, 3)(L.Input(shape=(4, 3)), reverse=True).shape == (None, 4, 5)


def test_argument_validation():
    with pytest.raises(ValueError, match="consecutive"):
        L.Permute((1, 3))
    with pytest.raises(TypeError):
        L.RepeatVector(2.0)
    with pytest.raises(ValueError, match="smaller than"):
        L.Cropping1D((2, 3))(torch.zeros(1, 5, 2))
    with pytest.raises(ValueError):
        L.ZeroPadding2D(((1, -1), (0, 0)))
    with pytest.raises(ValueError, match="interpolation"):
        L.UpSampling2D(interpolation="lanczos3")
    with pytest.raises(ValueError, match="max_value"):
        L.ReLU(max_value=-1.0)
    with pytest.raises(ValueError, match="negative_slope"):
        L.LeakyReLU(negative_slope=-0.1)
    with pytest.raises(ValueError, match="rate"):
        L.GaussianDropout(1.5)
    with pytest.raises(ValueError, match="broadcastable"):
        L.Softmax()(torch.zeros(2, 3), mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.warns(UserWarning, match="alpha"):
        assert L.LeakyReLU(alpha=0.1).negative_slope == 0.1


def test_softmax_masked_rows_are_zero_in_float16():
    x = torch.randn(2, 4, dtype=torch.float16)
    mask = torch.tensor([[True, False, True, True], [False] * 4])
    y = L.Softmax(dtype="float16")(x, mask=mask)
    assert y.dtype == torch.float16 and torch.all(y[1] == 0) and y[0, 1] == 0
    assert math.isclose(float(y[0].float().sum()), 1.0, rel_tol=1e-3)
