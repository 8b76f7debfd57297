"""compile/fit/evaluate/predict: parity with real Keras 3 (one subprocess for the module), and
behaviour checks (input kinds, custom steps, trainable snapshot, FAQ patterns)."""

import numpy as np
import pytest
import torch

import tkeras as keras
import tkeras.callbacks  # noqa: F401
import tkeras.losses  # noqa: F401
import tkeras.metrics  # noqa: F401
import tkeras.optimizers  # noqa: F401
from keras_oracle import requires_keras, run_keras

torch.set_num_threads(1)  # a shared 2-core machine: OpenMP threads only add contention

RNG = np.random.RandomState(0)
X = RNG.rand(40, 4).astype("float32")
Y_REG = RNG.rand(40, 2).astype("float32")
Y_CLS = RNG.randint(0, 3, size=(40,)).astype("int64")
SW = RNG.rand(40).astype("float32") + 0.5
X2 = RNG.rand(40, 3).astype("float32")


def _mlp(keras_mod, out, activation=None, l2=False):
    reg = keras_mod.regularizers.L2(0.01) if l2 else None
    return keras_mod.Sequential([
        keras_mod.Input((4,)),
        keras_mod.layers.Dense(8, activation="relu", kernel_regularizer=reg),
        keras_mod.layers.Dense(out, activation=activation),
    ])


def _multi(keras_mod):
    a = keras_mod.Input((4,), name="a")
    b = keras_mod.Input((3,), name="b")
    h = keras_mod.layers.Concatenate()([a, b])
    h = keras_mod.layers.Dense(6, activation="tanh", name="hidden")(h)
    reg = keras_mod.layers.Dense(2, name="reg")(h)
    cls = keras_mod.layers.Dense(3, activation="softmax", name="cls")(h)
    return keras_mod.Model([a, b], [reg, cls])


# Each case: builds a model, compiles, fits from given initial weights; the same code runs in
# both libraries (`K` is the library module).
CASES = {
    "sgd_mse": dict(build="_mlp(K, 2)", compile="optimizer=K.optimizers.SGD(0.1, momentum=0.9), "
                    "loss='mse'", fit="X, Y_REG, batch_size=16, epochs=2, shuffle=False"),
    "adam_val_split_metrics": dict(
        build="_mlp(K, 2, l2=True)",
        compile="optimizer=K.optimizers.Adam(0.01), loss='mae', metrics=['mse']",
        fit="X, Y_REG, batch_size=8, epochs=2, shuffle=False, validation_split=0.25"),
    "adam_sample_weight": dict(
        build="_mlp(K, 3, 'softmax')",
        compile="optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'], "
                "weighted_metrics=['accuracy']",
        fit="X, Y_CLS, sample_weight=SW, batch_size=16, epochs=2, shuffle=False, "
            "validation_data=(X[:10], Y_CLS[:10])"),
    "rmsprop_class_weight": dict(
        build="_mlp(K, 3, 'softmax')",
        compile="optimizer=K.optimizers.RMSprop(0.01), loss='sparse_categorical_crossentropy', "
                "metrics=['sparse_categorical_accuracy']",
        fit="X, Y_CLS, class_weight={0: 1.0, 1: 2.0, 2: 0.5}, batch_size=16, epochs=2, "
            "shuffle=False"),
    "multi_output": dict(
        build="_multi(K)",
        compile="optimizer=K.optimizers.Adam(0.02), loss={'reg': 'mse', 'cls': "
                "'sparse_categorical_crossentropy'}, loss_weights={'reg': 0.5, 'cls': 2.0}, "
                "metrics={'cls': ['accuracy'], 'reg': ['mae']}",
        fit="[X, X2], [Y_REG, Y_CLS], batch_size=16, epochs=2, shuffle=False"),
}

RUNNER = """
def run_case(K, build, compile_args, fit_args, weights):
    model = eval(build)
    model.set_weights(weights)
    eval("model.compile(" + compile_args + ")")
    history = eval("model.fit(" + fit_args + ", verbose=0)")
    ev = model.evaluate(*EVAL_ARGS[build], verbose=0, return_dict=True)
    pred = model.predict(EVAL_ARGS[build][0], verbose=0, batch_size=7)
    pred = pred if isinstance(pred, list) else [pred]
    tob = model.train_on_batch(*[a[:8] if not isinstance(a, list) else [b[:8] for b in a]
                                 for a in EVAL_ARGS[build]], return_dict=True)
    teb = model.test_on_batch(*[a[:8] if not isinstance(a, list) else [b[:8] for b in a]
                                for a in EVAL_ARGS[build]], return_dict=True)
    return {"history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
            "weights": [np.asarray(w) for w in model.get_weights()], "evaluate": ev,
            "predict": [np.asarray(p) for p in pred], "train_on_batch": tob,
            "test_on_batch": teb}
"""

EVAL_ARGS = {"_mlp(K, 2)": "(X, Y_REG)", "_mlp(K, 2, l2=True)": "(X, Y_REG)",
             "_mlp(K, 3, 'softmax')": "(X, Y_CLS)", "_multi(K)": "([X, X2], [Y_REG, Y_CLS])"}


def _initial_weights(build):
    model = eval(build, {"_mlp": _mlp, "_multi": _multi, "K": keras})
    return [RNG.uniform(-0.5, 0.5, size=w.shape).astype("float32") for w in model.weights]


INITIAL = {name: _initial_weights(case["build"]) for name, case in CASES.items()}

PRELUDE_SRC = (
    "import inspect\n"
    "X, Y_REG, Y_CLS, SW, X2 = (inputs[k] for k in ('X', 'Y_REG', 'Y_CLS', 'SW', 'X2'))\n"
)


def _source(fn):
    import inspect

    return inspect.getsource(fn)


def _program():
    eval_args = "EVAL_ARGS = {" + ", ".join(f"{k!r}: {v}" for k, v in EVAL_ARGS.items()) + "}\n"
    body = PRELUDE_SRC + _source(_mlp) + _source(_multi) + eval_args + RUNNER
    body += "import json\nresults = {}\n"
    for name, case in CASES.items():
        n = len(INITIAL[name])
        body += (f"weights = [inputs['{name}_w' + str(i)] for i in range({n})]\n"
                 f"r = run_case(keras, {case['build']!r}, {case['compile']!r}, {case['fit']!r}, "
                 f"weights)\n"
                 f"for i, w in enumerate(r.pop('weights')): outputs['{name}_weight' + str(i)] = w\n"
                 f"for i, p in enumerate(r.pop('predict')): outputs['{name}_pred' + str(i)] = p\n"
                 f"outputs['{name}'] = json.loads(json.dumps(r, default=float))\n")
    return body


@pytest.fixture(scope="module")
def keras_results():
    inputs = {"X": X, "Y_REG": Y_REG, "Y_CLS": Y_CLS, "SW": SW, "X2": X2}
    for name, weights in INITIAL.items():
        for i, w in enumerate(weights):
            inputs[f"{name}_w{i}"] = w
    return run_keras(_program(), inputs)


def _run_tkeras(name):
    case = CASES[name]
    namespace = {"_mlp": _mlp, "_multi": _multi, "X": X, "Y_REG": Y_REG, "Y_CLS": Y_CLS,
                 "SW": SW, "X2": X2, "np": np, "keras": keras}
    namespace["EVAL_ARGS"] = {k: eval(v, namespace) for k, v in EVAL_ARGS.items()}
    exec(RUNNER, namespace)
    return namespace["run_case"](keras, case["build"], case["compile"], case["fit"],
                                 INITIAL[name])


def _close(a, b, rel=1e-4, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64"),
                               rtol=rel, atol=atol)


@requires_keras
@pytest.mark.parametrize("name", list(CASES))
def test_fit_parity_with_keras(keras_results, name):
    ours = _run_tkeras(name)
    ref = keras_results[name]
    assert set(ours["history"]) == set(ref["history"]), (ours["history"], ref["history"])
    for key, values in ref["history"].items():
        _close(ours["history"][key], values)
    for i, w in enumerate(ours["weights"]):
        _close(w, keras_results[f"{name}_weight{i}"], atol=1e-5)
    assert set(ours["evaluate"]) == set(ref["evaluate"])
    for key in ref["evaluate"]:
        _close(ours["evaluate"][key], ref["evaluate"][key])
    for i, p in enumerate(ours["predict"]):
        _close(p, keras_results[f"{name}_pred{i}"], atol=1e-5)
    for which in ("train_on_batch", "test_on_batch"):
        assert set(ours[which]) == set(ref[which])
        for key in ref[which]:
            _close(ours[which][key], ref[which][key])


# ----------------------------------------------------------------------------- behaviour
def _small_model(out=1):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(out)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


def _weights_after(model, *args, **kwargs):
    model.fit(*args, verbose=0, **kwargs)
    return [w.copy() for w in model.get_weights()]


def test_input_kinds_give_same_training():
    y = Y_REG[:, :1]
    start = _small_model().get_weights()

    def run(*args, **kwargs):
        model = _small_model()
        model.set_weights(start)
        return _weights_after(model, *args, epochs=2, shuffle=False, **kwargs)

    ref = run(X, y, batch_size=10)
    tensors = run(torch.from_numpy(X), torch.from_numpy(y), batch_size=10)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    loader = run(torch.utils.data.DataLoader(ds, batch_size=10))
    dataset = run(ds, batch_size=10)

    from tkeras.fit.pydataset import PyDataset

    class Batches(PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return X[i * 10:(i + 1) * 10], y[i * 10:(i + 1) * 10]

    pyds = run(Batches())
    pyds_threads = run(Batches(workers=3))

    def gen():
        while True:
            for i in range(4):
                yield X[i * 10:(i + 1) * 10], y[i * 10:(i + 1) * 10]

    generator = run(gen(), steps_per_epoch=4)
    for other in (tensors, loader, dataset, pyds, pyds_threads, generator):
        for a, b in zip(ref, other):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_dict_inputs_and_predict_structure():
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    h = keras.layers.Concatenate()([a, b])
    model = keras.Model({"a": a, "b": b}, [keras.layers.Dense(2)(h), keras.layers.Dense(1)(h)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit({"a": X, "b": X2}, [Y_REG, Y_REG[:, :1]], epochs=1, batch_size=8,
                        verbose=0)
    assert len(history.history["loss"]) == 1
    pred = model.predict({"a": X, "b": X2}, batch_size=7, verbose=0)
    assert isinstance(pred, list) and pred[0].shape == (40, 2) and pred[1].shape == (40, 1)
    assert isinstance(pred[0], np.ndarray)


def test_validation_split_refused_for_generators():
    model = _small_model()

    def gen():
        yield X[:10], Y_REG[:10, :1]

    with pytest.raises(ValueError, match="validation_split"):
        model.fit(gen(), validation_split=0.2, verbose=0)


def test_validation_split_takes_last_samples_unshuffled():
    model = _small_model()
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(logs["val_loss"])

    model.fit(X, Y_REG[:, :1], validation_split=0.25, epochs=1, verbose=0, callbacks=[Record()])
    expected = model.evaluate(X[30:], Y_REG[30:, :1], verbose=0)
    np.testing.assert_allclose(seen[0], expected, rtol=1e-6)


def test_shuffle_is_global_and_changes_order():
    ids = torch.arange(40, dtype=torch.float32)[:, None].repeat(1, 4)
    recorded = []

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            recorded.append(x[:, 0].tolist())
            return self.dense(x)

    net = Net()
    net.compile(optimizer="sgd", loss="mse")
    net.fit(ids, torch.zeros(40, 1), batch_size=8, epochs=2, verbose=0)
    batches = [b for b in recorded if len(b) == 8][-10:]
    first, second = sorted(sum(batches[:5], [])), sorted(sum(batches[5:], []))
    assert first == second == [float(i) for i in range(40)]
    assert sum(batches[:5], []) != list(map(float, range(40)))


def test_custom_train_step_keeps_callbacks_and_metrics():
    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.mae = keras.metrics.MeanAbsoluteError(name="mae")

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            self.zero_grad()
            loss.backward()
            grads = [v.grad for v in self.trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(grads, self.trainable_weights)
            self.loss_tracker.update_state(loss)
            self.mae.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae]

    batches = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(dict(logs))

    model = Custom()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = model.fit(X, Y_REG[:, :1], batch_size=10, epochs=3, verbose=0,
                        callbacks=[Count()])
    assert len(batches) == 12 and set(batches[0]) == {"loss", "mae"}
    losses = history.history["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_gan_freezing_pattern():
    """Keras FAQ: compile() snapshots which weights train."""
    disc = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    disc.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    disc.trainable = False
    gen = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    gan = keras.Sequential([gen, disc])
    gan.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    z = RNG.rand(16, 3).astype("float32")
    d_before = [w.copy() for w in disc.get_weights()]
    g_before = [w.copy() for w in gen.get_weights()]
    gan.fit(z, np.ones((16, 1), "float32"), verbose=0, epochs=2)
    for a, b in zip(d_before, disc.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, gen.get_weights()))
    disc.fit(RNG.rand(16, 2).astype("float32"), np.ones((16, 1), "float32"), verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(d_before, disc.get_weights()))
    assert disc.trainable is False and all(not w.requires_grad for w in disc.weights)


def test_batchnorm_frozen_stays_in_inference():
    """Keras FAQ (fine-tuning): a frozen BatchNormalization keeps its moving statistics."""
    base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4),
                             keras.layers.BatchNormalization()])
    base.trainable = False
    model = keras.Sequential([base, keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in base.get_weights()]
    model.fit(X * 5 + 3, Y_REG[:, :1], epochs=2, batch_size=8, verbose=0)
    for a, b in zip(before, base.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_loss_is_epoch_running_mean_and_regularization_added():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        1, kernel_regularizer=keras.regularizers.L2(0.1))])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    history = model.fit(X, Y_REG[:, :1], batch_size=16, epochs=1, verbose=0, shuffle=False)
    w = model.layers[0].kernel.detach()
    pred = model.predict(X, verbose=0)
    per_batch = [np.mean((pred[s:s + 16] - Y_REG[s:s + 16, :1]) ** 2) for s in (0, 16, 32)]
    sizes = [16, 16, 8]
    reg = 0.1 * float((w ** 2).sum())
    expected = sum((p + reg) * n for p, n in zip(per_batch, sizes)) / 40
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)


def test_torch_optimizer_and_torch_loss():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.compile(optimizer=opt, loss=torch.nn.CrossEntropyLoss())
    history = model.fit(X, torch.from_numpy(Y_CLS), epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_steps_per_epoch_and_initial_epoch():
    model = _small_model()
    history = model.fit(X, Y_REG[:, :1], batch_size=8, epochs=4, initial_epoch=2,
                        steps_per_epoch=5, verbose=0)
    assert history.epoch == [2, 3]
    assert int(model.optimizer.iterations) == 10
    # As Keras: the data iterator carries on across epochs; when 5 batches are used up after
    # 3 + 2 steps, the epoch stops early with a warning and the data restarts.
    model = _small_model()
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(X, Y_REG[:, :1], batch_size=8, epochs=3, steps_per_epoch=3, verbose=0)
    assert int(model.optimizer.iterations) == 3 + 2 + 3


def test_verbose_output(capsys):
    model = _small_model()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(X, Y_REG[:, :1], batch_size=8, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "5/5" in out and "━" in out and "loss:" in out
    assert "mae:" in out and "/step" in out
    model.fit(X, Y_REG[:, :1], batch_size=8, epochs=1, verbose=2)
    out = capsys.readouterr().out
    assert "5/5 - " in out and "━" not in out and "loss:" in out
    model.fit(X, Y_REG[:, :1], batch_size=8, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_compile_config_roundtrip():
    model = _small_model()
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="mae", metrics=["mse"])
    config = model.get_compile_config()
    clone = _small_model()
    clone.compile_from_config(config)
    assert isinstance(clone.optimizer, keras.optimizers.Adam)
    np.testing.assert_allclose(float(clone.optimizer.learning_rate), 0.003, rtol=1e-6)
    assert clone.loss == "mae"
    clone.fit(X, Y_REG[:, :1], verbose=0)
    assert "mse" in clone.get_metrics_result()


def test_jit_compile_matches_eager():
    start = _small_model().get_weights()
    results = []
    for jit in (False, True):
        model = _small_model()
        model.set_weights(start)
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", jit_compile=jit)
        results.append(_weights_after(model, X, Y_REG[:, :1], batch_size=8, epochs=1,
                                      shuffle=False))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_lightning_adapter_trains_compiled_model():
    import lightning

    from tkeras.fit.lightning_adapter import KerasLightningModule

    model = _small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = model.evaluate(X, Y_REG[:, :1], verbose=0)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y_REG[:, :1]))
    trainer = lightning.Trainer(max_epochs=3, accelerator="cpu", logger=False,
                                enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False)
    trainer.fit(KerasLightningModule(model), torch.utils.data.DataLoader(ds, batch_size=8))
    assert model.evaluate(X, Y_REG[:, :1], verbose=0) < before


@pytest.mark.parametrize("name", ["faq_early_stopping", "faq_gan_freezing",
                                  "faq_batchnorm_finetuning", "faq_stateful_lstm",
                                  "faq_backup_and_restore"])
def test_faq_examples_run(name, tmp_path, capsys):
    """The FAQ training examples shipped in examples/ run as they are."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), os.pardir, "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if name == "faq_backup_and_restore":
        history = module.main(str(tmp_path / "backup"))
        assert len(history.history["loss"]) == 6
    elif name == "faq_early_stopping":
        history, early_stopping = module.main()
        assert early_stopping.stopped_epoch > 0 and len(history.history["loss"]) < 100
        assert "val_loss" in history.history
    elif name == "faq_gan_freezing":
        generator, discriminator, gan = module.main(steps=2)
        assert not discriminator.trainable
    elif name == "faq_batchnorm_finetuning":
        assert module.main() is True
    else:
        first, second = module.main()
        assert np.isfinite(first) and np.isfinite(second)
    assert capsys.readouterr().out


@pytest.mark.parametrize("policy, precision", [("mixed_bfloat16", "bf16-mixed"),
                                               ("mixed_float16", "16-mixed")])
def test_mixed_precision_fit(policy, precision):
    from tkeras.fit.trainer import fabric_precision

    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1, dtype=policy)(keras.layers.Dense(8, dtype=policy)(inputs))
    model = keras.Model(inputs, outputs)
    model.dtype_policy = policy
    assert fabric_precision(model) == precision
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(X, Y_REG[:, :1], epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(X[:2], verbose=0).dtype.name == policy.split("_")[1]
