"""Dtype policies: variables in the variable dtype, computation in the compute dtype."""

import numpy as np
import pytest
import torch

import tkeras as keras
from tkeras.core import dtype_policies
from keras_oracle import requires_keras, run_keras


@pytest.fixture(scope="module")
def keras_ref():
    return run_keras("""
for name in ["float32", "mixed_float16", "mixed_bfloat16", "float64", "bfloat16"]:
    layer = keras.layers.Dense(3, dtype=name)
    y = layer(np.ones((2, 4), "float32"))
    outputs[name] = [layer.kernel.dtype, str(y.dtype).replace("torch.", ""),
                     layer.compute_dtype, layer.variable_dtype,
                     keras.saving.serialize_keras_object(layer)["config"]["dtype"]]
""")


@requires_keras
@pytest.mark.parametrize("name", ["float32", "mixed_float16", "mixed_bfloat16", "float64",
                                  "bfloat16"])
def test_policy_dtypes_match_keras(name, keras_ref):
    layer = keras.layers.Dense(3, dtype=name)
    y = layer(np.ones((2, 4), "float32"))
    kernel_dtype, out_dtype, compute, variable, config = keras_ref[name]
    assert dtype_policies.standardize_dtype(layer.kernel.dtype) == kernel_dtype
    assert dtype_policies.standardize_dtype(y.dtype) == out_dtype
    assert (layer.compute_dtype, layer.variable_dtype) == (compute, variable)
    assert layer.get_config()["dtype"] == config


def test_global_policy_applies_to_new_layers():
    previous = dtype_policies._GLOBAL_POLICY  # restored below: other tests expect it unset
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = keras.layers.Dense(2)
        assert layer.dtype_policy.name == "mixed_bfloat16"
        assert layer(torch.ones(1, 3)).dtype == torch.bfloat16
        assert layer.kernel.dtype == torch.float32
        keras.config.set_dtype_policy("float32")
        assert keras.layers.Dense(2).dtype_policy.name == "float32"
    finally:
        dtype_policies._GLOBAL_POLICY = previous
