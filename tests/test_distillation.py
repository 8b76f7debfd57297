"""keras.distillation parity: one program text runs under real Keras (one subprocess) and under
tkeras (`keras = tkeras`), tkeras starting from Keras's initial teacher/student weights.

Per case: `Distiller.fit` for one epoch (shuffle off, SGD), then the history (loss,
student_loss, distillation_loss, total_loss, accuracy), the student's and teacher's weights,
`evaluate`, `predict`, the Distiller's config and metric names are compared. `.keras` files go
both ways: tkeras loads the file Keras saved after fitting, and Keras loads a file tkeras saved.
"""

import json
import os

import numpy as np
import pytest

import tkeras
import tkeras.distillation  # noqa: F401  (binds tkeras.distillation for the program text)
from keras_oracle import requires_keras, run_keras

pytestmark = requires_keras

# One SGD epoch of float32 MLPs: rounding differences stay far below this (as briefed).
RTOL, ATOL = 1e-4, 1e-6

PROGRAM = """
def make_models(functional):
    if functional:
        def mlp(prefix, units):
            inp = keras.Input((6,), name=prefix + "_in")
            h = inp
            for i, u in enumerate(units):
                h = keras.layers.Dense(u, activation="tanh", name=f"{prefix}_h{i}")(h)
            out = keras.layers.Dense(4, name=prefix + "_logits")(h)
            return keras.Model(inp, out, name=prefix)
        return mlp("teacher", [16, 8]), mlp("student", [8])
    teacher = keras.Sequential([
        keras.Input((6,), name="t_in"),
        keras.layers.Dense(16, activation="relu", name="t_hidden"),
        keras.layers.Dense(8, activation="tanh", name="t_feat"),
        keras.layers.Dense(4, name="t_logits"),
    ], name="teacher")
    student = keras.Sequential([
        keras.Input((6,), name="s_in"),
        keras.layers.Dense(8, activation="relu", name="s_feat"),
        keras.layers.Dense(4, name="s_logits"),
    ], name="student")
    return teacher, student


D = keras.distillation

def make_distiller(case, teacher, student):
    if case == "logits_and_features":
        return D.Distiller(teacher, student, [
            D.LogitsDistillation(),
            D.FeatureDistillation(teacher_layer_name="t_feat", student_layer_name="s_feat"),
        ], distillation_loss_weights=[1.0, 0.5], student_loss_weight=0.5)
    if case == "kl_instance":
        return D.Distiller(teacher, student, D.LogitsDistillation(
            temperature=2.0, loss=keras.losses.KLDivergence()), student_loss_weight=0.3)
    if case == "functional_pure_distillation":
        return D.Distiller(teacher, student, [
            D.FeatureDistillation(loss="cosine_similarity", teacher_layer_name="teacher_h1",
                                  student_layer_name="student_h0"),
            D.FeatureDistillation(loss=keras.losses.MeanAbsoluteError()),
            D.LogitsDistillation(
                temperature=4, loss=keras.losses.CategoricalCrossentropy(from_logits=True)),
        ], student_loss_weight=0.0)
    raise ValueError(case)


def compile_distiller(case, d):
    if case == "kl_instance":
        d.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    else:
        d.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


def run_case(d, x, y):
    history = d.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    return {
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
        "evaluate": {k: float(v) for k, v in d.evaluate(x, y, batch_size=16, verbose=0,
                                                          return_dict=True).items()},
        "predict": np.asarray(d.predict(x, verbose=0)),
        "student": [np.asarray(w) for w in d.student.get_weights()],
        "teacher": [np.asarray(w) for w in d.teacher.get_weights()],
        "metrics_names": list(d.metrics_names),
    }
"""

CASES = {"logits_and_features": False, "kl_instance": False,
         "functional_pure_distillation": True}


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.integers(0, 4, size=(32,)).astype("int32")
    return x, y


def _namespace(keras):
    ns = {"keras": keras, "np": np}
    exec(PROGRAM, ns)
    return ns


KERAS_CODE = """
ns = {"keras": keras, "np": np}
exec(PROGRAM, ns)
x, y = inputs["x"], inputs["y"]
report = {}
for case, functional in CASES.items():
    keras.utils.set_random_seed(1)
    teacher, student = ns["make_models"](functional)
    d = ns["make_distiller"](case, teacher, student)
    for i, w in enumerate(teacher.get_weights()):
        outputs[f"{case}/init_teacher/{i}"] = w
    for i, w in enumerate(student.get_weights()):
        outputs[f"{case}/init_student/{i}"] = w
    outputs[f"{case}/config"] = json.dumps(d.get_config(), sort_keys=True)
    ns["compile_distiller"](case, d)
    result = ns["run_case"](d, x, y)
    outputs[f"{case}/predict"] = result.pop("predict")
    for part in ("student", "teacher"):
        for i, w in enumerate(result.pop(part)):
            outputs[f"{case}/{part}/{i}"] = w
    report[case] = result
    if case == "logits_and_features":
        d.save(KERAS_FILE)
outputs["report"] = report
loaded = keras.models.load_model(TKERAS_FILE)
outputs["tkeras_file/predict"] = loaded.predict(x, verbose=0)
outputs["tkeras_file/student_loss_weight"] = loaded.student_loss_weight
outputs["tkeras_file/losses"] = [json.dumps(l.get_config(), sort_keys=True)
                                 for l in loaded.distillation_losses]
"""


def _config_diff(a, b, path=""):
    """Paths where two JSON configs differ (readable failures for nested model configs)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str)
                for d in (_config_diff(a[k], b[k], f"{path}/{k}") if k in a and k in b
                          else [f"{path}/{k}: only in {'ours' if k in a else 'keras'}"])]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (u, v) in enumerate(zip(a, b)) for d in _config_diff(u, v, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _weights(result, key):
    n = len([k for k in result if k.startswith(key + "/")])
    return [result[f"{key}/{i}"] for i in range(n)]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("distill")
    x, y = _data()
    # tkeras's own file first (its own initial weights), for Keras to load.
    ns = _namespace(tkeras)
    tkeras.utils.set_random_seed(3)
    teacher, student = ns["make_models"](False)
    d = ns["make_distiller"]("logits_and_features", teacher, student)
    ns["compile_distiller"]("logits_and_features", d)
    d.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    tkeras_file = str(tmp / "tkeras_distiller.keras")
    d.save(tkeras_file)
    keras_file = str(tmp / "keras_distiller.keras")
    code = (f"PROGRAM = {PROGRAM!r}\nCASES = {CASES!r}\nKERAS_FILE = {keras_file!r}\n"
            f"TKERAS_FILE = {tkeras_file!r}\n" + KERAS_CODE)
    result = run_keras(code, {"x": x, "y": y})
    return {"result": result, "x": x, "y": y, "keras_file": keras_file, "tkeras_model": d}


def _tkeras_case(case, result):
    ns = _namespace(tkeras)
    teacher, student = ns["make_models"](CASES[case])
    teacher.set_weights(_weights(result, f"{case}/init_teacher"))
    student.set_weights(_weights(result, f"{case}/init_student"))
    d = ns["make_distiller"](case, teacher, student)
    return ns, d


@pytest.mark.parametrize("case", list(CASES))
def test_fit_parity(oracle, case):
    result, x, y = oracle["result"], oracle["x"], oracle["y"]
    ns, d = _tkeras_case(case, result)
    assert _config_diff(json.loads(json.dumps(d.get_config())),
                        json.loads(result[f"{case}/config"])) == []
    ns["compile_distiller"](case, d)
    ours = ns["run_case"](d, x, y)
    ref = result["report"][case]
    assert ours["metrics_names"] == ref["metrics_names"]
    assert set(ours["history"]) == set(ref["history"])
    for key, values in ref["history"].items():
        np.testing.assert_allclose(ours["history"][key], values, rtol=RTOL, atol=ATOL,
                                   err_msg=key)
    for ours_w, ref_w in zip(ours["student"], _weights(result, f"{case}/student"), strict=True):
        np.testing.assert_allclose(ours_w, ref_w, rtol=RTOL, atol=ATOL)
    assert set(ours["evaluate"]) == set(ref["evaluate"])
    for key, value in ref["evaluate"].items():
        np.testing.assert_allclose(ours["evaluate"][key], value, rtol=RTOL, atol=ATOL,
                                   err_msg=key)
    # The teacher is frozen: its weights are the initial ones, bit for bit.
    for ours_w, ref_w in zip(ours["teacher"], _weights(result, f"{case}/init_teacher"),
                             strict=True):
        np.testing.assert_array_equal(ours_w, ref_w)
    np.testing.assert_allclose(ours["predict"], result[f"{case}/predict"], rtol=RTOL, atol=ATOL)
    assert not any(w.trainable for w in d.teacher.weights)


def test_distillation_moved_the_student(oracle):
    """The fit above trains something: the student's weights left their initial values."""
    result = oracle["result"]
    for case in CASES:
        moved = [not np.allclose(a, b) for a, b in zip(_weights(result, f"{case}/student"),
                                                        _weights(result, f"{case}/init_student"))]
        assert any(moved), case


def _custom_objects():
    D = tkeras.distillation
    return {"Distiller": D.Distiller}


def test_load_keras_file(oracle):
    """Keras's saved Distiller (after fit): same predictions, losses and weights."""
    result, x = oracle["result"], oracle["x"]
    loaded = tkeras.models.load_model(oracle["keras_file"], custom_objects=_custom_objects())
    assert isinstance(loaded, tkeras.distillation.Distiller)
    assert loaded.student_loss_weight == 0.5
    assert loaded.distillation_loss_weights == [1.0, 0.5]
    assert [type(l).__name__ for l in loaded.distillation_losses] == [
        "LogitsDistillation", "FeatureDistillation"]
    assert loaded.distillation_losses[1].teacher_layer_name == "t_feat"
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               result["logits_and_features/predict"], rtol=RTOL, atol=ATOL)
    for ours_w, ref_w in zip(loaded.student.get_weights(),
                             _weights(result, "logits_and_features/student"), strict=True):
        np.testing.assert_array_equal(ours_w, ref_w)
    assert not loaded.teacher.trainable


def test_load_keras_file_without_custom_objects(oracle):
    loaded = tkeras.models.load_model(oracle["keras_file"])
    assert isinstance(loaded, tkeras.distillation.Distiller)


def test_keras_loads_tkeras_file(oracle):
    result, x = oracle["result"], oracle["x"]
    d = oracle["tkeras_model"]
    np.testing.assert_allclose(result["tkeras_file/predict"], d.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)
    assert result["tkeras_file/student_loss_weight"] == 0.5
    assert result["tkeras_file/losses"] == [json.dumps(l.get_config(), sort_keys=True)
                                            for l in d.distillation_losses]


def test_tkeras_round_trip(oracle, tmp_path):
    d, x = oracle["tkeras_model"], oracle["x"]
    path = os.path.join(tmp_path, "again.keras")
    d.save(path)
    loaded = tkeras.models.load_model(path, custom_objects=_custom_objects())
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), d.predict(x, verbose=0))
    assert loaded.get_config() == d.get_config()


# ----------------------------------------------------------------------------- errors, as Keras
def _small_models(functional=True):
    return _namespace(tkeras)["make_models"](functional)


def test_validation_errors():
    D = tkeras.distillation
    teacher, student = _small_models()
    with pytest.raises(ValueError, match="between 0.0 and 1.0"):
        D.Distiller(teacher, student, D.LogitsDistillation(), student_loss_weight=1.5)
    with pytest.raises(ValueError, match="cannot be `None`"):
        D.Distiller(teacher, student, None)
    with pytest.raises(ValueError, match=r"Number of distillation_loss_weights \(1\)"):
        D.Distiller(teacher, student, [D.LogitsDistillation(), D.LogitsDistillation()],
                    distillation_loss_weights=[1.0])
    with pytest.raises(ValueError, match="In teacher model: No such layer: nope"):
        D.Distiller(teacher, student, D.FeatureDistillation(teacher_layer_name="nope"))
    with pytest.raises(ValueError, match="Teacher must be a keras.Model"):
        D.Distiller(tkeras.layers.Dense(4), student, D.LogitsDistillation())
    other = tkeras.Sequential([tkeras.Input((5,)), tkeras.layers.Dense(4)])
    with pytest.raises(ValueError, match="input shapes are incompatible"):
        D.Distiller(teacher, other, D.LogitsDistillation())
    with pytest.raises(ValueError, match="temperature must be positive"):
        D.LogitsDistillation(temperature=0)
    with pytest.raises(ValueError, match="at least one non-`None`"):
        D.FeatureDistillation(loss=[None])
    d = D.Distiller(teacher, student, D.LogitsDistillation())
    with pytest.raises(ValueError, match="'loss' cannot be `None`"):
        d.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="metrics must be a list or tuple"):
        d.compile(optimizer="sgd", loss="mse", metrics="accuracy")


def test_feature_names_need_graph_models():
    D = tkeras.distillation

    class Sub(tkeras.Model):
        def __init__(self):
            super().__init__()
            self.dense = tkeras.layers.Dense(4)

        def call(self, x):
            return self.dense(x)

    teacher, _ = _small_models()
    with pytest.raises(ValueError, match="The student model"):
        D.Distiller(teacher, Sub(), D.FeatureDistillation(teacher_layer_name="teacher_h0",
                                                          student_layer_name="dense"))
