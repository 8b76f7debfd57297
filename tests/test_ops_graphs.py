"""Functional models mixing layers and ops cross-load between Keras and tkeras (.keras files).

One build program (with `keras` bound to real Keras or to tkeras) uses tensor arithmetic,
slicing with slices/Ellipsis/None, concatenate, reductions, relu, where, cast, comparisons and
top_k between Dense layers. Keras builds and saves it, tkeras loads it and predicts the same; and
the reverse. Both sides also give the same `get_config()`.
"""

import json
import os

import numpy as np
import pytest

from keras_oracle import requires_keras
from keras_oracle import run_keras

import tkeras

BUILD = """
x = keras.Input((6, 8), name="x")
y = keras.Input((6, 8), name="y")
h = keras.layers.Dense(8, name="dense_a")(x)
a = h[:, 1:4, ...]
b = a[..., None, :3]
c = (h + 1.0) * y - y / 2.0
d = keras.ops.concatenate([c, h], axis=-1)
e = keras.ops.sum(d, axis=1)
f = keras.ops.relu(e)
g = keras.ops.where(f > 0.5, f, -f)
k = keras.ops.cast(g > 0, "int32")
m = keras.ops.mean(h ** 2, axis=-1, keepdims=True)
n = keras.layers.Dense(3, name="dense_b")(abs(-m) * 2 + x[:, :, ::3])
t = keras.ops.top_k(e, 2)[0]
s = keras.ops.stop_gradient(keras.ops.logsumexp(e, axis=-1)) // 3
model = keras.Model([x, y], [b, g, k, n, t, s], name="ops_graph")
"""


def _data():
    rng = np.random.default_rng(1)
    return {"X": rng.normal(size=(4, 6, 8)).astype("float32"),
            "Y": rng.normal(size=(4, 6, 8)).astype("float32")}


def _canonical(config):
    return json.loads(json.dumps(config))


@pytest.fixture(scope="module")
def keras_side(tmp_path_factory):
    """Keras builds + saves its model, and loads + runs the model tkeras saved."""
    tmp = tmp_path_factory.mktemp("ops_graphs")
    keras_path, tkeras_path = str(tmp / "from_keras.keras"), str(tmp / "from_tkeras.keras")
    tkeras.utils.clear_session()
    scope = {"keras": tkeras}
    exec(BUILD, scope)
    scope["model"].save(tkeras_path)
    code = BUILD + f"""
model.save({keras_path!r})
outputs["config"] = json.loads(json.dumps(model.get_config()))
for i, v in enumerate(model.predict([inputs["X"], inputs["Y"]], verbose=0)):
    outputs[f"keras/{{i}}"] = v
loaded = keras.saving.load_model({tkeras_path!r})
for i, v in enumerate(loaded.predict([inputs["X"], inputs["Y"]], verbose=0)):
    outputs[f"loaded/{{i}}"] = v
outputs["loaded_config"] = json.loads(json.dumps(loaded.get_config()))
outputs["tkeras_weights"] = [w.tolist() for w in loaded.get_weights()]
"""
    result = run_keras(code, _data())
    result["keras_path"] = keras_path
    result["tkeras_model"] = scope["model"]
    return result


@requires_keras
def test_keras_saved_ops_graph_loads_in_tkeras(keras_side):
    model = tkeras.saving.load_model(keras_side["keras_path"])
    data = _data()
    outs = model.predict([data["X"], data["Y"]], verbose=0)
    assert len(outs) == 6
    for i, out in enumerate(outs):
        expected = keras_side[f"keras/{i}"]
        assert out.shape == expected.shape and out.dtype == expected.dtype, i
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert _canonical(model.get_config()) == keras_side["config"]


@requires_keras
def test_tkeras_saved_ops_graph_loads_in_keras(keras_side):
    model = keras_side["tkeras_model"]
    data = _data()
    outs = model.predict([data["X"], data["Y"]], verbose=0)
    for i, out in enumerate(outs):
        expected = keras_side[f"loaded/{i}"]
        assert out.shape == expected.shape and out.dtype == expected.dtype, i
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(model.get_weights(), keras_side["tkeras_weights"]):
        np.testing.assert_array_equal(ours, np.asarray(theirs))


@requires_keras
def test_ops_graph_config_equals_keras(keras_side):
    model = keras_side["tkeras_model"]
    assert _canonical(model.get_config()) == keras_side["config"]
    assert keras_side["loaded_config"] == keras_side["config"]


def test_arithmetic_builds_keras_op_nodes():
    x = tkeras.Input((3, 4))
    y = (x[:, 0] + 1) ** 2 >= -x[..., None, 1, :]
    classes = [type(layer).__name__ for layer in tkeras.Model(x, y).layers]
    assert classes == ["InputLayer", "GetItem", "Add", "GetItem", "Power", "Negative",
                       "GreaterEqual"]


def test_old_tensor_op_configs_still_load():
    """Configs earlier tkeras versions wrote (TensorOp layers) keep loading."""
    tensor = {"class_name": "__keras_tensor__",
              "config": {"shape": [None, 3], "dtype": "float32",
                         "keras_history": ["input_layer", 0, 0]}}
    config = {
        "name": "old", "trainable": True,
        "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "name": "input_layer",
             "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "input_layer"},
             "registered_name": None, "inbound_nodes": []},
            {"module": "keras.layers", "class_name": "TensorOp", "name": "add",
             "registered_name": "TensorOp",
             "config": {"name": "add", "op": "add", "constant": 2.0, "reverse": True,
                        "key": None, "trainable": True, "dtype": "float32"},
             "inbound_nodes": [{"args": [tensor], "kwargs": {}}]},
            {"module": "keras.layers", "class_name": "TensorOp", "name": "get_item",
             "registered_name": "TensorOp",
             "config": {"name": "get_item", "op": "get_item", "constant": None,
                        "reverse": False, "key": [{"slice": [None, None, None]},
                                                  {"slice": [0, 2, None]}],
                        "trainable": True, "dtype": "float32"},
             "inbound_nodes": [{"args": [dict(tensor, config=dict(
                 tensor["config"], keras_history=["add", 0, 0]))], "kwargs": {}}]},
        ],
        "input_layers": [["input_layer", 0, 0]], "output_layers": [["get_item", 0, 0]],
    }
    model = tkeras.Model.from_config(config)
    out = model.predict(np.array([[1.0, 2.0, 3.0]], "float32"), verbose=0)
    np.testing.assert_allclose(out, [[3.0, 4.0]])


@pytest.mark.slow
def test_every_keras_ops_name_exists():
    """Informative coverage check of `keras.ops` (337 names in keras-api.json)."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "docs", "keras-api.json")
    if not os.path.exists(path):
        path = "/work/shared/docs/keras-api.json"
    with open(path) as f:
        names = json.load(f)["namespaces"]["keras.ops"]["names"]
    missing = [n for n in names if not hasattr(tkeras.ops, n)]
    assert not missing, f"{len(missing)} keras.ops names missing from tkeras.ops: {missing}"
