"""`keras.utils.FeatureSpace` against real Keras 3.15.1.

Keras runs FeatureSpace through TensorFlow (and crosses with `HashedCrossing`, a TensorFlow op),
so Keras cannot run it here: the outputs, configs, adapted states, symbolic shapes, error types
and a `.keras` file saved by Keras were recorded once with TensorFlow by
tests/fixtures/gen_hashed_crossing_feature_space.py (its docstring says how to rerun it). The
same adapt data (90 rows) and queries (7 rows, and their first row as scalars) are replayed here.
One-hot, hashed and integer outputs are compared exactly; normalized floats within 1e-6 (Keras
merges batch statistics in float32 on TensorFlow, tkeras in float32 on torch: the last bits of
mean and variance can differ).
"""

import json
import os
import zipfile

import numpy as np
import pytest
import torch

import tkeras
from tkeras.utils.feature_space import Cross
from tkeras.utils.feature_space import Feature
from tkeras.utils.feature_space import FeatureSpace

FS = FeatureSpace
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
with open(os.path.join(FIXTURES, "hashed_crossing_feature_space.json"), encoding="utf-8") as _f:
    _ALL = json.load(_f)
FIXTURE = _ALL["feature_space"]
ERRORS = _ALL["feature_space_errors"]
SAVED_OUTPUT = _ALL["saved_feature_space"]["output"]
CASES = {c["id"]: c for c in FIXTURE["cases"]}
SAVED = os.path.join(FIXTURES, "feature_space.keras")
ATOL = 1e-6


def columns(spec):
    return {k: np.array(v["values"], dtype=v["dtype"]) for k, v in spec.items()}


TRAIN = columns(FIXTURE["train"])
QUERY = columns(FIXTURE["query"])


def subset(data, names):
    return {k: v for k, v in data.items() if k in names}


def build(spec):
    """The FeatureSpace the generator built from the same spec, in tkeras."""
    features = {}
    for name, value in spec["features"].items():
        if isinstance(value, str):
            features[name] = value
        elif value[0] == "custom_lookup":
            features[name] = FS.feature(
                dtype="string", output_mode="one_hot",
                preprocessor=tkeras.layers.StringLookup(num_oov_indices=2, name=f"{name}_l"))
        elif value[0] == "custom_tf_idf":
            features[name] = FS.feature(
                dtype="string", output_mode="float",
                preprocessor=tkeras.layers.TextVectorization(output_mode="tf_idf", split=None,
                                                             name=f"{name}_tv"))
        elif value[0] == "custom_normalization":
            features[name] = FS.feature(
                dtype="float32", output_mode="float",
                preprocessor=tkeras.layers.Normalization(mean=2.0, variance=4.0,
                                                         name=f"{name}_n"))
        else:
            features[name] = getattr(FS, value[0])(name=name, **value[1])
    crosses = None
    if "crosses" in spec:
        crosses = [FS.cross(**c[1]) if c[0] == "cross" else tuple(c) for c in spec["crosses"]]
    kwargs = {k: spec[k] for k in ("crossing_dim", "hashing_dim", "num_discretization_bins")
              if k in spec}
    return FS(features=features, crosses=crosses, output_mode=spec["output_mode"], **kwargs)


def batches(data, size=16):
    """The dict batches of `tf.data.Dataset.from_tensor_slices(data).batch(size)`."""
    n = len(next(iter(data.values())))
    return [{k: v[i:i + size] for k, v in data.items()} for i in range(0, n, size)]


def adapted(case, dataset=None):
    spec = case["spec"]
    fs = build(spec)
    data = subset(TRAIN, spec["features"])
    if dataset is not None:
        fs.adapt(dataset(data))
    else:
        fs.adapt(data if case["adapt"] == "dict" else batches(data))
    return fs


def assert_output(out, expected, atol=ATOL):
    if "values" not in expected:
        assert isinstance(out, dict) and sorted(out) == sorted(expected)
        for key in expected:
            assert_output(out[key], expected[key], atol)
        return
    assert isinstance(out, torch.Tensor)
    assert list(out.shape) == expected["shape"]
    assert str(out.dtype).replace("torch.", "") == expected["dtype"]
    want = np.array(expected["values"], dtype=expected["dtype"])
    if out.dtype.is_floating_point:
        np.testing.assert_allclose(out.numpy(), want, atol=atol, rtol=0)
    else:
        np.testing.assert_array_equal(out.numpy(), want)


def plain(config):
    """A config as JSON reads it back, without Keras's `shared_object_id` markers."""
    config = json.loads(json.dumps(config))

    def strip(node):
        if isinstance(node, dict):
            node.pop("shared_object_id", None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(config)
    return config


def queries(case):
    q = subset(QUERY, case["spec"]["features"])
    return q, {k: v[0] for k, v in q.items()}


# ----------------------------------------------------------------------------- parity


@pytest.fixture(scope="module")
def spaces():
    """Each case's FeatureSpace, adapted once."""
    return {case_id: adapted(case) for case_id, case in CASES.items()}


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_outputs_match_keras(spaces, case_id):
    case = CASES[case_id]
    fs = spaces[case_id]
    batch, scalar = queries(case)
    assert_output(fs(batch), case["output"])
    assert_output(fs(scalar), case["scalar_output"])


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_adapted_state_matches_keras(spaces, case_id):
    fs = spaces[case_id]
    for name, expected in CASES[case_id]["preprocessor_state"].items():
        layer = fs.preprocessors[name]
        if hasattr(layer, "get_vocabulary"):
            assert layer.get_vocabulary() == expected
        elif isinstance(layer, tkeras.layers.Normalization):
            np.testing.assert_allclose(layer.mean.detach().numpy().ravel(), expected[0],
                                       rtol=1e-6)
            np.testing.assert_allclose(layer.variance.detach().numpy().ravel(), expected[1],
                                       rtol=1e-6)
        else:
            np.testing.assert_allclose(layer.bin_boundaries, expected, rtol=1e-6)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_config_matches_keras(spaces, case_id):
    # Module/class names, every feature's preprocessor config and the build config.
    assert plain(tkeras.saving.serialize_keras_object(spaces[case_id])) == plain(
        CASES[case_id]["config"])


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_inputs_and_encoded_features_match_keras(spaces, case_id):
    case = CASES[case_id]
    fs = spaces[case_id]
    inputs = fs.get_inputs()
    assert {k: {"shape": list(v.shape), "dtype": v.dtype} for k, v in inputs.items()} == (
        case["inputs"])
    encoded = fs.get_encoded_features()
    if isinstance(encoded, dict):
        encoded = {k: {"shape": list(v.shape), "dtype": v.dtype} for k, v in encoded.items()}
    else:
        encoded = {"shape": list(encoded.shape), "dtype": encoded.dtype}
    assert encoded == case["encoded"]


def test_from_config_round_trip():
    case = CASES["all_types_concat_dict"]
    fs = adapted(case)
    clone = tkeras.saving.deserialize_keras_object(
        json.loads(json.dumps(tkeras.saving.serialize_keras_object(fs))),
        custom_objects={"FeatureSpace": FeatureSpace})
    assert isinstance(clone.features["color"], Feature)
    assert [(c.feature_names, c.crossing_dim) for c in clone.crosses] == [
        (("color", "city"), 10), (("rooms", "zip"), 5)]
    # Configs hold no adapted vocabularies/statistics: the clone is adapted again.
    clone.adapt(subset(TRAIN, case["spec"]["features"]))
    assert_output(clone(queries(case)[0]), case["output"])


# ----------------------------------------------------------------------------- adapt data


class _Batches(tkeras.utils.PyDataset):
    def __init__(self, data):
        super().__init__()
        self.items = batches(data)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def _data_loader(data):
    rows = [{k: v[i] if v.dtype.kind == "U" else torch.as_tensor(v[i]) for k, v in data.items()}
            for i in range(len(next(iter(data.values()))))]
    return torch.utils.data.DataLoader(rows, batch_size=16)


@pytest.mark.parametrize("kind", ["generator", "pydataset", "dataloader", "labelled"])
@pytest.mark.parametrize("case_id", ["all_types_concat_batches", "dict_int_batches"])
def test_adapt_on_iterables_of_dict_batches(case_id, kind):
    """The same 16-row batches from a generator, a PyDataset, a torch DataLoader (strings
    collated into lists, numbers into tensors) or `(x, y)` pairs adapt as Keras's batched
    tf.data pipeline."""
    make = {"generator": lambda d: (b for b in batches(d)), "pydataset": _Batches,
            "dataloader": _data_loader,
            "labelled": lambda d: [(b, np.zeros(len(b["color"]))) for b in batches(d)]}[kind]
    case = CASES[case_id]
    fs = adapted(case, make)
    assert_output(fs(queries(case)[0]), case["output"])


def test_adapt_on_unbatched_rows():
    """A dataset of single rows (scalars) is batched by 32 before adapting, as Keras does with
    an unbatched tf.data pipeline: the same quantile summaries as the dict of arrays."""
    case = CASES["all_types_concat_dict"]
    data = subset(TRAIN, case["spec"]["features"])
    rows = [{k: v[i] for k, v in data.items()} for i in range(len(data["color"]))]
    fs = build(case["spec"])
    fs.adapt(rows)
    assert_output(fs(queries(case)[0]), case["output"])


def test_python_lists_and_tensors_as_call_inputs(spaces):
    case = CASES["dict_int_dict"]
    batch = queries(case)[0]
    mixed = {k: (v.tolist() if v.dtype.kind == "U" else torch.from_numpy(v))
             for k, v in batch.items()}
    assert_output(spaces["dict_int_dict"](mixed), case["output"])


# ----------------------------------------------------------------------------- saving


def test_keras_saved_file_loads_in_tkeras(tmp_path):
    fs = tkeras.saving.load_model(SAVED, custom_objects={"FeatureSpace": FeatureSpace})
    assert isinstance(fs, FeatureSpace)
    spec = CASES["all_types_concat_dict"]["spec"]
    assert_output(fs(subset(QUERY, spec["features"])), SAVED_OUTPUT)


def test_keras_saved_file_loads_without_custom_objects():
    assert isinstance(tkeras.saving.load_model(SAVED), FeatureSpace)


def test_tkeras_save_and_load_round_trip(tmp_path):
    case = CASES["all_types_concat_dict"]
    fs = adapted(case)
    path = str(tmp_path / "fs.keras")
    fs.save(path)
    with zipfile.ZipFile(path) as zf, zipfile.ZipFile(SAVED) as keras_zf:
        # The same members as Keras's file (preprocessor states under `preprocessors/...`).
        assert sorted(zf.namelist()) == sorted(keras_zf.namelist())
    reloaded = tkeras.saving.load_model(path, custom_objects={"FeatureSpace": FeatureSpace})
    assert_output(reloaded(queries(case)[0]), case["output"])
    assert plain(tkeras.saving.serialize_keras_object(reloaded))["config"] == plain(
        tkeras.saving.serialize_keras_object(fs))["config"]


def test_functional_model_on_encoded_features(spaces):
    fs = spaces["defaults_concat_dict"]
    case = CASES["defaults_concat_dict"]
    inputs = fs.get_inputs()
    dense = tkeras.layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")
    model = tkeras.Model(inputs, dense(fs.get_encoded_features()))
    batch = {k: v[:, None] for k, v in queries(case)[0].items()}
    expected = np.array(case["output"]["values"], dtype="float32").sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model(batch).detach().numpy(), expected, atol=1e-5)


# ----------------------------------------------------------------------------- errors


def _errors():
    data = subset(TRAIN, ["color", "rooms", "price"])
    space = FS(features={"color": "string_categorical"})
    space.adapt(subset(data, ["color"]))
    return {
        "empty_features": lambda: FS(features={}),
        "bad_output_mode": lambda: FS(features={"color": "string_categorical"},
                                      output_mode="list"),
        "bad_type": lambda: FS(features={"color": "string_vectorized"}),
        "unknown_cross": lambda: FS(features={"color": "string_categorical"},
                                    crosses=[("color", "rooms")]),
        "no_crossing_dim": lambda: FS(features={"color": "string_categorical",
                                                "rooms": "integer_categorical"},
                                      crosses=[("color", "rooms")], crossing_dim=None),
        "bad_feature_mode": lambda: FS.string_categorical(output_mode="multi_hot"),
        "bad_cross_mode": lambda: FS.cross(("a", "b"), 4, output_mode="count"),
        "call_before_adapt": lambda: FS(features={"color": "string_categorical"})(data),
        "inputs_before_adapt": lambda: FS(features={"color": "string_categorical"}).get_inputs(),
        "call_not_dict": lambda: space(data["color"]),
        "adapt_list": lambda: FS(features={"color": "string_categorical"}).adapt(
            [data["color"]]),
        "concat_int": lambda: FS(features={"color": FS.string_categorical(output_mode="int")},
                                 output_mode="concat").adapt(subset(data, ["color"])),
        "discretized_boundaries_adapt": lambda: FS(features={"price": FS.float_discretized(
            num_bins=None, bin_boundaries=[0.0, 2.0])}).adapt(subset(data, ["price"])),
        "one_hot_float": lambda: FS(features={"price": FS.feature(
            dtype="float32", preprocessor=tkeras.layers.Rescaling(2.0),
            output_mode="one_hot")}).get_encoded_features(),
    }


@pytest.mark.parametrize("case_id", sorted(ERRORS))
def test_errors_match_keras(case_id):
    assert ERRORS[case_id] == "ValueError"
    with pytest.raises(ValueError):
        _errors()[case_id]()


def test_cross_and_feature_configs():
    cross = Cross(["a", "b"], 8)
    assert cross.name == "a_X_b"
    assert Cross.from_config(cross.get_config()).get_config() == {
        "feature_names": ("a", "b"), "crossing_dim": 8, "output_mode": "one_hot"}
    feature = FS.integer_hashed(5, name="n")
    clone = Feature.from_config(json.loads(json.dumps(
        tkeras.saving.serialize_keras_object(feature)))["config"])
    assert isinstance(clone.preprocessor, tkeras.layers.Hashing)
    assert clone.preprocessor.num_bins == 5 and clone.dtype == "int32"
