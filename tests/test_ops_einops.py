"""`keras.ops.rearrange` against real Keras, eager and as a graph node."""

import numpy as np
import pytest

import tkeras
from keras_oracle import requires_keras, run_keras

X = np.random.default_rng(0).normal(size=(4, 6, 8, 3)).astype("float32")
CASES = [
    ("b h w c -> b c h w", {}),
    ("b h w c -> (b h) w c", {}),
    ("b h w c -> h (b w) c", {}),
    ("b h w c -> b (c h w)", {}),
    ("b (h1 h) (w1 w) c -> (b h1 w1) h w c", {"h1": 2, "w1": 2}),
    ("b (h h1) (w w1) c -> b h w (c h1 w1)", {"h1": 2, "w1": 4}),
]


@pytest.fixture(scope="module")
def keras_ref():
    code = f"""
cases = {CASES!r}
for i, (pattern, lengths) in enumerate(cases):
    outputs[f"out{{i}}"] = keras.ops.rearrange(inputs["x"], pattern, **lengths)
x = keras.Input(batch_shape=(4, 6, 8, 3))
outputs["config"] = keras.Model(x, keras.ops.rearrange(x, "b (h1 h) w c -> (b h1) h w c", h1=2)
                                ).get_config()["layers"][1]
"""
    return run_keras(code, {"x": X})


@requires_keras
@pytest.mark.parametrize("index", range(len(CASES)))
def test_rearrange_matches_keras(keras_ref, index):
    pattern, lengths = CASES[index]
    out = tkeras.ops.rearrange(X, pattern, **lengths)
    np.testing.assert_array_equal(out.numpy(), keras_ref[f"out{index}"])


@requires_keras
def test_rearrange_node_config_matches_keras_and_reloads(keras_ref):
    x = tkeras.Input(batch_shape=(4, 6, 8, 3))
    model = tkeras.Model(x, tkeras.ops.rearrange(x, "b (h1 h) w c -> (b h1) h w c", h1=2))
    ours, theirs = model.get_config()["layers"][1], dict(keras_ref["config"])
    for entry in (ours, theirs):  # auto names depend on what ran before in the process
        entry.pop("name")
        entry["config"].pop("name")
        entry["inbound_nodes"][0]["args"][0]["config"].pop("keras_history")
    assert ours == theirs
    loaded = tkeras.Model.from_config(model.get_config())
    np.testing.assert_array_equal(
        loaded(X).numpy(), tkeras.ops.rearrange(X, "b (h1 h) w c -> (b h1) h w c", h1=2).numpy())


def test_rearrange_unknown_batch_stays_unknown():
    x = tkeras.Input((6, 8, 3))
    assert tkeras.ops.rearrange(x, "b h w c -> b (c h w)").shape == (None, 144)
