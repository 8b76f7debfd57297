"""`HashedCrossing` against real Keras 3.15.1 numbers.

Keras computes the layer with TensorFlow (`tf.sparse.cross_hashed`), so Keras cannot run it here:
outputs, configs, error types and symbolic shapes were recorded once with TensorFlow by
tests/fixtures/gen_hashed_crossing_feature_space.py (its docstring says how to rerun it). Every
comparison is exact.
"""

import json
import os

import numpy as np
import pytest
import torch

import tkeras
from tkeras.layers.preprocessing.string_hashing import fingerprint64
from tkeras.layers.preprocessing.string_hashing import fingerprint_cat64

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
with open(os.path.join(FIXTURES, "hashed_crossing_feature_space.json"), encoding="utf-8") as _f:
    FIXTURE = json.load(_f)
CASES = {c["id"]: c for c in FIXTURE["hashed_crossing"]}


def as_input(spec):
    if spec["dtype"] == "list":
        return spec["values"]
    if spec["dtype"] == "bytes":
        return np.array([v.encode() for v in spec["values"]], dtype=bytes)
    return np.array(spec["values"], dtype=spec["dtype"])


def without_name(config):
    config = json.loads(json.dumps(config))
    config.pop("name")
    return config


def assert_output(out, expected):
    assert isinstance(out, torch.Tensor)
    assert list(out.shape) == expected["shape"]
    assert str(out.dtype).replace("torch.", "") == expected["dtype"]
    np.testing.assert_array_equal(out.numpy(), np.array(expected["values"]))


@pytest.mark.parametrize("case", FIXTURE["hashed_crossing"], ids=lambda c: c["id"])
def test_hashed_crossing_matches_keras(case):
    layer = tkeras.layers.HashedCrossing(**case["kwargs"])
    inputs = [as_input(spec) for spec in case["inputs"]]
    assert_output(layer(inputs), case["output"])
    assert without_name(layer.get_config()) == without_name(case["config"])
    clone = tkeras.layers.HashedCrossing.from_config(json.loads(json.dumps(layer.get_config())))
    assert_output(clone(tuple(inputs)), case["output"])


@pytest.mark.parametrize("case_id", ["ints_int32", "ints_same", "zero_bins"])
def test_torch_tensor_inputs(case_id):
    case = CASES[case_id]
    inputs = [as_input(spec) for spec in case["inputs"]]
    inputs = [torch.from_numpy(x) if x.dtype.kind in "iu" else x for x in inputs]
    out = tkeras.layers.HashedCrossing(**case["kwargs"])(inputs)
    assert_output(out, case["output"])


def test_crossing_folds_fingerprints_into_tensorflow_default_key():
    # The cross of a string and an int is FingerprintCat64(FingerprintCat64(key, fp(s)), int).
    case = CASES["zero_bins"]
    letters, numbers = (as_input(spec) for spec in case["inputs"])
    key = np.full(len(letters), 0xDECAFCAFFE, dtype=np.uint64)
    crossed = fingerprint_cat64(fingerprint_cat64(key, fingerprint64(
        [s.encode() for s in letters])), numbers.view(np.uint64))
    assert (crossed % np.uint64(2**63 - 1)).tolist() == case["output"]["values"]


_ERROR_CALLS = {
    "not_a_list": lambda layer: layer(np.array(["A", "B"])),
    "one_input": lambda layer: layer([np.array(["A", "B"])]),
    "rank_2_wide": lambda layer: layer([np.array([["a", "b"]]), np.array([[1, 2]])]),
    "rank_3": lambda layer: layer([np.zeros((2, 1, 1), "int64")] * 2),
    "unequal_shapes": lambda layer: layer([np.array(["A", "B"]), np.array([1, 2, 3])]),
    "float_input": lambda layer: layer([np.array(["A", "B"]), np.array([1.0, 2.0])]),
    "bool_input": lambda layer: layer([np.array(["A", "B"]), np.array([True, False])]),
    "negative_bins": lambda layer: tkeras.layers.HashedCrossing(num_bins=-3)(
        [np.array(["A", "B"]), np.array([1, 2])]),
    "bad_output_mode": lambda layer: tkeras.layers.HashedCrossing(num_bins=3,
                                                                  output_mode="multi_hot"),
}


@pytest.mark.parametrize("case_id", sorted(FIXTURE["hashed_crossing_errors"]))
def test_errors_match_keras(case_id):
    keras_error = FIXTURE["hashed_crossing_errors"][case_id]
    # TensorFlow's op raises InvalidArgumentError (a ValueError-like op error) for negative bins.
    assert keras_error in ("ValueError", "InvalidArgumentError")
    with pytest.raises(ValueError):
        _ERROR_CALLS[case_id](tkeras.layers.HashedCrossing(num_bins=3))


def test_sparse_raises_off_tensorflow():
    with pytest.raises(ValueError, match="backend"):
        tkeras.layers.HashedCrossing(num_bins=3, output_mode="one_hot", sparse=True)


@pytest.mark.parametrize("key", sorted(FIXTURE["hashed_crossing_symbolic"]))
def test_symbolic_shapes_match_keras(key):
    mode, rank = key.rsplit("_", 1)
    shape = (1,) if rank == "1" else ()
    a = tkeras.Input(shape=shape, dtype="string")
    b = tkeras.Input(shape=shape, dtype="int64")
    y = tkeras.layers.HashedCrossing(num_bins=6, output_mode=mode)([a, b])
    expected = FIXTURE["hashed_crossing_symbolic"][key]
    assert list(y.shape) == expected["shape"] and y.dtype == expected["dtype"]


def test_in_a_functional_model():
    case = CASES["columns_one_hot"]
    a = tkeras.Input(shape=(1,), dtype="string", name="letters")
    b = tkeras.Input(shape=(1,), dtype="int64", name="numbers")
    model = tkeras.Model([a, b], tkeras.layers.HashedCrossing(**case["kwargs"])([a, b]))
    assert_output(model([as_input(spec) for spec in case["inputs"]]), case["output"])


def test_three_inputs_symbolically():
    # Keras's compute_output_shape refuses more than two inputs; tkeras crosses them.
    inputs = [tkeras.Input(shape=(1,), dtype=d) for d in ("string", "int64", "string")]
    y = tkeras.layers.HashedCrossing(num_bins=1000)(inputs)
    assert tuple(y.shape) == (None, 1) and y.dtype == "int64"
    case = CASES["three_mixed"]
    model = tkeras.Model(inputs, y)
    columns = [as_input(spec)[:, None] for spec in case["inputs"]]
    np.testing.assert_array_equal(model(columns).numpy().ravel(), case["output"]["values"])
