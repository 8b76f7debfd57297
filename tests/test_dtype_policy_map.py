"""`DTypePolicyMap` vs Keras (one subprocess): `dtype_policies.get`/`deserialize` of its config,
its serialized config, path lookups (exact, regex, default), and layers constructed with
`dtype=<map>` (their path, compute/variable dtypes, weight and output dtypes, config)."""

import json

import numpy as np
import pytest

import tkeras
from keras_oracle import requires_keras, run_keras
from tkeras import dtype_policies

pytestmark = requires_keras

# The same program under both libraries (`keras` is real Keras or tkeras).
MAPS = """
def make_maps(keras):
    D = keras.dtype_policies
    maps = {}
    m = D.DTypePolicyMap(default_policy="float32")
    m["dense_a"] = "bfloat16"
    m["encoder/.*"] = D.DTypePolicy("float16")
    m["head"] = "int8_from_float32"
    maps["str_default"] = m
    m = D.DTypePolicyMap(default_policy=D.DTypePolicy("mixed_bfloat16"),
                         policy_map={"a/b": D.DTypePolicy("float64")})
    maps["policy_default"] = m
    m = D.DTypePolicyMap()
    m["x"] = "bfloat16"
    m["q"] = "int8_from_mixed_bfloat16"
    maps["no_default"] = m
    return maps

PATHS = ["dense_a", "encoder/attn/query", "encoder", "head", "a/b", "x", "q", "other"]
"""

LAYERS = """
def layer_report(keras, x):
    std = keras.backend.standardize_dtype
    D = keras.dtype_policies
    pm = D.DTypePolicyMap(default_policy="float32")
    pm["dense_a"] = "bfloat16"
    pm["outer/inner"] = "float16"
    pm["block_.*"] = "mixed_bfloat16"
    report = {}

    def record(layer, y=None):
        report[layer.name] = {
            "path": layer.path, "compute": layer.compute_dtype,
            "variable": layer.variable_dtype,
            "weights": [std(w.dtype) for w in layer.weights],
            "out": None if y is None else std(y.dtype),
        }

    a = keras.layers.Dense(2, name="dense_a", dtype=pm)
    report["config_dtype"] = a.get_config()["dtype"]
    report["before_build"] = [a.path, a.compute_dtype]
    a.build((None, 3))
    record(a, a(x))
    b = keras.layers.Dense(2, name="dense_b", dtype=pm)
    record(b, b(x))
    with keras.name_scope("outer"):
        inner = keras.layers.Dense(2, name="inner", dtype=pm)
        inner.build((None, 3))
    record(inner, inner(x))
    b.dtype_policy = "mixed_bfloat16"  # built: replaces the map's entry for b's path
    record(b, b(x))
    c = keras.layers.Dense(2, name="dense_c", dtype=pm)
    c.dtype_policy = "float16"  # no path yet: the map is replaced by the policy
    report["unbuilt_setter"] = [type(c.dtype_policy).__name__, c.dtype_policy.name]
    report["map_keys"] = sorted(pm)
    inp = keras.Input((3,), name="inp")
    h = keras.layers.Dense(4, name="block_1", dtype=pm)(inp)
    h = keras.layers.Dense(4, name="block_2", dtype=pm)(h)
    out = keras.layers.Dense(2, name="head", dtype=pm)(h)
    model = keras.Model(inp, out)
    y = model(x)
    for name in ("block_1", "block_2", "head"):
        record(model.get_layer(name))
    report["model_out"] = std(y.dtype)
    return report
"""

KERAS_CODE = """
ns = {}
exec(MAPS + LAYERS, ns)
maps = ns["make_maps"](keras)
configs = {name: keras.dtype_policies.serialize(m) for name, m in maps.items()}
outputs["configs"] = json.dumps(configs, sort_keys=True)
lookups = {}
for name, config in configs.items():
    m = keras.dtype_policies.get(config)
    lookups[name] = {"type": type(m).__name__, "name": m.name,
                     "paths": {p: m[p].name for p in ns["PATHS"]}}
outputs["lookups"] = lookups
outputs["layers"] = ns["layer_report"](keras, keras.ops.ones((1, 3)))
"""


@pytest.fixture(scope="module")
def oracle():
    result = run_keras(f"MAPS = {MAPS!r}\nLAYERS = {LAYERS!r}\n" + KERAS_CODE)
    result["configs"] = json.loads(result["configs"])
    return result


def _ns():
    ns = {}
    exec(MAPS + LAYERS, ns)
    return ns


def test_serialized_configs_match_keras(oracle):
    maps = _ns()["make_maps"](tkeras)
    ours = json.loads(json.dumps({name: dtype_policies.serialize(m) for name, m in maps.items()},
                                 sort_keys=True))
    assert ours == oracle["configs"]


@pytest.mark.parametrize("via", ["get", "deserialize"])
def test_get_and_deserialize_map_configs(oracle, via):
    """`dtype_policies.get({"class_name": "DTypePolicyMap", ...})` (Keras's config) gives the
    map: same default, same lookups over exact, regex and unmatched paths."""
    paths = _ns()["PATHS"]
    for name, config in oracle["configs"].items():
        m = getattr(dtype_policies, via)(config)
        ref = oracle["lookups"][name]
        assert type(m).__name__ == ref["type"] == "DTypePolicyMap"
        assert m.name == ref["name"]
        assert {p: m[p].name for p in paths} == ref["paths"], name
        # And the map's own config survives another round.
        assert dtype_policies.serialize(dtype_policies.get(dtype_policies.serialize(m))) == (
            dtype_policies.serialize(m))


def test_core_get_accepts_map_configs():
    """The layer-facing `tkeras.core.dtype_policies.get` (used by Layer.from_config) too."""
    from tkeras.core import dtype_policies as core

    m = dtype_policies.DTypePolicyMap("float32", {"d": dtype_policies.DTypePolicy("bfloat16")})
    again = core.get(dtype_policies.serialize(m))
    assert isinstance(again, dtype_policies.DTypePolicyMap) and again == m
    layer = tkeras.layers.Dense.from_config(
        {**tkeras.layers.Dense(2, name="d").get_config(), "dtype": dtype_policies.serialize(m)})
    assert isinstance(layer.dtype_policy, dtype_policies.DTypePolicyMap)
    assert layer.get_config()["dtype"] == dtype_policies.serialize(m)


def test_layer_keeps_the_map_as_its_policy(oracle):
    pm = dtype_policies.DTypePolicyMap(default_policy="float32")
    pm["dense_a"] = "bfloat16"
    pm["outer/inner"] = "float16"
    pm["block_.*"] = "mixed_bfloat16"
    layer = tkeras.layers.Dense(2, name="dense_a", dtype=pm)
    assert layer.dtype_policy is pm
    assert layer.get_config()["dtype"] == oracle["layers"]["config_dtype"]


def test_layers_look_up_their_path(oracle):
    import torch

    ours = _ns()["layer_report"](tkeras, torch.ones((1, 3)))
    ref = oracle["layers"]
    assert ours["before_build"] == ref["before_build"]
    for key in ("dense_a", "dense_b", "inner", "block_1", "block_2", "head"):
        assert ours[key] == ref[key], key
    assert ours["map_keys"] == ref["map_keys"]
    assert ours["unbuilt_setter"] == ref["unbuilt_setter"]
    assert ours["model_out"] == ref["model_out"]


def test_keras_reference_is_not_trivial(oracle):
    """The Keras report really mixes dtypes per path (so the test above can fail)."""
    ref = oracle["layers"]
    assert ref["dense_a"]["compute"] == "bfloat16" and ref["dense_a"]["out"] == "bfloat16"
    assert ref["dense_b"]["compute"] == "bfloat16" and ref["dense_b"]["variable"] == "float32"
    assert ref["unbuilt_setter"] == ["DTypePolicy", "float16"]
    assert ref["inner"]["path"] == "outer/inner" and ref["inner"]["weights"] == ["float16"] * 2
    assert ref["block_1"]["variable"] == "float32" and ref["block_1"]["compute"] == "bfloat16"
    assert ref["head"]["compute"] == "float32"
    np.testing.assert_equal(ref["before_build"], [None, "float32"])
