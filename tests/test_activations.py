"""tkeras.activations against real Keras (one subprocess for the whole module)."""

import inspect

import numpy as np
import pytest
import torch

import tkeras.activations as activations
from keras_oracle import requires_keras, run_keras
from tkeras.core.registry import register_keras_serializable

RNG = np.random.default_rng(0)
INPUTS = {
    # Hits the piecewise boundaries (-1, 0, 0.5, 1, 6) and large magnitudes.
    "v": np.array([-30, -6, -3, -2.5, -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.5, 2.5,
                   3, 6, 7, 30], dtype="float32"),
    "m": RNG.normal(size=(4, 6)).astype("float32") * 3,
    "t": RNG.normal(size=(2, 3, 4)).astype("float32") * 2,
}

# (case id, function name, input key, keyword arguments)
CASES = [
    ("relu", "relu", "v", {}),
    ("relu_slope", "relu", "v", {"negative_slope": 0.1}),
    ("relu_max6", "relu", "v", {"max_value": 6}),
    ("relu_max", "relu", "v", {"max_value": 2.5}),
    ("relu_threshold", "relu", "v", {"threshold": 0.5}),
    ("relu_threshold_max6", "relu", "v", {"threshold": 0.5, "max_value": 6}),
    ("relu_all", "relu", "v", {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5}),
    ("relu_slope_threshold", "relu", "v", {"negative_slope": 0.2, "threshold": 1.0}),
    ("relu_slope_max6", "relu", "v", {"negative_slope": 0.1, "max_value": 6}),
    ("leaky_relu", "leaky_relu", "v", {}),
    ("leaky_relu_slope", "leaky_relu", "v", {"negative_slope": 0.05}),
    ("relu6", "relu6", "v", {}),
    ("softmax", "softmax", "m", {}),
    ("softmax_axis0", "softmax", "m", {"axis": 0}),
    ("softmax_tuple", "softmax", "t", {"axis": (0, 2)}),
    ("softmax_none", "softmax", "m", {"axis": None}),
    ("log_softmax", "log_softmax", "m", {}),
    ("log_softmax_axis0", "log_softmax", "t", {"axis": 0}),
    ("log_softmax_tuple", "log_softmax", "t", {"axis": (1, 2)}),
    ("elu", "elu", "v", {}),
    ("elu_alpha", "elu", "v", {"alpha": 0.5}),
    ("selu", "selu", "v", {}),
    ("softplus", "softplus", "v", {}),
    ("softsign", "softsign", "v", {}),
    ("soft_shrink", "soft_shrink", "v", {}),
    ("soft_shrink_1", "soft_shrink", "v", {"threshold": 1.0}),
    ("sparse_plus", "sparse_plus", "v", {}),
    ("silu", "silu", "v", {}),
    ("swish", "swish", "v", {}),
    ("squareplus", "squareplus", "v", {}),
    ("squareplus_b", "squareplus", "v", {"b": 1}),
    ("gelu", "gelu", "v", {}),
    ("gelu_tanh", "gelu", "v", {"approximate": True}),
    ("celu", "celu", "v", {}),
    ("celu_alpha", "celu", "v", {"alpha": 2.0}),
    ("glu", "glu", "m", {}),
    ("glu_axis0", "glu", "m", {"axis": 0}),
    ("tanh", "tanh", "v", {}),
    ("tanh_shrink", "tanh_shrink", "v", {}),
    ("hard_tanh", "hard_tanh", "v", {}),
    ("hard_shrink", "hard_shrink", "v", {}),
    ("hard_shrink_1", "hard_shrink", "v", {"threshold": 1.0}),
    ("threshold", "threshold", "v", {"threshold": 0.5, "default_value": -1.0}),
    ("sigmoid", "sigmoid", "v", {}),
    ("exponential", "exponential", "m", {}),
    ("hard_sigmoid", "hard_sigmoid", "v", {}),
    ("log_sigmoid", "log_sigmoid", "v", {}),
    ("sparse_sigmoid", "sparse_sigmoid", "v", {}),
    ("hard_silu", "hard_silu", "v", {}),
    ("hard_swish", "hard_swish", "v", {}),
    ("linear", "linear", "v", {}),
    ("mish", "mish", "v", {}),
    ("sparsemax", "sparsemax", "m", {}),
    ("sparsemax_axis0", "sparsemax", "t", {"axis": 0}),
]

NAMES = sorted({name for _, name, _, _ in CASES})

KERAS_CODE = """
import inspect
import torch
cases = json.loads(CASES_JSON)
for case_id, name, key, kwargs in cases:
    if isinstance(kwargs.get("axis"), list):
        kwargs["axis"] = tuple(kwargs["axis"])
    fn = getattr(keras.activations, name)
    outputs[case_id] = keras.ops.convert_to_numpy(fn(torch.as_tensor(inputs[key]), **kwargs))
outputs["signatures"] = {n: str(inspect.signature(getattr(keras.activations, n))) for n in NAMES}
outputs["serialized"] = {n: keras.activations.serialize(getattr(keras.activations, n))
                         for n in NAMES}

@keras.saving.register_keras_serializable(package="pkg")
def doubled(x):
    return 2 * x

outputs["custom"] = keras.activations.serialize(doubled)
"""


@pytest.fixture(scope="module")
def keras_ref():
    import json

    code = f"CASES_JSON = {json.dumps(json.dumps(CASES))!s}\nNAMES = {NAMES!r}\n" + KERAS_CODE
    return run_keras(code, INPUTS)


@requires_keras
@pytest.mark.parametrize("case_id,name,key,kwargs", CASES, ids=[c[0] for c in CASES])
def test_matches_keras(keras_ref, case_id, name, key, kwargs):
    out = getattr(activations, name)(torch.as_tensor(INPUTS[key]), **kwargs)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), keras_ref[case_id], rtol=2e-6, atol=2e-6)


@requires_keras
def test_signatures_match_keras(keras_ref):
    ours = {n: str(inspect.signature(getattr(activations, n))) for n in NAMES}
    assert ours == keras_ref["signatures"]


@requires_keras
def test_serialize_matches_keras(keras_ref):
    ours = {n: activations.serialize(getattr(activations, n)) for n in NAMES}
    assert ours == keras_ref["serialized"]


@requires_keras
def test_serialize_registered_custom_function(keras_ref):
    @register_keras_serializable(package="pkg")
    def doubled(x):
        return 2 * x

    config = activations.serialize(doubled)
    expected = keras_ref["custom"]
    # The `module` entry is the registry's business (Keras writes "builtins").
    assert {k: v for k, v in config.items() if k != "module"} == {
        k: v for k, v in expected.items() if k != "module"
    }
    assert activations.deserialize(config) is doubled
    assert activations.get(config) is doubled


def test_all_keras_names_exported():
    names = {
        "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu",
        "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish",
        "relu", "relu6", "selu", "sigmoid", "silu", "soft_shrink", "softmax", "softplus",
        "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "swish", "tanh",
        "tanh_shrink", "threshold", "get", "serialize", "deserialize",
    }
    missing = {n for n in names if not callable(getattr(activations, n, None))}
    assert not missing
    assert activations.swish is activations.silu
    assert activations.hard_swish is activations.hard_silu


def test_get():
    assert activations.get(None) is activations.linear
    assert activations.get("relu") is activations.relu
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu
    assert activations.get(torch.tanh) is torch.tanh
    keras_config = {"module": "keras.activations", "class_name": "function", "config": "gelu",
                    "registered_name": "function"}
    assert activations.get(keras_config) is activations.gelu
    with pytest.raises(ValueError, match="Could not interpret activation"):
        activations.get("no_such_activation")
    with pytest.raises(ValueError, match="Could not interpret activation"):
        activations.get(3)


def test_deserialize_names_and_aliases():
    assert activations.deserialize("relu") is activations.relu
    assert activations.deserialize("swish") is activations.silu
    assert activations.deserialize(activations.serialize(activations.sparsemax)) is (
        activations.sparsemax
    )


def test_serialize_unknown_object_raises():
    with pytest.raises(ValueError, match="cannot be serialized"):
        activations.serialize("relu")


def test_accepts_numpy_and_keeps_dtype():
    x = np.linspace(-2, 2, 9)
    out = activations.gelu(x)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), activations.gelu(torch.as_tensor(x)).numpy())
    half = activations.softmax(torch.randn(3, 5, dtype=torch.bfloat16))
    assert half.dtype == torch.bfloat16


def test_gradients_flow():
    x = torch.linspace(-2, 2, 9, requires_grad=True)
    for name in NAMES:
        if name in ("glu", "threshold"):
            continue
        x.grad = None
        getattr(activations, name)(x).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all(), name
