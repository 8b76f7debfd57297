"""The three model APIs against real Keras: same layer order, weights, outputs, configs."""

import json

import numpy as np
import pytest
import torch

import tkeras as keras
from keras_oracle import requires_keras, run_keras

pytestmark = requires_keras

X4 = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
XA = np.random.default_rng(1).normal(size=(3, 8)).astype(np.float32)
XB = np.random.default_rng(2).normal(size=(3, 8)).astype(np.float32)
TOKENS = np.array([[3, 1, 0, 0], [5, 2, 7, 0]], dtype=np.int64)

KERAS_CODE = r"""
import json
from keras import layers

def dump(prefix, model, out):
    outputs[prefix + "/layers"] = [l.name for l in model.layers]
    outputs[prefix + "/paths"] = [w.path for w in model.weights]
    outputs[prefix + "/n"] = len(model.weights)
    for i, w in enumerate(model.weights):
        outputs[f"{prefix}/w{i}"] = w.numpy()
    outs = out if isinstance(out, (list, tuple)) else [out]
    outputs[prefix + "/n_out"] = len(outs)
    for i, o in enumerate(outs):
        outputs[f"{prefix}/out{i}"] = o.detach().numpy()
    outputs[prefix + "/json"] = model.to_json()

# 1. Sequential MLP
seq = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"),
                        layers.Dropout(0.5), layers.Dense(3, activation="softmax")], name="mlp")
dump("seq", seq, seq(inputs["x4"]))
outputs["seq/summary"] = []
seq.summary(print_fn=lambda line, **kw: outputs["seq/summary"].append(line))

# 2. Functional: two inputs, a shared layer, a nested functional model, two outputs.
a = keras.Input((8,), name="in_a"); b = keras.Input((8,), name="in_b")
shared = layers.Dense(6, activation="tanh", name="shared")
inner_in = keras.Input((6,), name="inner_in")
inner = keras.Model(inner_in, layers.Dense(4, name="inner_dense")(inner_in), name="inner")
merged = layers.Concatenate(name="concat")([inner(shared(a)), inner(shared(b))])
out1 = layers.Dense(1, name="out1")(merged)
out2 = layers.Dense(3, activation="softmax", name="out2")(shared(b))
fn = keras.Model([a, b], [out1, out2], name="two_io")
dump("fn", fn, fn([inputs["xa"], inputs["xb"]]))

# 3. Embedding(mask_zero) -> masked mean in a custom layer, keras.Model subclass.
class MaskedMean(layers.Layer):
    def call(self, x, mask=None):
        m = keras.ops.cast(mask, x.dtype)[..., None]
        return keras.ops.sum(x * m, axis=1) / keras.ops.sum(m, axis=1)

class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.emb = layers.Embedding(10, 4, mask_zero=True)
        self.pool = MaskedMean()
        self.head = layers.Dense(2)
    def call(self, x):
        return self.head(self.pool(self.emb(x)))

net = Net()
dump("sub", net, net(inputs["tokens"]))

# 4. Regularization losses.
reg = keras.Sequential([keras.Input((4,)), layers.Dense(3, kernel_regularizer=keras.regularizers.l2(0.1),
                        activity_regularizer=keras.regularizers.l1(0.01))])
y = reg(inputs["x4"])
outputs["reg/w0"] = reg.weights[0].numpy(); outputs["reg/w1"] = reg.weights[1].numpy()
outputs["reg/losses"] = [float(l.detach()) for l in reg.losses]
"""


@pytest.fixture(scope="module")
def ref():
    return run_keras(KERAS_CODE, {"x4": X4, "xa": XA, "xb": XB, "tokens": TOKENS})


def _load_weights(prefix, model, ref):
    n = int(ref[prefix + "/n"])
    assert len(model.weights) == n
    model.set_weights([ref[f"{prefix}/w{i}"] for i in range(n)])


def _compare_outputs(prefix, outs, ref):
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    assert len(outs) == int(ref[prefix + "/n_out"])
    for i, o in enumerate(outs):
        np.testing.assert_allclose(o.detach().numpy(), ref[f"{prefix}/out{i}"], rtol=1e-5,
                                   atol=1e-6)


def test_sequential_matches_keras(ref):
    L = keras.layers
    seq = keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu"), L.Dropout(0.5),
                            L.Dense(3, activation="softmax")], name="mlp")
    # Names differ by session counters; the structure and weight layout must not.
    assert [type(l).__name__ for l in seq.layers] == ["Dense", "Dropout", "Dense"]
    assert [w.shape for w in seq.weights] == [tuple(ref[f"seq/w{i}"].shape) for i in range(4)]
    _load_weights("seq", seq, ref)
    _compare_outputs("seq", seq(X4), ref)
    text = []
    seq.summary(print_fn=text.append)
    assert len(text) == len(ref["seq/summary"]) == 1  # Keras calls print_fn once
    lines = text[0].rstrip("\n").split("\n")
    keras_lines = "".join(ref["seq/summary"]).rstrip("\n").split("\n")
    assert len(lines) == len(keras_lines)
    assert lines[:4] == keras_lines[:4]  # title and header box
    assert lines[-3:] == keras_lines[-3:]  # parameter totals and sizes


def test_functional_multi_io_shared_nested_matches_keras(ref):
    L = keras.layers
    a = keras.Input((8,), name="in_a")
    b = keras.Input((8,), name="in_b")
    shared = L.Dense(6, activation="tanh", name="shared")
    inner_in = keras.Input((6,), name="inner_in")
    inner = keras.Model(inner_in, L.Dense(4, name="inner_dense")(inner_in), name="inner")
    merged = L.Concatenate(name="concat")([inner(shared(a)), inner(shared(b))])
    out1 = L.Dense(1, name="out1")(merged)
    out2 = L.Dense(3, activation="softmax", name="out2")(shared(b))
    fn = keras.Model([a, b], [out1, out2], name="two_io")
    assert [l.name for l in fn.layers] == list(ref["fn/layers"])
    assert [w.path for w in fn.weights] == list(ref["fn/paths"])
    _load_weights("fn", fn, ref)
    _compare_outputs("fn", fn([XA, XB]), ref)
    # The same graph from Keras's JSON, with Keras's weights.
    rebuilt = keras.models.model_from_json(str(ref["fn/json"]))
    assert [l.name for l in rebuilt.layers] == list(ref["fn/layers"])
    _load_weights("fn", rebuilt, ref)
    _compare_outputs("fn", rebuilt([XA, XB]), ref)
    # Our JSON equals Keras's (modulo python-id based shared_object_id keys).
    ours = json.loads(fn.to_json())
    theirs = json.loads(str(ref["fn/json"]))
    assert _strip_ids(ours) == _strip_ids(theirs)


def _strip_ids(obj):
    if isinstance(obj, dict):
        return {k: _strip_ids(v) for k, v in obj.items() if k != "shared_object_id"}
    if isinstance(obj, list):
        return [_strip_ids(v) for v in obj]
    return obj


class MaskedMean(keras.layers.Layer):
    def call(self, x, mask=None):
        m = mask.to(x.dtype)[..., None]
        return (x * m).sum(1) / m.sum(1)


class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.emb = keras.layers.Embedding(10, 4, mask_zero=True)
        self.pool = MaskedMean()
        self.head = keras.layers.Dense(2)

    def call(self, x):
        return self.head(self.pool(self.emb(x)))


def test_subclassed_model_with_mask_matches_keras(ref):
    net = Net()
    net(TOKENS)
    assert [w.shape for w in net.weights] == [tuple(ref[f"sub/w{i}"].shape) for i in range(3)]
    _load_weights("sub", net, ref)
    _compare_outputs("sub", net(TOKENS), ref)


def test_regularization_losses_match_keras(ref):
    reg = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        3, kernel_regularizer=keras.regularizers.l2(0.1),
        activity_regularizer=keras.regularizers.l1(0.01))])
    reg.set_weights([ref["reg/w0"], ref["reg/w1"]])
    reg._clear_losses()
    reg(X4)
    ours = sorted(float(l) for l in reg.losses)
    np.testing.assert_allclose(ours, sorted(ref["reg/losses"]), rtol=1e-5)


PATHS_CODE = r"""
from keras import layers
seq = keras.Sequential([keras.Input((4,)), layers.Dense(2, name="d1")], name="pseq")
class Net(keras.Model):
    def __init__(self):
        super().__init__(name="pnet")
        self.d = layers.Dense(2, name="sub")
    def call(self, x):
        return self.d(x)
net = Net(); net(np.ones((1, 3), "float32"))
lstm = layers.LSTM(3, name="plstm"); lstm(np.ones((1, 2, 3), "float32"))
mha = layers.MultiHeadAttention(2, 4, name="pmha"); q = np.ones((1, 3, 5), "float32"); mha(q, q)
outputs["paths"] = [w.path for m in (seq, net, lstm, mha) for w in m.weights]
"""


def test_variable_paths_match_keras():
    L = keras.layers
    seq = keras.Sequential([keras.Input((4,)), L.Dense(2, name="d1")], name="pseq")

    class PathNet(keras.Model):
        def __init__(self):
            super().__init__(name="pnet")
            self.d = L.Dense(2, name="sub")

        def call(self, x):
            return self.d(x)

    net = PathNet()
    net(np.ones((1, 3), "float32"))
    lstm = L.LSTM(3, name="plstm")
    lstm(np.ones((1, 2, 3), "float32"))
    mha = L.MultiHeadAttention(2, 4, name="pmha")
    q = np.ones((1, 3, 5), "float32")
    mha(q, q)
    ours = [w.path for m in (seq, net, lstm, mha) for w in m.weights]
    assert ours == list(run_keras(PATHS_CODE)["paths"])
