"""Parity of LoRA and int8/int4 quantization (Dense, EinsumDense, Embedding) with real Keras.

One Keras subprocess computes every reference: the quantized weights and configs of layers
quantized from the same float weights, their outputs and gradients, a few SGD steps of
LoRA-enabled models, and `.keras` / `.weights.h5` files of quantized and LoRA models in both
directions (tkeras writes its files before the subprocess runs; Keras loads them there and writes
its own, which tkeras loads afterwards).
"""

import json
import os
import warnings
import zlib

import numpy as np
import pytest
import torch

import tkeras as keras
from keras_oracle import requires_keras
from keras_oracle import run_keras
from layer_harness import cotangent
from tkeras import layers
from tkeras.layers.core import quantization as q


def rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


IDS = np.array([[1, 0, 10], [4, 4, 7]], dtype=np.int64)

# id, layer class, constructor kwargs, input, mode, Int4QuantizationConfig kwargs (None: default)
QUANT_CASES = [
    ("dense_int8", "Dense", {"units": 6}, rand(4, 37), "int8", None),
    ("dense_int8_3d_relu", "Dense", {"units": 5, "activation": "relu"}, rand(2, 3, 37, seed=1),
     "int8", None),
    ("dense_int4_default", "Dense", {"units": 5}, rand(3, 300, seed=2), "int4", None),
    ("dense_int4_grouped", "Dense", {"units": 5}, rand(4, 37, seed=3), "int4",
     {"block_size": 16}),
    ("dense_int4_channel", "Dense", {"units": 5, "use_bias": False}, rand(4, 37, seed=4),
     "int4", {"block_size": -1}),
    ("einsum_int8_2d", "EinsumDense", {"equation": "ab,bc->ac", "output_shape": 7,
                                        "bias_axes": "c"}, rand(4, 9, seed=5), "int8", None),
    ("einsum_int8_3d", "EinsumDense", {"equation": "abc,cde->abde", "output_shape": [3, 4, 5],
                                        "bias_axes": "de"}, rand(2, 3, 6, seed=6), "int8", None),
    ("einsum_int8_middle", "EinsumDense", {"equation": "abc,dce->abde", "output_shape": [3, 4, 5]},
     rand(2, 3, 6, seed=7), "int8", None),
    ("einsum_int4_grouped", "EinsumDense", {"equation": "ab,bc->ac", "output_shape": 7,
                                             "bias_axes": "c"}, rand(4, 40, seed=8), "int4",
     {"block_size": 16}),
    ("einsum_int4_channel", "EinsumDense", {"equation": "abc,cde->abde",
                                             "output_shape": [3, 4, 5]}, rand(2, 3, 6, seed=9),
     "int4", {"block_size": -1}),
    ("embedding_int8", "Embedding", {"input_dim": 11, "output_dim": 6}, IDS, "int8", None),
    ("embedding_int4_grouped", "Embedding", {"input_dim": 11, "output_dim": 7}, IDS, "int4",
     {"block_size": 3}),
    ("embedding_int4_channel", "Embedding", {"input_dim": 11, "output_dim": 7}, IDS, "int4",
     {"block_size": -1}),
]

# LoRA training: id, layer class, kwargs, input, target shape, quantize first (mode, int4 kwargs)
LORA_CASES = [
    ("lora_dense", "Dense", {"units": 5}, rand(8, 7, seed=20), None),
    ("lora_einsum", "EinsumDense", {"equation": "abc,cd->abd", "output_shape": [3, 4],
                                     "bias_axes": "d"}, rand(8, 3, 6, seed=21), None),
    ("lora_embedding", "Embedding", {"input_dim": 12, "output_dim": 4},
     np.random.default_rng(22).integers(0, 12, (8, 3)), None),
    ("lora_dense_int8", "Dense", {"units": 5}, rand(8, 7, seed=23), ("int8", None)),
    ("lora_dense_int4", "Dense", {"units": 5}, rand(8, 7, seed=24), ("int4", {"block_size": 4})),
    ("lora_einsum_int8", "EinsumDense", {"equation": "abc,cd->abd", "output_shape": [3, 4],
                                          "bias_axes": "d"}, rand(8, 3, 6, seed=25),
     ("int8", None)),
    ("lora_embedding_int4", "Embedding", {"input_dim": 12, "output_dim": 4},
     np.random.default_rng(26).integers(0, 12, (8, 3)), ("int4", {"block_size": -1})),
]
LORA_RANK, LORA_ALPHA, LR, EPOCHS = 2, 6.0, 0.05, 3

# Saved models: id -> quantization mode / LoRA; the same float weights on both sides.
SAVE_X = rand(3, 10, seed=40)
SAVE_IDS = np.array([[1, 2, 3], [9, 0, 4], [5, 5, 5]], dtype=np.int64)

_KERAS_SCRIPT = r"""
import torch
from keras import layers
spec = json.loads(str(inputs["__spec__"]))
tmp = str(inputs["__tmp__"])

def run(model, x):  # a direct call: cheaper than `predict` for these small inputs
    return model(torch.tensor(x)).detach().numpy()

def int4_config(kw):
    return None if kw is None else keras.quantizers.Int4QuantizationConfig(**kw)

def make(cls, kwargs, x):
    layer = getattr(layers, cls)(**kwargs)
    layer(torch.tensor(x))
    return layer

for cid, cls, kwargs, mode, cfg in spec["quant"]:
    x = inputs[cid + "/x"]
    layer = make(cls, kwargs, x)
    layer.set_weights([inputs[f"{cid}/f{i}"] for i in range(len(layer.weights))])
    layer.quantize(mode, config=int4_config(cfg) if mode == "int4" else None)
    outputs[cid + "/n"] = len(layer.weights)
    for i, w in enumerate(layer.weights):
        outputs[f"{cid}/w{i}"] = w.numpy()
    outputs[cid + "/names"] = [w.name for w in layer.weights]
    outputs[cid + "/trainable"] = [w.name for w in layer.trainable_weights]
    outputs[cid + "/config"] = json.dumps(layer.get_config())
    xt = torch.tensor(x)
    if xt.is_floating_point():
        xt.requires_grad_(True)
    out = layer(xt)
    outputs[cid + "/out"] = out.detach().numpy()
    if out.requires_grad:
        (out * torch.tensor(inputs[cid + "/cot"])).sum().backward()
    if xt.is_floating_point():
        outputs[cid + "/gx"] = xt.grad.numpy()
    for i, w in enumerate(layer.trainable_weights):
        outputs[f"{cid}/gw{i}"] = w.value.grad.numpy()

def lora_model(cid, cls, kwargs, x, quant):
    inp = keras.Input(x.shape[1:], dtype="int64" if cls == "Embedding" else "float32")
    model = keras.Sequential([inp, getattr(layers, cls)(name="target", **kwargs)])
    layer = model.layers[0]
    layer.set_weights([inputs[f"{cid}/f{i}"] for i in range(len(layer.weights))])
    if quant:
        layer.quantize(quant[0], config=int4_config(quant[1]) if quant[0] == "int4" else None)
    layer.enable_lora(spec["rank"], lora_alpha=spec["alpha"])
    lora = [w for w in layer.weights if "lora" in w.name]
    for w, key in zip(lora, ("a", "b")):
        w.assign(inputs[f"{cid}/lora_{key}"])
    return model, layer

for cid, cls, kwargs, quant in spec["lora"]:
    x = inputs[cid + "/x"]
    model, layer = lora_model(cid, cls, kwargs, x, quant)
    outputs[cid + "/names"] = [w.name for w in layer.weights]
    outputs[cid + "/trainable"] = [w.name for w in layer.trainable_weights]
    outputs[cid + "/config"] = json.dumps(layer.get_config())
    model.compile(keras.optimizers.SGD(spec["lr"]), "mse")
    model.fit(x, inputs[cid + "/y"], batch_size=4, epochs=spec["epochs"], shuffle=False,
              verbose=0)
    for i, w in enumerate(layer.weights):
        outputs[f"{cid}/trained{i}"] = w.numpy()
    outputs[cid + "/pred"] = run(model, x)
    model.save(os.path.join(tmp, f"keras_{cid}.keras"))
    own = keras.saving.load_model(os.path.join(tmp, f"keras_{cid}.keras"))
    outputs[cid + "/keras_reload_own"] = run(own, x)
    for i, w in enumerate(own.weights):
        outputs[f"{cid}/keras_reload_own_w{i}"] = w.numpy()

def saved_model(name, weights):
    if name == "dense_chain":
        model = keras.Sequential([keras.Input((10,)), layers.Dense(8, name="d0"),
                                  layers.EinsumDense("ab,bc->ac", 6, bias_axes="c", name="e0"),
                                  layers.Dense(4, activation="tanh", name="d1")], name="chain")
    else:
        model = keras.Sequential([keras.Input((3,), dtype="int64"),
                                  layers.Embedding(11, 6, name="emb"), layers.Flatten(name="f"),
                                  layers.Dense(5, name="d2")], name="emb_chain")
    model.set_weights(weights)
    return model

for name, mode in spec["save"]:
    x = inputs["save/x"] if name == "dense_chain" else inputs["save/ids"]
    weights = [inputs[f"save/{name}/f{i}"] for i in range(spec["n_save_weights"][name])]
    model = saved_model(name, weights)
    model.quantize(mode)
    outputs[f"save/{name}/{mode}/out"] = run(model, x)
    model.save(os.path.join(tmp, f"keras_{name}_{mode}.keras"))
    model.save_weights(os.path.join(tmp, f"keras_{name}_{mode}.weights.h5"))
    # tkeras's files, loaded by Keras.
    loaded = keras.saving.load_model(os.path.join(tmp, f"tkeras_{name}_{mode}.keras"))
    outputs[f"save/{name}/{mode}/keras_loads_tkeras"] = run(loaded, x)
    outputs[f"save/{name}/{mode}/keras_dtypes"] = [str(w.dtype) for w in loaded.weights]
    fresh = saved_model(name, weights)
    fresh.quantize(mode)
    fresh.load_weights(os.path.join(tmp, f"tkeras_{name}_{mode}.weights.h5"))
    outputs[f"save/{name}/{mode}/keras_loads_tkeras_h5"] = run(fresh, x)

for cid in spec["lora_saved"]:
    x = inputs[cid + "/x"]
    loaded = keras.saving.load_model(os.path.join(tmp, f"tkeras_{cid}.keras"))
    outputs[cid + "/keras_loads_tkeras"] = run(loaded, x)
"""


def _int4_config(kw):
    return None if kw is None else q.Int4QuantizationConfig(**kw)


def _make(cls, kwargs, x):
    layer = getattr(layers, cls)(**kwargs)
    layer(torch.as_tensor(x))
    return layer


def _float_weights(cid, layer):
    return [rand(*w.shape, seed=zlib.crc32(cid.encode()) % 1000 + i, scale=0.3) for i, w in
            enumerate(layer.weights)]


def _lora_target(cid, x):
    shape = {"lora_dense": (8, 5), "lora_dense_int8": (8, 5), "lora_dense_int4": (8, 5),
             "lora_einsum": (8, 3, 4), "lora_einsum_int8": (8, 3, 4)}.get(cid, (8, 3, 4))
    return rand(*shape, seed=99)


def _lora_model(cid, cls, kwargs, x, quant, arrays):
    dtype = "int64" if cls == "Embedding" else "float32"
    model = keras.Sequential([keras.Input(x.shape[1:], dtype=dtype),
                              getattr(layers, cls)(name="target", **kwargs)])
    layer = model.layers[0]
    layer.set_weights([arrays[f"{cid}/f{i}"] for i in range(len(layer.weights))])
    if quant:
        layer.quantize(quant[0], config=_int4_config(quant[1]) if quant[0] == "int4" else None)
    layer.enable_lora(LORA_RANK, lora_alpha=LORA_ALPHA)
    lora = [w for w in layer.weights if "lora" in w.name]
    for w, key in zip(lora, ("a", "b")):
        w.assign(arrays[f"{cid}/lora_{key}"])
    return model, layer


SAVE_CASES = [("dense_chain", "int8"), ("dense_chain", "int4"), ("emb_chain", "int8"),
              ("emb_chain", "int4")]


def _quantize_quietly(model, mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InputLayer/Flatten have no `quantize` (as in Keras)
        model.quantize(mode)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("quant"))
    arrays = {"__tmp__": np.array(tmp)}
    for cid, cls, kwargs, x, mode, cfg in QUANT_CASES:
        layer = _make(cls, kwargs, x)
        arrays[cid + "/x"] = x
        for i, w in enumerate(_float_weights(cid, layer)):
            arrays[f"{cid}/f{i}"] = w
        out_shape = tuple(layer(torch.as_tensor(x)).shape)
        arrays[cid + "/cot"] = cotangent(out_shape)
    for cid, cls, kwargs, x, quant in LORA_CASES:
        layer = _make(cls, kwargs, x)
        arrays[cid + "/x"] = x
        arrays[cid + "/y"] = _lora_target(cid, x)
        for i, w in enumerate(_float_weights(cid, layer)):
            arrays[f"{cid}/f{i}"] = w
        kernel_shape = tuple(layer.weights[0].shape)
        arrays[cid + "/lora_a"] = rand(*kernel_shape[:-1], LORA_RANK, seed=50, scale=0.3)
        arrays[cid + "/lora_b"] = rand(LORA_RANK, kernel_shape[-1], seed=51, scale=0.3)
    arrays["save/x"], arrays["save/ids"] = SAVE_X, SAVE_IDS
    n_save_weights, tkeras_out = {}, {}
    for name, mode in SAVE_CASES:
        model = _build_save_model(name)
        weights = [rand(*w.shape, seed=60 + i, scale=0.4) for i, w in enumerate(model.weights)]
        n_save_weights[name] = len(weights)
        for i, w in enumerate(weights):
            arrays[f"save/{name}/f{i}"] = w
        model.set_weights(weights)
        _quantize_quietly(model, mode)
        x = SAVE_X if name == "dense_chain" else SAVE_IDS
        tkeras_out[(name, mode)] = model.predict(x, verbose=0)
        model.save(os.path.join(tmp, f"tkeras_{name}_{mode}.keras"))
        model.save_weights(os.path.join(tmp, f"tkeras_{name}_{mode}.weights.h5"))
    lora_saved, tkeras_trained = [], {}
    for cid, cls, kwargs, x, quant in LORA_CASES:
        model, layer = _lora_model(cid, cls, kwargs, x, quant, arrays)
        model.compile(keras.optimizers.SGD(LR), "mse")
        model.fit(x, arrays[cid + "/y"], batch_size=4, epochs=EPOCHS, shuffle=False, verbose=0)
        tkeras_trained[cid] = (model, layer)
        model.save(os.path.join(tmp, f"tkeras_{cid}.keras"))
        lora_saved.append(cid)
    spec = {"quant": [(c[0], c[1], c[2], c[4], c[5]) for c in QUANT_CASES],
            "lora": [(c[0], c[1], c[2], c[4]) for c in LORA_CASES],
            "save": SAVE_CASES, "n_save_weights": n_save_weights, "lora_saved": lora_saved,
            "rank": LORA_RANK, "alpha": LORA_ALPHA, "lr": LR, "epochs": EPOCHS}
    arrays["__spec__"] = np.array(json.dumps(spec))
    ref = run_keras(_KERAS_SCRIPT, arrays)
    return {"ref": ref, "arrays": arrays, "tmp": tmp, "tkeras_out": tkeras_out,
            "tkeras_trained": tkeras_trained}


def _build_save_model(name):
    if name == "dense_chain":
        return keras.Sequential([keras.Input((10,)), layers.Dense(8, name="d0"),
                                 layers.EinsumDense("ab,bc->ac", 6, bias_axes="c", name="e0"),
                                 layers.Dense(4, activation="tanh", name="d1")], name="chain")
    return keras.Sequential([keras.Input((3,), dtype="int64"),
                             layers.Embedding(11, 6, name="emb"), layers.Flatten(name="f"),
                             layers.Dense(5, name="d2")], name="emb_chain")


def _strip_name(config):
    """A config as JSON writes it (tuples become lists), without the layer's name."""
    return {k: v for k, v in json.loads(json.dumps(config)).items() if k != "name"}


@requires_keras
@pytest.mark.parametrize("case", QUANT_CASES, ids=[c[0] for c in QUANT_CASES])
def test_quantized_layer_matches_keras(setup, case):
    cid, cls, kwargs, x, mode, cfg = case
    ref, arrays = setup["ref"], setup["arrays"]
    layer = _make(cls, kwargs, x)
    layer.set_weights([arrays[f"{cid}/f{i}"] for i in range(len(layer.weights))])
    layer.quantize(mode, config=_int4_config(cfg) if mode == "int4" else None)
    # Weights: names, order, dtypes, values (the int8 / packed int4 values and scales).
    assert [w.name for w in layer.weights] == list(ref[cid + "/names"])
    assert [w.name for w in layer.trainable_weights] == list(ref[cid + "/trainable"])
    assert len(layer.weights) == int(ref[cid + "/n"])
    for i, w in enumerate(layer.weights):
        expected = ref[f"{cid}/w{i}"]
        assert w.numpy().dtype == expected.dtype, w.name
        np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6, atol=1e-7, err_msg=w.name)
    # Config: the quantized dtype policy and the quantization config, as Keras writes them.
    config = layer.get_config()
    assert _strip_name(config) == _strip_name(json.loads(ref[cid + "/config"]))
    # Outputs and gradients (Keras's custom inputs gradient, none for the quantized kernel).
    xt = torch.as_tensor(x)
    if xt.is_floating_point():
        xt.requires_grad_(True)
    out = layer(xt)
    np.testing.assert_allclose(out.detach().numpy(), ref[cid + "/out"], rtol=1e-5, atol=1e-5)
    assert out.requires_grad == bool(layer.trainable_weights or xt.requires_grad)
    if out.requires_grad:
        (out * torch.as_tensor(arrays[cid + "/cot"])).sum().backward()
    if xt.is_floating_point():
        np.testing.assert_allclose(xt.grad.numpy(), ref[cid + "/gx"], rtol=1e-5, atol=1e-5)
    for i, w in enumerate(layer.trainable_weights):
        np.testing.assert_allclose(w.grad.numpy(), ref[f"{cid}/gw{i}"], rtol=1e-5, atol=1e-5)
    # from_config rebuilds the quantized layout; the Keras weights load into it.
    clone = type(layer).from_config(config)
    clone(torch.as_tensor(x))
    clone.set_weights([ref[f"{cid}/w{i}"] for i in range(len(layer.weights))])
    np.testing.assert_allclose(clone(torch.as_tensor(x)).detach().numpy(), ref[cid + "/out"],
                               rtol=1e-5, atol=1e-5)


@requires_keras
@pytest.mark.parametrize("case", LORA_CASES, ids=[c[0] for c in LORA_CASES])
def test_lora_training_matches_keras(setup, case):
    cid = case[0]
    ref = setup["ref"]
    model, layer = setup["tkeras_trained"][cid]
    assert [w.name for w in layer.weights] == list(ref[cid + "/names"])
    assert [w.name for w in layer.trainable_weights] == list(ref[cid + "/trainable"])
    assert _strip_name(layer.get_config()) == _strip_name(json.loads(ref[cid + "/config"]))
    for i, w in enumerate(layer.weights):
        np.testing.assert_allclose(w.numpy(), ref[f"{cid}/trained{i}"], rtol=1e-5, atol=1e-5,
                                   err_msg=w.name)
    np.testing.assert_allclose(model.predict(case[3], verbose=0), ref[cid + "/pred"],
                               rtol=1e-5, atol=1e-5)


@requires_keras
@pytest.mark.parametrize("case", LORA_CASES, ids=[c[0] for c in LORA_CASES])
def test_lora_files_cross_load(setup, case):
    """Saving merges LoRA into the (re-quantized) kernel and loading zeroes the LoRA pair, in
    Keras's files and tkeras's alike."""
    cid, x, quant = case[0], case[3], case[4]
    ref, tmp = setup["ref"], setup["tmp"]
    model, _ = setup["tkeras_trained"][cid]
    # tkeras's file, loaded by tkeras and by Keras: the same merged model.
    ours = keras.saving.load_model(os.path.join(tmp, f"tkeras_{cid}.keras"))
    np.testing.assert_allclose(ours.predict(x, verbose=0), ref[cid + "/keras_loads_tkeras"],
                               rtol=1e-5, atol=1e-5)
    if quant is None:  # a float merge changes nothing but rounding
        np.testing.assert_allclose(ours.predict(x, verbose=0), model.predict(x, verbose=0),
                                   rtol=1e-5, atol=1e-5)
    assert all(not w.numpy().any() for w in ours.weights if "lora" in w.name)
    # Keras's file, loaded by tkeras: the weights and predictions Keras reloads.
    loaded = keras.saving.load_model(os.path.join(tmp, f"keras_{cid}.keras"))
    for i, w in enumerate(loaded.weights):
        np.testing.assert_allclose(w.numpy(), ref[f"{cid}/keras_reload_own_w{i}"], rtol=1e-5,
                                   atol=1e-5, err_msg=w.name)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ref[cid + "/keras_reload_own"],
                               rtol=1e-5, atol=1e-5)


@requires_keras
@pytest.mark.parametrize("case", SAVE_CASES, ids=[f"{n}_{m}" for n, m in SAVE_CASES])
def test_quantized_files_cross_load(setup, case):
    name, mode = case
    ref, tmp = setup["ref"], setup["tmp"]
    x = SAVE_X if name == "dense_chain" else SAVE_IDS
    keras_out = ref[f"save/{name}/{mode}/out"]
    np.testing.assert_allclose(setup["tkeras_out"][case], keras_out, rtol=1e-5, atol=1e-5)
    # Keras loads tkeras's .keras and .weights.h5 files.
    np.testing.assert_allclose(ref[f"save/{name}/{mode}/keras_loads_tkeras"], keras_out,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ref[f"save/{name}/{mode}/keras_loads_tkeras_h5"], keras_out,
                               rtol=1e-5, atol=1e-5)
    # tkeras loads Keras's files.
    loaded = keras.saving.load_model(os.path.join(tmp, f"keras_{name}_{mode}.keras"))
    assert [str(w.dtype).replace("torch.", "") for w in loaded.weights] == list(
        ref[f"save/{name}/{mode}/keras_dtypes"])
    np.testing.assert_allclose(loaded.predict(x, verbose=0), keras_out, rtol=1e-5, atol=1e-5)
    fresh = _build_save_model(name)
    _quantize_quietly(fresh, mode)
    fresh.load_weights(os.path.join(tmp, f"keras_{name}_{mode}.weights.h5"))
    np.testing.assert_allclose(fresh.predict(x, verbose=0), keras_out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["float8", "gptq", "awq"])
def test_unimplemented_modes_raise_naming_the_mode(mode):
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3)])
    with pytest.raises(NotImplementedError, match=f"'{mode}'"):
        model.quantize(mode)
    with pytest.raises(NotImplementedError, match=f"'{mode}'"):
        model.layers[0].quantize(mode)
    assert model.layers[0].quantization_mode is None  # nothing changed


def test_unimplemented_policies_raise_naming_the_mode():
    with pytest.raises(NotImplementedError, match="'float8'"):
        layers.Dense(3, dtype="float8_from_float32").build((None, 4))
    with pytest.raises(NotImplementedError, match="'gptq'"):
        layers.Dense(3, dtype="gptq/4/128_from_float32")
    with pytest.raises(NotImplementedError, match="ReversibleEmbedding"):
        layers.ReversibleEmbedding(5, 3, dtype="int8_from_float32").build()


def test_quantize_argument_checks():
    layer = layers.Dense(3)
    with pytest.raises(ValueError, match="isn't yet built"):
        layer.quantize("int8")
    layer.build((None, 4))
    with pytest.raises(ValueError, match="Contradictory"):
        layer.quantize("int8", config=q.Int4QuantizationConfig())
    layer.quantize("int8")
    with pytest.raises(ValueError, match="already quantized"):
        layer.quantize("int4")


def test_model_quantize_filters_and_plain_layers_keep_the_fast_path():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="keep"),
                              layers.Dense(2, name="quant")])
    model.quantize("int8", filters="qua")
    keep, quant = model.layers
    assert keep.quantization_mode is None and quant.quantization_mode == "int8"
    # A plain layer takes the fast call path and the generic weights loader.
    assert not keep._lora_or_quantized and not hasattr(keep, "load_own_variables")
    assert quant._lora_or_quantized and hasattr(quant, "load_own_variables")


def test_int4_pack_unpack_round_trip():
    values = np.random.default_rng(0).integers(-8, 8, (5, 7)).astype(np.int8)
    for axis in (0, 1, -1):
        packed, shape, length = q.pack_int4(values, axis=axis)
        assert tuple(packed.shape) == shape and length == values.shape[axis]
        np.testing.assert_array_equal(q.unpack_int4(packed, length, axis=axis).numpy(), values)
