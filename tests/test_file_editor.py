"""`tkeras.saving.KerasFileEditor` against Keras's: the same Keras-written `.keras` and
`.weights.h5` files are opened, printed, compared and edited by both libraries (one Keras
subprocess for the module), then the printed text, the returned dicts, the error messages and
the resaved files (every dataset path, dtype and value) must be identical."""

import os

import h5py
import numpy as np
import pytest

import tkeras
from keras_oracle import requires_keras
from keras_oracle import run_keras
from tkeras.compat import safety

# Runs under Keras (`lib` = keras) and under tkeras (`lib` = tkeras), in the files' folder.
# Objects are named by their weights-file paths (`layers/dense`, `layers/dense_1`, ...).
SCRIPT = """
import contextlib, io
def net(units=2, extra=False):
    inp = lib.Input((4,), name="x")
    h = lib.layers.Dense(3, name="d1")(inp)
    h = lib.layers.BatchNormalization(name="bn")(h)
    out = lib.layers.Dense(units, name="d2")(h)
    if extra:
        out = lib.layers.Dense(1, name="d3")(out)
    return lib.Model(inp, out, name="net")

def attempt(log, key, fn, *args):
    try:
        fn(*args)
        log[key] = "ok"
    except ValueError as e:
        log[key] = str(e)

def session(fname, out):
    log = {}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ed = lib.saving.KerasFileEditor(fname)
        ed.summary()
        log["compare_same"] = ed.compare(net())
        log["compare_other"] = ed.compare(net(units=5, extra=True))
        attempt(log, "rename_missing", ed.rename_object, "nope", "x")
        attempt(log, "rename_bad_path", ed.rename_object, "layers/nope", "x")
        attempt(log, "rename_to_path", ed.rename_object, "dense_1", "a/b")
        attempt(log, "add_object_bad_parent", ed.add_object, "nope/x", {})
        attempt(log, "add_object_not_dict", ed.add_object, "layers/y", [1])
        attempt(log, "add_weights_not_dict", ed.add_weights, "dense_1", [1])
        attempt(log, "delete_weight_missing", ed.delete_weight, "dense_1", "9")
        attempt(log, "save_bad_name", ed.save, "edited.h5")
        ed.rename_object("dense", "first")
        ed.rename_object("layers/batch_normalization", "norm")
        ed.delete_weight("dense_1", "1")
        ed.add_weights("layers/dense_1", {"1": np.arange(2, dtype="float32")})
        ed.delete_object("norm")
        ed.add_object("layers/extra", {"0": np.ones((2, 2), "float32")})
        ed.summary()
        log["compare_edited"] = ed.compare(net())
        ed.save(out)
    log["text"] = buf.getvalue()
    return log

model = net()
model.set_weights([np.arange(w.size, dtype="float32").reshape(w.shape) / 7.0
                   for w in model.get_weights()])
"""

KERAS_CODE = """
import os
os.environ["COLUMNS"] = "1000"  # rich wraps at 80 columns outside a terminal
os.chdir(FOLDER)
lib = keras
""" + SCRIPT + """
model.save("m.keras")
model.save_weights("m.weights.h5")
outputs["keras"] = {"keras": session("m.keras", "keras_from_keras.weights.h5"),
                    "h5": session("m.weights.h5", "keras_from_h5.weights.h5")}
"""


def _text(log):
    return {k: (" ".join(v.split()) if k == "text" else v) for k, v in log.items()}


def _datasets(path):
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, (str(obj.dtype), obj[()]))
                     if isinstance(obj, h5py.Dataset) else None)
    return found


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("editor"))
    keras_logs = run_keras(f"FOLDER = {folder!r}\n" + KERAS_CODE)["keras"]
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        scope = {"lib": tkeras, "np": np}
        exec(SCRIPT, scope)
        ours = {"keras": scope["session"]("m.keras", "tkeras_from_keras.weights.h5"),
                "h5": scope["session"]("m.weights.h5", "tkeras_from_h5.weights.h5")}
    finally:
        os.chdir(cwd)
    return folder, keras_logs, ours


@requires_keras
@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_session_matches_keras(results, kind):
    _, keras_logs, ours = results
    theirs, mine = _text(keras_logs[kind]), _text(ours[kind])
    assert set(mine) == set(theirs)
    for key in theirs:
        assert mine[key] == theirs[key], key
    assert theirs["compare_same"]["status"] == "success"
    assert theirs["compare_other"]["error_count"] > 0


@requires_keras
@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_resaved_files_match_keras(results, kind):
    folder = results[0]
    theirs = _datasets(os.path.join(folder, f"keras_from_{kind}.weights.h5"))
    mine = _datasets(os.path.join(folder, f"tkeras_from_{kind}.weights.h5"))
    assert sorted(mine) == sorted(theirs)
    assert "layers/extra/vars/0" in mine and "layers/first/vars/0" in mine
    for name, (dtype, value) in theirs.items():
        assert mine[name][0] == dtype, name
        np.testing.assert_array_equal(mine[name][1], value, err_msg=name)


@requires_keras
def test_resaved_file_loads_into_a_model(results):
    """The file written after renaming back loads like the original weights."""
    folder = results[0]
    with _quiet():
        editor = tkeras.saving.KerasFileEditor(os.path.join(folder, "m.weights.h5"))
    model = _net()
    path = os.path.join(folder, "roundtrip.weights.h5")
    editor.save(path)
    model.load_weights(path)
    reference = _net()
    reference.load_weights(os.path.join(folder, "m.weights.h5"))
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def _net():
    inp = tkeras.Input((4,), name="x")
    h = tkeras.layers.Dense(3, name="d1")(inp)
    h = tkeras.layers.BatchNormalization(name="bn")(h)
    return tkeras.Model(inp, tkeras.layers.Dense(2, name="d2")(h), name="net")


def _quiet():
    import contextlib
    import io

    return contextlib.redirect_stdout(io.StringIO())


def test_bare_name_with_later_groups(tmp_path):
    """A name found once is edited even when other groups follow it (Keras 3.15.1 miscounts
    it as repeated when the model has optimizer state)."""
    model = _net()
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 4), "float32"), np.ones((4, 2), "float32"), verbose=0)
    path = str(tmp_path / "c.weights.h5")
    model.save_weights(path)
    with _quiet():
        editor = tkeras.saving.KerasFileEditor(path)
        editor.rename_object("dense", "first")
    assert "first" in editor.weights_dict["layers"] and "optimizer" in editor.weights_dict


def test_hostile_files_are_refused(tmp_path):
    path = str(tmp_path / "bad.weights.h5")
    with h5py.File(path, "w") as f:
        f.create_group("layers/d/vars")["0"] = np.ones(3, "float32")
        f["layers/d/vars"]["1"] = h5py.SoftLink("/layers/d/vars/0")
    with pytest.raises(safety.UnsafeFileError, match="soft link"), _quiet():
        tkeras.saving.KerasFileEditor(path)
    with h5py.File(path, "w") as f:
        f.create_group("layers/d/vars")["0"] = np.ones(3, "float32")
        f["layers/d/vars"]["1"] = h5py.ExternalLink("other.h5", "/x")
    with pytest.raises(safety.UnsafeFileError, match="external link"), _quiet():
        tkeras.saving.KerasFileEditor(path)
    with pytest.raises(ValueError, match="expected a `.keras` `.weights.h5` extension"):
        tkeras.saving.KerasFileEditor(str(tmp_path / "x.h5"))


def test_save_is_atomic(tmp_path, monkeypatch):
    model = _net()
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    before = open(path, "rb").read()
    with _quiet():
        editor = tkeras.saving.KerasFileEditor(path)
    editor.add_object("layers/bad", {"0": object()})  # cannot be written to HDF5
    with pytest.raises(Exception):
        editor.save(path)
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["m.weights.h5"]
