"""`keras.StatelessScope`/`Layer.stateless_call`, `keras.RematScope`, `keras.SymbolicScope` and
`keras.Function` vs real Keras 3 (one batched oracle subprocess)."""

import re
from unittest import mock

import numpy as np
import pytest
import torch
from keras_oracle import requires_keras, run_keras

import tkeras as keras
from tkeras.core.scopes import RematScope
from tkeras.core.stateless_scope import StatelessScope, in_stateless_scope
from tkeras.core.symbolic_scope import SymbolicScope, in_symbolic_scope
from tkeras.ops.function import Function

REMAT_MODES = {"full": {}, "activations": {}, "larger_than": {"output_size_threshold": 100},
               "list_of_layers": {"layer_names": ["d1", "d3"]}, "none": {"mode": None}}

KERAS_CODE = """
import torch
from unittest import mock

def dense_bn_model():
    i = keras.Input((5,))
    h = keras.layers.Dense(4, name="dense")(i)
    o = keras.layers.BatchNormalization(momentum=0.8, name="bn")(h)
    return keras.Model(i, o)

# stateless_call: Dense + BatchNormalization, training and inference.
model = dense_bn_model()
model.set_weights([inputs[f"w{i}"] for i in range(6)])
tv = [torch.tensor(inputs[f"tv{i}"], requires_grad=True) for i in range(4)]
ntv = [torch.tensor(inputs[f"ntv{i}"]) for i in range(2)]
for training in (True, False):
    out, new_ntv = model.stateless_call(tv, ntv, torch.tensor(inputs["x"]), training=training)
    outputs[f"stateless/{training}/out"] = out.detach()
    for j, v in enumerate(new_ntv):
        outputs[f"stateless/{training}/ntv{j}"] = v.detach()
    grads = torch.autograd.grad(out.square().sum(), tv)
    for j, g in enumerate(grads):
        outputs[f"stateless/{training}/grad{j}"] = g
outputs["stateless/weights_after"] = [w.tolist() for w in model.get_weights()]

# StatelessScope around a plain call: mapped values read, updates recorded.
bn = model.get_layer("bn")
with keras.StatelessScope([(bn.moving_mean, inputs["ntv0"]), (bn.moving_variance, inputs["ntv1"]),
                           (bn.gamma, inputs["tv2"])]) as scope:
    out = bn(keras.ops.convert_to_tensor(inputs["h"]), training=True)
    bn.beta.assign(inputs["tv3"])
outputs["scope/out"] = out.detach()
outputs["scope/mean"] = scope.get_current_value(bn.moving_mean)
outputs["scope/variance"] = scope.get_current_value(bn.moving_variance)
outputs["scope/beta"] = scope.get_current_value(bn.beta)

# RematScope: which calls are recomputed.
original = torch.utils.checkpoint.checkpoint
calls = []
def spy(f, *args, **kwargs):
    calls.append(getattr(getattr(f, "__self__", None), "name", None) or f.__name__)
    return original(f, *args, **kwargs)
for mode, kwargs in json.loads(str(inputs["remat_modes"])).items():
    with keras.RematScope(**({"mode": mode} | kwargs) if mode != "none" else kwargs):
        i = keras.Input((8,))
        h = keras.layers.Dense(16, activation="relu", name="d1")(i)
        h = keras.layers.Dense(64, name="d2")(h)
        o = keras.layers.Dense(2, activation="softmax", name="d3")(h)
        net = keras.Model(i, o, name="net")
    calls.clear()
    with mock.patch.object(torch.utils.checkpoint, "checkpoint", spy):
        net(torch.ones(4, 8)).sum().backward()
    outputs[f"remat/{mode}"] = list(calls)

# Function.
a = keras.KerasTensor(shape=(None, 2, 3))
b = keras.KerasTensor(shape=(None, 2, 3))
s = a + b
fn = keras.Function(inputs=[a, b], outputs={"sig": keras.ops.sigmoid(s), "sum": keras.ops.sum(s * b, axis=1)})
result = fn([inputs["fa"], inputs["fb"]])
outputs["function/sig"] = result["sig"]
outputs["function/sum"] = result["sum"]
outputs["function/ops"] = [type(op).__name__ for op in fn.operations]
outputs["function/shape"] = {k: list(v) for k, v in fn.compute_output_shape([(7, 2, 3), (7, 2, 3)]).items()}
for bad in ("structure", "shape"):
    try:
        fn([inputs["fa"]] if bad == "structure" else [inputs["fa"], inputs["fa"][:, :1]])
    except ValueError as e:
        outputs[f"function/error_{bad}"] = str(e)
"""


def _inputs():
    rng = np.random.default_rng(0)
    model = _dense_bn_model()
    data = {f"w{i}": rng.normal(size=w.shape).astype("float32")
            for i, w in enumerate(model.get_weights())}
    data["w5"] = np.abs(data["w5"]) + 0.5  # moving variance
    data.update({f"tv{i}": rng.normal(size=v.shape).astype("float32")
                 for i, v in enumerate(model.trainable_variables)})
    data["ntv0"] = rng.normal(size=(4,)).astype("float32")
    data["ntv1"] = (np.abs(rng.normal(size=(4,))) + 0.5).astype("float32")
    data["x"] = rng.normal(size=(6, 5)).astype("float32")
    data["h"] = rng.normal(size=(6, 4)).astype("float32")
    data["fa"] = rng.normal(size=(4, 2, 3)).astype("float32")
    data["fb"] = rng.normal(size=(4, 2, 3)).astype("float32")
    import json

    data["remat_modes"] = np.array(json.dumps(REMAT_MODES))
    return data


def _dense_bn_model():
    i = keras.Input((5,))
    h = keras.layers.Dense(4, name="dense")(i)
    o = keras.layers.BatchNormalization(momentum=0.8, name="bn")(h)
    return keras.Model(i, o)


@pytest.fixture(scope="module")
def oracle():
    data = _inputs()
    return data, run_keras(KERAS_CODE, data)


def _close(a, b, atol=1e-5):
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=atol)


@requires_keras
@pytest.mark.parametrize("training", [True, False])
def test_stateless_call_matches_keras(oracle, training):
    data, ref = oracle
    model = _dense_bn_model()
    model.set_weights([data[f"w{i}"] for i in range(6)])
    before = [w.detach().clone() for w in model.weights]
    tv = [torch.tensor(data[f"tv{i}"], requires_grad=True) for i in range(4)]
    ntv = [torch.tensor(data[f"ntv{i}"]) for i in range(2)]
    ntv_before = [v.clone() for v in ntv]
    out, new_ntv = model.stateless_call(tv, ntv, torch.tensor(data["x"]), training=training)
    _close(out, ref[f"stateless/{training}/out"])
    assert len(new_ntv) == 2
    for j, v in enumerate(new_ntv):
        _close(v, ref[f"stateless/{training}/ntv{j}"])
    for j, g in enumerate(torch.autograd.grad(out.square().sum(), tv)):
        _close(g, ref[f"stateless/{training}/grad{j}"], atol=1e-4)
    # Neither the model's variables nor the tensors passed in changed.
    for w, b in zip(model.weights, before):
        assert torch.equal(w.data, b)
    for v, b in zip(ntv, ntv_before):
        assert torch.equal(v, b)
    for w, expected in zip(model.get_weights(), ref["stateless/weights_after"]):
        _close(w, np.array(expected))


def test_stateless_call_validation_and_losses():
    layer = keras.layers.Dense(2, kernel_regularizer="l2")
    with pytest.raises(ValueError, match="must be built"):
        layer.stateless_call([], [], torch.ones(1, 3))
    layer(torch.ones(1, 3))
    with pytest.raises(ValueError, match="1:1"):
        layer.stateless_call([layer.kernel], [], torch.ones(1, 3))
    kernel = torch.zeros(3, 2)
    out, ntv, losses = layer.stateless_call([kernel, torch.ones(2)], [], torch.ones(1, 3),
                                            return_losses=True)
    assert ntv == [] and torch.equal(out, torch.ones(1, 2)) and len(losses) == 1
    assert not in_stateless_scope()


@requires_keras
def test_stateless_scope_matches_keras(oracle):
    data, ref = oracle
    model = _dense_bn_model()
    model.set_weights([data[f"w{i}"] for i in range(6)])
    bn = model.get_layer("bn")
    before = [w.detach().clone() for w in bn.weights]
    mean = torch.tensor(data["ntv0"])
    with StatelessScope([(bn.moving_mean, mean), (bn.moving_variance, data["ntv1"]),
                         (bn.gamma, data["tv2"])]) as scope:
        assert in_stateless_scope()
        out = bn(torch.tensor(data["h"]), training=True)
        scope.add_update((bn.beta, torch.tensor(data["tv3"])))
        torch.testing.assert_close(bn.beta.data, torch.tensor(data["tv3"]))  # read in scope
    _close(out, ref["scope/out"])
    _close(scope.get_current_value(bn.moving_mean), ref["scope/mean"])
    _close(scope.get_current_value(bn.moving_variance), ref["scope/variance"])
    _close(scope.get_current_value(bn.beta), ref["scope/beta"])
    assert not in_stateless_scope()
    for w, b in zip(bn.weights, before):
        assert torch.equal(w.data, b)
    assert torch.equal(mean, torch.tensor(data["ntv0"]))


def test_stateless_scope_nesting_and_validation():
    v = keras.Variable(np.zeros(3, "float32"))
    with StatelessScope([(v, np.ones(3, "float32"))]) as outer:
        with StatelessScope([(v, np.full(3, 2.0, "float32"))]) as inner:
            v.assign(np.full(3, 5.0, "float32"))
            assert float(v.detach().sum()) == 15.0
        assert float(v.detach().sum()) == 3.0
        assert float(inner.get_current_value(v).sum()) == 15.0
    assert float(v.detach().sum()) == 0.0 and float(outer.get_current_value(v).sum()) == 3.0
    with pytest.raises(ValueError, match="must be Variable"):
        StatelessScope([(torch.zeros(3), torch.ones(3))])
    with pytest.raises(ValueError, match="shape"):
        StatelessScope([(v, torch.ones(4))])


def test_stateless_scope_records_assign_on_unmapped_variables():
    """Keras: inside the scope, `assign*` of any variable is recorded, the variable is kept."""
    v = keras.Variable(np.zeros(3, "float32"))
    with StatelessScope() as scope:
        v.assign(np.full(3, 2.0, "float32"))
        v.assign_add(np.ones(3, "float32"))
        v.assign_sub(np.full(3, 0.5, "float32"))
        assert float(v.detach().sum()) == 7.5  # read inside the scope: the new value
    assert float(v.detach().sum()) == 0.0
    np.testing.assert_array_equal(scope.get_current_value(v).numpy(), np.full(3, 2.5))


def test_symbolic_scope():
    assert not in_symbolic_scope()
    with SymbolicScope() as outer:
        assert in_symbolic_scope()
        with SymbolicScope():
            assert in_symbolic_scope()
        assert in_symbolic_scope() and outer.original_scope is None
    assert not in_symbolic_scope()


def _remat_net(mode, kwargs):
    with RematScope(**({"mode": mode} | kwargs) if mode != "none" else kwargs):
        i = keras.Input((8,))
        h = keras.layers.Dense(16, activation="relu", name="d1")(i)
        h = keras.layers.Dense(64, name="d2")(h)
        o = keras.layers.Dense(2, activation="softmax", name="d3")(h)
        return keras.Model(i, o, name="net")


@requires_keras
@pytest.mark.parametrize("mode", list(REMAT_MODES))
def test_remat_scope_matches_keras(oracle, mode):
    _, ref = oracle
    net = _remat_net(mode, REMAT_MODES[mode])
    plain = keras.Model.from_config(net.get_config())
    plain.set_weights(net.get_weights())
    calls, original = [], torch.utils.checkpoint.checkpoint

    def spy(f, *args, **kwargs):
        calls.append(getattr(getattr(f, "__self__", None), "name", None) or f.__name__)
        return original(f, *args, **kwargs)

    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    with mock.patch.object(torch.utils.checkpoint, "checkpoint", spy):
        grads = torch.autograd.grad(net(x).square().sum(), net.trainable_weights)
    assert calls == ref[f"remat/{mode}"]
    expected = torch.autograd.grad(plain(x).square().sum(), plain.trainable_weights)
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e, rtol=0, atol=0)


def test_remat_scope_validation_and_nesting():
    with pytest.raises(ValueError, match="Invalid mode"):
        RematScope("bad")
    with RematScope("full"):
        outer = keras.layers.Dense(2)
        with RematScope(None):
            off = keras.layers.Dense(2)
    after = keras.layers.Dense(2)
    assert outer._remat_mode.mode == "full" and off._remat_mode is None
    assert after._remat_mode is None


def test_remat_layer_compiles_without_graph_breaks():
    with RematScope("full"):
        layer = keras.layers.Dense(3, activation="relu")
    x = torch.randn(2, 4)
    expected = layer(x)
    compiled = torch.compile(layer, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), expected)


@requires_keras
def test_function_matches_keras(oracle):
    data, ref = oracle
    a = keras.KerasTensor(shape=(None, 2, 3))
    b = keras.KerasTensor(shape=(None, 2, 3))
    s = a + b
    fn = Function(inputs=[a, b], outputs={"sig": keras.ops.sigmoid(s),
                                          "sum": keras.ops.sum(s * b, axis=1)})
    result = fn([data["fa"], data["fb"]])
    _close(result["sig"], ref["function/sig"])
    _close(result["sum"], ref["function/sum"])
    assert sorted(type(op).__name__ for op in fn.operations) == sorted(ref["function/ops"])
    shapes = fn.compute_output_shape([(7, 2, 3), (7, 2, 3)])
    assert {k: list(v) for k, v in shapes.items()} == ref["function/shape"]
    # Keras prefixes its operation-call context; the message itself is the same.
    with pytest.raises(ValueError) as info:
        fn([data["fa"]])
    assert str(info.value).split(":")[0] in ref["function/error_structure"]
    with pytest.raises(ValueError) as info:
        fn([data["fa"], data["fa"][:, :1]])
    # Symbolic tensors are numbered per process (`keras_tensor_5`).
    assert re.sub(r"keras_tensor_\d+", "kt", str(info.value)) in re.sub(
        r"keras_tensor_\d+", "kt", ref["function/error_shape"])


def test_function_in_a_functional_model_and_errors():
    a = keras.KerasTensor(shape=(None, 3))
    fn = Function(a, keras.ops.relu(a) * 2.0, name="double_relu")
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2)(fn(inputs))
    model = keras.Model(inputs, outputs)
    x = torch.tensor([[-1.0, 0.5, 2.0]])
    dense = model.layers[-1]
    torch.testing.assert_close(model(x), dense(torch.relu(x) * 2.0))
    assert fn.name == "double_relu" and fn.inputs == [a]
    with pytest.raises(ValueError, match="cannot be empty"):
        Function([], a)
    other = keras.KerasTensor(shape=(None, 3))
    with pytest.raises(ValueError, match="Graph disconnected"):
        Function(a, a + other)
