"""DataParallel on torch's DDP reducer, synchronized BatchNormalization, XLA variable moves.

Fork-launched gloo processes (see tests/test_distribution.py); every parity check compares the
weights after training with one process on the full batch (within 1e-5) and across ranks.
"""

import os
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.distributed.tensor  # noqa: F401  (imported before forking: paid once)

import tkeras as keras
import tkeras.distribution as D
from tkeras.parallel import runtime
from tkeras.parallel.launch import fork_run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "dist_scripts"))
import common  # noqa: E402

TOL = 1e-5


def _values(model):
    return [w.numpy() for w in model.weights]


def _max_diff(a, b):
    assert len(a) == len(b)
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- models
class _Net(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1 = keras.layers.Dense(common.HID, activation="tanh", name="d1")
        self.d2 = keras.layers.Dense(common.OUT, name="d2")

    def call(self, x):
        return self.d2(self.d1(x))


class _BackwardStep(_Net):
    """A custom `train_step` written as Keras's torch guide does (`loss.backward()`)."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
        loss.backward()
        variables = self.trainable_weights
        with torch.no_grad():
            self.optimizer.apply([v.grad for v in variables], variables)
        return {"loss": loss.detach()}


class _GradStep(_Net):
    """A custom step taking gradients with `torch.autograd.grad` (not seen by DDP)."""

    def train_step(self, data):
        x, y = data
        loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
        variables = self.trainable_weights
        grads = torch.autograd.grad(loss, variables)
        with torch.no_grad():
            self.optimizer.apply(list(grads), variables)
        return {"loss": loss.detach()}


def _two_heads(seed=0):
    """Two outputs, the loss on `out` only: `unused`'s variables get no gradient."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((common.IN,))
    h = keras.layers.Dense(common.HID, activation="tanh", name="d1")(inp)
    model = keras.Model(inp, [keras.layers.Dense(common.OUT, name="out")(h),
                      keras.layers.Dense(2, name="unused")(h)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=["mse", None])
    return model


def _custom(seed=0, cls=_BackwardStep):
    keras.utils.set_random_seed(seed)
    model = cls()
    model.build((None, common.IN))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def _freeze_schedule(model, x, y, fit):
    """Fit, freeze `d1`, recompile, fit again (DDP is rebuilt for the new trainable set)."""
    fit(model, x, [y, y[:, :2]])
    model.get_layer("d1").trainable = False
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=["mse", None])
    fit(model, x, [y, y[:, :2]])


def _fit(model, x, y):
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)


def _ddp_body():
    from torch.nn.parallel import DistributedDataParallel

    D.set_distribution(D.DataParallel(devices=2))
    rank = runtime.process_id()
    x, y = common.data()
    out = {}
    # fit's own step, an unused output, and a change of the trainable variables
    model = _two_heads(seed=rank)
    ids = [id(w) for w in model.weights]
    _freeze_schedule(model, x, y, _fit)
    dm = model._tkeras_distributed
    out["ddp"] = isinstance(dm.reducer._ddp, DistributedDataParallel)
    out["same_objects"] = [id(w) for w in model.weights] == ids and all(
        any(v is w for w in model.trainable_weights) for v in dm.reducer._ddp.module)
    out["reduced"] = len(list(dm.reducer._ddp.module))  # the frozen d1 is not reduced any more
    out["heads"] = [w.tolist() for w in _values(model)]
    # a custom train_step with loss.backward()
    model = _custom(seed=rank)
    _fit(model, x, y)
    out["custom"] = [w.tolist() for w in _values(model)]
    # a custom train_step with torch.autograd.grad: warned, gradients not averaged
    model = _custom(seed=rank, cls=_GradStep)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    out["warned"] = any("torch.autograd.grad" in str(w.message) for w in caught)
    return out


def test_data_parallel_runs_on_ddp_reducer():
    x, y = common.data()
    heads = _two_heads()
    _freeze_schedule(heads, x, y, _fit)
    custom = _custom()
    _fit(custom, x, y)
    out = fork_run(_ddp_body, 2)
    for result in out:
        assert result["ddp"] and result["same_objects"]
        assert result["reduced"] == 4  # out/kernel, out/bias, unused/kernel, unused/bias
        assert _max_diff(result["heads"], _values(heads)) < TOL
        assert _max_diff(result["custom"], _values(custom)) < TOL
        assert result["warned"]
    assert out[0]["heads"] == out[1]["heads"] and out[0]["custom"] == out[1]["custom"]


# ----------------------------------------------------------------------------- SyncBatchNorm
def _bn_model(synchronized, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((common.IN,)),
        keras.layers.Dense(common.HID, name="d1"),
        keras.layers.BatchNormalization(synchronized=synchronized, momentum=0.5, name="bn"),
        keras.layers.Activation("tanh"),
        keras.layers.Dense(common.OUT, name="d2")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def _bn_data():
    # the two halves of every batch have different statistics: unsynced BN would differ
    x, y = common.data()
    x[1::2] = x[1::2] * 3.0 + 1.0
    return x, y


def _bn_body(synchronized):
    D.set_distribution(D.DataParallel(devices=2))
    x, y = _bn_data()
    model = _bn_model(synchronized, seed=runtime.process_id())
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    return [w.tolist() for w in _values(model)]


def test_synchronized_batch_norm_matches_full_batch():
    x, y = _bn_data()
    reference = _bn_model(True)  # one process: synchronized is plain BN on the whole batch
    reference.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    ref = _values(reference)
    synced = fork_run(_bn_body, 2, (True,))
    assert synced[0] == synced[1]
    assert _max_diff(synced[0], ref) < TOL  # weights and moving statistics
    unsynced = fork_run(_bn_body, 2, (False,))
    assert _max_diff(unsynced[0], ref) > 1e-3  # half-batch statistics really differ


# ----------------------------------------------------------------------------- XLA moves
def test_xla_moves_keep_keras_variables():
    """`move_model` / `Metric.to` (torch-xla's path) swap contents, keeping the variable objects
    and their Keras metadata; exercised here with the meta device in place of an XLA one."""
    from tkeras.core.variables import move_model

    model = common.mlp(optimizer="adam")
    x, y = common.data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    before = [(w, w.path, w.trainable, w.requires_grad) for w in model.weights]
    slots = list(model.optimizer.variables)
    move_model(model, "meta")
    assert [(w, w.path, w.trainable, w.requires_grad) for w in model.weights] == before
    assert all(w.device.type == "meta" for w in model.weights + slots)
    assert list(model.optimizer.variables) == slots
    metric = keras.metrics.MeanSquaredError()
    metric.update_state(torch.ones(2), torch.zeros(2))
    variables = list(metric.variables)
    metric.to("meta")
    assert metric.variables == variables and metric._device.type == "meta"
    assert all(v.device.type == "meta" for v in variables)
