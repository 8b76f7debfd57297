"""The fit loop's strategy hook (`tkeras.fit.strategy`) and swap-based device moves.

Moves to a non-CPU device are exercised with the "meta" device (as tests/test_distribution_ddp.py
does for the XLA path): the variable objects, their class and Keras attributes must survive.
"""

import numpy as np
import torch

import tkeras as keras
from tkeras.fit import strategy


def _model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


class _Recording(strategy.SingleDevice):
    def __init__(self):
        self.calls = []

    def setup(self, model, x=None):
        self.calls.append("setup")
        return super().setup(model, x)

    def shard(self, model, x, y, sample_weight, batch_size, training):
        self.calls.append(("shard", training, batch_size))
        return x, y, sample_weight, batch_size

    def callbacks(self, model, callbacks, verbose):
        self.calls.append("callbacks")
        return callbacks, verbose

    def gradients(self, loss, variables):
        self.calls.append("gradients")
        return strategy.autograd_gradients(loss, variables)

    def synced_result(self, model, metric):
        self.calls.append("sync")
        return metric.result()

    def predict_inputs(self, model, x, batch_size):
        self.calls.append("predict_inputs")
        return x, batch_size, lambda out: out * 2


def test_fit_asks_the_strategy_and_syncs_only_at_epoch_ends():
    x, y = _data()
    reference = _model()
    ref_history = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    recording = _Recording()
    strategy.set_provider(lambda: recording)
    try:
        model = _model()
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                            validation_data=(x, y))
        fit_calls = list(recording.calls)
        recording.calls.clear()
        pred = model.predict(x, batch_size=8, verbose=0)
    finally:
        strategy.set_provider(None)
    assert strategy.current() is strategy.SINGLE_DEVICE
    assert fit_calls[:3] == ["setup", ("shard", True, 8), ("shard", False, 8)]
    assert fit_calls.count("gradients") == 2 * 3  # 3 steps per epoch
    # metrics (loss, mae) read synced at each epoch end and each validation end only
    assert fit_calls.count("sync") == 2 * 2 * 2
    np.testing.assert_allclose(history.history["loss"], ref_history.history["loss"], rtol=1e-6)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert recording.calls[:3] == ["setup", "callbacks", "predict_inputs"]
    np.testing.assert_allclose(pred, 2 * model.predict(x, batch_size=8, verbose=0), rtol=1e-6)


def test_eager_build_on_another_device_keeps_variable_objects():
    layer = keras.layers.Dense(2, name="d")
    layer(torch.ones(1, 3, device="meta"))
    assert [type(w).__name__ for w in layer.weights] == ["KerasVariable", "KerasVariable"]
    assert [w.path for w in layer.weights] == ["d/kernel", "d/bias"]
    assert all(w.device.type == "meta" and w.trainable for w in layer.weights)


def test_moves_and_stateless_swaps_keep_metric_variables():
    metric = keras.metrics.Mean()
    metric.update_state(torch.tensor([1.0, 3.0]))
    variables = list(metric.variables)
    # stateless result on other values leaves the state (objects and values) as it was
    assert float(metric.stateless_result([torch.tensor(10.0), torch.tensor(4.0)])) == 2.5
    assert metric.variables == variables and float(metric.result()) == 2.0
    assert all(type(v).__name__ == "KerasVariable" and v.path.startswith("mean/")
               for v in metric.variables)
    metric.to("meta")
    assert metric.variables == variables and all(v.device.type == "meta" for v in variables)
    assert [v.aggregation for v in variables] == ["sum", "sum"]


def test_optimizer_move_keeps_slots():
    model = _model()
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    slots = list(model.optimizer.variables)
    paths = [s.path for s in slots]
    model.optimizer._move_to("meta")
    assert list(model.optimizer.variables) == slots and [s.path for s in slots] == paths
    assert all(s.device.type == "meta" for s in slots)
