"""`Dense.call`'s addmm (2-D) and F.linear (N-D) paths and the sparse cross-entropy's cached
batch-mean class weights compute what Keras's formulas compute (the Keras parity tests cover
those formulas: tests/test_layers_core.py, tests/test_losses.py)."""

import warnings

import pytest
import torch
from torch.nn.utils import parametrize

import tkeras as keras
from tkeras.fit import losses


def _dense(activation, use_bias, input_dim=6):
    layer = keras.layers.Dense(4, activation=activation, use_bias=use_bias)
    layer.build((None, input_dim))
    with torch.no_grad():  # a nonzero bias, so a dropped bias would show
        if use_bias:
            layer.bias.copy_(torch.linspace(-1.0, 1.0, 4))
    return layer


def _keras_formula(layer, x, kernel):
    y = torch.matmul(x.to(kernel.dtype), kernel)
    if layer.bias is not None:
        y = y + layer.bias
    return layer.activation(y)


@pytest.mark.parametrize("shape", [(5, 6), (2, 3, 6)], ids=["2d", "3d"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_dense_call_equals_keras_formula(activation, use_bias, shape):
    layer = _dense(activation, use_bias)
    x = torch.randn(*shape, requires_grad=True)
    out = layer(x)
    expected = _keras_formula(layer, x, layer.kernel)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    weights = [layer.kernel] + ([layer.bias] if use_bias else [])
    got = torch.autograd.grad(out.square().sum(), [x] + weights)
    want = torch.autograd.grad(expected.square().sum(), [x] + weights)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)


def test_dense_integer_inputs_and_parametrized_kernel():
    layer = _dense("relu", True)
    ids = torch.arange(12).reshape(2, 6)
    torch.testing.assert_close(layer(ids), _keras_formula(layer, ids, layer.kernel))

    class Double(torch.nn.Module):
        def forward(self, kernel):
            return 2 * kernel

    parametrize.register_parametrization(layer, "kernel", Double())
    original = layer.parametrizations.kernel.original
    for shape in ((5, 6), (2, 3, 6)):
        x = torch.randn(*shape)
        torch.testing.assert_close(layer(x), _keras_formula(layer, x, 2 * original))


def test_dense_relu_shortcut_only_for_default_relu():
    layer = keras.layers.Dense(3, activation=lambda t: keras.activations.relu(t, max_value=0.5))
    x = torch.randn(8, 4) * 4
    assert float(layer(x).detach().max()) <= 0.5


@pytest.mark.parametrize("batch", [128, 100, 37])
def test_sparse_crossentropy_batch_mean_weights(batch):
    g = torch.Generator().manual_seed(batch)
    logits = torch.randn(batch, 7, generator=g).requires_grad_(True)
    labels = torch.randint(0, 7, (batch,), generator=g)
    labels[::5] = -100  # loss 0 but counted in the mean, as Keras's one-hot loss
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    fast = loss(labels, logits)
    reference = torch.nn.functional.cross_entropy(logits, labels, reduction="sum") / batch
    exact = batch & (batch - 1) == 0  # scaling by 1 / batch is exact for powers of two
    torch.testing.assert_close(fast, reference, rtol=0 if exact else 2e-7, atol=0)
    got, = torch.autograd.grad(fast, logits)
    want, = torch.autograd.grad(reference, logits)
    assert torch.equal(got, want)


def test_sparse_crossentropy_weights_made_under_inference_mode_train_later():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    logits = torch.randn(9, 5, requires_grad=True)
    labels = torch.randint(0, 5, (9,))
    with torch.inference_mode():
        evaluated = loss(labels, logits.detach())
    trained = loss(labels, logits)  # the cached weights are saved for backward
    trained.backward()
    torch.testing.assert_close(trained.detach(), evaluated)
    assert logits.grad is not None


def test_fused_losses_compile_fullgraph_without_warnings():
    labels = torch.randint(0, 5, (9,))
    logits = torch.randn(9, 5, requires_grad=True)
    target, pred = torch.randn(9, 2), torch.randn(9, 2, requires_grad=True)
    cases = [(losses.SparseCategoricalCrossentropy(from_logits=True), labels, logits),
             (losses.MeanSquaredError(), target, pred),
             (losses.MeanAbsoluteError(), target, pred)]
    for loss, y_true, y_pred in cases:
        compiled = torch.compile(loss.__call__, backend="eager", fullgraph=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = compiled(y_true, y_pred)
        torch.testing.assert_close(out, loss(y_true, y_pred))
