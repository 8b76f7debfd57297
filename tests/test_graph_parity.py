"""Functional-graph parity with Keras: dict inputs/outputs (Keras's `tree.flatten` sorts dict
keys), layers returning dicts, summary of eagerly built nested Sequentials, and the public
`keras.Variable` constructor.

One program is run verbatim under real Keras (one subprocess) and under tkeras, which starts from
Keras's initial weights loaded with `set_weights` (so the weight order itself is checked).
"""

import json

import numpy as np
import pytest

import tkeras
from keras_oracle import requires_keras
from keras_oracle import run_keras

PROGRAM = r'''
def to_json(value):
    return json.loads(json.dumps(value, default=lambda o: list(o) if isinstance(o, tuple)
                                 else str(o)))


def dict_model(keras):
    title = keras.Input(shape=(3,), name="title", dtype="int32")
    body = keras.Input(shape=(4,), name="body", dtype="int32")
    tags = keras.Input(shape=(5,), name="tags")
    t = keras.layers.Flatten(name="t_flat")(keras.layers.Embedding(20, 2, name="t_emb")(title))
    b = keras.layers.Flatten(name="b_flat")(keras.layers.Embedding(20, 3, name="b_emb")(body))
    x = keras.layers.Concatenate(name="concat")([t, b, tags])
    x = keras.layers.Dense(6, activation="relu", name="hidden")(x)
    priority = keras.layers.Dense(1, name="priority")(x)
    department = keras.layers.Dense(3, name="department")(x)
    return keras.Model(inputs={"title": title, "body": body, "tags": tags},
                       outputs={"priority": priority, "department": department}, name="ticket")


def mixed_model(keras):
    a = keras.Input((3,), name="a_in")
    b = keras.Input((2,), name="b_in")
    c = keras.Input((1,), name="c_in")
    x = keras.layers.Concatenate(name="cat")([a, b, c])
    d = keras.layers.Dense(2, name="d")(x)
    p = keras.layers.Dense(1, name="p")(x)
    return keras.Model([a, {"z": b, "y": c}], [d, {"q": p, "a": d}], name="mixed")


class TwoHeads:
    """A layer returning a dict (its keys out of sorted order) in a graph."""

    def __new__(cls, keras):
        class _TwoHeads(keras.layers.Layer):
            def call(self, x):
                return {"sum": x + 1.0, "prod": x * 2.0}

            def compute_output_shape(self, input_shape):
                return {"sum": input_shape, "prod": input_shape}

        return _TwoHeads(name="two_heads")


def dict_layer_model(keras):
    inp = keras.Input((4,), name="x")
    heads = TwoHeads(keras)(inp)
    s = keras.layers.Dense(2, name="on_sum")(heads["sum"])
    p = keras.layers.Dense(3, name="on_prod")(heads["prod"])
    return keras.Model(inp, {"s": s, "p": p}, name="dict_layer")


def structure(model):
    return {
        "inputs": [t.name for t in model.inputs],
        "output_layers": [t._keras_history[0].name for t in model.outputs],
        "output_names": list(model.output_names),
        "layers": [layer.name for layer in model.layers],
        "weights": [w.path for w in model.weights],
        "config": to_json(model.get_config()),
    }


def graph_program(keras, init=None):
    out = {}
    rng = np.random.default_rng(0)
    title = rng.integers(20, size=(12, 3)).astype("int32")
    body = rng.integers(20, size=(12, 4)).astype("int32")
    tags = rng.random((12, 5)).astype("float32")
    priority = rng.random((12, 1)).astype("float32")
    department = np.eye(3, dtype="float32")[rng.integers(3, size=12)]
    x = {"title": title, "body": body, "tags": tags}
    y = {"priority": priority, "department": department}

    model = dict_model(keras)
    out["dict/structure"] = structure(model)
    if init is not None:
        model.set_weights(init["dict"])
    out["dict/init"] = model.get_weights()
    pred = model(x)
    out["dict/call_keys"] = list(pred)
    out["dict/call"] = {k: keras.ops.convert_to_numpy(v) for k, v in pred.items()}
    # A dict model with keys out of sorted order refuses a list (as Keras).
    try:
        model([tags, title, body])
        out["dict/list_call"] = "ok"
    except ValueError:
        out["dict/list_call"] = "ValueError"
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss={"department": keras.losses.CategoricalCrossentropy(from_logits=True),
              "priority": "mse"},
        loss_weights={"priority": 2.0, "department": 0.5},
        metrics={"priority": ["mae"], "department": ["categorical_accuracy"]},
    )
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    out["dict/history"] = {k: [float(v) for v in history.history[k]]
                           for k in sorted(history.history)}
    out["dict/trained"] = model.get_weights()
    ev = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    out["dict/eval"] = {k: float(ev[k]) for k in sorted(ev)}
    predicted = model.predict(x, batch_size=5, verbose=0)
    out["dict/predict_keys"] = list(predicted)
    out["dict/predict"] = dict(predicted)
    rebuilt = model.__class__.from_config(model.get_config())
    out["dict/rebuilt"] = structure(rebuilt)

    mixed = mixed_model(keras)
    out["mixed/structure"] = structure(mixed)
    if init is not None:
        mixed.set_weights(init["mixed"])
    out["mixed/init"] = mixed.get_weights()
    res = mixed([np.ones((2, 3), "float32"),
                 {"z": np.full((2, 2), 0.5, "float32"), "y": np.full((2, 1), -1.0, "float32")}])
    out["mixed/call_keys"] = list(res[1])
    out["mixed/call"] = [keras.ops.convert_to_numpy(res[0]),
                         {k: keras.ops.convert_to_numpy(v) for k, v in res[1].items()}]

    i = keras.Input((3,), name="single_in")
    single = keras.Model([i], [keras.layers.Dense(2, name="single_out")(i)], name="single")
    if init is not None:
        single.set_weights(init["single"])
    out["single/init"] = single.get_weights()
    xs = rng.random((6, 3)).astype("float32")
    # Keras unpacks a one-element output list (call and predict give one array).
    out["single/call_types"] = [type(single(xs)).__name__,
                                type(single.predict(xs, verbose=0)).__name__]
    single.compile(optimizer="sgd", loss=["mse"])
    history = single.fit([xs], [xs[:, :2]], batch_size=3, epochs=2, verbose=0, shuffle=False)
    out["single/history"] = [float(v) for v in history.history["loss"]]

    dl = dict_layer_model(keras)
    out["dict_layer/structure"] = structure(dl)
    if init is not None:
        dl.set_weights(init["dict_layer"])
    out["dict_layer/init"] = dl.get_weights()
    res = dl(np.arange(8, dtype="float32").reshape(2, 4) / 8)
    out["dict_layer/call"] = {k: keras.ops.convert_to_numpy(v) for k, v in res.items()}
    return out


def summary_program(keras):
    class Outer(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seq = keras.Sequential([keras.layers.Dense(4, name="s1"),
                                         keras.layers.Dense(3, name="s2")], name="seq")
            self.head = keras.layers.Dense(2, name="head")

        def call(self, x):
            return self.head(self.seq(x))

    out = {}
    lines = []
    outer = Outer(name="outer")
    outer(np.zeros((2, 5, 6), "float32"))
    outer.summary(print_fn=lambda line, **kwargs: lines.append(line))
    seq = keras.Sequential([keras.layers.Dense(4, name="a1"),
                            keras.Sequential([keras.layers.Dense(3, name="a2")], name="inner")],
                           name="stack")
    seq(np.zeros((3, 6), "float32"))
    seq.summary(print_fn=lambda line, **kwargs: lines.append(line))
    out["summary"] = "\n".join(lines)
    out["eager_seq"] = [list(seq.input_shape), list(seq.output_shape),
                        to_json(seq.get_config()["build_input_shape"])]
    out["eager_seq_call"] = list(seq(np.zeros((4, 6), "float32")).shape)
    return out


def variable_program(keras):
    keras.utils.clear_session()
    cases = {
        "float": lambda: keras.Variable(1.5, name="v"),
        "auto_name": lambda: keras.Variable([1.0, 2.0]),
        "auto_name_2": lambda: keras.Variable(np.arange(6.0).reshape(2, 3)),
        "int_frozen": lambda: keras.Variable(3, trainable=False, name="count"),
        "np_int64": lambda: keras.Variable(np.array([1, 2], "int64"), trainable=False),
        "np_float64": lambda: keras.Variable(np.array([0.5, 1.5], "float64"), name="f64"),
        "cast": lambda: keras.Variable(np.array([0.5, 1.5], "float64"), dtype="float32"),
        "int_to_float": lambda: keras.Variable(3, dtype="float16", name="h"),
        "string_init": lambda: keras.Variable("ones", shape=(2, 3), dtype="float16",
                                              trainable=False, name="ones"),
        "object_init": lambda: keras.Variable(keras.initializers.Constant(0.25), shape=(3,),
                                              name="const"),
        "callable_init": lambda: keras.Variable(lambda shape, dtype: np.full(shape, 2.0),
                                                shape=(2,), name="fn"),
        "random_init": lambda: keras.Variable(keras.initializers.RandomNormal(seed=1),
                                              shape=(2, 2), name="rnd"),
        "aggregation": lambda: keras.Variable(0.0, aggregation="sum", synchronization="on_read",
                                              autocast=False, name="agg"),
    }
    out = {}
    for key, make in cases.items():
        v = make()
        out[f"var/{key}"] = {
            "name": v.name, "path": v.path, "trainable": bool(v.trainable),
            "dtype": keras.backend.standardize_dtype(v.dtype), "shape": list(v.shape),
            "value": np.asarray(v.numpy()).tolist() if key != "random_init" else None,
            "aggregation": v.aggregation, "synchronization": v.synchronization,
        }
    with keras.name_scope("outer"):
        with keras.name_scope("inner"):
            v = keras.Variable(1.0, name="w")
            u = keras.Variable(np.zeros(2, "float32"))
    out["var/scoped"] = [v.path, v.name, u.path, u.name]
    errors = []
    for kwargs in (dict(initializer="ones"), dict(initializer=1.0, name="a/b"),
                   dict(initializer=1.0, aggregation="avg"),
                   dict(initializer=1.0, synchronization="sometimes")):
        try:
            keras.Variable(**kwargs)
            errors.append("none")
        except ValueError as e:
            errors.append(str(e).split(".")[0])
    out["var/errors"] = errors
    return out
'''

KERAS_CODE = """
exec(PROGRAM)
result = graph_program(keras)
result.update(summary_program(keras))
result.update(variable_program(keras))
import pickle, base64
outputs["pickled"] = base64.b64encode(pickle.dumps(result)).decode()
"""


def _namespace():
    ns = {"np": np, "json": json}
    exec(PROGRAM, ns)
    return ns


@pytest.fixture(scope="module")
def keras_out():
    import base64
    import pickle

    raw = run_keras(f"PROGRAM = {PROGRAM!r}\n" + KERAS_CODE)
    # Keras's arrays come back as NumPy arrays, inside nested dicts/lists (pickled to keep them).
    return pickle.loads(base64.b64decode(raw["pickled"]))


@pytest.fixture(scope="module")
def ours(keras_out):
    ns = _namespace()
    init = {name: keras_out[f"{name}/init"] for name in ("dict", "mixed", "dict_layer", "single")}
    out = ns["graph_program"](tkeras, init=init)
    out.update(ns["summary_program"](tkeras))
    out.update(ns["variable_program"](tkeras))
    return out


def assert_close(ours, theirs, key, atol=1e-5):
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), key
        for k in theirs:
            assert_close(ours[k], theirs[k], f"{key}/{k}", atol)
    elif isinstance(theirs, (list, tuple)) and any(
            isinstance(v, (np.ndarray, dict, list)) for v in theirs):
        assert len(ours) == len(theirs), key
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_close(a, b, f"{key}[{i}]", atol)
    elif isinstance(theirs, np.ndarray) or (
            isinstance(theirs, list) and theirs and all(isinstance(v, float) for v in theirs)):
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        assert ours.shape == theirs.shape, key
        np.testing.assert_allclose(ours, theirs, atol=atol, rtol=1e-5, err_msg=key)
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, abs=atol, rel=1e-5), key
    else:
        assert ours == theirs, key


GRAPHS = ["dict", "mixed", "dict_layer"]


@requires_keras
@pytest.mark.parametrize("graph", GRAPHS)
def test_structure_matches_keras(ours, keras_out, graph):
    """model.inputs/outputs order, output_names, layer order, weight order and get_config."""
    theirs = keras_out[f"{graph}/structure"]
    mine = ours[f"{graph}/structure"]
    for key in ("inputs", "output_layers", "output_names", "layers", "weights"):
        assert mine[key] == theirs[key], key
    assert _graph_config(mine["config"]) == _graph_config(theirs["config"])


def _graph_config(config):
    """The config without the custom `two_heads` layer's own `config`/`module` (a class defined
    in a function: Keras auto-captures the base Layer's constructor arguments and names no
    module; base-Layer config, not the graph). Its nodes, and all else, are kept."""
    config = json.loads(json.dumps(config))
    for layer in config["layers"]:
        if layer["name"] == "two_heads":
            del layer["config"], layer["module"]
    return config


def test_dict_model_inputs_sorted():
    ns = _namespace()
    model = ns["dict_model"](tkeras)
    assert [t.name for t in model.inputs] == ["body", "tags", "title"]
    assert list(model.input) == ["title", "body", "tags"]  # `model.input`: the given structure
    assert list(model.output) == ["priority", "department"]


@requires_keras
@pytest.mark.parametrize("graph", GRAPHS)
def test_calls_match_keras(ours, keras_out, graph):
    for key in keras_out:
        if key.startswith(f"{graph}/") and "/call" in key:
            assert_close(ours[key], keras_out[key], key)


@requires_keras
def test_dict_fit_evaluate_predict_match_keras(ours, keras_out):
    for key in ("dict/history", "dict/trained", "dict/eval", "dict/predict_keys",
                "dict/predict", "dict/list_call"):
        assert_close(ours[key], keras_out[key], key)


@requires_keras
def test_single_output_list_is_unpacked_as_keras(ours, keras_out):
    assert ours["single/call_types"] == keras_out["single/call_types"] == ["Tensor", "ndarray"]
    assert_close(ours["single/history"], keras_out["single/history"], "single/history")


@requires_keras
def test_dict_model_from_config_matches_keras(ours, keras_out):
    assert ours["dict/rebuilt"] == keras_out["dict/rebuilt"]
    assert ours["dict/rebuilt"]["inputs"] == ["body", "tags", "title"]


@requires_keras
def test_summary_of_eagerly_built_nested_sequential(ours, keras_out):
    assert ours["summary"] == keras_out["summary"]
    assert ours["eager_seq"] == keras_out["eager_seq"]
    assert ours["eager_seq_call"] == keras_out["eager_seq_call"]


@requires_keras
def test_variable_constructor_matches_keras(ours, keras_out):
    keys = [k for k in keras_out if k.startswith("var/")]
    assert len(keys) > 10
    for key in keys:
        assert ours[key] == keras_out[key], key


def test_variable_internal_constructor_shares_the_tensor():
    import torch

    data = torch.zeros(3)
    v = tkeras.Variable(data, name="k", path="layer/k")
    assert v.data_ptr() == data.data_ptr() and v.path == "layer/k" and v.requires_grad


def test_variable_deepcopy_and_pickle_keep_metadata():
    import copy
    import pickle

    v = tkeras.Variable(np.ones((2, 2), "float32"), trainable=False, name="w",
                        aggregation="mean")
    for w in (copy.deepcopy(v), pickle.loads(pickle.dumps(v))):
        assert type(w) is type(v)
        assert (w.name, w.path, w.trainable, w.requires_grad, w.aggregation) == (
            "w", "w", False, False, "mean")
        np.testing.assert_array_equal(w.numpy(), v.numpy())
