"""Corrupted HDF5 global heaps (the store of variable-length strings) fail fast, never hang.

libhdf5 parses a global heap collection by stepping over each object's declared size; a
free-space object of size 0 makes that loop spin forever (tests/fixtures/corrupt_attr_hang.h5,
found by the long fuzz: one byte of an object size changed from 6 to 255 moves the parser onto
zeros). Every load here runs in a subprocess with a timeout, so a regression fails the test
instead of hanging the suite.
"""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import tkeras
from tkeras import layers

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "corrupt_attr_hang.h5")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_LOADER = r"""
import contextlib, io, json, sys
import tkeras
from tkeras import layers
from tkeras.__main__ import main as cli

def model():
    x = tkeras.Input((4,))
    return tkeras.Model(x, layers.Dense(3, dtype="bfloat16")(x))

results = {}
for case, kind, path in json.loads(sys.argv[1]):
    try:
        if kind == "load_model":
            tkeras.saving.load_model(path)
        elif kind == "inspect":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = cli(["inspect", path])
            results[case] = ["inspect", out.getvalue(), code]
            continue
        else:
            model().load_weights(path)
        results[case] = ["ok", ""]
    except Exception as e:
        results[case] = [type(e).__name__, str(e), isinstance(e, ValueError)]
print(json.dumps(results))
"""


def _run_loads(cases, timeout=300):
    proc = subprocess.run([sys.executable, "-c", _LOADER, json.dumps(cases)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _collection(data):
    """Offset of the (single) global heap collection and its objects `[(offset, index, size)]`."""
    start = data.find(b"GCOL\x01")
    assert start >= 0 and data.find(b"GCOL\x01", start + 1) == -1
    size = int.from_bytes(data[start + 8:start + 16], "little")
    objects, p = [], start + 16
    while p + 16 <= start + size:
        index = int.from_bytes(data[p:p + 2], "little")
        object_size = int.from_bytes(data[p + 8:p + 16], "little")
        objects.append((p, index, object_size))
        if index == 0:
            break
        p += 16 + (object_size + 7) // 8 * 8
    return start, objects


def _patch_size(data, offset, value):
    data = bytearray(data)
    data[offset + 8:offset + 16] = value.to_bytes(8, "little")
    return bytes(data)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def test_fixture_cause_is_a_zero_size_free_space_object():
    with open(FIXTURE, "rb") as f:
        data = f.read()
    _, objects = _collection(data)
    # Object 5 ("3.15.1", 6 bytes) claims 255 bytes: the parser lands on zeroed free space.
    assert [(i, s) for _, i, s in objects] == [(1, 6), (2, 5), (3, 2466), (4, 5), (5, 255),
                                               (0, 0)]


def test_corrupt_global_heaps_raise_file_format_errors_without_hanging(tmp_path):
    x = tkeras.Input((4,))
    model = tkeras.Model(x, layers.Dense(3, dtype="bfloat16")(x))
    model.save(str(tmp_path / "m.h5"))
    model.save_weights(str(tmp_path / "m.weights.h5"))
    with open(tmp_path / "m.h5", "rb") as f:
        legacy = f.read()
    with open(tmp_path / "m.weights.h5", "rb") as f:
        weights = f.read()

    _, objects = _collection(legacy)
    free = objects[-1][0]
    assert objects[-1][1] == 0
    first = objects[0][0]
    _, wobjects = _collection(weights)
    cases = [
        ("fixture", "load_model", FIXTURE),
        ("free_space_zero", "load_model",
         _write(tmp_path / "free0.h5", _patch_size(legacy, free, 0))),
        ("object_overruns", "load_model",
         _write(tmp_path / "overrun.h5", _patch_size(legacy, first, 1 << 40))),
        ("bf16_marker_zero_free_space", "load_weights",
         _write(tmp_path / "w.weights.h5", _patch_size(weights, wobjects[-1][0], 0))),
        ("valid_legacy", "load_model", str(tmp_path / "m.h5")),
        ("valid_weights", "load_weights", str(tmp_path / "m.weights.h5")),
    ]
    # The same corrupted weights inside a stored .keras zip (read through a file window).
    archive = tmp_path / "m.keras"
    model.save(str(archive))
    corrupt_archive = tmp_path / "corrupt.keras"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(corrupt_archive, "w") as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == "model.weights.h5":
                _, zobjects = _collection(payload)
                payload = _patch_size(payload, zobjects[-1][0], 0)
            dst.writestr(info, payload)
    cases.append(("keras_zip_member", "load_model", str(corrupt_archive)))
    cases.append(("cli_inspect", "inspect", FIXTURE))

    results = _run_loads(cases)
    for case in ("fixture", "free_space_zero", "object_overruns", "bf16_marker_zero_free_space",
                 "keras_zip_member"):
        kind, message, is_value_error = results[case]
        assert kind == "FileFormatError" and is_value_error, (case, results[case])
        assert "global heap collection" in message, message
    assert "'/@model_config'" in results["fixture"][1]
    assert "free-space object" in results["free_space_zero"][1]
    assert "runs past the end of the collection" in results["object_overruns"][1]
    assert "@dtype" in results["bf16_marker_zero_free_space"][1]
    assert "corrupt.keras" in results["keras_zip_member"][1]
    assert results["valid_legacy"][0] == "ok" and results["valid_weights"][0] == "ok"
    _, report, code = results["cli_inspect"]
    assert code != 0 and "global heap collection" in report, report


def test_attribute_datatypes_outside_numbers_and_strings_are_refused(tmp_path):
    import h5py

    from tkeras.compat import safety

    path = str(tmp_path / "a.h5")
    with h5py.File(path, "w") as f:
        f.attrs["pair"] = np.zeros(2, dtype=[("a", "<i4"), ("b", "<f4")])
        f.attrs["text"] = "fine"
        f.attrs["ints"] = np.arange(3)
    with h5py.File(path, "r") as f:
        assert safety.read_attr(f, "text", "/") == "fine"
        assert safety.read_attr(f, "ints", "/") == [0, 1, 2]
        with pytest.raises(safety.FileFormatError, match="'/@pair'.*numbers and strings"):
            safety.read_attr(f, "pair", "/")
