"""keras.wrappers parity: the scikit-learn estimators around a model-building function.

One program text runs under real Keras (one subprocess) and under tkeras; the tkeras builder
starts from the initial weights Keras's builder drew, so after `fit` (SGD, shuffle off) the
predictions, decision functions, transforms, scores and histories must agree. scikit-learn's
own estimator checks (the ones Keras's test suite runs, with Keras's expected failures) run as
a slow sweep.
"""

import copy
import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
import sklearn.datasets  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import tkeras  # noqa: E402
from keras_oracle import requires_keras, run_keras  # noqa: E402
from tkeras.wrappers import SKLearnClassifier  # noqa: E402
from tkeras.wrappers import SKLearnRegressor  # noqa: E402
from tkeras.wrappers import SKLearnTransformer  # noqa: E402

# Two SGD epochs of a float32 MLP: rounding differences stay far below this.
RTOL, ATOL = 1e-4, 1e-5

PROGRAM = """
INITIAL = []

def build(X, y, loss, out_activation="softmax", init=None):
    inp = keras.Input(shape=(X.shape[1],), name="x")
    h = keras.layers.Dense(8, activation="relu", name="h")(inp)
    n_out = y.shape[1] if len(y.shape) > 1 else 1
    out = keras.layers.Dense(n_out, activation=out_activation, name="out")(h)
    model = keras.Model(inp, out)
    model.compile(loss=loss, optimizer=keras.optimizers.SGD(0.1))
    if init is not None:
        model.set_weights(init)
    INITIAL.append([np.asarray(w) for w in model.get_weights()])
    return model

FIT = {"epochs": 2, "batch_size": 8, "shuffle": False, "verbose": 0}

CASES = {
    "classifier_multiclass": ("SKLearnClassifier", {"loss": "categorical_crossentropy"}),
    "classifier_binary": ("SKLearnClassifier", {"loss": "binary_crossentropy"}),
    "regressor_1d": ("SKLearnRegressor", {"loss": "mse", "out_activation": "linear"}),
    "transformer": ("SKLearnTransformer", {"loss": "mse", "out_activation": "tanh"}),
}

def run_case(wrappers, case, X, y, init=None):
    cls_name, kwargs = CASES[case]
    kwargs = dict(kwargs, init=init)
    est = getattr(wrappers, cls_name)(model=build, model_kwargs=kwargs, fit_kwargs=dict(FIT))
    est.fit(X, y)
    out = {"history": {k: [float(v) for v in vals] for k, vals in est.history_.history.items()},
           "epoch": list(est.history_.epoch)}
    if cls_name == "SKLearnClassifier":
        out["predict"] = est.predict(X)
        out["decision"] = est.decision_function(X)
        out["classes"] = est.classes_
        out["score"] = float(est.score(X, y))
    elif cls_name == "SKLearnRegressor":
        out["predict"] = est.predict(X)
        out["score"] = float(est.score(X, y))
    else:
        out["transform"] = est.transform(X)
        out["fit_transform_shape"] = list(est.fit_transform(X, y).shape)
    return out
"""


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    labels = np.array(["cat", "dog", "eel"])
    return {
        "X": X,
        "classifier_multiclass": labels[rng.integers(0, 3, size=40)],
        "classifier_binary": np.where(X[:, 0] + 0.3 * rng.normal(size=40) > 0, 7, 3),
        "regressor_1d": X @ rng.normal(size=5),
        "transformer": np.tanh(X[:, 1] - X[:, 2]),
    }


def _namespace(keras):
    ns = {"keras": keras, "np": np}
    exec(PROGRAM, ns)
    return ns


CASE_NAMES = list(_namespace(tkeras)["CASES"])

KERAS_CODE = """
import keras.wrappers
ns = {"keras": keras, "np": np}
exec(PROGRAM, ns)
X = inputs["X"]
report = {}
for case in ns["CASES"]:
    keras.utils.set_random_seed(0)
    y = inputs[case]
    first = len(ns["INITIAL"])
    result = ns["run_case"](keras.wrappers, case, X, y)
    for i, w in enumerate(ns["INITIAL"][first]):
        outputs[f"{case}/init/{i}"] = w
    for key in ("predict", "decision", "classes", "transform"):
        if key in result:
            outputs[f"{case}/{key}"] = np.asarray(result.pop(key))
    report[case] = result
outputs["report"] = report
"""


@pytest.fixture(scope="module")
def oracle():
    data = _data()
    result = run_keras(f"PROGRAM = {PROGRAM!r}\n" + KERAS_CODE, data)
    return data, result


def _init(result, case):
    n = len([k for k in result if k.startswith(f"{case}/init/")])
    return [result[f"{case}/init/{i}"] for i in range(n)]


@requires_keras
@pytest.mark.parametrize("case", CASE_NAMES)
def test_fit_predict_parity(oracle, case):
    data, result = oracle
    ns = _namespace(tkeras)
    ours = ns["run_case"](tkeras.wrappers, case, data["X"], data[case],
                          init=_init(result, case))
    ref = result["report"][case]
    assert ours["epoch"] == ref["epoch"] == [0, 1]
    assert set(ours["history"]) == set(ref["history"]) == {"loss"}
    np.testing.assert_allclose(ours["history"]["loss"], ref["history"]["loss"], rtol=RTOL,
                               atol=ATOL)
    if "score" in ref:
        np.testing.assert_allclose(ours["score"], ref["score"], rtol=RTOL, atol=ATOL)
    if "classes" in ours:
        np.testing.assert_array_equal(ours["classes"], result[f"{case}/classes"])
        np.testing.assert_allclose(ours["decision"], result[f"{case}/decision"], rtol=RTOL,
                                   atol=ATOL)
        # Decoded labels: same dtype and values as Keras's (argmax of the decision function).
        assert ours["predict"].dtype == result[f"{case}/predict"].dtype
        np.testing.assert_array_equal(ours["predict"], result[f"{case}/predict"])
        assert len(set(ours["predict"])) > 1  # the fit separates classes: a real check
    elif "predict" in ours:
        assert ours["predict"].shape == result[f"{case}/predict"].shape
        np.testing.assert_allclose(ours["predict"], result[f"{case}/predict"], rtol=RTOL,
                                   atol=ATOL)
    else:
        np.testing.assert_allclose(ours["transform"], result[f"{case}/transform"], rtol=RTOL,
                                   atol=ATOL)
        assert ours["fit_transform_shape"] == ref["fit_transform_shape"]


# ----------------------------------------------------------------------------- behaviour
def _build(X, y, loss="mse", out_activation="linear"):
    return _namespace(tkeras)["build"](X, y, loss, out_activation)


def test_model_instance_is_cloned():
    X = np.random.default_rng(1).normal(size=(16, 5))
    y = X.sum(axis=1)
    model = _build(X, y)
    est = SKLearnRegressor(model=model, fit_kwargs={"epochs": 1, "verbose": 0}).fit(X, y)
    assert est.model_ is not model
    assert [l.name for l in est.model_.layers] == [l.name for l in model.layers]
    assert est.predict(X).shape == (16,)


def test_model_needs_compiling():
    X = np.random.default_rng(1).normal(size=(16, 5))
    uncompiled = tkeras.Sequential([tkeras.Input((5,)), tkeras.layers.Dense(1)])
    with pytest.raises(RuntimeError, match="needs to be compiled"):
        SKLearnRegressor(model=lambda X, y: uncompiled).fit(X, X[:, 0])


def test_fit_kwargs_precedence_and_clone():
    X = np.random.default_rng(2).normal(size=(16, 5))
    y = X.sum(axis=1)
    est = SKLearnRegressor(model=_build, fit_kwargs={"epochs": 1, "verbose": 0})
    assert est.epoch_ == 0
    est.fit(X, y, epochs=2)
    assert est.history_.epoch == [0, 1]
    assert est.fit_kwargs == {"epochs": 2, "verbose": 0}  # updated in place, as Keras
    clone = sklearn.base.clone(est)
    assert clone.model is _build and clone.fit_kwargs is None  # Keras's clone drops it
    assert clone.get_params()["warm_start"] is False


def test_multi_output_targets_refused_as_keras():
    """Keras validates `y` as 1-D (no multi_output): a 2-D regression target is refused."""
    X = np.zeros((6, 5))
    with pytest.raises(ValueError, match="y should be a 1d array"):
        SKLearnRegressor(model=_build).fit(X, np.zeros((6, 2)))


def test_classifier_target_checks():
    X = np.random.default_rng(3).normal(size=(10, 5))
    est = SKLearnClassifier(model=_build, model_kwargs={"loss": "categorical_crossentropy",
                                                        "out_activation": "softmax"})
    with pytest.raises(ValueError, match="Only binary and multiclass target types"):
        est.fit(X, X[:, 0])
    with pytest.raises(ValueError, match="only one class is present"):
        est.fit(X, np.zeros(10, dtype=int))
    with pytest.raises(sklearn.exceptions.NotFittedError):
        est.__sklearn_clone__().predict(X)


def test_set_fit_request_needs_routing():
    est = SKLearnRegressor(model=_build)
    with sklearn.config_context(enable_metadata_routing=False):
        with pytest.raises(RuntimeError, match="metadata routing is enabled"):
            est.set_fit_request(sample_weight=True)
    with sklearn.config_context(enable_metadata_routing=True):
        assert est.set_fit_request(sample_weight=True) is est


def test_wrappers_registered_under_keras_names():
    from tkeras.core.registry import get_builtin

    for cls in (SKLearnClassifier, SKLearnRegressor, SKLearnTransformer):
        assert get_builtin(None, cls.__name__) is cls
    assert set(dir(tkeras.wrappers)) >= {"SKLearnClassifier", "SKLearnRegressor",
                                         "SKLearnTransformer"}


def test_clone_and_deepcopy_of_model_estimator():
    """Keras's __sklearn_clone__ deep-copies only non-callable models: a Model is callable, so
    the clone shares it; `copy.deepcopy` copies it."""
    X = np.zeros((4, 5))
    est = SKLearnRegressor(model=_build(X, np.zeros(4)), warm_start=True)
    clone = sklearn.base.clone(est)
    assert clone.model is est.model and clone.warm_start is True
    copied = copy.deepcopy(est).model
    assert copied is not est.model
    np.testing.assert_array_equal(copied.predict(X, verbose=0), est.model.predict(X, verbose=0))


# ----------------------------------------------------------------------------- sklearn checks
def dynamic_model(X, y, loss, out_activation_function="softmax", layers=[10]):
    """Keras's test builder (keras/src/wrappers/sklearn_test.py)."""
    inp = tkeras.Input(shape=(X.shape[1],))
    hidden = inp
    for layer_size in layers:
        hidden = tkeras.layers.Dense(layer_size, activation="relu")(hidden)
    n_outputs = y.shape[1] if len(y.shape) > 1 else 1
    out = [tkeras.layers.Dense(n_outputs, activation=out_activation_function)(hidden)]
    model = tkeras.Model(inp, out)
    model.compile(loss=loss, optimizer="rmsprop")
    return model


# Keras's own list (sklearn_test.py).
EXPECTED_FAILED_CHECKS = {
    "SKLearnClassifier": {
        "check_classifiers_regression_target": "not an issue in sklearn>=1.6",
        "check_parameters_default_constructible": "not an issue in sklearn>=1.6",
        "check_classifiers_one_label_sample_weights": "0 sample weight is not ignored",
        "check_classifiers_classes": "with small test cases the estimator returns not all "
                                     "classes sometimes",
        "check_classifier_data_not_an_array": "This test assumes reproducibility in fit.",
        "check_supervised_y_2d": "This test assumes reproducibility in fit.",
        "check_fit_idempotent": "This test assumes reproducibility in fit.",
        "check_classifiers_train": "decision_function can return both probabilities and "
                                   "logits",
    },
    "SKLearnRegressor": {"check_parameters_default_constructible": "not an issue in "
                                                                    "sklearn>=1.6",},
    "SKLearnTransformer": {"check_parameters_default_constructible": "not an issue in "
                                                                      "sklearn>=1.6",},
}

ESTIMATORS = [
    SKLearnClassifier(model=dynamic_model, model_kwargs={
        "loss": "categorical_crossentropy", "layers": [20, 20, 20]}, fit_kwargs={"epochs": 5}),
    SKLearnRegressor(model=dynamic_model, model_kwargs={"loss": "mse"}),
    SKLearnTransformer(model=dynamic_model, model_kwargs={"loss": "mse"}),
]


@pytest.mark.slow
@parametrize_with_checks(
    ESTIMATORS, legacy=True,
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", [
    SKLearnClassifier(model=dynamic_model, model_kwargs={
        "out_activation_function": "softmax", "loss": "binary_crossentropy"},
        fit_kwargs={"epochs": 1, "verbose": 0}),
    SKLearnClassifier(model=dynamic_model, model_kwargs={
        "out_activation_function": "linear", "loss": "binary_crossentropy"},
        fit_kwargs={"epochs": 1, "verbose": 0}),
])
def test_decision_function_argmax_is_predict(estimator):
    """Keras's test_sklearn_estimator_decision_function."""
    X, y = sklearn.datasets.make_classification(n_samples=10, n_features=10, n_informative=4,
                                                n_classes=2, random_state=42)
    estimator.fit(X, y)
    np.testing.assert_array_equal(estimator.decision_function(X).argmax(axis=-1),
                                  estimator.predict(X).flatten())


def test_fitted_estimator_pickles():
    X = np.random.default_rng(4).normal(size=(8, 5))
    est = SKLearnRegressor(model=_build, fit_kwargs={"epochs": 1, "verbose": 0}).fit(X, X[:, 0])
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(restored.predict(X), est.predict(X), rtol=1e-6)


@pytest.mark.slow
def test_without_scikit_learn_constructors_raise_keras_import_error():
    """In a process where scikit-learn cannot be imported, the classes exist and their
    constructors raise Keras's ImportError."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "from tkeras.wrappers import SKLearnRegressor\n"
        "try:\n"
        "    SKLearnRegressor(model=None)\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("SKLearnRegressor requires `scikit-learn` to be installed. "
                                  "Run `pip install scikit-learn` to install it.")
