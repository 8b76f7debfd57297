"""`StringLookup`/`IntegerLookup` output dtypes and OOV hashing, and string `Input`s, against
real Keras 3.15.1 numbers.

The lookup layers need TensorFlow in Keras, which this environment lacks, so the expected
outputs, configs and a saved Functional model on `keras.Input(dtype="string")` were recorded
with TensorFlow by tests/fixtures/gen_text_layers.py (its docstring says how to rerun it). The
one check that runs Keras here (loading a tkeras-written file) needs that TensorFlow
environment and is skipped without it. Every comparison is exact except tf-idf and model floats.
"""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

import tkeras
from tkeras.core import dtype_policies

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
with open(os.path.join(FIXTURES, "text_layers.json"), encoding="utf-8") as _f:
    FIXTURE = json.load(_f)
MODEL_FILE = os.path.join(FIXTURES, "string_input_model.keras")
MODEL = FIXTURE["string_input_model"]
TF_PYTHON = os.environ.get("TKERAS_TF_PYTHON", "/tmp/tfvenv/bin/python")


def as_input(spec):
    if spec["dtype"] == "list":
        return spec["values"]
    if spec["dtype"] == "bytes":
        return np.array([v.encode() for v in spec["values"]], dtype=bytes)
    return np.array(spec["values"], dtype=spec["dtype"])


def json_config(config):
    config = json.loads(json.dumps(config))
    config.pop("name")
    return config


def assert_output(out, expected, atol=0.0):
    assert isinstance(out, torch.Tensor)
    assert str(out.dtype).replace("torch.", "") == expected["dtype"]
    assert list(out.shape) == expected["shape"]
    want = np.array(expected["values"]).reshape(expected["shape"])
    if atol:
        np.testing.assert_allclose(out.detach().numpy(), want, atol=atol, rtol=atol)
    else:
        np.testing.assert_array_equal(out.numpy(), want)


def build_lookup(record):
    kwargs = dict(record["kwargs"])
    return getattr(tkeras.layers, record["layer"])(**kwargs)


def tolerance(expected):
    # tf-idf: float32 products; TensorFlow's rounding order may differ in the last bit.
    return 1e-6 if expected["dtype"] == "float32" else 0.0


# ----------------------------------------------------------------------------- lookups


@pytest.mark.parametrize("case", FIXTURE["lookups"], ids=lambda c: c["id"])
def test_lookup_matches_keras(case):
    layer = build_lookup(case)
    out = layer(as_input(case["inputs"]))
    assert_output(out, case["output"], tolerance(case["output"]))
    assert layer.get_vocabulary() == case["vocabulary"]
    assert json_config(layer.get_config()) == json_config(case["config"])
    clone = type(layer).from_config(json.loads(json.dumps(layer.get_config())))
    assert_output(clone(as_input(case["inputs"])), case["output"], tolerance(case["output"]))
    # Symbolic dtype: what `call` returns (Keras declares floatx for one_hot/multi_hot/count
    # but returns int64, see test_lookup_output_dtypes_per_mode_match_keras).
    input_dtype = "int64" if case["layer"] == "IntegerLookup" else "string"
    assert layer(tkeras.Input(shape=(3,), dtype=input_dtype)).dtype == case["output"]["dtype"]


@pytest.mark.parametrize("case", [c for c in FIXTURE["lookups"] if c["layer"] == "IntegerLookup"],
                         ids=lambda c: c["id"])
def test_integer_lookup_torch_inputs_match_keras(case):
    inputs = torch.from_numpy(as_input(case["inputs"]))
    assert_output(build_lookup(case)(inputs), case["output"], tolerance(case["output"]))


def test_lookup_output_dtypes_per_mode_match_keras():
    dtypes, declared = {}, {}
    for case in FIXTURE["lookups"]:
        key = (case["layer"], case["kwargs"].get("output_mode", "int"))
        dtypes.setdefault(key, set()).add(case["output"]["dtype"])
        declared.setdefault(key, set()).add(case["spec_dtype"])
    for layer in ("StringLookup", "IntegerLookup"):
        for mode in ("int", "one_hot", "multi_hot", "count"):
            assert dtypes[(layer, mode)] == {"int64"}
            # Keras's compute_output_spec says float32 where call returns int64; tkeras's
            # symbolic dtype follows call (test_lookup_matches_keras).
            assert declared[(layer, mode)] == {"int64" if mode == "int" else "float32"}
        assert dtypes[(layer, "tf_idf")] == declared[(layer, "tf_idf")] == {"float32"}


@pytest.mark.parametrize("case", FIXTURE["lookup_adapt"], ids=lambda c: c["id"])
def test_adapted_lookup_matches_keras(case):
    cls = getattr(tkeras.layers, case["layer"])
    extra = dict(oov_method="farmhash") if case["layer"] == "IntegerLookup" else {}
    layer = cls(output_mode=case["mode"], num_oov_indices=2, **extra)
    layer.adapt(np.array(case["data"]))
    assert layer.get_vocabulary() == case["vocabulary"]
    query = case["query"] if case["mode"] != "one_hot" else [q[0] for q in case["query"]]
    assert_output(layer(np.array(query)), case["output"], tolerance(case["output"]))


_LOOKUP_ERRORS = {
    "integer_salt_floormod": ("IntegerLookup", dict(num_oov_indices=2, salt=3)),
    "integer_bad_oov_method": ("IntegerLookup", dict(oov_method="md5")),
    "string_bad_salt": ("StringLookup", dict(num_oov_indices=2, salt="x")),
    "string_salt_triple": ("StringLookup", dict(num_oov_indices=2, salt=[1, 2, 3])),
    "string_negative_oov": ("StringLookup", dict(num_oov_indices=-1)),
}


@pytest.mark.parametrize("case_id", sorted(FIXTURE["lookup_errors"]))
def test_lookup_errors_match_keras(case_id):
    name, kwargs = _LOOKUP_ERRORS[case_id]
    with pytest.raises({"ValueError": ValueError}[FIXTURE["lookup_errors"][case_id]]):
        getattr(tkeras.layers, name)(**kwargs)


# ----------------------------------------------------------------------------- string inputs


def test_string_input_matches_keras():
    for dtype in ("string", str):
        text = tkeras.Input(shape=(1,), dtype=dtype, name="text")
        assert text.dtype == "string" and text.shape == (None, 1)
        config = text._keras_history.operation.get_config()
        assert json.loads(json.dumps(config)) == MODEL["input_config"]
    with pytest.raises(ValueError, match="no torch dtype"):
        dtype_policies.torch_dtype("string")


def test_string_keras_tensors_stay_off_torch():
    text = tkeras.Input(shape=(2,), dtype="string")
    # A layer without its own output spec runs on NumPy arrays of "" symbolically.
    upper = tkeras.layers.Lambda(lambda x: np.char.upper(np.asarray(x, dtype=str)))(text)
    assert upper.dtype == "string" and upper.shape == (None, 2)
    hashed = tkeras.layers.Hashing(num_bins=5, output_mode="count")(text)
    assert hashed.dtype == "float32" and hashed.shape == (None, 5)
    ids = tkeras.layers.StringLookup(vocabulary=["a"], num_oov_indices=2)(upper)
    assert ids.dtype == "int64" and ids.shape == (None, 2)


@pytest.mark.parametrize("name", ["text_vectorization", "hashing", "string_lookup"])
def test_build_config_after_first_call_matches_keras(name):
    make = {"text_vectorization": lambda: tkeras.layers.TextVectorization(vocabulary=["a"]),
            "hashing": lambda: tkeras.layers.Hashing(num_bins=3),
            "string_lookup": lambda: tkeras.layers.StringLookup(vocabulary=["a"])}[name]
    eager = make()
    eager(np.array([["a b"], ["c"]]))
    assert eager.get_build_config() == FIXTURE["build_configs"][f"{name}_eager"]
    symbolic = make()
    symbolic(tkeras.Input(shape=(1,), dtype="string"))
    assert symbolic.get_build_config() == FIXTURE["build_configs"][f"{name}_symbolic"]


def _model_inputs():
    return {"text": np.array(MODEL["text"]), "tags": np.array(MODEL["tags"])}


def _check_model(model):
    # Float sums of embeddings: float32, reduction order may differ from TensorFlow's.
    assert_output(model(_model_inputs()), MODEL["output"], atol=1e-6)
    inputs = _model_inputs()
    assert_output(model.get_layer("vectorize")(inputs["text"]), MODEL["token_ids"])
    assert_output(model.get_layer("tag_lookup")(inputs["tags"]), MODEL["tag_ids"])


def test_keras_saved_string_model_loads_and_runs():
    model = tkeras.saving.load_model(MODEL_FILE)
    assert [x.dtype for x in model.inputs] == ["string", "string"]
    assert model.get_layer("vectorize").get_build_config() == {"input_shape": [None, 1]}
    _check_model(model)


def test_string_model_takes_positional_string_arrays():
    model = tkeras.saving.load_model(MODEL_FILE)
    inputs = _model_inputs()
    assert_output(model([inputs["text"], inputs["tags"]]), MODEL["output"], atol=1e-6)


def _config(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("config.json")), sorted(zf.namelist())


def _without_shared_ids(config):
    if isinstance(config, dict):
        return {k: _without_shared_ids(v) for k, v in config.items() if k != "shared_object_id"}
    if isinstance(config, list):
        return [_without_shared_ids(v) for v in config]
    return config


def test_string_model_resaves_with_keras_layout(tmp_path):
    path = str(tmp_path / "string_model.keras")
    tkeras.saving.load_model(MODEL_FILE).save(path)
    config, members = _config(path)
    keras_config, keras_members = _config(MODEL_FILE)
    assert members == keras_members
    keras_layers = {layer["name"]: layer for layer in keras_config["config"]["layers"]}
    for layer in config["config"]["layers"]:
        if layer["class_name"] in ("InputLayer", "TextVectorization", "StringLookup",
                                   "Embedding", "Dense", "Concatenate"):
            assert _without_shared_ids(layer) == _without_shared_ids(keras_layers[layer["name"]])
    _check_model(tkeras.saving.load_model(path))


def _tkeras_string_model():
    text = tkeras.Input(shape=(1,), dtype="string", name="text")
    tags = tkeras.Input(shape=(2,), dtype="string", name="tags")
    vectorize = tkeras.layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    vectorize.adapt(["the cat sat", "the dog ran far away", "a cat", "é 中文 😀"])
    lookup = tkeras.layers.StringLookup(vocabulary=["red", "blue"], num_oov_indices=3,
                                        salt=[5, 6])
    x = tkeras.layers.GlobalAveragePooling1D()(tkeras.layers.Embedding(20, 3)(vectorize(text)))
    t = tkeras.layers.GlobalAveragePooling1D()(tkeras.layers.Embedding(5, 2)(lookup(tags)))
    out = tkeras.layers.Dense(2)(tkeras.layers.Concatenate()([x, t]))
    return tkeras.Model([text, tags], out)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(TF_PYTHON),
                    reason=f"needs Keras 3.15.1 on TensorFlow at {TF_PYTHON}")
def test_tkeras_saved_string_model_loads_in_keras(tmp_path):
    model = _tkeras_string_model()
    text = [["the cat ran"], ["zebra é"], [""]]
    tags = [["red", "green"], ["mauve", "blue"], ["teal", "ochre"]]
    expected = model({"text": np.array(text), "tags": np.array(tags)})
    path = str(tmp_path / "tkeras_string_model.keras")
    model.save(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS")}
    result = subprocess.run(
        [TF_PYTHON, os.path.join(FIXTURES, "gen_text_layers.py"), path],
        input=json.dumps([text, tags]), capture_output=True, text=True, timeout=300,
        env={**env, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    keras_out = json.loads(result.stdout.strip().splitlines()[-1])
    assert keras_out["shape"] == list(expected.shape)
    np.testing.assert_allclose(np.array(keras_out["values"]), expected.detach().numpy(),
                               atol=1e-6, rtol=1e-6)
