"""`tkeras.core.path_map` through its two users, `DTypePolicyMap` and `LayoutMap`, vs Keras (one
subprocess): exact keys first, one full regex match, defaults, and Keras's error texts for a path
matched by several keys and for a key set twice."""

import pytest

import tkeras
from keras_oracle import requires_keras, run_keras

pytestmark = requires_keras

# The same program under both libraries (`keras` is real Keras or tkeras).
PROGRAM = """
def report(keras):
    D = keras.dtype_policies
    out = {}

    def lookup(mapping, path):
        try:
            value = mapping[path]
        except ValueError as e:
            return "ValueError: " + str(e)
        return value

    def set_twice(mapping, key, value):
        try:
            mapping[key] = value
        except ValueError as e:
            return str(e)
        return None

    pm = D.DTypePolicyMap(default_policy="float32")
    pm["enc/dense"] = "bfloat16"
    pm["enc/.*"] = "float16"
    pm["e.*"] = "float64"
    pm["dec"] = "mixed_bfloat16"
    for path in ["enc/dense", "enc/x", "dec", "decoder", "zz"]:
        value = lookup(pm, path)
        out["policy:" + path] = value if isinstance(value, str) else value.name
    out["policy:duplicate"] = set_twice(pm, "dec", "float16")

    lm = keras.distribution.LayoutMap(None)
    lm["enc/dense/kernel"] = (None, "model")
    lm["enc/.*"] = ("model", None)
    lm[".*bias"] = ("model",)
    lm["dec/kernel"] = (None, None)
    for path in ["enc/dense/kernel", "enc/k", "enc/bias", "dec/kernel", "dec/bias", "zz"]:
        value = lookup(lm, path)
        out["layout:" + path] = (value if value is None or isinstance(value, str)
                                 else list(value.axes))
    out["layout:duplicate"] = set_twice(lm, "dec/kernel", ("model", None))
    return out
"""


@pytest.fixture(scope="module")
def keras_report():
    return run_keras(PROGRAM + "\noutputs.update(report(keras))\n")


def test_lookups_and_errors_match_keras(keras_report):
    scope = {}
    exec(PROGRAM, scope)
    ours = scope["report"](tkeras)
    assert ours.keys() == keras_report.keys()
    for key, expected in keras_report.items():
        assert ours[key] == expected, key
    # The cases exercise every branch: an ambiguous path, a default, and a duplicate key.
    assert ours["policy:enc/x"].startswith("ValueError: Path 'enc/x' matches multiple")
    assert ours["layout:zz"] is None and ours["policy:zz"] == "float32"
