"""Parity of tkeras.metrics with Keras 3 (torch backend), computed in one Keras subprocess.

Every built-in metric is updated with three batches (with and without sample weights), then its
`result()` is compared with Keras's; then `reset_state()` and one more update are compared too.
Metric functions, configs (and their round trip), `get`, compile-time resolution of "accuracy",
state handling (no autograd, device following, distributed reduction) are checked as well."""

import json
import re

import numpy as np
import pytest
import torch

import tkeras.metrics as metrics
from keras_oracle import requires_keras
from keras_oracle import run_keras
from tkeras.fit.metrics import get_metric_for_compile

pytestmark = requires_keras

RTOL, ATOL = 1e-5, 1e-6
N = 6  # batch size
BATCHES = 3


def _batch(kind, rng):
    f = np.float32
    if kind in ("reg", "pos"):
        if kind == "reg":
            return rng.normal(size=(N, 3)).astype(f), rng.normal(size=(N, 3)).astype(f)
        return rng.uniform(0, 3, (N, 3)).astype(f), rng.uniform(0.1, 3, (N, 3)).astype(f)
    if kind == "bin":
        return (rng.uniform(size=(N, 3)) > 0.5).astype(f), rng.uniform(size=(N, 3)).astype(f)
    if kind == "bin1":
        return (rng.uniform(size=(N, 1)) > 0.5).astype(f), rng.uniform(size=(N, 1)).astype(f)
    if kind == "logit1":
        return (rng.uniform(size=(N,)) > 0.5).astype(f), rng.normal(size=(N,)).astype(f) * 2
    logits = rng.normal(size=(N, 4)).astype(f) * 2
    probs = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(f)
    labels = rng.integers(0, 4, size=(N,))
    if kind == "cat":
        return np.eye(4, dtype=f)[labels], probs
    if kind == "logits":
        return np.eye(4, dtype=f)[labels], logits
    if kind == "sparse":
        return labels.astype(f), probs
    if kind == "sparse_col":
        return labels[:, None].astype(f), probs
    if kind == "sorted_ids":
        return labels.astype(f), np.argsort(-probs, axis=-1).astype(f)
    if kind == "acc":
        return (labels[:, None] % 3).astype(f), rng.integers(0, 3, size=(N, 1)).astype(f)
    if kind == "iou":
        return (labels % 3).astype(f), np.array([0, 1, 2, 3, -1, 1], dtype=f)[rng.permutation(N)]
    if kind == "onehot3":
        return np.eye(3, dtype=f)[labels % 3], probs[:, :3]
    if kind == "multiclass":  # several positives per row, for Precision/Recall with top_k
        return (rng.uniform(size=(N, 4)) > 0.6).astype(f), probs
    raise KeyError(kind)


def _data():
    rng = np.random.default_rng(1)
    data = {}
    kinds = ["reg", "pos", "bin", "bin1", "logit1", "cat", "logits", "sparse", "sparse_col",
             "sorted_ids", "acc", "iou", "onehot3", "multiclass"]
    for i in range(BATCHES):
        for kind in kinds:
            data[f"{kind}_t{i}"], data[f"{kind}_p{i}"] = _batch(kind, rng)
        data[f"sw{i}"] = rng.uniform(0, 2, size=(N,)).astype(np.float32)
        data[f"isw{i}"] = rng.integers(0, 3, size=(N,)).astype(np.float32)
        data[f"vals{i}"] = rng.normal(size=(N, 2)).astype(np.float32)
        data[f"mask{i}"] = rng.uniform(size=(N,)) > 0.3
    data["sw0"][1] = 0.0
    return data


def _cases():
    cases = []

    def add(cls, config, kind, sw="sw", mask=False):
        cid = f"{cls}|{json.dumps(config, sort_keys=True)}|{kind}|{sw}|{mask}"
        cases.append({"id": cid, "cls": cls, "config": config, "kind": kind, "sw": sw,
                      "mask": mask})

    for sw in (None, "sw"):
        add("Mean", {}, "vals", sw)
        add("Sum", {}, "vals", sw)
        for cls, kind in [
            ("MeanSquaredError", "reg"), ("MeanAbsoluteError", "reg"),
            ("MeanAbsolutePercentageError", "reg"), ("MeanSquaredLogarithmicError", "pos"),
            ("RootMeanSquaredError", "reg"), ("CosineSimilarity", "reg"),
            ("LogCoshError", "reg"), ("KLDivergence", "pos"), ("Poisson", "pos"),
            ("Hinge", "bin"), ("SquaredHinge", "bin"), ("CategoricalHinge", "cat"),
            ("BinaryCrossentropy", "bin"), ("CategoricalCrossentropy", "cat"),
            ("SparseCategoricalCrossentropy", "sparse"), ("Accuracy", "acc"),
            ("BinaryAccuracy", "bin1"), ("CategoricalAccuracy", "cat"),
            ("SparseCategoricalAccuracy", "sparse"), ("SparseCategoricalAccuracy", "sparse_col"),
            ("TopKCategoricalAccuracy", "cat"), ("SparseTopKCategoricalAccuracy", "sparse"),
            ("PearsonCorrelation", "reg"), ("ConcordanceCorrelation", "reg"),
            ("R2Score", "reg"), ("AUC", "bin"), ("Precision", "bin"), ("Recall", "bin"),
            ("TruePositives", "bin"), ("TrueNegatives", "bin"), ("FalsePositives", "bin"),
            ("FalseNegatives", "bin"), ("F1Score", "cat"), ("FBetaScore", "bin"),
        ]:
            add(cls, {}, kind, sw)
        add("BinaryAccuracy", {"threshold": 0.7}, "bin", sw)
        add("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "logit1", sw)
        add("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "logits", sw)
        add("SparseCategoricalCrossentropy", {"ignore_class": 2}, "sparse", sw)
        add("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_col", sw)
        add("TopKCategoricalAccuracy", {"k": 2}, "cat", sw)
        add("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse", sw)
        add("SparseTopKCategoricalAccuracy", {"k": 2, "from_sorted_ids": True}, "sorted_ids", sw)
        add("CosineSimilarity", {"axis": 0}, "reg", sw)
        add("PearsonCorrelation", {"axis": 0}, "reg", sw)
        add("ConcordanceCorrelation", {"axis": 0}, "reg", sw)
        for curve in ("ROC", "PR", "PRGAIN"):
            for method in ("interpolation", "majoring", "minoring"):
                add("AUC", {"curve": curve, "summation_method": method, "num_thresholds": 37},
                    "bin", sw)
        add("AUC", {"thresholds": [0.2, 0.45, 0.5, 0.9]}, "bin", sw)
        add("AUC", {"thresholds": [0.25, 0.5, 0.75], "curve": "PR"}, "bin", sw)
        add("AUC", {"multi_label": True, "num_labels": 3, "curve": "PR"}, "bin", sw)
        add("AUC", {"multi_label": True}, "bin", sw)
        add("AUC", {"multi_label": True, "num_thresholds": 20, "summation_method": "majoring"},
            "bin", sw)
        add("AUC", {"label_weights": [0.2, 1.0, 0.5]}, "bin", sw)
        add("AUC", {"from_logits": True}, "logit1", sw)
        for cls in ("Precision", "Recall"):
            add(cls, {"thresholds": [0.3, 0.5, 0.8]}, "bin", sw)
            add(cls, {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, "bin", sw)
            add(cls, {"top_k": 2}, "multiclass", sw)
            add(cls, {"class_id": 1}, "multiclass", sw)
            add(cls, {"top_k": 2, "class_id": 2, "thresholds": 0.1}, "multiclass", sw)
        for cls in ("TruePositives", "FalseNegatives"):
            add(cls, {"thresholds": [0.2, 0.6]}, "bin", sw)
        for cls, arg in (("PrecisionAtRecall", "recall"), ("RecallAtPrecision", "precision"),
                         ("SensitivityAtSpecificity", "specificity"),
                         ("SpecificityAtSensitivity", "sensitivity")):
            add(cls, {arg: 0.6}, "bin", sw)
            add(cls, {arg: 0.4, "num_thresholds": 1}, "bin", sw)
            add(cls, {arg: 0.5, "num_thresholds": 17, "class_id": 2}, "multiclass", sw)
        for average in (None, "micro", "macro", "weighted"):
            add("F1Score", {"average": average}, "cat", sw)
            add("FBetaScore", {"average": average, "beta": 2.0, "threshold": 0.4}, "bin", sw)
        for aggregation in ("variance_weighted_average", None):
            add("R2Score", {"class_aggregation": aggregation}, "reg", sw)
        add("R2Score", {"num_regressors": 2}, "reg", sw)
        add("R2Score", {"num_regressors": 20}, "reg", sw)
    for sw in (None, "isw", "sw"):
        add("IoU", {"num_classes": 3, "target_class_ids": [0, 2]}, "iou", sw)
        add("MeanIoU", {"num_classes": 3}, "iou", sw)
        add("MeanIoU", {"num_classes": 3, "ignore_class": 1}, "iou", sw)
        add("OneHotIoU", {"num_classes": 3, "target_class_ids": [1]}, "onehot3", sw)
        add("OneHotMeanIoU", {"num_classes": 3}, "onehot3", sw)
        add("BinaryIoU", {"threshold": 0.3}, "bin", sw)
        add("BinaryIoU", {"target_class_ids": [1]}, "bin1", sw)
    add("MeanIoU", {"num_classes": 3, "dtype": "float32"}, "iou", "sw")
    for sw in (None, "sw"):  # y_pred carrying a Keras mask (`_keras_mask`)
        add("MeanSquaredError", {}, "reg", sw, mask=True)
        add("SparseCategoricalAccuracy", {}, "sparse", sw, mask=True)
        add("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse", sw, mask=True)
    return cases


FUNCTIONS = [
    ("binary_accuracy", "bin", {"threshold": 0.3}),
    ("categorical_accuracy", "cat", {}),
    ("sparse_categorical_accuracy", "sparse_col", {}),
    ("top_k_categorical_accuracy", "cat", {"k": 2}),
    ("sparse_top_k_categorical_accuracy", "sparse", {"k": 3}),
    ("pearson_correlation", "reg", {}),
    ("concordance_correlation", "reg", {}),
    ("mean_squared_error", "reg", {}),
    ("binary_focal_crossentropy", "bin", {}),
    ("categorical_focal_crossentropy", "cat", {}),
    ("huber", "reg", {}),
]

ORACLE = """
import torch
spec = json.loads(SPEC)
T = lambda k: torch.tensor(inputs[k])
def update(metric, kind, sw, i, mask):
    w = T(f"{sw}{i}") if sw else None
    if kind == "vals":
        metric.update_state(T(f"vals{i}"), sample_weight=w)
        return
    y_pred = T(f"{kind}_p{i}")
    if mask:
        y_pred._keras_mask = T(f"mask{i}")
    metric.update_state(T(f"{kind}_t{i}"), y_pred, sample_weight=w)
for n, c in enumerate(spec["cases"]):
    metric = getattr(keras.metrics, c["cls"])(**c["config"])
    try:
        for i in range(spec["batches"]):
            update(metric, c["kind"], c["sw"], i, c["mask"])
        outputs[f"result:{n}"] = keras.ops.convert_to_numpy(metric.result())
        metric.reset_state()
        update(metric, c["kind"], c["sw"], 1, c["mask"])
        outputs[f"reset:{n}"] = keras.ops.convert_to_numpy(metric.result())
    except Exception as e:  # the case must fail in tkeras too
        outputs[f"error:{n}"] = type(e).__name__
    config = metric.get_config()
    config.pop("label_weights", None)
    outputs[f"config:{n}"] = keras.saving.serialize_keras_object(config)
for n, (fn, kind, kwargs) in enumerate(spec["functions"]):
    out = getattr(keras.metrics, fn)(T(f"{kind}_t0"), T(f"{kind}_p0"), **kwargs)
    outputs[f"fn:{n}"] = keras.ops.convert_to_numpy(out)
"""

CASES = _cases()
DATA = _data()


@pytest.fixture(scope="module")
def oracle():
    spec = {"cases": CASES, "functions": FUNCTIONS, "batches": BATCHES}
    return run_keras(f"SPEC = {json.dumps(json.dumps(spec))}\n" + ORACLE, DATA)


def _t(key):
    return torch.as_tensor(DATA[key])


def _update(metric, case, i):
    w = _t(f"{case['sw']}{i}") if case["sw"] else None
    if case["kind"] == "vals":
        metric.update_state(_t(f"vals{i}"), sample_weight=w)
        return
    y_pred = _t(f"{case['kind']}_p{i}")
    if case["mask"]:
        y_pred._keras_mask = _t(f"mask{i}")
    metric.update_state(_t(f"{case['kind']}_t{i}"), y_pred, sample_weight=w)


def _check(actual, expected):
    actual = actual.detach().cpu().numpy() if torch.is_tensor(actual) else np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64),
                               rtol=RTOL, atol=ATOL * scale)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["id"] for c in CASES])
def test_metric_matches_keras(oracle, index):
    case = CASES[index]
    metric = getattr(metrics, case["cls"])(**case["config"])
    if f"error:{index}" in oracle:
        with pytest.raises((RuntimeError, ValueError, IndexError)):
            _update(metric, case, 0)
        return
    for i in range(BATCHES):
        _update(metric, case, i)
    _check(metric.result(), oracle[f"result:{index}"])
    metric.reset_state()
    _update(metric, case, 1)
    _check(metric.result(), oracle[f"reset:{index}"])


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["id"] for c in CASES])
def test_metric_config_matches_keras_and_round_trips(oracle, index):
    case = CASES[index]
    metric = getattr(metrics, case["cls"])(**case["config"])
    config = metric.get_config()
    config.pop("label_weights", None)
    expected = dict(oracle[f"config:{index}"])
    # Auto-named metrics (AUC, Precision, ...) get "_<n>" suffixes counted per process.
    expected["name"] = re.sub(r"_\d+$", "", expected["name"])
    config["name"] = re.sub(r"_\d+$", "", config["name"])
    assert json.loads(json.dumps(config)) == expected
    config = metrics.serialize(metric)
    clone = metrics.deserialize(config)
    assert type(clone) is type(metric)
    assert json.dumps(metrics.serialize(clone)) == json.dumps(config)


@pytest.mark.parametrize("index", range(len(FUNCTIONS)), ids=[f[0] for f in FUNCTIONS])
def test_metric_function_matches_keras(oracle, index):
    fn, kind, kwargs = FUNCTIONS[index]
    _check(getattr(metrics, fn)(_t(f"{kind}_t0"), _t(f"{kind}_p0"), **kwargs),
           oracle[f"fn:{index}"])


def test_update_accepts_numpy_and_lists():
    expected = metrics.MeanSquaredError()
    expected.update_state(_t("reg_t0"), _t("reg_p0"))
    for convert in (np.asarray, lambda x: x.tolist()):
        m = metrics.MeanSquaredError()
        m.update_state(convert(DATA["reg_t0"]), convert(DATA["reg_p0"]))
        assert torch.allclose(m.result(), expected.result())


def test_state_does_not_track_gradients_and_metric_call_returns_result():
    y_pred = _t("reg_p0").clone().requires_grad_(True)
    m = metrics.MeanAbsoluteError()
    result = m(_t("reg_t0"), y_pred)
    assert not result.requires_grad
    assert all(not v.requires_grad and v.grad_fn is None for v in m.variables)
    assert [v.path for v in m.variables] == ["mean_absolute_error/total",
                                             "mean_absolute_error/count"]


def test_stateless_and_synced_results_use_summed_states():
    a, b = metrics.AUC(num_thresholds=11), metrics.AUC(num_thresholds=11)
    a.update_state(_t("bin_t0"), _t("bin_p0"))
    b.update_state(_t("bin_t1"), _t("bin_p1"))
    both = metrics.AUC(num_thresholds=11)
    both.update_state(_t("bin_t0"), _t("bin_p0"))
    both.update_state(_t("bin_t1"), _t("bin_p1"))
    local = [v.clone() for v in a.variables]

    def fake_all_reduce(tensor):  # "process" a plus "process" b, in place like dist.all_reduce
        tensor.add_(b.variables[fake_all_reduce.calls])
        fake_all_reduce.calls += 1

    fake_all_reduce.calls = 0
    assert all(v.aggregation == "sum" for v in a.variables)
    assert torch.allclose(a.synced_result(fake_all_reduce), both.result())
    assert all(torch.equal(v, old) for v, old in zip(a.variables, local))
    summed = [va + vb for va, vb in zip(a.variables, b.variables)]
    assert torch.allclose(a.stateless_result(summed), both.result())
    states = a.stateless_update_state(summed, _t("bin_t2"), _t("bin_p2"))
    both.update_state(_t("bin_t2"), _t("bin_p2"))
    assert all(torch.equal(s, v) for s, v in zip(states, both.variables))
    assert all(torch.equal(v, old) for v, old in zip(a.variables, local))


def test_metrics_held_as_attributes_are_tracked():
    class Pair(metrics.Metric):
        def __init__(self):
            super().__init__(name="pair")
            self.mse = metrics.MeanSquaredError()
            self.calls = self.add_variable((), "zeros", name="calls")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.mse.update_state(y_true, y_pred, sample_weight)
            self.calls.add_(1)

        def result(self):
            return self.mse.result()

    m = Pair()
    m.update_state(_t("reg_t0"), _t("reg_p0"))
    assert [v.name for v in m.variables] == ["calls", "total", "count"]
    m.reset_state()
    assert all(float(v) == 0 for v in m.variables)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_state_follows_input_device():
    m = metrics.AUC(num_thresholds=11)
    variables = m.variables
    m.update_state(_t("bin_t0").cuda(), _t("bin_p0").cuda())
    assert m.variables == variables and all(v.is_cuda for v in variables)
    expected = metrics.AUC(num_thresholds=11)
    expected.update_state(_t("bin_t0"), _t("bin_p0"))
    assert torch.allclose(m.result().cpu(), expected.result())
    m.to("cpu")
    assert all(v.device.type == "cpu" for v in m.variables)


def test_get_resolves_keras_names():
    assert isinstance(metrics.get("mse"), metrics.MeanSquaredError)
    assert isinstance(metrics.get("auc"), metrics.AUC)
    assert isinstance(metrics.get("accuracy"), metrics.Accuracy)
    assert isinstance(metrics.get("RootMeanSquaredError"), metrics.RootMeanSquaredError)
    assert metrics.get(metrics.mean_squared_error) is metrics.mean_squared_error
    with pytest.raises(ValueError, match="Could not interpret metric identifier"):
        metrics.get("acc")


@pytest.mark.parametrize("name", ["accuracy", "acc"])
@pytest.mark.parametrize("y_true, y_pred, expected", [
    ((8, 1), (8, 1), metrics.BinaryAccuracy),
    ((8,), (8, 3), metrics.SparseCategoricalAccuracy),
    ((8, 1), (8, 3), metrics.SparseCategoricalAccuracy),
    ((8, 3), (8, 3), metrics.CategoricalAccuracy),
])
def test_compile_accuracy_resolution(name, y_true, y_pred, expected):
    metric = get_metric_for_compile(name, y_true, y_pred)
    assert type(metric) is expected and metric.name == name


def test_compile_metric_names_and_function_wrapping():
    assert get_metric_for_compile("mse", (4, 1), (4, 1)).name == "mse"
    wrapped = get_metric_for_compile(metrics.mean_squared_error, (4, 1), (4, 1))
    assert isinstance(wrapped, metrics.MeanMetricWrapper)
    assert wrapped.name == "mean_squared_error"
    auc = metrics.AUC(name="my_auc")
    assert get_metric_for_compile(auc, (4, 1), (4, 1)) is auc and auc.name == "my_auc"
    with pytest.raises(ValueError, match="Expected metric"):
        get_metric_for_compile(None, (4, 1), (4, 1))


def test_mean_metric_wrapper_config_round_trip():
    metric = metrics.MeanMetricWrapper(metrics.mean_squared_error, name="w")
    config = metrics.serialize(metric)
    assert config["config"]["fn"]["config"] == "mean_squared_error"
    clone = metrics.deserialize(config)
    clone.update_state(_t("reg_t0"), _t("reg_p0"))
    metric.update_state(_t("reg_t0"), _t("reg_p0"))
    assert torch.allclose(clone.result(), metric.result()) and clone.name == "w"
