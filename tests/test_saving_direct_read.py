"""The loader's direct reads: contiguous, unfiltered datasets of the variable's dtype are read
with one `readinto` into the variable's memory (`weights_h5.H5Index.direct_span/read_into`);
everything else (chunked/compressed datasets, other dtypes, deflated `.keras` members) goes
through h5py and NumPy. Both paths must give the saved values, and bad bounds must be refused
before any variable changes."""

import io
import zipfile

import h5py
import numpy as np
import pytest

import tkeras
import tkeras.saving
from tkeras import layers
from tkeras.compat import weights_h5
from tkeras.saving import FileFormatError


def model(seed):
    tkeras.utils.set_random_seed(seed)
    x = tkeras.Input((4,))
    h = layers.Dense(5, activation="relu")(x)
    h = layers.BatchNormalization()(h)
    h = layers.Dense(3, dtype="float16")(h)  # float16 variables: 2-byte direct reads
    m = tkeras.Model(x, layers.Dense(2, dtype="float64")(h))
    for w in m.weights:  # BN's moving statistics away from their 0/1 initial values
        w.assign(np.random.default_rng(seed).uniform(0.5, 1.5, tuple(w.shape)))
    return m


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


def spans(path):
    target = model(1)
    with h5py.File(path, "r") as f, open(path, "rb") as raw:
        index = weights_h5.H5Index(f, raw=raw)
        plan = weights_h5.plan_load(target, index, path)[0]
        return [reader.direct_span(key, variable) for variable, reader, key, _ in plan]


def test_direct_reads_give_the_saved_values(tmp_path):
    source = model(0)
    path = str(tmp_path / "m.weights.h5")
    source.save_weights(path)
    assert all(span is not None for span in spans(path))  # every variable takes the fast path
    target = model(1)
    target.load_weights(path)
    assert_same_weights(source, target)
    source.save(tmp_path / "m.keras")  # stored zip member: reads through the archive window
    assert_same_weights(source, tkeras.saving.load_model(tmp_path / "m.keras"))


def test_chunked_compressed_and_other_dtypes_fall_back(tmp_path):
    source = model(0)
    path = str(tmp_path / "m.weights.h5")
    source.save_weights(path)
    converted = {}
    with h5py.File(path, "a") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for i, name in enumerate(names):
            data = f[name][...]
            del f[name]
            if i % 2:  # chunked + gzip: no contiguous offset
                f.create_dataset(name, data=data, compression="gzip", chunks=True)
            elif data.dtype == np.float32:  # another dtype: converted through NumPy
                f.create_dataset(name, data=data.astype("float64"))
                converted[name] = True
            else:
                f.create_dataset(name, data=data)
    assert converted
    found = spans(path)
    assert None in found and any(span is not None for span in found)
    target = model(1)
    target.load_weights(path)
    assert_same_weights(source, target)


def test_deflated_keras_member_loads(tmp_path):
    source = model(0)
    source.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zin, \
            zipfile.ZipFile(tmp_path / "d.keras", "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            zout.writestr(name, zin.read(name))
    assert_same_weights(source, tkeras.saving.load_model(tmp_path / "d.keras"))


def test_data_past_the_end_is_refused_before_any_assignment(tmp_path):
    path = str(tmp_path / "m.weights.h5")
    model(0).save_weights(path)
    with open(path, "rb") as f:
        data = f.read()
    target = model(1)
    before = [w.copy() for w in target.get_weights()]
    last = max(span[0] + span[1] for span in spans(path))
    # The raw bytes end inside the last dataset (as a zip window shorter than its HDF5 image).
    with h5py.File(path, "r") as f:
        index = weights_h5.H5Index(f, raw=io.BytesIO(data[: last - 1]))
        with pytest.raises(FileFormatError, match="past the end"):
            weights_h5.load_from_h5(target, f, path, index=index)
    for a, b in zip(before, target.get_weights()):
        np.testing.assert_array_equal(a, b)
