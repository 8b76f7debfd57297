"""The per-step fast paths of fit/predict compute what the general paths compute.

Losses without weights/masks (fused torch reductions), metric updates on plain tensors,
`Layer.__call__` calling `call` directly when no torch hook is set, and the trainer's direct
autograd call are each compared with the general path (which the Keras parity tests cover).
"""

import warnings

import numpy as np
import pytest
import torch

import tkeras as keras
from tkeras.fit import losses
from tkeras.fit import metrics
from tkeras.fit.trainer import _gradients

MEAN_REDUCTIONS = ["sum_over_batch_size", "mean", "mean_with_sample_weight"]


def _data():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 3, 2, 4, 1, 3])
    return {
        "reg_t": torch.randn(6, 3, generator=g),
        "reg_p": torch.randn(6, 3, generator=g),
        "col_t": torch.randn(6, generator=g),
        "col_p": torch.randn(6, 1, generator=g),
        "bin_t": (torch.rand(6, 3, generator=g) > 0.5).float(),
        "bin_p": torch.rand(6, 3, generator=g).clamp(0.05, 0.95),
        "logits": torch.randn(6, 5, generator=g) * 2,
        "onehot": torch.eye(5)[labels],
        "labels": labels,
        "labels_f": labels.float(),
        "labels_col": labels[:, None],
        "labels_pad": torch.tensor([0, 3, -100, 4, 1, 3]),  # ignored by torch, 0 in Keras
    }


FUSED_CASES = [
    ("MeanSquaredError", {}, "reg_t", "reg_p"),
    ("MeanSquaredError", {}, "col_t", "col_p"),  # ranks aligned first
    ("MeanAbsoluteError", {}, "reg_t", "reg_p"),
    ("BinaryCrossentropy", {}, "bin_t", "bin_p"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "bin_t", "reg_p"),
    ("CategoricalCrossentropy", {"from_logits": True}, "onehot", "logits"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot",
     "logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "labels", "logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "labels_f", "logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "labels_col", "logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "labels_pad", "logits"),
]


@pytest.mark.parametrize("reduction", MEAN_REDUCTIONS + ["sum", None])
@pytest.mark.parametrize("case", FUSED_CASES, ids=lambda c: f"{c[0]}-{c[2]}")
def test_loss_fast_path_equals_weighted_path(case, reduction):
    name, config, yt_key, yp_key = case
    data = _data()
    loss = getattr(losses, name)(reduction=reduction, **config)
    y_true = data[yt_key]
    fast_pred = data[yp_key].clone().requires_grad_(True)
    slow_pred = data[yp_key].clone().requires_grad_(True)
    fast = loss(y_true, fast_pred)
    # Unit sample weights take the general path (convert, weight, mask, reduce).
    slow = loss(y_true, slow_pred, sample_weight=torch.ones(y_true.shape[0]))
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-7)
    fast.sum().backward()
    slow.sum().backward()
    torch.testing.assert_close(fast_pred.grad, slow_pred.grad, rtol=1e-6, atol=1e-7)
    if reduction in MEAN_REDUCTIONS:
        assert loss._fused_call(y_true, data[yp_key]) is not None  # the fused kernel ran


def test_loss_fast_path_keeps_keras_errors_and_masks():
    data = _data()
    with pytest.raises(ValueError, match="same shape"):
        losses.BinaryCrossentropy()(data["bin_t"][:, :2], data["bin_p"])
    with pytest.warns(SyntaxWarning):
        losses.CategoricalCrossentropy(from_logits=True)(torch.ones(6, 1), torch.zeros(6, 1))
    # `ignore_class` masks the mean: not fused, same as with unit weights.
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=3)
    torch.testing.assert_close(
        loss(data["labels"], data["logits"]),
        loss(data["labels"], data["logits"], sample_weight=torch.ones(6)))
    masked = data["reg_p"].clone()
    masked._keras_mask = torch.tensor([True, False, True, True, False, True])
    expected = losses.mean_squared_error(data["reg_t"], data["reg_p"])[masked._keras_mask].mean()
    torch.testing.assert_close(losses.MeanSquaredError()(data["reg_t"], masked), expected)
    # Float64 predictions are cast to the loss dtype first, as before.
    out = losses.MeanSquaredError()(data["reg_t"].double(), data["reg_p"].double())
    assert out.dtype == torch.float32


@pytest.mark.parametrize("metric", [
    lambda: metrics.SparseCategoricalAccuracy(),
    lambda: metrics.CategoricalAccuracy(),
    lambda: metrics.MeanSquaredError(),
    lambda: metrics.BinaryAccuracy(),
])
def test_metric_fast_update_equals_weighted_update(metric):
    data = _data()
    fast, slow = metric(), metric()
    if isinstance(fast, metrics.SparseCategoricalAccuracy):
        y_true, y_pred = data["labels"], data["logits"]
    elif isinstance(fast, metrics.CategoricalAccuracy):
        y_true, y_pred = data["onehot"], data["logits"]
    elif isinstance(fast, metrics.BinaryAccuracy):
        y_true, y_pred = data["bin_t"], data["bin_p"]
    else:
        y_true, y_pred = data["reg_t"], data["reg_p"]
    y_pred = y_pred.clone().requires_grad_(True)
    for _ in range(2):
        fast.update_state(y_true, y_pred)
        slow.update_state(y_true, y_pred, sample_weight=torch.ones(y_true.shape[0]))
    assert not fast.result().requires_grad
    torch.testing.assert_close(fast.result(), slow.result())
    torch.testing.assert_close(fast.count, slow.count)


def test_metric_update_still_follows_the_input_device_and_masks():
    metric = metrics.MeanSquaredError()
    data = _data()
    y_pred = data["reg_p"].clone()
    y_pred._keras_mask = torch.tensor([True, False, True, True, False, True])
    metric.update_state(data["reg_t"], y_pred)
    assert float(metric.count) == 4.0  # the mask weighs samples (general path)


def test_layer_hooks_and_tracing_still_go_through_module_call():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    x = torch.randn(5, 4)
    calls = []
    handle = model.layers[0].register_forward_pre_hook(lambda m, args: calls.append("pre"))
    handle2 = model.layers[1].register_forward_hook(lambda m, args, out: calls.append("post"))
    model(x)
    assert calls == ["pre", "post"]
    handle.remove()
    handle2.remove()
    model(x)
    assert calls == ["pre", "post"]
    global_handle = torch.nn.modules.module.register_module_forward_hook(
        lambda m, args, out: calls.append(type(m).__name__))
    try:
        model(x)
    finally:
        global_handle.remove()
    assert calls[2:] == ["Dense", "Dense", "Sequential"]
    fresh = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and shape-check tracer warnings
        traced = torch.jit.trace(fresh, x)  # first eager call inside the trace, then checked
    torch.testing.assert_close(traced(x), fresh(x))


def test_layer_call_keeps_masks_training_and_input_checks():
    seen = {}

    class Probe(keras.layers.Layer):
        def call(self, inputs, training=None, mask=None):
            seen["training"], seen["mask"] = training, mask
            return inputs

    probe = Probe()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3), probe])
    x = torch.randn(2, 3)
    model(x, training=True)
    assert seen["training"] is True and seen["mask"] is None
    x64 = x.double()
    mask = torch.tensor([True, False])
    x64._keras_mask = mask  # a mask set by hand goes through Dense (supports_masking)
    out = model(x64)
    assert out.dtype == torch.float32
    assert seen["training"] is False and seen["mask"] is mask
    with pytest.raises(ValueError, match="incompatible"):
        model.layers[0](torch.randn(2, 5))


def test_direct_autograd_call_equals_autograd_grad():
    w = torch.randn(3, requires_grad=True)
    unused = torch.randn(2, requires_grad=True)
    x = torch.randn(4, 3)
    expected = torch.autograd.grad((x @ w).square().mean(), (w, unused), allow_unused=True)
    got = _gradients((x @ w).square().mean(), (w, unused))
    torch.testing.assert_close(got[0], expected[0])
    assert got[1] is None and expected[1] is None
    vector = x @ w  # not a scalar: torch's own error
    with pytest.raises(RuntimeError, match="scalar"):
        _gradients(vector, (w,))


def test_fit_step_numbers_unchanged_by_fast_paths():
    """One epoch with the fast paths equals a hand-written Keras-rule step sequence."""
    rng = np.random.RandomState(0)
    x, y = rng.rand(64, 5).astype("float32"), rng.rand(64, 1).astype("float32")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    kernel, bias = (w.detach().clone().requires_grad_(True) for w in model.weights)
    history = model.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    total = 0.0
    for i in range(0, 64, 16):
        xb, yb = torch.from_numpy(x[i:i + 16]), torch.from_numpy(y[i:i + 16])
        loss = ((xb @ kernel + bias - yb) ** 2).mean()
        total += loss.item() * 16
        gk, gb = torch.autograd.grad(loss, (kernel, bias))
        with torch.no_grad():
            kernel -= 0.1 * gk
            bias -= 0.1 * gb
    torch.testing.assert_close(model.weights[0].detach(), kernel.detach(), rtol=1e-5, atol=1e-6)
    assert history.history["loss"][0] == pytest.approx(total / 64, rel=1e-5)
