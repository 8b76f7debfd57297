"""`Hashing` and `TextVectorization` against real Keras 3.15.1 numbers.

Both layers need TensorFlow in Keras, so Keras cannot run them here (not even in a subprocess):
the expected outputs, vocabularies, configs, raw hash values and a saved `.keras` file were
recorded once with TensorFlow by tests/fixtures/gen_text_layers.py (its docstring says how to
rerun it). Every comparison is exact except tf-idf floats (float32 rounding).
"""

import json
import os
import zipfile

import h5py
import numpy as np
import pytest
import torch

import tkeras
from tkeras.core.registry import UnsafeConfigError
from tkeras.layers.preprocessing.string_hashing import fingerprint64
from tkeras.layers.preprocessing.string_hashing import siphash24

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
with open(os.path.join(FIXTURES, "text_layers.json"), encoding="utf-8") as _f:
    FIXTURE = json.load(_f)
SAVED = os.path.join(FIXTURES, "text_vectorization.keras")
QUERIES = next(c for c in FIXTURE["text_vectorization"] if c["id"] == "default_corpus")["inputs"]


def as_input(spec):
    if spec["dtype"] == "list":
        return spec["values"]
    if spec["dtype"] == "bytes":
        return np.array([v.encode() for v in spec["values"]], dtype=bytes)
    return np.array(spec["values"], dtype=spec["dtype"])


def json_config(config):
    """A config as it reads back from JSON, without the instance name."""
    config = json.loads(json.dumps(config))
    config.pop("name")
    return config


def assert_output(out, expected, atol=0.0):
    assert isinstance(out, torch.Tensor)
    assert list(out.shape) == expected["shape"]
    assert str(out.dtype).replace("torch.", "") == expected["dtype"]
    want = np.array(expected["values"]).reshape(expected["shape"])
    if atol:
        np.testing.assert_allclose(out.numpy(), want, atol=atol, rtol=atol)
    else:
        np.testing.assert_array_equal(out.numpy(), want)


# ----------------------------------------------------------------------------- raw hashes


def _test_bytes(n):  # the same bytes as gen_text_layers.test_bytes
    return bytes((i * 131 + n * 7 + 11) % 256 for i in range(n))


def test_fingerprint64_equals_tensorflow_for_every_length_to_300():
    strings = [_test_bytes(n) for n in range(301)]
    assert [int(h) for h in fingerprint64(strings)] == [
        int(v) for v in FIXTURE["raw_hashes"]["fingerprint64"]]


@pytest.mark.parametrize("key", [(0, 0), (133, 137), (2**63 - 1, 12345)])
def test_siphash_buckets_equal_tensorflow(key):
    strings = [_test_bytes(n) for n in range(301)]
    buckets = [int(h) % (2**63 - 1) for h in siphash24(strings, *key)]
    assert buckets == [int(v) for v in FIXTURE["raw_hashes"][f"siphash_{key[0]}_{key[1]}"]]


def test_siphash_published_vectors():
    # SipHash-2-4 reference vectors (Aumasson & Bernstein): key 00..0f, message 00..(n-1).
    key0, key1 = 0x0706050403020100, 0x0F0E0D0C0B0A0908
    expected = {0: 0x726FDB47DD0E0E31, 8: 0x93F5F5799A932462, 15: 0xA129CA6149BE45E5,
                63: 0x958A324CEB064572}
    hashes = siphash24([bytes(range(n)) for n in expected], key0, key1)
    assert [int(h) for h in hashes] == list(expected.values())


def test_fingerprint64_of_empty_string_is_farmhash_k2():
    assert int(fingerprint64([b""])[0]) == 0x9AE16A3B2F90404F


# ----------------------------------------------------------------------------- Hashing


@pytest.mark.parametrize("case", FIXTURE["hashing"], ids=lambda c: c["id"])
def test_hashing_matches_keras(case):
    layer = tkeras.layers.Hashing(**case["kwargs"])
    assert_output(layer(as_input(case["inputs"])), case["output"])
    assert json_config(layer.get_config()) == json_config(case["config"])
    clone = tkeras.layers.Hashing.from_config(json.loads(json.dumps(layer.get_config())))
    assert_output(clone(as_input(case["inputs"])), case["output"])


@pytest.mark.parametrize("case_id", ["ints", "ints_mask", "count_ints", "floats", "int32"])
def test_hashing_torch_tensor_inputs(case_id):
    case = next(c for c in FIXTURE["hashing"] if c["id"] == case_id)
    layer = tkeras.layers.Hashing(**case["kwargs"])
    assert_output(layer(torch.from_numpy(as_input(case["inputs"]))), case["output"])


def test_hashing_in_a_functional_model():
    inputs = tkeras.Input(shape=(3,), dtype="int64")
    outputs = tkeras.layers.Hashing(num_bins=7, output_mode="count")(inputs)
    assert outputs.shape == (None, 7) and outputs.dtype == "float32"
    model = tkeras.Model(inputs, outputs)
    x = torch.tensor([[1, 2, 3], [4, 4, 4]])
    expected = tkeras.layers.Hashing(num_bins=7, output_mode="count")(x)
    torch.testing.assert_close(model(x), expected)
    assert expected.sum(dim=1).tolist() == [3.0, 3.0]


@pytest.mark.parametrize("case_id", sorted(FIXTURE["hashing_errors"]))
def test_hashing_errors_match_keras(case_id):
    kwargs = {
        "num_bins_zero": dict(num_bins=0), "num_bins_none": dict(num_bins=None),
        "bad_mode": dict(num_bins=3, output_mode="tf_idf"),
        "sparse_int": dict(num_bins=3, sparse=True), "bad_salt": dict(num_bins=3, salt="abc"),
        "salt_triple": dict(num_bins=3, salt=[1, 2, 3]),
        "float_dtype_int_mode": dict(num_bins=3, dtype="float32"),
    }[case_id]
    error = {"ValueError": ValueError, "TypeError": TypeError}[FIXTURE["hashing_errors"][case_id]]
    with pytest.raises(error):
        tkeras.layers.Hashing(**kwargs)


def test_hashing_sparse_raises_off_tensorflow():
    with pytest.raises(ValueError, match="backend"):
        tkeras.layers.Hashing(num_bins=3, output_mode="multi_hot", sparse=True)


# ----------------------------------------------------------------------------- TextVectorization


def build_text_vectorization(case):
    kwargs = dict(case["kwargs"])
    if isinstance(kwargs.get("ngrams"), list):
        kwargs["ngrams"] = tuple(kwargs["ngrams"])
    layer = tkeras.layers.TextVectorization(**kwargs)
    adapt = case["adapt"]
    if adapt is None:
        return layer
    if adapt["kind"] == "batches":
        layer.adapt(iter([np.array(batch) for batch in adapt["values"]]))
    elif adapt["kind"] == "bytes":
        layer.adapt(np.array([s.encode() for s in adapt["values"]], dtype=bytes))
    else:
        layer.adapt(adapt["values"])
    return layer


@pytest.mark.parametrize("case", FIXTURE["text_vectorization"], ids=lambda c: c["id"])
def test_text_vectorization_matches_keras(case):
    layer = build_text_vectorization(case)
    assert layer.get_vocabulary() == case["vocabulary"]
    assert layer.get_vocabulary(include_special_tokens=False) == case["vocabulary_no_specials"]
    assert layer.vocabulary_size() == case["vocabulary_size"]
    assert json_config(layer.get_config()) == json_config(case["config"])
    tf_idf = case["kwargs"].get("output_mode") in ("tf_idf", "tf-idf")
    if tf_idf:
        np.testing.assert_allclose(layer._lookup_layer.idf_weights.numpy(), case["idf_weights"],
                                   rtol=1e-6)
    # float32 tf-idf products: Keras multiplies in float32 on TensorFlow, rounding may differ.
    assert_output(layer(case["inputs"]), case["output"], atol=1e-6 if tf_idf else 0.0)


def test_text_vectorization_from_config_round_trip():
    case = next(c for c in FIXTURE["text_vectorization"] if c["id"] == "ngrams_tuple")
    layer = build_text_vectorization(case)
    clone = tkeras.layers.TextVectorization.from_config(json.loads(json.dumps(
        layer.get_config())))
    assert clone._ngrams == (1, 3)
    clone.set_vocabulary(layer.get_vocabulary())
    assert_output(clone(case["inputs"]), case["output"])


def test_text_vectorization_set_vocabulary_matches_keras():
    expected = FIXTURE["text_vectorization_set_vocabulary"]
    layer = tkeras.layers.TextVectorization(output_mode="tf_idf")
    layer.set_vocabulary(["b", "a", "c"], idf_weights=[1.0, 2.0, 3.0])
    assert layer.get_vocabulary() == expected["tf_idf"]["vocabulary"]
    assert_output(layer(["a b b z", "c"]), expected["tf_idf"]["output"], atol=1e-6)

    corpus = next(c for c in FIXTURE["text_vectorization"] if c["id"] == "default_corpus")
    layer = tkeras.layers.TextVectorization(output_sequence_length=5)
    layer.adapt(corpus["adapt"]["values"])
    layer.set_vocabulary(["", "[UNK]", "z", "y"])
    assert layer.get_vocabulary() == expected["replace"]["vocabulary"]
    assert_output(layer(["y z x", "z"]), expected["replace"]["output"])
    assert json_config(layer.get_config()) == json_config(expected["replace"]["config"])


def test_text_vectorization_adapt_steps_and_generators():
    corpus = next(c for c in FIXTURE["text_vectorization"] if c["id"] == "adapt_batches")
    batches = corpus["adapt"]["values"]
    layer = tkeras.layers.TextVectorization(max_tokens=20)
    layer.adapt((np.array(b) for b in batches + [["never seen words"]]), steps=len(batches))
    assert layer.get_vocabulary() == corpus["vocabulary"]


_TEXT_ERRORS = {
    "bad_standardize": dict(standardize="upper"), "bad_split": dict(split="comma"),
    "bad_mode": dict(output_mode="ints"), "bad_ngrams": dict(ngrams=[1, 2]),
    "sequence_length_non_int": dict(output_sequence_length=2.5),
    "sequence_length_multi_hot": dict(output_mode="multi_hot", output_sequence_length=3),
    "ragged_multi_hot": dict(output_mode="multi_hot", ragged=True),
    "tf_idf_vocab_without_idf": dict(output_mode="tf_idf", vocabulary=["a"]),
    "pad_without_max_tokens": dict(output_mode="count", pad_to_max_tokens=True),
    "max_tokens_one": dict(max_tokens=1), "repeated_vocab": dict(vocabulary=["a", "a"]),
    "vocab_too_big": dict(max_tokens=3, vocabulary=["a", "b"]),
}


@pytest.mark.parametrize("case_id", sorted(FIXTURE["text_vectorization_errors"]))
def test_text_vectorization_errors_match_keras(case_id):
    error = {"ValueError": ValueError, "RuntimeError": RuntimeError}[
        FIXTURE["text_vectorization_errors"][case_id]]
    with pytest.raises(error):
        if case_id in _TEXT_ERRORS:
            tkeras.layers.TextVectorization(**_TEXT_ERRORS[case_id])
        elif case_id == "split_rank_2":
            tkeras.layers.TextVectorization(vocabulary=["a"])([["a", "b"]])
        elif case_id == "multi_hot_no_vocab":
            tkeras.layers.TextVectorization(output_mode="multi_hot")(["a"])
        else:
            assert case_id == "adapt_static_vocab"
            tkeras.layers.TextVectorization(vocabulary=["a"]).adapt(["a b"])


def test_text_vectorization_sparse_and_ragged_raise_off_tensorflow():
    for kwargs in (dict(output_mode="multi_hot", sparse=True), dict(ragged=True)):
        with pytest.raises(ValueError, match="TensorFlow backend"):
            tkeras.layers.TextVectorization(**kwargs)


# ----------------------------------------------------------------------------- callables


@tkeras.saving.register_keras_serializable(package="tkeras_text_test")
def strip_digits(x):
    assert isinstance(x, np.ndarray) and x.dtype.kind == "U"  # as Keras off TensorFlow
    return np.char.translate(x, str.maketrans("", "", "0123456789"))


@tkeras.saving.register_keras_serializable(package="tkeras_text_test")
def split_commas(x):
    assert isinstance(x, np.ndarray) and x.ndim == 1
    return [s.split(",") for s in x]


def test_registered_callables_serialize_as_keras_and_run():
    layer = tkeras.layers.TextVectorization(standardize=strip_digits, split=split_commas,
                                            vocabulary=["a", "b"], name="tv_callables")
    config = tkeras.saving.serialize_keras_object(layer)
    assert json.loads(json.dumps(config)) == FIXTURE["callable_config"]
    clone = tkeras.saving.deserialize_keras_object(config)
    assert clone._standardize is strip_digits and clone._split is split_commas
    assert clone([["a1,b2,c"], ["b"]]).tolist() == [[2, 3, 1], [3, 0, 0]]


def _callable_config(**overrides):
    config = json.loads(json.dumps(FIXTURE["callable_config"]))
    config["config"].update(overrides)
    return config


@pytest.mark.parametrize("standardize", [
    {"module": "os", "class_name": "function", "config": "system",
     "registered_name": "function"},
    {"module": "builtins", "class_name": "function", "config": "tkeras_text_test>missing",
     "registered_name": "function"},
    {"module": "builtins", "class_name": "function", "config": "eval",
     "registered_name": "function"},
    {"module": "subprocess", "class_name": "Popen", "config": {},
     "registered_name": "subprocess>Popen"},
    "os.system",
])
def test_unregistered_callables_in_a_config_are_refused(standardize):
    with pytest.raises(ValueError):
        tkeras.saving.deserialize_keras_object(_callable_config(standardize=standardize))


def test_serialized_lambda_in_a_config_is_refused():
    lambda_config = {"module": "builtins", "class_name": "__lambda__",
                     "config": {"code": "AAAA", "defaults": None, "closure": None},
                     "registered_name": None}
    with pytest.raises(UnsafeConfigError):
        tkeras.saving.deserialize_keras_object(_callable_config(split=lambda_config))


# ----------------------------------------------------------------------------- saving


def _zip_listing(path):
    with zipfile.ZipFile(path) as zf:
        members = sorted(zf.namelist())
        assets = {n: zf.read(n) for n in members if n.startswith("assets/")}
        with zf.open("model.weights.h5") as f, h5py.File(f) as h5:
            datasets = []
            h5.visititems(lambda name, obj: datasets.append(name)
                          if isinstance(obj, h5py.Dataset) else None)
            idf = {name: h5[name][()] for name in datasets}
    return members, sorted(datasets), assets, idf


def _check_outputs(model):
    for layer in model.layers:
        expected = FIXTURE["saved_model"]["outputs"][layer.name]
        assert_output(layer(QUERIES), expected,
                      atol=1e-6 if expected["dtype"] == "float32" else 0.0)


def test_keras_saved_text_vectorization_loads():
    model = tkeras.saving.load_model(SAVED)
    assert [layer.name for layer in model.layers] == ["tv_int", "tv_tf_idf", "tv_fixed"]
    _check_outputs(model)


def test_saved_files_have_keras_layout_and_reload(tmp_path):
    model = tkeras.saving.load_model(SAVED)
    path = tmp_path / "text.keras"
    model.save(path)
    members, datasets, assets, idf = _zip_listing(path)
    keras_members, keras_datasets, keras_assets, keras_idf = _zip_listing(SAVED)
    assert members == keras_members == FIXTURE["saved_model"]["members"]
    assert datasets == keras_datasets == FIXTURE["saved_model"]["datasets"]
    assert assets == keras_assets  # vocabulary.txt byte for byte
    for name in keras_idf:
        np.testing.assert_array_equal(idf[name], keras_idf[name])
    _check_outputs(tkeras.saving.load_model(path))
