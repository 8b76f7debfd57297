"""Parity of tkeras.losses with Keras 3 (torch backend), computed in one Keras subprocess.

Every built-in loss class runs with several configs (from_logits, label_smoothing, axis,
ignore_class, all reductions, 1D/2D sample weights, y_pred masks); every loss function runs with
its defaults; a few gradients are compared too; configs must equal Keras's and round-trip."""

import json

import numpy as np
import pytest
import torch

import tkeras.losses as losses
from keras_oracle import requires_keras
from keras_oracle import run_keras
from tkeras.fit.losses import get_loss_for_compile

pytestmark = requires_keras

RTOL, ATOL = 1e-5, 1e-6
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


def _data():
    rng = np.random.default_rng(0)
    f = np.float32
    logits = rng.normal(size=(4, 5)).astype(f) * 2
    probs = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(f)
    labels = np.array([0, 3, 2, 4], dtype=np.int64)
    seq_logits = rng.normal(size=(2, 3, 5)).astype(f)
    bin_probs = rng.uniform(0.05, 0.95, size=(4, 3)).astype(f)
    bin_probs[0, 0], bin_probs[1, 1] = 0.0, 1.0  # hits the epsilon clipping
    emb = rng.normal(size=(6, 4)).astype(f)
    seg_t = (rng.uniform(size=(2, 4, 4, 1)) > 0.5).astype(f)
    return {
        "reg_t": rng.normal(size=(4, 3)).astype(f),
        "reg_p": rng.normal(size=(4, 3)).astype(f),
        "pos_t": rng.uniform(0, 3, size=(4, 3)).astype(f),
        "pos_p": rng.uniform(0.1, 3, size=(4, 3)).astype(f),
        "vec_t": rng.normal(size=(4,)).astype(f),
        "col_p": rng.normal(size=(4, 1)).astype(f),
        "sw": np.array([1.0, 0.5, 0.0, 2.0], dtype=f),
        "sw_col": np.array([[1.0], [0.5], [0.0], [2.0]], dtype=f),
        "sw_2d": rng.uniform(0, 2, size=(4, 3)).astype(f),
        "mask": np.array([True, False, True, True]),
        "bin_t": (rng.uniform(size=(4, 3)) > 0.5).astype(f),
        "bin_p": bin_probs,
        "bin_logits": rng.normal(size=(4, 3)).astype(f) * 3,
        "pm1_t": np.where(rng.uniform(size=(4, 3)) > 0.5, 1.0, -1.0).astype(f),
        "onehot": np.eye(5, dtype=f)[labels],
        "probs": probs,
        "logits": logits,
        "labels": labels.astype(f),
        "labels_col": labels[:, None].astype(f),
        "labels_ign": np.array([0, 2, 2, 4], dtype=f),
        "ch_onehot": np.moveaxis(np.eye(5, dtype=f)[rng.integers(0, 5, size=(2, 3))], -1, 1),
        "ch_logits": rng.normal(size=(2, 5, 3)).astype(f),
        "seq_labels": rng.integers(0, 5, size=(2, 3)).astype(f),
        "seq_logits": seq_logits,
        "seq_sw": rng.uniform(0, 1, size=(2, 3)).astype(f),
        "ctc_t": np.array([[1, 2, 2, 0], [3, 1, 0, 0]], dtype=f),
        "ctc_p": rng.normal(size=(2, 6, 5)).astype(f),
        "circle_t": np.array([0, 1, 0, 2, 1, 0], dtype=f),
        "circle_p": (emb / np.linalg.norm(emb, axis=-1, keepdims=True)).astype(f),
        "seg_t": seg_t,
        "seg_p": rng.uniform(size=(2, 4, 4, 1)).astype(f),
    }


def _cases():
    cases = []

    def add(cls, config, yt, yp, sw=None, mask=None):
        cid = f"{cls}|{json.dumps(config, sort_keys=True)}|{yt}|{yp}|{sw}|{mask}"
        cases.append({"id": cid, "cls": cls, "config": config, "yt": yt, "yp": yp, "sw": sw,
                      "mask": mask})

    for cls, yt, yp in [
        ("MeanSquaredError", "reg_t", "reg_p"), ("MeanAbsoluteError", "reg_t", "reg_p"),
        ("MeanAbsolutePercentageError", "reg_t", "reg_p"),
        ("MeanSquaredLogarithmicError", "pos_t", "pos_p"),
        ("CosineSimilarity", "reg_t", "reg_p"), ("Huber", "reg_t", "reg_p"),
        ("LogCosh", "reg_t", "reg_p"), ("Poisson", "pos_t", "pos_p"),
        ("KLDivergence", "bin_p", "pos_p"), ("Hinge", "pm1_t", "reg_p"),
        ("SquaredHinge", "bin_t", "reg_p"), ("CategoricalHinge", "onehot", "logits"),
    ]:
        for reduction in REDUCTIONS:
            for sw in (None, "sw"):
                add(cls, {"reduction": reduction}, yt, yp, sw)
    for sw in ("sw_col", "sw_2d"):
        add("MeanSquaredError", {}, "reg_t", "reg_p", sw)
        add("MeanSquaredError", {"reduction": "mean_with_sample_weight"}, "reg_t", "reg_p", sw)
    add("MeanSquaredError", {}, "vec_t", "col_p")
    add("MeanAbsoluteError", {"reduction": "none"}, "vec_t", "col_p", "sw")
    add("Huber", {"delta": 0.5}, "reg_t", "reg_p", "sw")
    add("CosineSimilarity", {"axis": 0}, "reg_t", "reg_p")
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight", "none"):
        for sw in (None, "sw"):
            add("MeanSquaredError", {"reduction": reduction}, "reg_t", "reg_p", sw, "mask")

    for from_logits in (False, True):
        yp_bin = "bin_logits" if from_logits else "bin_p"
        yp_cat = "logits" if from_logits else "probs"
        for ls in (0.0, 0.2):
            base = {"from_logits": from_logits, "label_smoothing": ls}
            add("BinaryCrossentropy", base, "bin_t", yp_bin)
            add("BinaryCrossentropy", {**base, "reduction": "sum"}, "bin_t", yp_bin, "sw")
            for balancing in (False, True):
                add("BinaryFocalCrossentropy",
                    {**base, "apply_class_balancing": balancing, "gamma": 1.5, "alpha": 0.3},
                    "bin_t", yp_bin, "sw")
            add("CategoricalCrossentropy", base, "onehot", yp_cat)
            add("CategoricalCrossentropy", base, "onehot", yp_cat, "sw")
            add("CategoricalFocalCrossentropy", {**base, "alpha": 0.5, "gamma": 1.0},
                "onehot", yp_cat, "sw")
        add("BinaryCrossentropy", {"from_logits": from_logits, "axis": 0}, "bin_t", yp_bin)
        add("CategoricalCrossentropy", {"from_logits": True, "axis": 1, "label_smoothing": 0.1},
            "ch_onehot", "ch_logits")
        add("CategoricalFocalCrossentropy", {"from_logits": True, "axis": 1},
            "ch_onehot", "ch_logits")
        for ignore in (None, 2):
            for labels in ("labels", "labels_col", "labels_ign"):
                add("SparseCategoricalCrossentropy",
                    {"from_logits": from_logits, "ignore_class": ignore}, labels, yp_cat, "sw")
            for reduction in ("sum_over_batch_size", "sum", "none"):
                add("SparseCategoricalCrossentropy",
                    {"from_logits": from_logits, "ignore_class": ignore, "reduction": reduction},
                    "labels_ign", yp_cat)
        add("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 1},
            "seq_labels", "seq_logits", "seq_sw")
    add("SparseCategoricalCrossentropy", {"from_logits": True, "axis": 1}, "seq_labels",
        "ch_logits")
    add("Hinge", {}, "bin_t", "reg_p")
    add("CTC", {}, "ctc_t", "ctc_p")
    add("CTC", {"reduction": "none"}, "ctc_t", "ctc_p", "sw_ctc")
    for axis in (None, [1, 2, 3]):
        add("Dice", {"axis": axis}, "seg_t", "seg_p")
        add("Tversky", {"axis": axis, "alpha": 0.3, "beta": 0.7}, "seg_t", "seg_p")
    add("Dice", {"axis": [1, 2, 3], "reduction": "none"}, "seg_t", "seg_p")
    add("Circle", {}, "circle_t", "circle_p")
    add("Circle", {"gamma": 10.0, "margin": 0.25, "remove_diagonal": False}, "circle_t",
        "circle_p", "sw6")
    add("Circle", {"gamma": 10.0, "reduction": "none"}, "circle_t", "circle_p")
    add("CategoricalGeneralizedCrossEntropy", {}, "labels", "probs")
    add("CategoricalGeneralizedCrossEntropy", {"q": 0.7, "reduction": "sum"}, "labels", "probs",
        "sw")
    return cases


FUNCTIONS = [
    ("mean_squared_error", "reg_t", "reg_p", {}),
    ("mean_absolute_error", "reg_t", "reg_p", {}),
    ("mean_absolute_percentage_error", "reg_t", "reg_p", {}),
    ("mean_squared_logarithmic_error", "pos_t", "pos_p", {}),
    ("cosine_similarity", "reg_t", "reg_p", {}),
    ("huber", "reg_t", "reg_p", {"delta": 0.7}),
    ("log_cosh", "reg_t", "reg_p", {}),
    ("hinge", "bin_t", "reg_p", {}),
    ("squared_hinge", "pm1_t", "reg_p", {}),
    ("categorical_hinge", "onehot", "logits", {}),
    ("kl_divergence", "bin_p", "pos_p", {}),
    ("poisson", "pos_t", "pos_p", {}),
    ("binary_crossentropy", "bin_t", "bin_p", {}),
    ("binary_crossentropy", "bin_t", "bin_logits", {"from_logits": True, "label_smoothing": 0.1}),
    ("binary_focal_crossentropy", "bin_t", "bin_p", {}),
    ("categorical_crossentropy", "onehot", "probs", {}),
    ("categorical_crossentropy", "onehot", "logits", {"from_logits": True}),
    ("categorical_focal_crossentropy", "onehot", "probs", {}),
    ("sparse_categorical_crossentropy", "labels", "probs", {}),
    ("sparse_categorical_crossentropy", "labels_ign", "logits",
     {"from_logits": True, "ignore_class": 2}),
    ("ctc", "ctc_t", "ctc_p", {}),
    ("dice", "seg_t", "seg_p", {}),
    ("tversky", "seg_t", "seg_p", {"alpha": 0.2, "beta": 0.8}),
    ("circle", "circle_t", "circle_p", {}),
    ("categorical_generalized_cross_entropy", "labels", "probs", {"q": 0.5}),
]

GRADIENTS = [
    ("BinaryCrossentropy", {}, "bin_t", "bin_p"),
    ("BinaryCrossentropy", {"from_logits": True}, "bin_t", "bin_logits"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot", "probs"),
    ("CategoricalCrossentropy", {"from_logits": True}, "onehot", "logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 2}, "labels_ign",
     "logits"),
    ("Huber", {}, "reg_t", "reg_p"),
    ("LogCosh", {}, "reg_t", "reg_p"),
    ("CTC", {}, "ctc_t", "ctc_p"),
]

ORACLE = """
import torch
spec = json.loads(SPEC)
T = lambda k: torch.tensor(inputs[k])  # a copy: Keras scales masked sample weights in place
for i, c in enumerate(spec["cases"]):
    loss = getattr(keras.losses, c["cls"])(**c["config"])
    y_pred = T(c["yp"])
    if c["mask"]:
        y_pred._keras_mask = T(c["mask"])
    sw = T(c["sw"]) if c["sw"] else None
    try:
        outputs[f"value:{i}"] = loss(T(c["yt"]), y_pred, sample_weight=sw).detach().numpy()
    except Exception as e:  # the case must fail in tkeras too
        outputs[f"error:{i}"] = type(e).__name__
    outputs[f"config:{i}"] = keras.losses.serialize(loss)
for i, (fn, yt, yp, kwargs) in enumerate(spec["functions"]):
    outputs[f"fn:{i}"] = getattr(keras.losses, fn)(T(yt), T(yp), **kwargs).detach().numpy()
for i, (cls, config, yt, yp) in enumerate(spec["gradients"]):
    y_pred = T(yp).clone().requires_grad_(True)
    getattr(keras.losses, cls)(**config)(T(yt), y_pred).backward()
    outputs[f"grad:{i}"] = y_pred.grad.numpy()
"""

CASES = _cases()
DATA = _data()
DATA["sw_ctc"] = np.array([0.5, 2.0], dtype=np.float32)
DATA["sw6"] = np.array([1.0, 0.0, 2.0, 1.0, 0.5, 1.0], dtype=np.float32)


@pytest.fixture(scope="module")
def oracle():
    spec = {"cases": CASES, "functions": FUNCTIONS, "gradients": GRADIENTS}
    return run_keras(f"SPEC = {json.dumps(json.dumps(spec))}\n" + ORACLE, DATA)


def _t(key):
    return torch.as_tensor(DATA[key])


def _check(actual, expected):
    actual = actual.detach().cpu().numpy() if torch.is_tensor(actual) else np.asarray(actual)
    assert actual.shape == np.asarray(expected).shape
    scale = max(1.0, float(np.max(np.abs(expected))) if np.size(expected) else 1.0)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL * scale)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["id"] for c in CASES])
def test_loss_matches_keras(oracle, index):
    case = CASES[index]
    loss = getattr(losses, case["cls"])(**case["config"])
    y_pred = _t(case["yp"])
    if case["mask"]:
        y_pred._keras_mask = _t(case["mask"])
    sw = _t(case["sw"]) if case["sw"] else None
    if f"error:{index}" in oracle:
        with pytest.raises((RuntimeError, ValueError)):
            loss(_t(case["yt"]), y_pred, sample_weight=sw)
        return
    _check(loss(_t(case["yt"]), y_pred, sample_weight=sw), oracle[f"value:{index}"])


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["id"] for c in CASES])
def test_loss_config_matches_keras_and_round_trips(oracle, index):
    case = CASES[index]
    loss = getattr(losses, case["cls"])(**case["config"])
    config = losses.serialize(loss)
    assert json.loads(json.dumps(config)) == oracle[f"config:{index}"]
    clone = losses.deserialize(config)
    assert type(clone) is type(loss)
    assert clone.get_config() == loss.get_config()
    assert type(loss).from_config(loss.get_config()).get_config() == loss.get_config()


@pytest.mark.parametrize("index", range(len(FUNCTIONS)), ids=[f[0] for f in FUNCTIONS])
def test_loss_function_matches_keras(oracle, index):
    fn, yt, yp, kwargs = FUNCTIONS[index]
    _check(getattr(losses, fn)(_t(yt), _t(yp), **kwargs), oracle[f"fn:{index}"])


@pytest.mark.parametrize("index", range(len(GRADIENTS)), ids=[g[0] for g in GRADIENTS])
def test_loss_gradient_matches_keras(oracle, index):
    cls, config, yt, yp = GRADIENTS[index]
    y_pred = _t(yp).clone().requires_grad_(True)
    getattr(losses, cls)(**config)(_t(yt), y_pred).backward()
    _check(y_pred.grad, oracle[f"grad:{index}"])


def test_numpy_and_list_inputs():
    expected = losses.MeanSquaredError()(_t("reg_t"), _t("reg_p"))
    assert torch.allclose(losses.MeanSquaredError()(DATA["reg_t"], DATA["reg_p"]), expected)
    assert torch.allclose(
        losses.MeanSquaredError()(DATA["reg_t"].tolist(), DATA["reg_p"].tolist()), expected)


def test_integer_class_ids_stay_exact():
    logits = torch.zeros(2, 2**24 + 2)
    logits[0, 2**24 + 1] = 10.0
    logits[1, 3] = 10.0
    labels = torch.tensor([2**24 + 1, 3])  # 2**24 + 1 is not a float32
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    expected = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    assert torch.allclose(loss(labels, logits), expected)
    float_labels = labels.float()  # float labels are used as given (as Keras)
    assert torch.allclose(loss(float_labels, logits)[1], expected[1])


def test_get_resolves_names_configs_and_callables():
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("categorical_crossentropy") is losses.categorical_crossentropy
    assert isinstance(losses.get("CategoricalCrossentropy"), losses.CategoricalCrossentropy)
    loss = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(loss, losses.CategoricalCrossentropy) and loss.from_logits
    assert losses.get(None) is None
    torch_loss = torch.nn.CrossEntropyLoss()
    assert losses.get(torch_loss) is torch_loss
    assert losses.get(torch.nn.functional.mse_loss) is torch.nn.functional.mse_loss
    with pytest.raises(ValueError, match="Could not interpret loss identifier"):
        losses.get("not_a_loss")


def test_function_serialization_round_trips():
    config = losses.serialize(losses.mean_squared_error)
    assert config["class_name"] == "function" and config["config"] == "mean_squared_error"
    assert losses.deserialize(config) is losses.mean_squared_error
    assert losses.deserialize("mse") is losses.mean_squared_error


def test_invalid_reduction_is_rejected():
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`"):
        losses.MeanSquaredError(reduction="avg")


def test_compile_crossentropy_resolution():
    loss = get_loss_for_compile("crossentropy", (4, 1), (4, 1))
    assert loss.fn is losses.binary_crossentropy and loss.name == "crossentropy"
    assert get_loss_for_compile("ce", (4,), (4, 3)).fn is losses.sparse_categorical_crossentropy
    assert get_loss_for_compile("ce", (4, 3), (4, 3)).fn is losses.categorical_crossentropy
    assert get_loss_for_compile("mse", (4, 3), (4, 3)).name == "mse"
    mse = losses.MeanSquaredError()
    assert get_loss_for_compile(mse, None, None) is mse


def test_compile_wraps_torch_losses_in_torch_argument_order():
    logits = _t("logits")
    labels = torch.as_tensor(DATA["labels"]).long()
    wrapped = get_loss_for_compile(torch.nn.CrossEntropyLoss(), (4,), (4, 5))
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(wrapped(labels, logits), expected)
    mse = get_loss_for_compile(torch.nn.functional.mse_loss, (4, 3), (4, 3))
    assert torch.allclose(mse(_t("reg_t"), _t("reg_p")),
                          torch.nn.functional.mse_loss(_t("reg_p"), _t("reg_t")))
