"""Recurrent layers beyond single calls: stateful layers across calls and `reset_states`,
list-valued `initial_state` (LSTM, stacked cells, Bidirectional), symbolic calls, and which
path (fused kernel or cell loop) runs. Keras numbers come from one subprocess."""

import numpy as np
import pytest
import torch

from keras_oracle import requires_keras, run_keras
from layer_harness import rand

X1, X2 = rand(2, 4, 3, seed=1), rand(2, 4, 3, seed=2)
H0, C0 = rand(2, 3, seed=3), rand(2, 3, seed=4)
G0 = rand(2, 2, seed=5)

_KERAS = r"""
import numpy as np
import torch
from keras import layers
x1, x2 = inputs["x1"], inputs["x2"]
h0, c0, g0 = inputs["h0"], inputs["c0"], inputs["g0"]

def save(prefix, layer, values):
    for i, w in enumerate(layer.get_weights()):
        outputs[f"{prefix}/w{i}"] = w
    outputs[f"{prefix}/n_w"] = len(layer.get_weights())
    for i, v in enumerate(values):
        outputs[f"{prefix}/out{i}"] = np.asarray(v.detach().cpu().numpy())
    outputs[f"{prefix}/n_out"] = len(values)

def flat(o):
    return [t for x in o for t in flat(x)] if isinstance(o, (list, tuple)) else [o]

# Stateful LSTM: two calls carry the state; reset_states starts over.
lstm = layers.LSTM(3, stateful=True, return_sequences=True)
a = lstm(x1); b = lstm(x2); states = [torch.tensor(s.numpy()) for s in lstm.states]
lstm.reset_states(); c = lstm(x1)
save("stateful_lstm", lstm, [a, b, *states, c])

# Stateful SimpleRNN going backwards, via reset_state (Keras 3 name).
srnn = layers.SimpleRNN(2, stateful=True, go_backwards=True)
a = srnn(x1); b = srnn(x2); srnn.reset_state(); c = srnn(x2)
save("stateful_srnn", srnn, [a, b, c])

# Stateful Bidirectional GRU.
bidi = layers.Bidirectional(layers.GRU(2, stateful=True, return_sequences=True))
a = bidi(x1); b = bidi(x2); bidi.reset_states(); c = bidi(x2)
save("stateful_bidi", bidi, [a, b, c])

# initial_state lists.
lstm = layers.LSTM(3, return_state=True, return_sequences=True)
save("lstm_initial_state", lstm, flat(lstm(x1, initial_state=[h0, c0])))
stacked = layers.RNN([layers.LSTMCell(3), layers.GRUCell(2)], return_state=True)
save("stacked_initial_state", stacked, flat(stacked(x1, initial_state=[[h0, c0], [g0]])))
bidi = layers.Bidirectional(layers.LSTM(3, return_state=True))
save("bidi_initial_state", bidi, flat(bidi(x1, initial_state=[h0, c0, c0, h0])))
"""


def _tk_cases():
    from tkeras import layers

    def flat(o):
        return [t for x in o for t in flat(x)] if isinstance(o, (list, tuple)) else [o]

    def stateful_lstm(layer):
        a, b = layer(X1), layer(X2)
        states = list(layer.states)
        layer.reset_states()
        return [a, b, *states, layer(X1)]

    def stateful_srnn(layer):
        a, b = layer(X1), layer(X2)
        layer.reset_state()
        return [a, b, layer(X2)]

    def stateful_bidi(layer):
        a, b = layer(X1), layer(X2)
        layer.reset_states()
        return [a, b, layer(X2)]

    return {
        "stateful_lstm": (lambda: layers.LSTM(3, stateful=True, return_sequences=True),
                          stateful_lstm),
        "stateful_srnn": (lambda: layers.SimpleRNN(2, stateful=True, go_backwards=True),
                          stateful_srnn),
        "stateful_bidi": (lambda: layers.Bidirectional(
            layers.GRU(2, stateful=True, return_sequences=True)), stateful_bidi),
        "lstm_initial_state": (
            lambda: layers.LSTM(3, return_state=True, return_sequences=True),
            lambda layer: flat(layer(X1, initial_state=[torch.tensor(H0), torch.tensor(C0)]))),
        "stacked_initial_state": (
            lambda: layers.RNN([layers.LSTMCell(3), layers.GRUCell(2)], return_state=True),
            lambda layer: flat(layer(X1, initial_state=[[torch.tensor(H0), torch.tensor(C0)],
                                                        [torch.tensor(G0)]]))),
        "bidi_initial_state": (
            lambda: layers.Bidirectional(layers.LSTM(3, return_state=True)),
            lambda layer: flat(layer(X1, initial_state=[torch.tensor(v)
                                                        for v in (H0, C0, C0, H0)]))),
    }


@pytest.fixture(scope="module")
def keras_ref():
    return run_keras(_KERAS, {"x1": X1, "x2": X2, "h0": H0, "c0": C0, "g0": G0})


@requires_keras
@pytest.mark.parametrize("name", list(_tk_cases()))
def test_matches_keras(keras_ref, name):
    make, run = _tk_cases()[name]
    layer = make()
    layer(X1[:, :1])  # build (for a stateful layer this also creates its states)
    weights = [keras_ref[f"{name}/w{i}"] for i in range(int(keras_ref[f"{name}/n_w"]))]
    layer.set_weights(weights)
    if getattr(layer, "stateful", False):
        layer.reset_states()
    outs = run(layer)
    assert len(outs) == int(keras_ref[f"{name}/n_out"])
    for i, out in enumerate(outs):
        np.testing.assert_allclose(out.detach().numpy(), keras_ref[f"{name}/out{i}"],
                                   rtol=1e-5, atol=1e-5, err_msg=f"{name} output {i}")


def test_stateful_states_carry_and_reset():
    from tkeras import layers

    layer = layers.GRU(2, stateful=True)
    first = layer(X1)
    second = layer(X1)
    assert not torch.allclose(first, second)  # the second call starts from the first's state
    layer.reset_states()
    torch.testing.assert_close(layer(X1), first)
    with pytest.raises(ValueError, match="batch size"):
        layer(rand(3, 4, 3))


def test_symbolic_call_leaves_states_alone():
    import tkeras

    layer = tkeras.layers.LSTM(3, stateful=True, return_state=True)
    layer(X1)
    before = [s.clone() for s in layer.states]
    outputs = layer(tkeras.Input(batch_shape=(2, 4, 3)))
    assert [tuple(o.shape) for o in outputs] == [(2, 3), (2, 3), (2, 3)]
    for b, s in zip(before, layer.states):
        torch.testing.assert_close(s, b)
    with pytest.raises(ValueError, match="static"):
        tkeras.layers.LSTM(3, stateful=True)(tkeras.Input((4, 3)))


def test_functional_stateful_model():
    import tkeras

    inputs = tkeras.Input(batch_shape=(2, 4, 3))
    layer = tkeras.layers.SimpleRNN(2, stateful=True)
    model = tkeras.Model(inputs, layer(inputs))
    first = model(X1)
    assert not torch.allclose(model(X1), first)
    layer.reset_states()
    torch.testing.assert_close(model(X1), first)


@pytest.mark.parametrize("mask, fused", [
    (None, True),
    ([[1, 1, 1, 0], [1, 1, 1, 1]], True),   # right padding -> packed sequences
    ([[0, 0, 1, 1], [1, 1, 1, 1]], True),   # left padding -> rolled, packed
    ([[1, 0, 1, 1], [1, 1, 1, 1]], False),  # holes -> cell loop
])
def test_fused_path_is_taken(monkeypatch, mask, fused):
    from tkeras import layers
    from tkeras.layers.rnn import fused as fused_module

    calls = []
    for kind, fn in list(fused_module.KERNELS.items()):
        monkeypatch.setitem(fused_module.KERNELS, kind,
                            lambda *a, _fn=fn, _kind=kind: calls.append(_kind) or _fn(*a))
    kwargs = {} if mask is None else {"mask": torch.tensor(mask, dtype=torch.bool)}
    for layer, kind in ((layers.LSTM(3), "lstm"), (layers.GRU(3), "gru"),
                        (layers.SimpleRNN(3, activation="relu"), "rnn_relu")):
        calls.clear()
        layer(X1, **kwargs)
        assert calls == ([kind] if fused else [])
    calls.clear()
    layers.GRU(3, reset_after=False)(X1, **kwargs)
    layers.LSTM(3, recurrent_activation="hard_sigmoid")(X1, **kwargs)
    assert calls == []


def test_regularization_losses_and_constraints_attached():
    from tkeras import layers

    layer = layers.LSTM(2, kernel_regularizer="l2", recurrent_constraint="non_neg",
                        activity_regularizer="l1")
    layer(X1)
    assert len(layer.losses) == 2  # kernel l2 (weights) + activity l1 (last call)
    assert layer.cell.recurrent_kernel.constraint is not None


@pytest.mark.parametrize("masked", [False, True])
def test_bidirectional_fused(monkeypatch, masked):
    """Unmasked: one bidirectional kernel call; masked (right padding): one packed call per
    direction (the backward direction sees left padding)."""
    from tkeras import layers
    from tkeras.layers.rnn import fused as fused_module

    calls = []
    for kind, fn in list(fused_module.KERNELS.items()):
        monkeypatch.setitem(fused_module.KERNELS, kind,
                            lambda *a, _fn=fn, _kind=kind: calls.append(_kind) or _fn(*a))
    kwargs = {"mask": torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)} if masked \
        else {}
    for layer, kind in ((layers.Bidirectional(layers.LSTM(3)), "lstm"),
                        (layers.Bidirectional(layers.GRU(2, return_sequences=True)), "gru")):
        calls.clear()
        layer(X1, **kwargs)
        assert calls == [kind, kind] if masked else [kind]
