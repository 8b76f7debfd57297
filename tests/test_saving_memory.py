"""Hostile files must not make a loader allocate memory out of proportion to the file.

The long fuzz found a corrupted legacy `.h5` (tests/fixtures/corrupt_vlen_length.h5) whose
`model_config` string declares 0x7f7f7f7f bytes: libhdf5 allocates and zero-fills that length
before it looks the string up, so a 16 KB file took 2 GB resident per attribute read. Loads of
crafted files run in a subprocess under RLIMIT_AS (its current address space + 1.5 GiB): a
regression fails on the error message (libhdf5's "memory allocation failed" instead of tkeras's
refusal) and on the peak RSS, instead of killing the test machine.
"""

import json
import os
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
from tkeras.compat import keras_zip, safety
from tkeras.saving import FileFormatError, UnsafeFileError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mlp():
    x = tkeras.Input((4,), name="x")
    h = layers.Dense(5, activation="relu", name="body")(x)
    h = layers.Dropout(0.1, name="drop")(h)
    return tkeras.Model(x, layers.Dense(3, name="head")(h))


CAPPED_LOAD = textwrap.dedent("""
    import json, resource, sys
    import tkeras, tkeras.saving
    from tkeras import layers

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) << 10

    cap = status("VmSize") + (3 << 29)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    results = []
    for kind, path in json.loads(sys.argv[1]):
        try:
            if kind == "model":
                tkeras.saving.load_model(path)
            else:
                x = tkeras.Input((4,), name="x")
                h = layers.Dropout(0.1, name="drop")(layers.Dense(5, activation="relu",
                                                               name="body")(x))
                tkeras.Model(x, layers.Dense(3, name="head")(h)).load_weights(path)
            results.append(["ok", ""])
        except Exception as e:
            results.append([type(e).__name__, str(e)])
    print(json.dumps({"results": results, "peak": status("VmHWM"), "base": cap - (3 << 29)}))
""")


def capped_loads(cases):
    """Load every `(kind, path)` in ONE capped subprocess; `[(error name, message)], peak`."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
    done = subprocess.run([sys.executable, "-c", CAPPED_LOAD, json.dumps(cases)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["results"], report["peak"]


def vlen_length_offsets(data, length):
    """Offsets of on-disk variable-length string entries `(length, heap address, index)` for a
    string of `length` bytes: the 4 length bytes followed by the address of a heap collection."""
    found = []
    needle = length.to_bytes(4, "little")
    start = data.find(needle)
    while start != -1:
        address = int.from_bytes(data[start + 4:start + 12], "little")
        if data[address:address + 4] == b"GCOL":
            found.append(start)
        start = data.find(needle, start + 1)
    return found


def corrupt_length(path, length, new_length):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    offsets = vlen_length_offsets(data, length)
    assert len(offsets) == 1, offsets
    data[offsets[0]:offsets[0] + 4] = new_length.to_bytes(4, "little")
    with open(path, "wb") as f:
        f.write(bytes(data))


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    """Crafted files, each with one corrupted string length: `(kind, path, expected fragment)`."""
    d = tmp_path_factory.mktemp("hostile")
    model = mlp()
    cases = []

    legacy = str(d / "config_length.h5")
    model.save(legacy)
    with h5py.File(legacy) as f:
        length = len(f.attrs["model_config"])
    corrupt_length(legacy, length, 0xFFFFFFF0)
    cases.append(("model", legacy, "'/@model_config' declares a 4294967280-byte string"))

    # A float64 dataset with a dtype marker: loading reads the marker (a vlen string).
    weights = str(d / "marker_length.weights.h5")
    model.save_weights(weights)
    with h5py.File(weights, "a") as f:
        kernel = f["layers/dense/vars/0"][...]
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", data=kernel.astype("float64"))
        f["layers/dense/vars/0"].attrs["dtype"] = "float64-marker-of-a-unique-length"
    corrupt_length(weights, len("float64-marker-of-a-unique-length"), 0x7F7F7F7F)
    cases.append(("weights", weights, "'layers/dense/vars/0@dtype' declares a 2139062143-byte"))

    # The same weights file inside a .keras archive (read through the stored member's window).
    archive = str(d / "marker_length.keras")
    model.save(archive)
    with zipfile.ZipFile(archive) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    with open(weights, "rb") as f:
        members[keras_zip.WEIGHTS] = f.read()
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    cases.append(("model", archive, "'layers/dense/vars/0@dtype' declares a 2139062143-byte"))

    cases.append(("model", os.path.join(FIXTURES, "corrupt_vlen_length.h5"),
                  "'/@model_config' declares a 2139062143-byte string"))

    # A config describing a model far larger than its weights (Dense units=10**8: 1.6 GB).
    big = str(d / "big_units.keras")
    model.save(big)
    with zipfile.ZipFile(big) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["config"]["units"] = 10**8
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(big, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    asked = "layer 'body' (Dense) asked for a tensor of shape (4, 100000000)"
    cases.append(("model", big, asked))
    big_h5 = str(d / "big_units.h5")
    model.save(big_h5)
    with h5py.File(big_h5, "a") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"][1]["config"]["units"] = 10**8
        f.attrs["model_config"] = json.dumps(config).encode()
    cases.append(("model", big_h5, asked))
    return cases


def test_hostile_sizes_refused_before_allocating(hostile_files):
    results, peak = capped_loads([(kind, path) for kind, path, _ in hostile_files])
    for (kind, path, fragment), (error, message) in zip(hostile_files, results):
        assert error == "UnsafeFileError", (path, error, message)
        assert fragment in message, (path, message)
    assert peak < 1 << 30, f"peak resident memory {peak >> 20} MiB"


def test_fixture_is_a_corrupted_string_length():
    """The fuzz find: the `model_config` entry's length bytes were overwritten with 0x7f."""
    with open(os.path.join(FIXTURES, "corrupt_vlen_length.h5"), "rb") as f:
        data = f.read()
    assert vlen_length_offsets(data, 0x7F7F7F7F) != []


def test_string_lengths_bounded_in_total(tmp_path, monkeypatch):
    path = str(tmp_path / "a.h5")
    with h5py.File(path, "w") as f:
        f.attrs["names"] = np.array(["a" * 100, "b" * 100, "c" * 100], dtype=h5py.string_dtype())
    monkeypatch.setattr(safety, "MAX_ATTR_BYTES", 250)
    with keras_zip.open_h5(path, path) as f, pytest.raises(UnsafeFileError,
                                                            match="declares 300 bytes"):
        safety.read_attr(f, "names", "/")
    monkeypatch.setattr(safety, "MAX_ATTR_BYTES", 300)
    with keras_zip.open_h5(path, path) as f:
        assert safety.read_attr(f, "names", "/") == ["a" * 100, "b" * 100, "c" * 100]


@pytest.mark.parametrize("libver,track_order,userblock", [
    ("earliest", False, 0), ("earliest", False, 512), ("latest", False, 0),
    ("latest", True, 512), (("v108", "v110"), True, 0)])
def test_valid_attribute_layouts_still_load(tmp_path, libver, track_order, userblock):
    """Version 1 and 2 object headers, continuation chunks, dense attribute storage (more than
    8 attributes in a version 2 header) and user blocks: every string attribute is readable."""
    source = str(tmp_path / "m.h5")
    model = mlp()
    model.save(source)
    path = str(tmp_path / "copy.h5")
    with h5py.File(source) as src, h5py.File(path, "w", libver=libver, track_order=track_order,
                                              userblock_size=userblock) as dst:
        for key in src.attrs:
            dst.attrs[key] = src.attrs[key]
        for i in range(12):  # pushes the root attributes into dense storage (version 2)
            dst.attrs[f"extra{i}"] = "x" * (300 * i)
        src.copy("model_weights", dst)
        dst["model_weights"].attrs["strings"] = np.array(["a", "bb", ""],
                                                         dtype=h5py.string_dtype())
    loaded = tkeras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(loaded(x).detach().numpy(), model(x).detach().numpy())
    with keras_zip.open_h5(path, path) as f:
        for key in f.attrs:
            safety.read_attr(f, key, "/")
        assert safety.read_attr(f["model_weights"], "strings", "model_weights") == [
            "a", "bb", ""]


# ----------------------------------------------------------------------------- node configs


def _drop_args(config):
    del config["config"]["layers"][2]["inbound_nodes"][0]["args"]


@pytest.mark.parametrize("edit,fragment", [
    (_drop_args, "inbound_nodes[0] (in Dropout 'drop'): the call has no 'args' list"),
    (lambda c: c["config"]["layers"][3]["inbound_nodes"][0].update(args=[], kwargs={}),
     "(in Dense 'head'): the call has no inputs"),
    (lambda c: c["config"]["layers"][1].update(inbound_nodes=[[["x", "0", 0, {}]]]),
     "(in Dense 'body'): input ['x', '0', 0, {}] is not [layer_name, node_index"),
    (lambda c: c["config"]["layers"][1].update(inbound_nodes={"args": []}),
     "(in Dense 'body'): inbound nodes must be a list"),
])
def test_corrupted_functional_nodes_name_the_layer(tmp_path, edit, fragment):
    """A node without `args` made Layer._build_from_call raise a bare StopIteration."""
    legacy = str(tmp_path / "m.h5")
    archive = str(tmp_path / "m.keras")
    model = mlp()
    model.save(legacy)
    model.save(archive)
    with h5py.File(legacy, "a") as f:
        config = json.loads(f.attrs["model_config"])
        edit(config)
        f.attrs["model_config"] = json.dumps(config).encode()
    with zipfile.ZipFile(archive) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    for path in (legacy, archive):
        with pytest.raises(FileFormatError) as info:
            tkeras.saving.load_model(path)
        assert fragment in str(info.value), str(info.value)
