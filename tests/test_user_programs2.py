"""User-eyed audit, round 2: keras.io-style programs using the newer Keras 3 APIs, run unchanged.

Same protocol as tests/test_user_programs.py (whose shared RUNNER and comparison helpers are
reused): each program is one source text that only says `keras` (and `np`, `torch`, `os`,
`WORKDIR`), defines `build()` and `train(model)`; it runs under real Keras 3.15.1 (torch backend,
one subprocess for all programs) and under tkeras from Keras's initial weights
(`get_weights`/`set_weights`), and every number must agree (rtol 1e-4 unless a test says why not).

Programs whose Keras side needs TensorFlow (`FeatureSpace.adapt`, the dataset loaders) cannot run
in the torch-backend oracle; the FeatureSpace program here runs tkeras alone and checks it
against the outputs Keras recorded with TensorFlow in tests/fixtures (see test_feature_space.py).
"""

import os

import numpy as np
import pytest

import tkeras
from keras_oracle import requires_keras, run_keras
from test_user_programs import RUNNER, _assert_close, _list, assert_same

pytestmark = requires_keras

PROGRAMS = {}

# 1. A JAX-style training loop on torch: `stateless_call` + `keras.ops` + the optimizer's
#    `stateless_apply` (Keras has it on every backend), gradients with torch.autograd, and the
#    final state written back with `assign`. BatchNormalization makes the non-trainable state move.
PROGRAMS["stateless_loop"] = """
def build():
    return keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(1),
    ])

def train(model):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1))).astype("float32")
    before = model.get_weights()
    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    optimizer.build(model.trainable_variables)

    def as_tensor(v):
        return torch.as_tensor(keras.ops.convert_to_numpy(v))

    tv = [as_tensor(v) for v in model.trainable_variables]
    ntv = [as_tensor(v) for v in model.non_trainable_variables]
    ov = [as_tensor(v) for v in optimizer.variables]
    losses = []
    for epoch in range(3):
        for i in range(0, 32, 8):
            xb, yb = torch.as_tensor(x[i:i + 8]), torch.as_tensor(y[i:i + 8])
            tv = [t.detach().requires_grad_(True) for t in tv]
            y_pred, ntv = model.stateless_call(tv, ntv, xb, training=True)
            loss = keras.ops.mean(keras.ops.square(y_pred - yb))
            grads = torch.autograd.grad(loss, tv)
            ntv = [t.detach() for t in ntv]
            with torch.no_grad():
                tv, ov = optimizer.stateless_apply(ov, list(grads), [t.detach() for t in tv])
            losses.append(float(loss.detach()))
    untouched = all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    for v, t in zip(model.trainable_variables, tv):
        v.assign(t)
    for v, t in zip(model.non_trainable_variables, ntv):
        v.assign(t)
    return {
        "untouched_while_stateless": untouched,
        "losses": losses,
        "n_optimizer_variables": len(ov),
        "pred": model.predict(x[:6], verbose=0),
    }
"""

# 2. Knowledge distillation (keras.io "Knowledge Distillation", Keras 3.15 API): a Distiller
#    trained with fit, then the student saved alone and reloaded.
PROGRAMS["distiller"] = """
def build():
    teacher = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3),
    ], name="teacher")
    student = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3),
    ], name="student")
    return keras.distillation.Distiller(
        teacher=teacher, student=student,
        distillation_losses=keras.distillation.LogitsDistillation(temperature=3.0),
        student_loss_weight=0.3)

def train(distiller):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(48, 6)).astype("float32")
    y = rng.integers(0, 3, size=(48,))
    teacher_before = distiller.teacher.get_weights()
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["sparse_categorical_accuracy"])
    history = distiller.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    path = os.path.join(WORKDIR, "student.keras")
    distiller.student.save(path)
    reloaded = keras.models.load_model(path)
    return {
        "teacher_frozen": all(np.array_equal(a, b) for a, b in
                              zip(teacher_before, distiller.teacher.get_weights())),
        "history": {k: history.history[k] for k in sorted(history.history)},
        "eval": distiller.evaluate(x, y, verbose=0, return_dict=True),
        "pred": distiller.predict(x[:6], verbose=0),
        "reloaded_pred": reloaded.predict(x[:6], verbose=0),
        "reloaded_n_weights": len(reloaded.weights),
    }
"""

# 3. Per-variable optimizers: MultiOptimizer with an OptimizerMap (Adam for `encoder/.*`, SGD
#    elsewhere), saved mid-training to .keras and resumed; the resumed run must continue exactly
#    as an uninterrupted one (optimizer state restored).
PROGRAMS["multi_optimizer_resume"] = """
def build():
    inputs = keras.Input((6,))
    h = keras.layers.Dense(8, activation="tanh", name="encoder")(inputs)
    outputs = keras.layers.Dense(1, name="head")(h)
    return keras.Model(inputs, outputs)

def train(model):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = (np.sin(x[:, :1]) + 0.1 * x[:, 1:2]).astype("float32")
    optimizer = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
        keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        {"encoder/.*": keras.optimizers.Adam(learning_rate=1e-2)}))
    model.compile(optimizer=optimizer, loss="mse")
    h1 = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    path = os.path.join(WORKDIR, "multi.keras")
    model.save(path)
    resumed = keras.models.load_model(path)
    h2 = resumed.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    h3 = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    return {
        "optimizer_class": type(resumed.optimizer).__name__,
        "h1": h1.history["loss"],
        "resumed": h2.history["loss"],
        "continued": h3.history["loss"],
        "resumed_weights": resumed.get_weights(),
        "pred": resumed.predict(x[:5], verbose=0),
    }
"""

# 4. A Sequential whose hidden layer runs in mixed_bfloat16 through a DTypePolicyMap keyed by
#    layer path (the other layers use the map's float32 default).
PROGRAMS["policy_map_bf16"] = """
def build():
    policy_map = keras.dtype_policies.DTypePolicyMap(
        default_policy=keras.dtype_policies.DTypePolicy("float32"))
    policy_map["hidden"] = keras.dtype_policies.DTypePolicy("mixed_bfloat16")
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(16, activation="relu", name="hidden", dtype=policy_map),
        keras.layers.Dense(1, name="head", dtype=policy_map),
    ])

def train(model):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1))).astype("float32")
    hidden, head = model.layers
    model.compile(optimizer=keras.optimizers.SGD(0.02), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return {
        "dtypes": [[l.compute_dtype, l.variable_dtype] for l in (hidden, head)],
        "hidden_out_dtype": str(keras.ops.convert_to_numpy(hidden(x[:2])).dtype),
        "kernel_dtype": str(hidden.kernel.dtype).replace("torch.", ""),
        "history": history.history["loss"],
        "pred": model.predict(x[:6], verbose=0),
    }
"""

# 5. The new optimizers under fit: Muon (Adam for biases/1-D weights, Newton-Schulz for matrices)
#    and ScheduleFreeAdamW, then the model pickled (Keras pickles through .keras bytes) and
#    its reloaded copy predicting and training on.
PROGRAMS["muon_schedule_free_pickle"] = """
import pickle

def build():
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(12, activation="relu"),
        keras.layers.Dense(12, activation="relu"),
        keras.layers.Dense(2),
    ])

def train(model):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = np.stack([x[:, 0] * x[:, 1], np.cos(x[:, 2])], axis=1).astype("float32")
    model.compile(optimizer=keras.optimizers.Muon(learning_rate=0.01), loss="mse")
    h_muon = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    w_muon = model.get_weights()
    model.compile(optimizer=keras.optimizers.ScheduleFreeAdamW(learning_rate=5e-3,
                                                              warmup_steps=2),
                  loss="mse")
    h_sf = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    copy = pickle.loads(pickle.dumps(model))
    pred = model.predict(x[:6], verbose=0)
    return {
        "muon": h_muon.history["loss"],
        "w_muon": w_muon,
        "schedule_free": h_sf.history["loss"],
        "pred": pred,
        "pickled_class": type(copy).__name__,
        "pickled_pred": copy.predict(x[:6], verbose=0),
    }
"""

# 6. scikit-learn wrappers: SKLearnRegressor/SKLearnClassifier (keras.wrappers) around a model-building function
#    (seeded NumPy weights, so both libraries start equal), fit/predict/score as sklearn does.
PROGRAMS["sklearn_wrappers"] = """
def seeded(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.3, size=w.shape).astype("float32")
                       for w in model.get_weights()])
    return model

def make_regressor(X, y, units=8):
    model = keras.Sequential([keras.Input((X.shape[1],)),
                              keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return seeded(model, 11)

def make_classifier(X, y):
    n_classes = y.shape[1]
    model = keras.Sequential([keras.Input((X.shape[1],)),
                              keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    return seeded(model, 12)

def build():
    return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])

def train(model):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(60, 4)).astype("float32")
    y_reg = (X @ np.array([1.0, -2.0, 0.5, 0.0])).astype("float32")
    y_cls = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    reg = keras.wrappers.SKLearnRegressor(model=make_regressor, model_kwargs={"units": 6},
                           fit_kwargs={"epochs": 3, "batch_size": 20, "shuffle": False,
                                       "verbose": 0})
    reg.fit(X, y_reg)
    clf = keras.wrappers.SKLearnClassifier(model=make_classifier,
                            fit_kwargs={"epochs": 3, "batch_size": 20, "shuffle": False,
                                        "verbose": 0})
    clf.fit(X, y_cls)
    return {
        "reg_pred": reg.predict(X[:6]),
        "reg_score": float(reg.score(X, y_reg)),
        "classes": [str(c) for c in clf.classes_],
        "cls_pred": [str(c) for c in clf.predict(X[:10])],
        "cls_score": float(clf.score(X, y_cls)),
        "cls_loss": clf.history_.history["loss"],
    }
"""

KERAS_CODE = """
exec(RUNNER, globals())
for name, src in PROGRAMS.items():
    d = os.path.join(WORKDIR_ROOT, "keras_" + name)
    os.makedirs(d, exist_ok=True)
    try:
        outputs.update(run_program(keras, name, src, d))
    except Exception:  # reported by that program's test
        import traceback
        outputs[name + "/keras_error"] = traceback.format_exc()
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("user_programs2"))


@pytest.fixture(scope="module")
def keras_results(workdir):
    code = f"PROGRAMS = {PROGRAMS!r}\nRUNNER = {RUNNER!r}\nWORKDIR_ROOT = {workdir!r}\n"
    return run_keras(code + KERAS_CODE, timeout=600)


def run_tkeras(name, keras_results, workdir):
    """The program under tkeras from Keras's initial weights (in `get_weights` order)."""
    if name + "/keras_error" in keras_results:
        raise AssertionError("the program fails under Keras itself:\n"
                             + keras_results[name + "/keras_error"])
    d = os.path.join(workdir, "tkeras_" + name)
    os.makedirs(d, exist_ok=True)
    runner = {}
    exec(RUNNER, runner)
    return runner["run_program"](tkeras, name, PROGRAMS[name], d,
                                 init_weights=_list(keras_results, name + "/w0"))


def test_stateless_training_loop(keras_results, workdir):
    ours = run_tkeras("stateless_loop", keras_results, workdir)
    assert keras_results["stateless_loop/untouched_while_stateless"] is True
    assert_same(ours, keras_results, "stateless_loop")


def test_distiller_then_student_save_load(keras_results, workdir):
    ours = run_tkeras("distiller", keras_results, workdir)
    assert keras_results["distiller/teacher_frozen"] is True
    assert_same(ours, keras_results, "distiller")
    np.testing.assert_array_equal(ours["distiller/reloaded_pred"], ours["distiller/pred"])


def test_multi_optimizer_save_and_resume(keras_results, workdir):
    ours = run_tkeras("multi_optimizer_resume", keras_results, workdir)
    assert keras_results["multi_optimizer_resume/optimizer_class"] == "MultiOptimizer"
    assert_same(ours, keras_results, "multi_optimizer_resume")
    np.testing.assert_allclose(ours["multi_optimizer_resume/resumed"],
                               ours["multi_optimizer_resume/continued"], rtol=1e-6)


def test_dtype_policy_map_mixed_bfloat16(keras_results, workdir):
    ours = run_tkeras("policy_map_bf16", keras_results, workdir)
    exact = [k for k in keras_results if k.startswith("policy_map_bf16/")
             and "/w0" not in k and k.split("/")[1] in ("dtypes", "hidden_out_dtype",
                                                         "kernel_dtype")]
    for key in exact:
        assert ours[key] == keras_results[key], key
    # The hidden layer computes in bfloat16 (8 significant bits, eps 2**-8 = 0.0039): Keras's
    # torch Dense does matmul then a separate bias add, each rounded to bfloat16, so numbers
    # agree to a few bfloat16 ulps, not float32 ones.
    for key in ("history", "pred"):
        np.testing.assert_allclose(ours["policy_map_bf16/" + key],
                                   keras_results["policy_map_bf16/" + key],
                                   rtol=2e-2, atol=2e-2, err_msg=key)
    for i in range(keras_results["policy_map_bf16/weights/len"]):
        key = f"policy_map_bf16/weights/{i}"
        np.testing.assert_allclose(ours[key], keras_results[key], rtol=2e-2, atol=2e-2,
                                   err_msg=key)


def test_muon_schedule_free_and_pickle(keras_results, workdir):
    ours = run_tkeras("muon_schedule_free_pickle", keras_results, workdir)
    assert_same(ours, keras_results, "muon_schedule_free_pickle")
    np.testing.assert_array_equal(ours["muon_schedule_free_pickle/pickled_pred"],
                                  ours["muon_schedule_free_pickle/pred"])


def test_sklearn_wrappers(keras_results, workdir):
    ours = run_tkeras("sklearn_wrappers", keras_results, workdir)
    assert_same(ours, keras_results, "sklearn_wrappers")


# ------------------------------------------------------------------ FeatureSpace (tkeras only)
def test_feature_space_structured_data_program():
    """keras.io "Structured data classification with FeatureSpace", tkeras side only (Keras
    adapts FeatureSpace through TensorFlow): the FeatureSpace adapted on the 90 recorded rows
    must encode the recorded queries as Keras did (tests/fixtures, as test_feature_space.py), a
    functional model trained with fit on a PyDataset of encoded dict batches must learn, and
    the end-to-end inference model built from `get_inputs()` must predict what the training
    model predicts on the encoded batch."""
    from test_feature_space import CASES, TRAIN, adapted, assert_output, queries, subset

    keras = tkeras
    case = CASES["all_types_concat_dict"]
    feature_space = adapted(case)
    query, _ = queries(case)
    assert_output(feature_space(query), case["output"])

    data = subset(TRAIN, case["spec"]["features"])
    labels = (data["price"] > np.median(data["price"])).astype("float32")

    class EncodedRows(keras.utils.PyDataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            rows = slice(15 * i, 15 * i + 15)
            return feature_space({k: v[rows] for k, v in data.items()}), labels[rows]

    encoded_features = feature_space.get_encoded_features()
    x = keras.layers.Dense(16, activation="relu")(encoded_features)
    predictions = keras.layers.Dense(1, activation="sigmoid")(x)
    training_model = keras.Model(encoded_features, predictions)
    training_model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy",
                           metrics=["accuracy"])
    history = training_model.fit(EncodedRows(), epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]

    inference_model = keras.Model(feature_space.get_inputs(), training_model(encoded_features))
    batch = {k: v[:, None] for k, v in query.items()}
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(inference_model(batch)),
        training_model.predict(feature_space(query), verbose=0), rtol=1e-6, atol=1e-6)
