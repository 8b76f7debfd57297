"""tkeras.regularizers and tkeras.constraints against real Keras (one subprocess)."""

import inspect

import numpy as np
import pytest
import torch

import tkeras.constraints as constraints
import tkeras.regularizers as regularizers
from keras_oracle import requires_keras, run_keras

RNG = np.random.default_rng(1)
W = RNG.normal(size=(5, 4)).astype("float32") * 2
W_ZERO_ROW = W.copy()
W_ZERO_ROW[2] = 0.0
W_ZERO_ROW[:, 1] = 0.0
INPUTS = {
    "w": W,
    "w_zero": W_ZERO_ROW,
    "w64": W.astype("float64"),
    "k": RNG.normal(size=(3, 3, 4, 6)).astype("float32"),
}

# (case id, class name, kwargs, input key)
REGULARIZER_CASES = [
    ("l1", "L1", {}, "w"),
    ("l1_03", "L1", {"l1": 0.3}, "k"),
    ("l1_f64", "L1", {"l1": 0.1}, "w64"),
    ("l2", "L2", {}, "w"),
    ("l2_025", "L2", {"l2": 0.25}, "k"),
    ("l1l2", "L1L2", {"l1": 0.1, "l2": 0.2}, "w"),
    ("l1l2_l1_only", "L1L2", {"l1": 0.05}, "k"),
    ("l1l2_zero", "L1L2", {}, "w"),
    ("l1l2_none", "L1L2", {"l1": None, "l2": 0.3}, "w"),
    ("ortho_rows", "OrthogonalRegularizer", {"factor": 0.5}, "w"),
    ("ortho_cols", "OrthogonalRegularizer", {"factor": 0.2, "mode": "columns"}, "w"),
    ("ortho_zero_rows", "OrthogonalRegularizer", {}, "w_zero"),
    ("ortho_zero_cols", "OrthogonalRegularizer", {"mode": "columns"}, "w_zero"),
]

CONSTRAINT_CASES = [
    ("max_norm", "MaxNorm", {}, "w"),
    ("max_norm_axis1", "MaxNorm", {"max_value": 1.0, "axis": 1}, "w_zero"),
    ("max_norm_axes", "MaxNorm", {"max_value": 3, "axis": [0, 1, 2]}, "k"),
    ("min_max_norm", "MinMaxNorm", {}, "w"),
    ("min_max_norm_rate", "MinMaxNorm", {"min_value": 2.0, "max_value": 3.0, "rate": 0.5,
                                         "axis": 1}, "w_zero"),
    ("non_neg", "NonNeg", {}, "k"),
    ("unit_norm", "UnitNorm", {}, "w"),
    ("unit_norm_axis1", "UnitNorm", {"axis": 1}, "w_zero"),
    ("unit_norm_axes", "UnitNorm", {"axis": [0, 1, 2]}, "k"),
    ("identity", "Constraint", {}, "w"),
]

REG_NAMES = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer"]
CON_NAMES = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"]
REG_LOOKUPS = ["L1", "l1", "L2", "l2", "L1L2", "l1l2", "OrthogonalRegularizer",
               "orthogonal_regularizer", "Regularizer", "regularizer"]
CON_LOOKUPS = ["MaxNorm", "max_norm", "MinMaxNorm", "min_max_norm", "NonNeg", "non_neg",
               "UnitNorm", "unit_norm", "Constraint", "constraint"]

KERAS_CODE = """
import inspect
import torch
R, C = keras.regularizers, keras.constraints
for case, name, kw, key in REGULARIZER_CASES:
    outputs["reg_" + case] = keras.ops.convert_to_numpy(
        getattr(R, name)(**kw)(torch.as_tensor(inputs[key])))
    if name != "Regularizer":
        outputs.setdefault("reg_configs", {})[case] = R.serialize(getattr(R, name)(**kw))
for case, name, kw, key in CONSTRAINT_CASES:
    outputs["con_" + case] = keras.ops.convert_to_numpy(
        getattr(C, name)(**kw)(torch.as_tensor(inputs[key])))
    outputs.setdefault("con_configs", {})[case] = C.serialize(getattr(C, name)(**kw))
outputs["signatures"] = {n: str(inspect.signature(getattr(R, n))) for n in REG_NAMES}
outputs["signatures"].update({n: str(inspect.signature(getattr(C, n))) for n in CON_NAMES})
outputs["reg_get"] = {n: type(R.get(n)).__name__ for n in REG_LOOKUPS}
outputs["con_get"] = {n: type(C.get(n)).__name__ for n in CON_LOOKUPS}
outputs["keras2"] = [
    R.serialize(R.get({"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}})),
    C.serialize(C.get({"class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0}})),
]
"""


@pytest.fixture(scope="module")
def keras_ref():
    header = (
        f"REGULARIZER_CASES = {REGULARIZER_CASES!r}\nCONSTRAINT_CASES = {CONSTRAINT_CASES!r}\n"
        f"REG_NAMES = {REG_NAMES!r}\nCON_NAMES = {CON_NAMES!r}\n"
        f"REG_LOOKUPS = {REG_LOOKUPS!r}\nCON_LOOKUPS = {CON_LOOKUPS!r}\n"
    )
    return run_keras(header + KERAS_CODE, INPUTS)


@requires_keras
@pytest.mark.parametrize("case", REGULARIZER_CASES, ids=[c[0] for c in REGULARIZER_CASES])
def test_regularizer_values_match_keras(keras_ref, case):
    case_id, name, kwargs, key = case
    x = torch.as_tensor(INPUTS[key])
    out = getattr(regularizers, name)(**kwargs)(x)
    assert isinstance(out, torch.Tensor) and out.ndim == 0 and out.dtype == x.dtype
    expected = keras_ref["reg_" + case_id]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


@requires_keras
def test_regularizer_configs_match_keras(keras_ref):
    ours = {case: regularizers.serialize(getattr(regularizers, name)(**kw))
            for case, name, kw, _ in REGULARIZER_CASES}
    assert ours == keras_ref["reg_configs"]
    for config in ours.values():
        restored = regularizers.deserialize(config)
        assert regularizers.serialize(restored) == config


@requires_keras
@pytest.mark.parametrize("case", CONSTRAINT_CASES, ids=[c[0] for c in CONSTRAINT_CASES])
def test_constraint_values_match_keras(keras_ref, case):
    case_id, name, kwargs, key = case
    x = torch.as_tensor(INPUTS[key])
    out = getattr(constraints, name)(**kwargs)(x)
    assert isinstance(out, torch.Tensor) and out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), keras_ref["con_" + case_id], rtol=1e-6, atol=1e-6)


@requires_keras
def test_constraint_configs_match_keras(keras_ref):
    ours = {case: constraints.serialize(getattr(constraints, name)(**kw))
            for case, name, kw, _ in CONSTRAINT_CASES}
    assert ours == keras_ref["con_configs"]
    for config in ours.values():
        assert constraints.serialize(constraints.deserialize(config)) == config


@requires_keras
def test_signatures_match_keras(keras_ref):
    ours = {n: str(inspect.signature(getattr(regularizers, n))) for n in REG_NAMES}
    ours.update({n: str(inspect.signature(getattr(constraints, n))) for n in CON_NAMES})
    assert ours == keras_ref["signatures"]


@requires_keras
def test_get_by_name_matches_keras(keras_ref):
    assert {n: type(regularizers.get(n)).__name__ for n in REG_LOOKUPS} == keras_ref["reg_get"]
    assert {n: type(constraints.get(n)).__name__ for n in CON_LOOKUPS} == keras_ref["con_get"]


@requires_keras
def test_keras2_configs_without_module(keras_ref):
    assert [
        regularizers.serialize(
            regularizers.get({"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}})),
        constraints.serialize(
            constraints.get({"class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0}})),
    ] == keras_ref["keras2"]


def test_aliases():
    assert regularizers.l1 is regularizers.L1
    assert regularizers.l2 is regularizers.L2
    assert regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.orthogonal_regularizer is regularizers.OrthogonalRegularizer
    assert constraints.max_norm is constraints.MaxNorm
    assert constraints.min_max_norm is constraints.MinMaxNorm
    assert constraints.non_neg is constraints.NonNeg
    assert constraints.unit_norm is constraints.UnitNorm
    # Keras's own `get("l1_l2")` fails although `l1_l2` is its public alias; tkeras accepts it.
    assert isinstance(regularizers.get("l1_l2"), regularizers.L1L2)


def test_get_passthrough_and_errors():
    for module in (regularizers, constraints):
        assert module.get(None) is None
        fn = lambda w: w  # noqa: E731
        assert module.get(fn) is fn
        with pytest.raises(ValueError, match="Could not interpret"):
            module.get("nope")
    assert isinstance(regularizers.get(regularizers.L2), regularizers.L2)
    assert isinstance(constraints.get(constraints.NonNeg), constraints.NonNeg)


def test_regularizer_validation():
    for bad in (-0.1, float("inf"), float("nan"), "0.1"):
        with pytest.raises(ValueError, match="non-negative"):
            regularizers.L1(bad)
        with pytest.raises(ValueError, match="non-negative"):
            regularizers.L1L2(l2=bad)
    with pytest.raises(ValueError, match="mode"):
        regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ValueError, match="rank 2"):
        regularizers.OrthogonalRegularizer()(torch.ones(2, 2, 2))
    with pytest.raises(NotImplementedError):
        regularizers.Regularizer().get_config()
    assert regularizers.Regularizer()(torch.ones(3)) == 0.0


def test_regularizer_gradients():
    w = torch.as_tensor(W).clone().requires_grad_(True)
    regularizers.L1L2(l1=0.1, l2=0.2)(w).backward()
    expected = 0.1 * np.sign(W) + 0.2 * 2 * W
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-6)
