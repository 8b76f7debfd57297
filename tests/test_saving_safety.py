"""Hostile files: one regression test per class of the published Keras loading CVEs.

Each test builds a valid file with tkeras, makes it hostile the way an attacker would, and
checks that loading refuses with an error naming the culprit, before creating any object.
"""

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest

import tkeras
import tkeras.saving
from tkeras import layers
from tkeras.compat import safety
from tkeras.saving import FileFormatError, UnsafeFileError

CONSTRUCTED = []


@tkeras.saving.register_keras_serializable(package="tk_safety")
class Tracer(layers.Layer):
    """Records every construction, to prove refusals happen before any object is built."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        CONSTRUCTED.append(self.name)

    def call(self, x):
        return x

    def compute_output_shape(self, shape):
        return shape


def small_model():
    x = tkeras.Input((4,), name="x")
    h = Tracer(name="tracer")(x)
    return tkeras.Model(x, layers.Dense(3, name="head")(layers.Dense(5, name="body")(h)))


@pytest.fixture
def keras_file(tmp_path):
    path = str(tmp_path / "m.keras")
    small_model().save(path)
    CONSTRUCTED.clear()
    return path


def rewrite_zip(path, edit_config=None, edit_h5=None, extra=()):
    """Rewrite a .keras archive with an edited config and/or weights file, plus extra members."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if edit_config is not None:
        config = json.loads(members["config.json"])
        edit_config(config)
        members["config.json"] = json.dumps(config).encode()
    if edit_h5 is not None:
        buffer = io.BytesIO(members["model.weights.h5"])
        with h5py.File(buffer, "a") as f:
            edit_h5(f)
        members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for info, data in extra:
            zf.writestr(info, data)


def layer_config(config, name):
    return next(l for l in config["config"]["layers"] if l["name"] == name)


def assert_refused(path, *fragments, error=UnsafeFileError, **kwargs):
    with pytest.raises(error) as info:
        tkeras.saving.load_model(path, **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    assert CONSTRUCTED == []  # refused before any object was created
    return info.value


# ----------------------------------------------------------------------------- configs

LAMBDA = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
          "config": {"name": "evil", "function": {"class_name": "__lambda__", "config": {
              "code": "4wEAAAAAAAAA", "defaults": None, "closure": None}}}}


def test_lambda_bytecode_refused_even_without_safe_mode(keras_file):
    def add_lambda(config):
        body = layer_config(config, "body")
        body["config"]["activation"] = LAMBDA["config"]["function"]

    rewrite_zip(keras_file, edit_config=add_lambda)
    assert_refused(keras_file, "Dense 'body'", "bytecode", "safe mode")
    err = assert_refused(keras_file, "Dense 'body'", "never executes", safe_mode=False)
    assert "register_keras_serializable" in str(err)


def test_nested_lambda_layer_refused(tmp_path):
    inner = tkeras.Sequential([tkeras.Input((4,)), Tracer(name="t2")], name="inner")
    x = tkeras.Input((4,))
    path = str(tmp_path / "nested.keras")
    tkeras.Model(x, inner(x)).save(path)
    CONSTRUCTED.clear()

    def add(config):
        layer_config(config, "inner")["config"]["layers"].append(dict(LAMBDA))

    rewrite_zip(path, edit_config=add)
    assert_refused(path, "Lambda 'evil'", "bytecode")


def test_keras2_lambda_in_legacy_h5_refused(tmp_path):
    path = str(tmp_path / "m.h5")
    small_model().save(path)
    CONSTRUCTED.clear()
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"].append({
            "class_name": "Lambda", "name": "old_lambda", "inbound_nodes": [],
            "config": {"name": "old_lambda", "function": ["4wEAAAAAAAAA", None, None],
                       "function_type": "lambda"}})
        f.attrs["model_config"] = json.dumps(config).encode()
    assert_refused(path, "Lambda 'old_lambda'", "bytecode")


@pytest.mark.parametrize("entry, fragment", [
    ({"module": "builtins", "class_name": "function", "config": "eval",
      "registered_name": "function"}, "'eval'"),
    ({"module": "os", "class_name": "function", "config": "system",
      "registered_name": "function"}, "'system'"),
    ({"module": "subprocess", "class_name": "Popen", "config": {"args": ["id"]},
      "registered_name": None}, "Popen"),
    ({"module": "keras.utils", "class_name": "get_file",
      "config": {"fname": "x", "origin": "data"}, "registered_name": None}, "get_file"),
    ({"module": "keras.src.saving.serialization_lib",
      "class_name": "enable_unsafe_deserialization", "config": {}, "registered_name": None},
     "enable_unsafe_deserialization"),
])
def test_non_modelling_callables_refused(keras_file, entry, fragment):
    def edit(config):
        layer_config(config, "head")["config"]["activation"] = entry

    rewrite_zip(keras_file, edit_config=edit)
    assert_refused(keras_file, fragment, "Dense 'head'")


@pytest.mark.parametrize("key, value", [
    ("kernel_initializer", "https://evil.example/weights.npy"),
    ("vocabulary", "/etc/passwd"),
    ("origin", "../../secret.txt"),
])
def test_references_outside_the_archive_refused(keras_file, key, value):
    def edit(config):
        layer_config(config, "head")["config"][key] = value

    rewrite_zip(keras_file, edit_config=edit)
    assert_refused(keras_file, value, "Dense 'head'")


def test_unknown_class_names_the_class_and_how_to_register(keras_file):
    def edit(config):
        entry = layer_config(config, "tracer")
        entry["registered_name"] = "someone>Unknown"
        entry["module"] = "their_module"

    rewrite_zip(keras_file, edit_config=edit)
    err = assert_refused(keras_file, "their_module", "register_keras_serializable")
    assert "someone>Unknown" in str(err)


# ----------------------------------------------------------------------------- HDF5

def _weights_path(f):
    return "layers/dense/vars/0"


@pytest.mark.parametrize("kind", ["external_link", "soft_link", "external_storage", "virtual"])
def test_hdf5_links_and_foreign_storage_refused(keras_file, tmp_path, kind):
    outside = str(tmp_path / "outside.h5")
    with h5py.File(outside, "w") as f:
        f.create_dataset("data", data=np.zeros((4, 5), "float32"))
    raw = str(tmp_path / "raw.bin")
    np.zeros((4, 5), "float32").tofile(raw)

    def edit(f):
        target = _weights_path(f)
        group, name = target.rsplit("/", 1)
        del f[target]
        if kind == "external_link":
            f[group][name] = h5py.ExternalLink(outside, "data")
        elif kind == "soft_link":
            f[group][name] = h5py.SoftLink("/layers/dense/vars/1")
        elif kind == "external_storage":
            f[group].create_dataset(name, shape=(4, 5), dtype="float32",
                                    external=[(raw, 0, 80)])
        else:
            layout = h5py.VirtualLayout(shape=(4, 5), dtype="float32")
            layout[:] = h5py.VirtualSource(outside, "data", shape=(4, 5))
            f[group].create_virtual_dataset(name, layout)

    rewrite_zip(keras_file, edit_h5=edit)
    words = {"external_link": "external link", "soft_link": "soft link",
             "external_storage": "external files", "virtual": "virtual dataset"}[kind]
    assert_refused(keras_file, "layers/dense/vars/0", words)


@pytest.mark.parametrize("shape, message", [((1 << 20, 1 << 20), "limit"),  # 4 TiB declared
                                            ((1 << 16, 1 << 12), "bomb")])  # 1 GiB, nothing stored
def test_hdf5_shape_bomb_refused(tmp_path, shape, message):
    path = str(tmp_path / "bomb.weights.h5")
    model = small_model()
    model.save_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=shape, dtype="float32",
                                               chunks=(1, 1024), compression="gzip")
    with pytest.raises(UnsafeFileError, match=message):
        model.load_weights(path)


def test_hdf5_filter_plugins_refused(tmp_path):
    path = str(tmp_path / "filter.weights.h5")
    model = small_model()
    model.save_weights(path)
    with h5py.File(path, "a") as f:
        data = f["layers/dense/vars/0"][...]
        del f["layers/dense/vars/0"]
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk(data.shape)
        dcpl.set_filter(307, h5py.h5z.FLAG_OPTIONAL)  # bzip2 plugin id, optional
        space = h5py.h5s.create_simple(data.shape)
        h5py.h5d.create(f["layers/dense/vars"].id, b"0", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
    with pytest.raises(UnsafeFileError, match="filter"):
        model.load_weights(path)


# ----------------------------------------------------------------------------- zip


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "assets/../../x", "a\\..\\b",
                                  "C:/windows/x", "assets//x"])
def test_zip_odd_member_paths_refused(keras_file, name):
    rewrite_zip(keras_file, extra=[(zipfile.ZipInfo(name), b"x")])
    assert_refused(keras_file, "member")


def test_zip_symlink_member_refused(keras_file):
    info = zipfile.ZipInfo("assets/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    rewrite_zip(keras_file, extra=[(info, b"/etc/passwd")])
    assert_refused(keras_file, "symbolic link")


def test_zip_decompression_bomb_refused(keras_file):
    info = zipfile.ZipInfo("assets/bomb.bin")
    info.compress_type = zipfile.ZIP_DEFLATED
    rewrite_zip(keras_file, extra=[(info, bytes(32 << 20))])
    assert_refused(keras_file, "decompression bomb")


def test_oversized_config_refused(keras_file, monkeypatch):
    monkeypatch.setattr(safety, "MAX_CONFIG_BYTES", 100)
    assert_refused(keras_file, "config.json")


def test_deeply_nested_json_is_an_error_not_a_crash(keras_file):
    with zipfile.ZipFile(keras_file) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["config.json"] = members["config.json"][:-1] + b',"d":' + b"[" * 100000 + \
        b"]" * 100000 + b"}"
    with zipfile.ZipFile(keras_file, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert_refused(keras_file, "nests")


# ----------------------------------------------------------------------------- atomic save


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    from tkeras.compat import weights_h5

    path = str(tmp_path / "m.keras")
    model = small_model()
    model.save(path)
    before = open(path, "rb").read()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash mid-save")

    monkeypatch.setattr(weights_h5, "save_to_h5", crash)
    with pytest.raises(KeyboardInterrupt):
        small_model().save(path)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["m.keras"]  # no temp file left behind


@pytest.mark.slow  # a fresh interpreter importing tkeras takes ~10 s
def test_killed_process_mid_save_keeps_previous_file(tmp_path):
    path = str(tmp_path / "m.weights.h5")
    model = small_model()
    model.save_weights(path)
    before = open(path, "rb").read()
    code = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import tkeras, tkeras.saving
        from tkeras.compat import weights_h5
        from test_saving_safety import small_model
        original = weights_h5.VarsWriter.__setitem__
        def dying(self, key, value):
            original(self, key, value)
            os._exit(9)  # the process dies with a half-written file
        weights_h5.VarsWriter.__setitem__ = dying
        small_model().save_weights({path!r})
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert open(path, "rb").read() == before
    model.load_weights(path)
