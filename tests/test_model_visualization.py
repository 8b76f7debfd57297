"""keras.utils.model_to_dot / plot_model vs real Keras (one subprocess for the module).

The same model-building code runs under Keras and tkeras; the DOT sources are compared after
renaming node ids (Keras names nodes `str(id(layer))`) to their order of first appearance.
Errors (unbuilt model, `layer_range`, unknown kwargs, missing pydot or graphviz) are compared
by type and message.
"""

import re
import shutil

import pytest

import tkeras
from keras_oracle import requires_keras, run_keras
from tkeras.utils import model_visualization

pytest.importorskip("pydot")

# Builds `models` (name -> model) with `keras` bound to Keras or tkeras.
MODELS_CODE = """
import numpy as np
models = {}
# Explicit names: automatic ones depend on how many layers the process built before.
models["seq"] = keras.Sequential([
    keras.Input((8,)),
    keras.layers.Dense(16, activation="relu", name="dense"),
    keras.layers.Dropout(0.1, name="dropout"),
    keras.layers.Dense(4, activation="softmax", name="dense_1"),
], name="seq")

a = keras.Input((6,), name="a")
b = keras.Input((3,), name="b", dtype="float16")
shared = keras.layers.Dense(5, name="shared")
pb = keras.layers.Dense(5, name="proj")(b)
h = keras.layers.Concatenate(name="concat")([shared(a), pb])
h2 = shared(keras.layers.Dense(6, activation="tanh", name="pre")(a))
frozen = keras.layers.Dense(2, name="frozen")
frozen.trainable = False
out1 = keras.layers.Dense(1, activation="sigmoid", name="head1")(h)
out2 = frozen(keras.layers.Add(name="add")([h2, pb]))
models["branches"] = keras.Model([a, b], [out1, out2], name="branches")

di = {"x": keras.Input((4,), name="x"), "y": keras.Input((4,), name="y")}
models["dict_io"] = keras.Model(di, {"s": keras.layers.Add(name="sum")([di["x"], di["y"]])},
                                name="dict_io")

inner_in = keras.Input((4,), name="inner_in")
inner = keras.Model(inner_in, keras.layers.Dense(3, name="inner_dense")(inner_in), name="inner")
inner_seq = keras.Sequential([keras.layers.Dense(3, name="s1"), keras.layers.ReLU(name="s2")],
                             name="inner_seq")
inner_seq.build((None, 3))
outer_in = keras.Input((4,), name="outer_in")
z = inner_seq(inner(outer_in))
z = keras.layers.Dense(2, name="outer_dense")(z)
models["nested"] = keras.Model(outer_in, z, name="nested")


class Tiny(keras.Model):
    def __init__(self):
        super().__init__(name="tiny")
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


tiny = Tiny()
tiny(np.zeros((1, 3), "float32"))
models["subclassed"] = tiny
models["unbuilt"] = keras.Sequential([keras.layers.Dense(2)], name="unbuilt")
"""

FULL = dict(show_shapes=True, show_dtype=True, show_layer_activations=True, show_trainable=True)
DOT_CASES = {
    "seq/default": ("seq", {}),
    "seq/full_lr": ("seq", dict(FULL, rankdir="LR", dpi=96, splines="polyline")),
    "seq/no_names": ("seq", dict(show_layer_names=False, show_shapes=True)),
    "seq/expand_nested": ("seq", dict(expand_nested=True)),
    "branches/default": ("branches", {}),
    "branches/full": ("branches", FULL),
    "branches/dtype_trainable": ("branches", dict(show_dtype=True, show_trainable=True)),
    "dict_io/shapes": ("dict_io", dict(show_shapes=True, show_dtype=True)),
    "nested/flat": ("nested", dict(show_shapes=True)),
    "nested/expanded": ("nested", dict(FULL, expand_nested=True)),
    "nested/subgraph": ("nested", dict(subgraph=True)),
    "subclassed/full": ("subclassed", FULL),
}
ERROR_CASES = {
    "unbuilt": "model_to_dot(models['unbuilt'])",
    "plot_unbuilt": "plot_model(models['unbuilt'])",
    "layer_range": "model_to_dot(models['seq'], layer_range=['a', 'b'])",
    "bad_kwarg": "model_to_dot(models['seq'], show_everything=True)",
}

EVAL_CODE = """
def run_cases(model_to_dot, plot_model, models):
    dots, errors = {}, {}
    for case_id, (name, kwargs) in DOT_CASES.items():
        dots[case_id] = model_to_dot(models[name], **kwargs).to_string()
    for case_id, expr in ERROR_CASES.items():
        try:
            eval(expr)
            errors[case_id] = None
        except Exception as e:  # noqa: BLE001 - error parity is part of the test
            errors[case_id] = [type(e).__name__, str(e)]
    return dots, errors


def missing_dependency_errors(module, models):
    # Messages without graphviz / pydot: raised outside IPython, printed inside it (plot_model
    # returns None); Keras detects IPython by `IPython.core.magics.namespace` being imported.
    import contextlib, io, sys, types
    ns = "IPython.core.magics.namespace"
    saved_ns = sys.modules.pop(ns, None)
    errors = {}

    def attempt(key, fn, notebook):
        try:
            fn()
        except ImportError as e:
            errors[key] = str(e)
        if notebook:
            sys.modules[ns] = types.ModuleType(ns)
            buf = io.StringIO()
            try:
                with contextlib.redirect_stdout(buf):
                    errors[key + "/notebook"] = [fn(), buf.getvalue()]
            finally:
                del sys.modules[ns]

    plot = lambda: module.plot_model(models["seq"], to_file="model.dot")
    try:
        if not module.check_graphviz():
            attempt("no_graphviz", plot, notebook=True)
        saved, module.pydot = module.pydot, None
        try:
            attempt("no_pydot/model_to_dot", lambda: module.model_to_dot(models["seq"]), False)
            attempt("no_pydot/plot_model", plot, notebook=True)
        finally:
            module.pydot = saved
    finally:
        if saved_ns is not None:
            sys.modules[ns] = saved_ns
    return errors
"""

KERAS_CODE = MODELS_CODE + EVAL_CODE + """
from keras.src.utils import model_visualization as module
DOT_CASES = json.loads(str(inputs["dot_cases"]))
ERROR_CASES = json.loads(str(inputs["error_cases"]))
model_to_dot, plot_model = keras.utils.model_to_dot, keras.utils.plot_model
dots, errors = run_cases(model_to_dot, plot_model, models)
outputs["dots"] = dots
outputs["errors"] = errors
outputs["missing"] = missing_dependency_errors(module, models)
"""


def _normalize(dot_source):
    """Rename `id(layer)` node names to n0, n1, ... in order of first appearance."""
    names = {}
    return re.sub(r"(?<![\w.])\d{8,}(?![\w.])",
                  lambda m: names.setdefault(m.group(0), f"n{len(names)}"), dot_source)


@pytest.fixture(scope="module")
def keras_results():
    import json

    import numpy as np

    return run_keras(KERAS_CODE, {"dot_cases": np.array(json.dumps(DOT_CASES)),
                                  "error_cases": np.array(json.dumps(ERROR_CASES))})


@pytest.fixture(scope="module")
def tkeras_results():
    scope = {"keras": tkeras, "DOT_CASES": DOT_CASES, "ERROR_CASES": ERROR_CASES}
    exec(MODELS_CODE + EVAL_CODE, scope)
    models = scope["models"]
    dots, errors = scope["run_cases"](tkeras.utils.model_to_dot, tkeras.utils.plot_model, models)
    missing = scope["missing_dependency_errors"](model_visualization, models)
    return {"dots": dots, "errors": errors, "missing": missing, "models": models}


@requires_keras
@pytest.mark.parametrize("case_id", sorted(DOT_CASES))
def test_dot_parity(case_id, keras_results, tkeras_results):
    ours = _normalize(tkeras_results["dots"][case_id])
    theirs = _normalize(keras_results["dots"][case_id])
    assert ours == theirs


@requires_keras
@pytest.mark.parametrize("case_id", sorted(ERROR_CASES))
def test_error_parity(case_id, keras_results, tkeras_results):
    assert keras_results["errors"][case_id] is not None
    assert tkeras_results["errors"][case_id] == keras_results["errors"][case_id]


@requires_keras
def test_missing_dependency_messages(keras_results, tkeras_results):
    assert tkeras_results["missing"] == keras_results["missing"]
    assert len(tkeras_results["missing"]) == (3 if shutil.which("dot") else 5)


def test_node_names_are_layer_ids(tkeras_results):
    model = tkeras_results["models"]["branches"]
    dot = tkeras.utils.model_to_dot(model)
    assert sorted(n.get_name() for n in dot.get_nodes() if n.get_name() != "node") == sorted(
        str(id(layer)) for layer in model._operations)
    shared = model.get_layer("shared")
    into_shared = {e.get_source() for e in dot.get_edges()
                   if e.get_destination() == str(id(shared))}
    assert into_shared == {str(id(model.get_layer("a"))), str(id(model.get_layer("pre")))}


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")
def test_plot_model_writes_file(tmp_path, tkeras_results):
    path = tmp_path / "model.dot"
    tkeras.utils.plot_model(tkeras_results["models"]["nested"], to_file=path, expand_nested=True)
    assert "cluster_inner" in path.read_text()


def test_utils_namespace():
    from tkeras.utils import legacy

    assert tkeras.utils.legacy is legacy
    assert tkeras.utils.legacy.serialize_keras_object(tkeras.layers.Dense(2))["class_name"] == (
        "Dense")
    assert tkeras.utils.model_to_dot is model_visualization.model_to_dot
    assert tkeras.utils.plot_model is model_visualization.plot_model
