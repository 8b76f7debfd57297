"""The HDF5 global heap check runs once per file tkeras opens read-only, not once per string.

Loading a legacy `.h5` reads a variable-length string attribute per layer (`weight_names`);
each read needs the file's global heaps verified (tkeras/compat/safety.py). Verifying them on
every read made NASNetLarge's legacy file take minutes; these tests count scans, not time.
"""

import h5py
import pytest

import tkeras
from tkeras import layers
from tkeras.compat import keras_zip
from tkeras.compat import safety


def _model(depth=12):
    x = inputs = tkeras.Input((6,))
    for i in range(depth):
        x = layers.Dense(6, name=f"dense_{i}")(x)
    return tkeras.Model(inputs, x)


@pytest.fixture()
def legacy_file(tmp_path):
    """A legacy `.h5` whose name lists are variable-length strings, as Keras 3 writes them
    (`group.attrs[name] = list_of_str`; tkeras, like tf.keras 2, writes fixed-length ones)."""
    path = str(tmp_path / "model.h5")
    _model().save(path)
    with h5py.File(path, "r+") as f:
        groups = [f["model_weights"]] + [f["model_weights"][k] for k in f["model_weights"]]
        for group in groups:
            for name in ("layer_names", "weight_names"):
                if name in group.attrs:
                    group.attrs[name] = [v.decode() for v in group.attrs[name]]
    return path


@pytest.fixture()
def spy(monkeypatch):
    """Counts whole-file heap scans, checks of each collection, and variable-length reads."""
    counts = {"scans": 0, "collections": {}, "vlen_reads": 0}
    check_heaps_in, check_collection = safety._check_heaps_in, safety._check_collection
    check_vlen = safety.check_vlen_lengths

    def heaps_in(*args, **kwargs):
        counts["scans"] += 1
        return check_heaps_in(*args, **kwargs)

    def collection(f, offset, *args, **kwargs):
        counts["collections"][offset] = counts["collections"].get(offset, 0) + 1
        return check_collection(f, offset, *args, **kwargs)

    def vlen(*args, **kwargs):
        counts["vlen_reads"] += 1
        return check_vlen(*args, **kwargs)

    monkeypatch.setattr(safety, "_check_heaps_in", heaps_in)
    monkeypatch.setattr(safety, "_check_collection", collection)
    monkeypatch.setattr(safety, "check_vlen_lengths", vlen)
    return counts


def test_legacy_load_verifies_each_heap_once(legacy_file, spy):
    model = tkeras.models.load_model(legacy_file)
    assert len(model.layers) == 13
    assert spy["vlen_reads"] > 12  # model_config, layer_names, one weight_names per layer
    assert spy["scans"] == 1
    assert spy["collections"] and set(spy["collections"].values()) == {1}


def test_legacy_load_weights_verifies_each_heap_once(legacy_file, spy):
    _model().load_weights(legacy_file)
    assert spy["vlen_reads"] > 12 and spy["scans"] == 1
    assert set(spy["collections"].values()) == {1}


def test_each_open_is_verified_again(legacy_file, spy):
    """The cache lives with the open file: the file may change between two loads."""
    tkeras.models.load_model(legacy_file)
    tkeras.models.load_model(legacy_file)
    assert spy["scans"] == 2


def test_registered_read_only_file_records_its_heaps(legacy_file, spy):
    with keras_zip.open_h5(legacy_file, legacy_file) as f:
        group = f["model_weights"]
        for _ in range(3):
            safety.read_name_list(group, "layer_names", "model_weights")
        record = safety._H5_SOURCES[f.id]
        assert sorted(record.heaps) == sorted(spy["collections"])
    assert spy["scans"] == 1


def test_unregistered_and_writable_files_are_verified_on_every_read(legacy_file, spy):
    with h5py.File(legacy_file, "r") as f:  # not opened by a tkeras loader: no record
        for _ in range(3):
            safety.read_name_list(f["model_weights"], "layer_names", "model_weights")
    assert spy["scans"] == 3
    with h5py.File(legacy_file, "r+") as f:  # writable: its heaps can change between reads
        safety.register_h5_source(f, legacy_file, legacy_file)
        for _ in range(2):
            safety.read_name_list(f["model_weights"], "layer_names", "model_weights")
            f["model_weights"].attrs["note"] = "x" * 10
    assert spy["scans"] == 5


def test_corrupt_heap_is_refused_after_a_good_file(legacy_file, tmp_path):
    """A verified file does not vouch for another one opened later."""
    tkeras.models.load_model(legacy_file)
    data = bytearray(open(legacy_file, "rb").read())
    start = data.find(b"GCOL\x01")
    data[start + 8:start + 16] = (len(data) * 2).to_bytes(8, "little")  # runs past the end
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(data))
    with pytest.raises(safety.FileFormatError, match="global heap collection"):
        tkeras.models.load_model(str(bad))
