"""Layer/Model parity gaps against real Keras 3.

1. A dtype policy set on a built layer: inputs are cast to the new compute dtype, the float32
   variables stay, and Keras's ops promote (Dense gives float32; Embedding, LayerNormalization,
   BatchNormalization cast their outputs to the compute dtype; Conv2D raises in both).
2. Functional nodes record the call's keyword arguments as Keras does (`training`, absent
   masks, `initial_state`, `return_attention_scores`, ...), and a model's `training` overrides
   the recorded one at run time as in Keras.
3. `get_config()` / `.keras` config.json of Sequential and functional models with weightless and
   custom layers match Keras's (build configs, automatic configs of custom layers).
4. A layer called without tensor arguments is built with no shape, as Keras.

The model-building code (`_GRAPH_CODE`) runs unchanged under Keras (in the oracle subprocess)
and under tkeras (bound to the name `keras`).
"""

import json
import textwrap

import numpy as np
import pytest
import torch

import tkeras
from keras_oracle import requires_keras, run_keras

POLICIES = ["float16", "bfloat16", "float64", "mixed_float16"]

# name -> (constructor code, build shape, input array name)
_DTYPE_LAYERS = {
    "dense": ("keras.layers.Dense(4, activation='tanh')", (None, 3), "x2d"),
    "embedding": ("keras.layers.Embedding(6, 3)", (None, 4), "ids"),
    "layer_norm": ("keras.layers.LayerNormalization()", (None, 3), "x2d"),
    "batch_norm": ("keras.layers.BatchNormalization()", (None, 3), "x2d"),
    "conv2d": ("keras.layers.Conv2D(2, 3)", (None, 5, 5, 3), "img"),
}

# Runs under Keras and under tkeras: builds models and records configs / behaviours in `res`.
_GRAPH_CODE = r'''
import json, os, tempfile, zipfile
keras.utils.clear_session()  # auto names (Sequential's input layers) start afresh in both
L = keras.layers
ops = keras.ops
res = {}

@keras.saving.register_keras_serializable(package="gaps")
class Plain(L.Layer):
    def call(self, x):
        return x * 2.0

@keras.saving.register_keras_serializable(package="gaps")
class Own(L.Layer):
    def __init__(self, k=3, **kwargs):
        super().__init__(**kwargs)
        self.k = k
    def call(self, x):
        return x * self.k

class OwnNoKw(L.Layer):
    def __init__(self, k=3):
        super().__init__()
        self.k = k
    def call(self, x):
        return x

class TrainingDefault(L.Layer):
    def call(self, x, training=False):
        return x

class MaskAndTraining(L.Layer):
    def call(self, x, mask=None, training=True):
        return x

def cfg(obj):
    return json.loads(json.dumps(obj.get_config()))

def node_kwargs(name, build, shape=(4, 3), dtype="float32"):
    x = keras.Input(shape, dtype=dtype, name=name + "_in")
    layer, y = build(x)
    model = keras.Model(x, y, name=name)
    res["nodes/" + name] = {
        "kwargs": [json.loads(json.dumps(n["kwargs"])) for l in model.get_config()["layers"]
                   if l["name"] == layer.name for n in l["inbound_nodes"]],
        "json": json.dumps(model.get_config()),
    }

def call(layer, *args, **kwargs):
    return layer, layer(*args, **kwargs)

# 2. node kwargs
node_kwargs("drop_default", lambda x: call(L.Dropout(0.5, name="d0"), x))
node_kwargs("drop_false", lambda x: call(L.Dropout(0.5, name="d1"), x, training=False))
node_kwargs("drop_true", lambda x: call(L.Dropout(0.5, name="d2"), x, training=True))
node_kwargs("dense", lambda x: call(L.Dense(2, name="de"), x))
node_kwargs("batch_norm", lambda x: call(L.BatchNormalization(name="bn"), x))
node_kwargs("lstm", lambda x: call(L.LSTM(2, name="l0"), x))
node_kwargs("lstm_training_none", lambda x: call(L.LSTM(2, name="l1"), x, training=None))
node_kwargs("lstm_int", lambda x: call(L.LSTM(2, name="l2"), x), dtype="int32")
node_kwargs("training_default", lambda x: call(TrainingDefault(name="td"), x))
node_kwargs("training_default_int", lambda x: call(TrainingDefault(name="ti"), x),
            dtype="int32")
node_kwargs("mask_training", lambda x: call(MaskAndTraining(name="mt"), x))
node_kwargs("mask_training_f64", lambda x: call(MaskAndTraining(name="m6"), x), dtype="float64")
node_kwargs("mha_scores", lambda x: call(L.MultiHeadAttention(2, 3, name="a0"), x, x,
                                         return_attention_scores=True))
node_kwargs("mha_keywords", lambda x: call(L.MultiHeadAttention(2, 3, name="a1"), query=x,
                                           value=x, use_causal_mask=True))

x = keras.Input((4, 3), name="seq_in")
h = keras.Input((5,), name="h_in")
c = keras.Input((5,), name="c_in")
lstm = L.LSTM(5, name="ls")
model = keras.Model([x, h, c], lstm(x, initial_state=[h, c]), name="lstm_state")
res["nodes/lstm_initial_state"] = {
    "kwargs": [json.loads(json.dumps(n["kwargs"])) for n in model.get_config()["layers"][-1][
        "inbound_nodes"]],
    "json": json.dumps(model.get_config())}

x = keras.Input((4, 3), name="mk_x")
mk = keras.Input((4,), dtype="bool", name="mk_mask")
model = keras.Model([x, mk], L.LSTM(2, name="lm")(x, mask=mk, training=True), name="lstm_mask")
res["nodes/lstm_mask"] = {"kwargs": None, "json": json.dumps(model.get_config())}

def inner(name):
    i = keras.Input((4, 3), name=name + "_i")
    return keras.Model(i, L.Dense(2, name=name + "_d")(i), name=name)

def inner2(name):
    i = keras.Input((4, 3), name=name + "_i")
    j = keras.Input((4, 3), name=name + "_j")
    return keras.Model([i, j], L.Add(name=name + "_add")([i, j]), name=name)

ids = keras.Input((4,), dtype="int32", name="ids")
embed = keras.Sequential([keras.Input((4,), dtype="int32", name="emb_in"),
                          L.Embedding(5, 2, name="emb")], name="embed")
model = keras.Model(ids, embed(ids), name="nested_int")
res["nodes/nested_int"] = {"kwargs": None, "json": json.dumps(model.get_config())}

x = keras.Input((4, 3), name="outer_x")
z = keras.Input((4, 3), name="outer_z")
outs = [inner("in_a")(x, training=True), inner2("in_b")([x, z]), inner("in_c")(x)]
model = keras.Model([x, z], outs, name="nested")
res["nodes/nested"] = {"kwargs": None, "json": json.dumps(model.get_config())}

# 2. run-time `training`: does dropout act? (fraction of zeros of Dropout(0.5) on ones)
def dropped(y):
    return bool((ops.convert_to_numpy(y) == 0).mean() > 0.2)

ones = np.ones((64, 32), "float32")
x = keras.Input((32,), name="rt_x")
mc = keras.Model(x, L.Dropout(0.5, name="mc_drop")(x, training=True), name="mc")
plain = keras.Model(x, L.Dropout(0.5, name="pl_drop")(x), name="pl")
res["run"] = {
    "mc_default": dropped(mc(ones)),
    "mc_false": dropped(mc(ones, training=False)),
    "plain_default": dropped(plain(ones)),
    "plain_true": dropped(plain(ones, training=True)),
}
reloaded = keras.Model.from_config(plain.get_config())
res["run"]["reloaded_true"] = dropped(reloaded(ones, training=True))
res["run"]["reloaded_default"] = dropped(reloaded(ones))

# 3. model configs and .keras config.json
def file_config(model):
    path = os.path.join(tempfile.mkdtemp(), "m.keras")
    model.save(path)
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))

def weightless_stack(prefix):
    return [L.Dropout(0.2, name=prefix + "drop"), L.Flatten(name=prefix + "flat"),
            L.Activation("relu", name=prefix + "act"), Plain(name=prefix + "plain"),
            L.Dense(2, name=prefix + "dense")]

models = {}
models["seq_input"] = keras.Sequential(
    [keras.Input((4, 3), name="si_in")] + weightless_stack("si_"), name="seq_input")
models["seq_deferred"] = keras.Sequential(weightless_stack("sd_"), name="seq_deferred")
models["seq_deferred"](np.ones((2, 4, 3), "float32"))
models["seq_input_shape"] = keras.Sequential(
    [L.Dense(3, input_shape=(5,), name="ss_dense"), Own(k=2, name="ss_own")],
    name="seq_input_shape")
x = keras.Input((4, 3), name="fn_in")
y = x
for layer in weightless_stack("fn_"):
    y = layer(y)
models["functional"] = keras.Model(x, Own(k=4, name="fn_own")(y), name="functional")
for name, model in models.items():
    res["config/" + name] = cfg(model)
    res["file/" + name] = file_config(model)

res["layer/plain"] = cfg(Plain(name="p0"))
res["layer/plain_args"] = cfg(Plain(name="p1", trainable=False, dtype="float16",
                                    autocast=False, activity_regularizer="l2"))
res["layer/plain_input_shape"] = cfg(Plain(name="p2", input_shape=(3,)))
res["layer/own"] = cfg(Own(k=4, dtype="float64", name="o0"))
res["layer/own_no_kwargs"] = cfg(OwnNoKw(k=5))
res["layer/dense_input_shape"] = cfg(L.Dense(2, input_shape=(3,), name="di"))
res["order/plain"] = list(cfg(Plain(name="p3")))
res["order/own"] = list(cfg(Own(k=1, dtype="float16", name="o1")))

# 4. layers called without tensor arguments
class Ones(L.Layer):
    def call(self, n=2):
        return ops.ones((n, 3))

class OnesWithWeight(L.Layer):
    def build(self, input_shape):
        self.seen_shape = input_shape
        self.w = self.add_weight(shape=(3,), initializer="ones", name="w")
    def call(self, n=2, scale=1.0):
        return ops.ones((n, 3)) * self.w * scale

class Optional(L.Layer):
    def call(self, x=None, n=2):
        return ops.ones((n, 3)) if x is None else x * 3.0

for name, layer, kwargs in [("ones", Ones(), {"n": 4}), ("ones_default", Ones(), {}),
                            ("weight", OnesWithWeight(), {"n": 3, "scale": 2.0}),
                            ("optional_none", Optional(), {"x": None, "n": 1}),
                            ("optional_tensor", Optional(), {"x": np.ones((2, 5), "float32")})]:
    y = ops.convert_to_numpy(layer(**kwargs))
    res["nobuild/" + name] = {
        "out": y.tolist(), "built": layer.built, "build_config": layer.get_build_config(),
        "weights": [list(w.shape) for w in layer.weights],
        "seen_shape": repr(getattr(layer, "seen_shape", "unset"))}
'''

_DTYPE_CODE = r'''
import json
layers = json.loads(str(inputs["__layers__"]))
policies = json.loads(str(inputs["__policies__"]))
for name, (ctor, shape, x_name) in layers.items():
    for policy in policies:
        key = name + "/" + policy
        layer = eval(ctor)
        layer.build(tuple(shape))
        layer.set_weights([inputs[name + "_w%d" % i] for i in range(len(layer.weights))])
        layer.dtype_policy = policy
        try:
            y = layer(inputs[x_name])
        except Exception:
            outputs[key + "/error"] = True
            continue
        outputs[key + "/dtype"] = str(y.dtype).replace("torch.", "")
        outputs[key] = y.float().detach().cpu().numpy()
        if name == "batch_norm":
            y = layer(inputs[x_name], training=True)
            outputs[key + "/train"] = y.float().detach().cpu().numpy()
            outputs[key + "/moving"] = np.stack([w.numpy() for w in layer.weights])
'''


def _dtype_inputs():
    rng = np.random.default_rng(7)
    data = {
        "x2d": rng.normal(size=(6, 3)).astype("float32") * 3 + 1,
        "ids": np.array([[1, 5, 0, 2], [3, 3, 4, 1]], "int32"),
        "img": rng.normal(size=(1, 5, 5, 3)).astype("float32"),
    }
    shapes = {"dense": [(3, 4), (4,)], "embedding": [(6, 3)], "layer_norm": [(3,), (3,)],
              "batch_norm": [(3,), (3,), (3,), (3,)], "conv2d": [(3, 3, 3, 2), (2,)]}
    for name, ws in shapes.items():
        for i, s in enumerate(ws):
            w = rng.normal(size=s).astype("float32")
            data[f"{name}_w{i}"] = np.abs(w) + 0.5 if name == "batch_norm" and i == 3 else w
    return data


@pytest.fixture(scope="module")
def keras_ref():
    data = _dtype_inputs()
    data["__layers__"] = np.array(json.dumps(_DTYPE_LAYERS))
    data["__policies__"] = np.array(json.dumps(POLICIES))
    code = _DTYPE_CODE + textwrap.dedent(_GRAPH_CODE) + \
        "\nfor k, v in res.items():\n    outputs['graph:' + k] = v\n"
    return run_keras(code, data)


@pytest.fixture(scope="module")
def ours():
    # Classes defined as in the oracle's script (module `__main__`).
    namespace = {"keras": tkeras, "np": np, "__name__": "__main__"}
    exec(_GRAPH_CODE, namespace)
    return json.loads(json.dumps(namespace["res"]))  # tuples as lists, as the oracle's


# ---------------------------------------------------------------------------------- 1. dtype


def _our_dtype_run(name, policy, data):
    ctor, shape, x_name = _DTYPE_LAYERS[name]
    layer = eval(ctor, {"keras": tkeras})
    layer.build(shape)
    layer.set_weights([data[f"{name}_w{i}"] for i in range(len(layer.weights))])
    layer.dtype_policy = policy
    return layer, data[x_name]


# Outputs in a 16-bit dtype may differ by an ulp of that dtype (Keras and tkeras round their
# float32 intermediates differently): bfloat16's ulp is 2**-8 relative, float16's 2**-11.
_TOL = {"float16": 4e-3, "bfloat16": 3e-2, "float64": 1e-5, "mixed_float16": 4e-3}


@requires_keras
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", [n for n in _DTYPE_LAYERS if n != "conv2d"])
def test_policy_set_after_build(keras_ref, name, policy):
    data = _dtype_inputs()
    layer, x = _our_dtype_run(name, policy, data)
    key = f"{name}/{policy}"
    y = layer(x)
    assert str(y.dtype).replace("torch.", "") == keras_ref[key + "/dtype"]
    tol = _TOL[policy]
    np.testing.assert_allclose(y.float().detach().numpy(), keras_ref[key], atol=tol, rtol=tol)
    assert [w.dtype for w in layer.weights] == [torch.float32] * len(layer.weights)
    if name == "batch_norm":
        y = layer(x, training=True)
        np.testing.assert_allclose(y.float().detach().numpy(), keras_ref[key + "/train"],
                                   atol=tol, rtol=tol)
        np.testing.assert_allclose(np.stack(layer.get_weights()), keras_ref[key + "/moving"],
                                   atol=tol, rtol=tol)


@requires_keras
@pytest.mark.parametrize("policy", [p for p in POLICIES if not p.startswith("mixed")])
def test_conv2d_policy_set_after_build_raises_like_keras(keras_ref, policy):
    """Keras's torch conv does not promote: a float32 kernel with float16/bfloat16/float64
    inputs raises in both."""
    assert keras_ref.get(f"conv2d/{policy}/error") is True
    layer, x = _our_dtype_run("conv2d", policy, _dtype_inputs())
    with pytest.raises(RuntimeError):
        layer(x)


@requires_keras
def test_conv2d_mixed_policy_set_after_build(keras_ref):
    layer, x = _our_dtype_run("conv2d", "mixed_float16", _dtype_inputs())
    y = layer(x)
    assert str(y.dtype).replace("torch.", "") == keras_ref["conv2d/mixed_float16/dtype"]
    np.testing.assert_allclose(y.float().detach().numpy(), keras_ref["conv2d/mixed_float16"],
                               atol=1e-2, rtol=4e-3)  # float16 outputs of a 27-term sum


def test_dense_policy_after_build_compiles_and_backprops():
    layer = tkeras.layers.Dense(3)
    layer.build((None, 4))
    layer.dtype_policy = "bfloat16"
    x = torch.randn(5, 4)
    eager = layer(x)
    compiled = torch.compile(layer, backend="eager", fullgraph=True)(x)
    torch.testing.assert_close(compiled, eager)
    eager.sum().backward()
    assert layer.kernel.grad is not None and layer.kernel.grad.dtype == torch.float32


# ---------------------------------------------------------------------------------- 2. nodes

_NODE_CASES = ["drop_default", "drop_false", "drop_true", "dense", "batch_norm", "lstm",
               "lstm_training_none", "lstm_int", "training_default", "training_default_int",
               "mask_training", "mask_training_f64", "mha_scores", "mha_keywords",
               "lstm_initial_state", "lstm_mask", "nested", "nested_int"]


@requires_keras
@pytest.mark.parametrize("case", _NODE_CASES)
def test_node_kwargs_match_keras(keras_ref, ours, case):
    theirs = keras_ref["graph:nodes/" + case]
    mine = ours["nodes/" + case]
    assert mine["kwargs"] == theirs["kwargs"]
    if mine["kwargs"] is not None:  # the recorded order too (`to_json()` strings)
        assert [list(k) for k in mine["kwargs"]] == [list(k) for k in theirs["kwargs"]]
    assert json.loads(mine["json"]) == json.loads(theirs["json"])  # the whole config


@requires_keras
def test_model_training_overrides_recorded_training(keras_ref, ours):
    assert ours["run"] == keras_ref["graph:run"]
    assert keras_ref["graph:run"]["mc_default"] and not keras_ref["graph:run"]["plain_default"]


def test_torch_train_mode_overrides_recorded_training():
    """tkeras's torch train mode counts as a `training` the model was given."""
    x = tkeras.Input((32,))
    model = tkeras.Model(x, tkeras.layers.Dropout(0.5)(x))
    ones = torch.ones(64, 32)
    assert torch.equal(model(ones), ones)
    model.train()
    assert (model(ones) == 0).float().mean() > 0.2


# ---------------------------------------------------------------------------------- 3. configs

_MODELS = ["seq_input", "seq_deferred", "seq_input_shape", "functional"]


def _strip_shared_ids(obj):
    """Keras's object-sharing ids (`id()` of the shared dtype policy) differ per process and
    are written by the saving library, not by `get_config`."""
    if isinstance(obj, dict):
        return {k: _strip_shared_ids(v) for k, v in obj.items() if k != "shared_object_id"}
    if isinstance(obj, list):
        return [_strip_shared_ids(v) for v in obj]
    return obj


@requires_keras
@pytest.mark.parametrize("model", _MODELS)
def test_model_config_matches_keras(keras_ref, ours, model):
    assert ours["config/" + model] == keras_ref["graph:config/" + model]


@requires_keras
@pytest.mark.parametrize("model", _MODELS)
def test_saved_config_json_matches_keras(keras_ref, ours, model):
    theirs = _strip_shared_ids(keras_ref["graph:file/" + model])
    mine = _strip_shared_ids(ours["file/" + model])
    assert mine == theirs


@requires_keras
@pytest.mark.parametrize("case", ["plain", "plain_args", "plain_input_shape", "own",
                                  "own_no_kwargs", "dense_input_shape"])
def test_layer_config_matches_keras(keras_ref, ours, case):
    assert ours["layer/" + case] == keras_ref["graph:layer/" + case]


@requires_keras
@pytest.mark.parametrize("case", ["plain", "own"])
def test_automatic_config_key_order_matches_keras(keras_ref, ours, case):
    assert ours["order/" + case] == keras_ref["graph:order/" + case]


def test_automatic_config_round_trips():
    namespace = {"keras": tkeras, "np": np}
    exec(textwrap.dedent('''
        class NoInit(keras.layers.Layer):
            def call(self, x):
                return x
        class NoName(keras.layers.Layer):
            def __init__(self, k=3):
                super().__init__()
                self.k = k
            def call(self, x):
                return x
    '''), namespace)
    layer = namespace["NoInit"](activity_regularizer="l2", autocast=False, name="n")
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config() and clone.autocast is False
    layer = namespace["NoName"](k=7)
    assert type(layer).from_config({"k": 7}).get_config()["k"] == 7
    assert "name" not in layer.get_config()


# ---------------------------------------------------------------------------------- 4. no tensors

@requires_keras
@pytest.mark.parametrize("case", ["ones", "ones_default", "weight", "optional_none",
                                  "optional_tensor"])
def test_layer_without_tensor_arguments(keras_ref, ours, case):
    assert ours["nobuild/" + case] == keras_ref["graph:nobuild/" + case]


def test_layer_with_no_call_arguments_builds():
    """Keras fails (IndexError) on a `call(self)` without parameters; tkeras builds it with no
    shape, as for a call that only takes Python values."""
    class Constant(tkeras.layers.Layer):
        def call(self):
            return torch.ones(2)

    layer = Constant()
    assert torch.equal(layer(), torch.ones(2))
    assert layer.built and layer.get_build_config() == {"input_shape": None}


def test_deepcopy_of_functional_model_with_recorded_training_runs():
    import copy

    x = tkeras.Input((4,))
    model = tkeras.Model(x, tkeras.layers.Dense(2)(tkeras.layers.Dropout(0.5)(x)))
    copied = copy.deepcopy(model)
    ones = torch.ones(3, 4)
    torch.testing.assert_close(copied(ones), model(ones))
