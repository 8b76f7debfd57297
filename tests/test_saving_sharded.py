"""Sharded weights (`save_weights(..., max_shard_size=...)`, `.weights.json` + shards).

Against real Keras 3.15.1 (one subprocess): Keras loads tkeras's shards with identical weights,
tkeras loads Keras's shards with identical weights, and both write the same index (weight map,
shard names, total size) and the same datasets in each shard. tkeras-only: safety of the index
(path traversal, absolute names, symlinks, missing shards, datasets outside the shards the index
names, mixed saves) and atomic saving.
"""

import json
import os
import textwrap

import h5py
import numpy as np
import pytest

import tkeras
import tkeras.saving
from keras_oracle import requires_keras, run_keras
from tkeras.saving import FileFormatError, UnsafeFileError, WeightsMismatchError

# 8 -> 32 kernel (1024 bytes) fills shard 0; its bias (128) opens shard 1 (the object spans two
# shards); BatchNormalization (4 x 128) stays in shard 1; the head kernel (512) opens shard 2.
MAX_SHARD_GB = 1100 / 1024**3

ARCH = textwrap.dedent('''
    def build():
        layers = keras.layers
        x = keras.Input((8,), name="x")
        h = layers.Dense(32, activation="relu", name="body")(x)
        h = layers.Dropout(0.2, name="drop")(h)
        h = layers.BatchNormalization(name="norm")(h)
        return keras.Model(x, layers.Dense(4, name="head")(h), name="net")
''')
_ns = {"keras": tkeras}
exec(ARCH, _ns)
build = _ns["build"]


def reference_weights(model):
    rng = np.random.default_rng(7)
    return [rng.normal(size=w.shape).astype("float32") + (1.0 if "variance" in w.name else 0.0)
            for w in model.weights]


def layout(directory, names):
    """`{shard: {dataset path: shape}}` and `{shard: {group: name attr}}` of the shard files."""
    datasets, names_attr = {}, {}
    for name in names:
        with h5py.File(os.path.join(directory, name), "r") as f:
            entries, attrs = {}, {}

            def visit(path, obj, entries=entries, attrs=attrs):
                if isinstance(obj, h5py.Dataset):
                    entries[path] = list(obj.shape)
                elif "name" in obj.attrs:
                    attrs[path] = obj.attrs["name"]

            f.visititems(visit)
            datasets[name], names_attr[name] = entries, attrs
    return datasets, names_attr


@pytest.fixture(scope="module")
def exchange(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharded")
    os.makedirs(root / "tk")
    os.makedirs(root / "k")
    model = build()
    weights = reference_weights(model)
    model.set_weights(weights)
    model.save_weights(str(root / "tk" / "m.weights.json"), max_shard_size=MAX_SHARD_GB)
    code = ARCH + textwrap.dedent(f'''
        weights = [inputs[f"w{{i}}"] for i in range(len(inputs))]
        source = build()
        source.set_weights(weights)
        source.save_weights("k/m.weights.json", max_shard_size={MAX_SHARD_GB!r})
        with open("k/m.weights.json") as f:
            outputs["index"] = json.load(f)
        outputs["files"] = sorted(os.listdir("k"))
        target = build()
        target.load_weights("tk/m.weights.json")
        for i, w in enumerate(target.get_weights()):
            outputs[f"loaded{{i}}"] = np.asarray(w)
        outputs["count"] = len(target.get_weights())
    ''')
    result = run_keras(code, {f"w{i}": w for i, w in enumerate(weights)}, cwd=str(root))
    return root, weights, result


@requires_keras
def test_keras_loads_tkeras_shards(exchange):
    _, weights, result = exchange
    assert result["count"] == len(weights)
    for i, w in enumerate(weights):
        np.testing.assert_array_equal(result[f"loaded{i}"], w)


@requires_keras
def test_tkeras_loads_keras_shards(exchange):
    root, weights, _ = exchange
    target = build()
    target.load_weights(str(root / "k" / "m.weights.json"))
    for loaded, w in zip(target.get_weights(), weights):
        np.testing.assert_array_equal(loaded, w)


@requires_keras
def test_same_index_and_shard_layout_as_keras(exchange):
    root, _, result = exchange
    with open(root / "tk" / "m.weights.json") as f:
        ours = json.load(f)
    theirs = result["index"]
    assert ours["weight_map"] == theirs["weight_map"]
    assert ours["metadata"]["total_size"] == theirs["metadata"]["total_size"]
    assert ours["weight_map"]["/layers/dense/vars"] == ["m_00000.weights.h5",
                                                        "m_00001.weights.h5"]
    assert sorted(os.listdir(root / "tk")) == result["files"]
    shards = [n for n in result["files"] if n.endswith(".weights.h5")]
    assert len(shards) == 3
    assert layout(root / "tk", shards) == layout(root / "k", shards)


# ----------------------------------------------------------------------------- tkeras only


def saved(tmp_path, name="m.weights.json", seed=0):
    model = build()
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype("float32") + 2.0 for w in model.weights])
    path = str(tmp_path / name)
    model.save_weights(path, max_shard_size=MAX_SHARD_GB)
    return model, path


def rewrite_index(path, edit):
    with open(path) as f:
        index = json.load(f)
    edit(index)
    with open(path, "w") as f:
        json.dump(index, f)


def test_roundtrip_single_shard_and_h5_suffix_renamed(tmp_path):
    model = build()
    with pytest.warns(UserWarning, match="renamed to .*big.weights.json"):
        model.save_weights(str(tmp_path / "big.weights.h5"), max_shard_size=1)
    assert sorted(os.listdir(tmp_path)) == ["big.weights.json", "big_00000.weights.h5"]
    target = build()
    target.load_weights(str(tmp_path / "big.weights.json"))
    for a, b in zip(target.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="must end in `.weights.json`"):
        model.save_weights(str(tmp_path / "w.h5"), max_shard_size=1)
    with pytest.raises(FileExistsError):
        model.save_weights(str(tmp_path / "big.weights.json"), overwrite=False, max_shard_size=1)


def test_mismatch_reported_and_model_untouched(tmp_path):
    _, path = saved(tmp_path)
    x = tkeras.Input((8,))
    other = tkeras.Model(x, tkeras.layers.Dense(4, name="head")(tkeras.layers.Dense(16)(x)))
    before = [w.copy() for w in other.get_weights()]
    with pytest.raises(WeightsMismatchError, match="expects shape \\(8, 16\\), found \\(8, 32\\)"):
        other.load_weights(path)
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", ["../m_00000.weights.h5", "/etc/m_00000.weights.h5",
                                 "sub/m_00000.weights.h5", "C:m_00000.weights.h5",
                                 "..\\m_00000.weights.h5", ".."])
def test_shard_names_must_stay_in_the_directory(tmp_path, bad):
    _, path = saved(tmp_path)
    rewrite_index(path, lambda index: index["weight_map"].update({"/layers/dense/vars": bad}))
    with pytest.raises(UnsafeFileError, match="/layers/dense/vars.*not a plain file name"):
        build().load_weights(path)


def test_index_structure_and_shard_files_checked(tmp_path):
    model, path = saved(tmp_path)
    cases = {
        "weight_map": (lambda index: index.pop("weight_map"), "no 'weight_map'"),
        "suffix": (lambda index: index["weight_map"].update({"/vars": "notes.txt"}),
                   "shard files end in '.weights.h5'"),
        "missing": (lambda index: index["weight_map"].update({"/vars": "gone.weights.h5"}),
                    "shard 'gone.weights.h5' is missing"),
        "unlisted": (lambda index: index["weight_map"].update(
            {"/layers/dense/vars": "m_00000.weights.h5"}),
            "'m_00001.weights.h5' holds 'layers/dense/vars/1', but the index does not list"),
        "absent_group": (lambda index: index["weight_map"].update(
            {"/layers/batch_normalization/vars": ["m_00001.weights.h5", "m_00002.weights.h5"]}),
            "lists '/layers/batch_normalization/vars' in 'm_00002.weights.h5', which has no "
            "such group"),
    }
    with open(path) as f:
        original = f.read()
    for name, (edit, message) in cases.items():
        with open(path, "w") as f:
            f.write(original)
        rewrite_index(path, edit)
        with pytest.raises(FileFormatError, match=message):
            build().load_weights(path)
    with open(path, "w") as f:
        f.write("{not json")
    with pytest.raises(FileFormatError, match="not valid JSON"):
        build().load_weights(path)


def test_symlinked_shard_refused(tmp_path):
    _, path = saved(tmp_path)
    elsewhere = tmp_path / "elsewhere.weights.h5"
    os.replace(tmp_path / "m_00001.weights.h5", elsewhere)
    os.symlink(elsewhere, tmp_path / "m_00001.weights.h5")
    with pytest.raises(UnsafeFileError, match="'m_00001.weights.h5' is a symbolic link"):
        build().load_weights(path)


def test_shards_from_another_save_are_refused(tmp_path):
    saved(tmp_path, seed=0)
    os.replace(tmp_path / "m_00001.weights.h5", tmp_path / "old_shard")
    _, path = saved(tmp_path, seed=1)
    os.replace(tmp_path / "old_shard", tmp_path / "m_00001.weights.h5")
    with pytest.raises(FileFormatError, match="'m_00001.weights.h5' belongs to another save"):
        build().load_weights(path)


def test_failed_save_keeps_the_previous_files_and_leaves_no_temp_files(tmp_path):
    model, path = saved(tmp_path)
    before = {n: open(tmp_path / n, "rb").read() for n in os.listdir(tmp_path)}
    with pytest.raises(ValueError, match="layers/dense/vars/0 is 1024 bytes which exceeds"):
        model.save_weights(path, max_shard_size=1000 / 1024**3)
    assert {n: open(tmp_path / n, "rb").read() for n in os.listdir(tmp_path)} == before
    target = build()
    target.load_weights(path)
    for a, b in zip(target.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
