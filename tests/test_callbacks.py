"""Callbacks: Keras parity of monitor/LR callbacks (one Keras subprocess), the Keras FAQ's
BackupAndRestore and EarlyStopping examples, checkpoints, loggers."""

import csv
import os

import numpy as np
import pytest
import torch

import tkeras as keras
import tkeras.callbacks  # noqa: F401
import tkeras.optimizers  # noqa: F401
from keras_oracle import requires_keras, run_keras

torch.set_num_threads(1)

RNG = np.random.RandomState(1)
X = RNG.rand(48, 5).astype("float32")
Y = (X @ RNG.rand(5, 1)).astype("float32")
XV = RNG.rand(16, 5).astype("float32")
YV = RNG.rand(16, 1).astype("float32") * 3
W0 = [RNG.uniform(-0.5, 0.5, (5, 6)).astype("float32"), np.zeros(6, "float32"),
      RNG.uniform(-0.5, 0.5, (6, 1)).astype("float32"), np.zeros(1, "float32")]

PROGRAM = """
def build(K):
    model = K.Sequential([K.Input((5,)), K.layers.Dense(6, activation="relu"),
                          K.layers.Dense(1)])
    model.set_weights(W0)
    return model

def run_all(K):
    out = {}
    model = build(K)
    model.compile(optimizer=K.optimizers.SGD(0.05), loss="mse")
    cb = K.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    h = model.fit(X, Y, validation_data=(XV, YV), epochs=12, batch_size=16, shuffle=False,
                  callbacks=[cb], verbose=0)
    out["es"] = {"history": h.history, "stopped": cb.stopped_epoch, "best": cb.best_epoch,
                 "weights": [w.tolist() for w in model.get_weights()]}

    model = build(K)
    model.compile(optimizer=K.optimizers.Adam(0.01), loss="mse")
    cbs = [K.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                         min_delta=0.5, cooldown=1),
           K.callbacks.EarlyStopping(monitor="loss", baseline=0.01, patience=3,
                                     start_from_epoch=1)]
    h = model.fit(X, Y, epochs=8, batch_size=16, shuffle=False, callbacks=cbs, verbose=0)
    out["plateau"] = {"history": h.history, "weights": [w.tolist() for w in model.get_weights()]}

    model = build(K)
    model.compile(optimizer=K.optimizers.SGD(0.1), loss="mse")
    sched = K.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    h = model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, callbacks=[sched], verbose=0)
    out["sched"] = {"history": h.history, "weights": [w.tolist() for w in model.get_weights()]}
    return out
"""


@pytest.fixture(scope="module")
def keras_results():
    code = ("X, Y, XV, YV = inputs['X'], inputs['Y'], inputs['XV'], inputs['YV']\n"
            "W0 = [inputs[f'w{i}'] for i in range(4)]\n" + PROGRAM +
            "import json\noutputs['all'] = json.loads(json.dumps(run_all(keras), default=float))\n")
    inputs = {"X": X, "Y": Y, "XV": XV, "YV": YV, **{f"w{i}": w for i, w in enumerate(W0)}}
    return run_keras(code, inputs)["all"]


@pytest.fixture(scope="module")
def ours():
    namespace = {"X": X, "Y": Y, "XV": XV, "YV": YV, "W0": W0, "np": np}
    exec(PROGRAM, namespace)
    return namespace["run_all"](keras)


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, "float64"), np.asarray(b, "float64"), rtol=1e-4,
                               atol=1e-6)


@requires_keras
@pytest.mark.parametrize("case", ["es", "plateau", "sched"])
def test_callback_parity_with_keras(keras_results, ours, case):
    ref, got = keras_results[case], ours[case]
    assert set(got["history"]) == set(ref["history"])
    for key in ref["history"]:
        _close(got["history"][key], ref["history"][key])
    for a, b in zip(got["weights"], ref["weights"]):
        _close(a, b)
    for key in ("stopped", "best"):
        if key in ref:
            assert got[key] == ref[key]


def _model():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="relu"),
                              keras.layers.Dropout(0.3), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def test_backup_and_restore_faq(tmp_path):
    """Keras FAQ: an interrupted fit resumes at the epoch where it stopped."""

    class InterruptingCallback(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 4:
                raise RuntimeError("Interrupting!")

    backup = str(tmp_path / "backup")
    callback = keras.callbacks.experimental.BackupAndRestore(backup_dir=backup)
    model = keras.models.Sequential([keras.layers.Dense(10)])
    model.compile(keras.optimizers.SGD(), loss="mse")
    model.build(input_shape=(None, 20))
    with pytest.raises(RuntimeError, match="Interrupting"):
        model.fit(np.arange(100).reshape(5, 20), np.zeros(5), epochs=10, batch_size=1,
                  callbacks=[callback, InterruptingCallback()], verbose=0)
    assert os.path.exists(os.path.join(backup, "latest.safetensors"))
    history = model.fit(np.arange(100).reshape(5, 20), np.zeros(5), epochs=10, batch_size=1,
                        callbacks=[callback], verbose=0)
    assert len(history.history["loss"]) == 6
    assert not os.path.exists(backup)


@pytest.mark.parametrize("save_freq, stop_at", [("epoch", (3, 0)), (4, (2, 2))])
def test_backup_resume_reproduces_uninterrupted_run(tmp_path, save_freq, stop_at):
    """Weights, optimizer state, RNG (dropout, shuffling) and data order are restored."""

    def run(interrupt):
        torch.manual_seed(0)
        model = _model()
        model.set_weights(START)
        cbs = [keras.callbacks.BackupAndRestore(str(tmp_path / "b"), save_freq=save_freq)]

        class Stop(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                if (self.epoch, batch) == stop_at:
                    raise KeyboardInterrupt

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

        if interrupt:
            with pytest.raises(KeyboardInterrupt):
                model.fit(X, Y, epochs=5, batch_size=8, callbacks=cbs + [Stop()], verbose=0)
            torch.manual_seed(123)  # a fresh process would have another RNG state
        model.fit(X, Y, epochs=5, batch_size=8, callbacks=cbs, verbose=0)
        return model.get_weights()

    START = _model().get_weights()
    for a, b in zip(run(False), run(True)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_model_checkpoint_best_only_and_formatting(tmp_path):
    model = _model()
    path = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.weights.h5")
    cb = keras.callbacks.ModelCheckpoint(path, save_weights_only=True, save_best_only=True,
                                         monitor="val_loss")
    model.fit(X, Y, validation_data=(XV, YV), epochs=3, batch_size=16, callbacks=[cb],
              verbose=0)
    files = sorted(os.listdir(tmp_path))
    assert files and all(f.startswith("ckpt-") and f.endswith(".weights.h5") for f in files)
    assert files[0].startswith("ckpt-01-")
    full = str(tmp_path / "model.keras")
    model.fit(X, Y, epochs=1, callbacks=[keras.callbacks.ModelCheckpoint(full, monitor="loss")],
              verbose=0)
    assert os.path.exists(full)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    with pytest.raises(ValueError, match=".weights.h5"):
        keras.callbacks.ModelCheckpoint("x.h5", save_weights_only=True)


def test_model_checkpoint_save_freq_batches(tmp_path):
    model = _model()
    cb = keras.callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}-{batch}.weights.h5"),
                                         save_weights_only=True, save_freq=2)
    model.fit(X, Y, epochs=1, batch_size=8, callbacks=[cb], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["m-1-2.weights.h5", "m-1-4.weights.h5",
                                            "m-1-6.weights.h5"]


def test_csv_logger_and_history(tmp_path):
    model = _model()
    path = str(tmp_path / "log.csv")
    history = model.fit(X, Y, validation_data=(XV, YV), epochs=2, batch_size=16, verbose=0,
                        callbacks=[keras.callbacks.CSVLogger(path)])
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    np.testing.assert_allclose([float(r["loss"]) for r in rows], history.history["loss"],
                               rtol=1e-6)
    assert history.epoch == [0, 1] and model.history is history
    assert history.params["epochs"] == 2 and history.params["steps"] == 3


def test_terminate_on_nan_and_lambda_callback():
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(1e6), loss="mse")
    seen = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    model.fit(X * 1e3, Y, epochs=5, batch_size=8, verbose=0,
              callbacks=[keras.callbacks.TerminateOnNaN(), cb])
    assert len(seen) < 30 and not np.isfinite(model.history.history["loss"][-1])
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        model.fit(X * 1e3, Y, epochs=1, batch_size=8, verbose=0,
                  callbacks=[keras.callbacks.TerminateOnNaN(raise_error=True)])


def test_batch_logs_are_running_means():
    model = _model()
    logs = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs_=None):
            logs.append(logs_["loss"])

    model.fit(X, Y, epochs=1, batch_size=16, verbose=0, callbacks=[Record()])
    assert len(logs) == 3
    np.testing.assert_allclose(logs[-1], model.history.history["loss"][0], rtol=1e-6)


def test_swap_ema_weights():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5),
                  loss="mse")
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    trained = [w.copy() for w in model.get_weights()]
    ema = [a.numpy().copy() for a in model.optimizer._model_variables_moving_average]
    with_ema = model.evaluate(X, Y, verbose=0, callbacks=[keras.callbacks.SwapEMAWeights()])
    model.set_weights(ema)
    np.testing.assert_allclose(with_ema, model.evaluate(X, Y, verbose=0), rtol=1e-6)
    model.set_weights(trained)
    model.predict(X, verbose=0, callbacks=[keras.callbacks.SwapEMAWeights()])
    for a, b in zip(trained, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_tensorboard_writes_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    model = _model()
    model.fit(X, Y, validation_data=(XV, YV), epochs=2, batch_size=16, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(str(tmp_path), histogram_freq=1,
                                                     update_freq="batch")])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train = EventAccumulator(str(tmp_path / "train"))
    train.Reload()
    assert {"epoch_loss", "epoch_learning_rate", "batch_loss"} <= set(train.Tags()["scalars"])
    assert [e.value for e in train.Scalars("epoch_loss")] == pytest.approx(
        model.history.history["loss"], rel=1e-6)
    assert train.Tags()["histograms"]
    val = EventAccumulator(str(tmp_path / "validation"))
    val.Reload()
    assert "epoch_loss" in val.Tags()["scalars"]
