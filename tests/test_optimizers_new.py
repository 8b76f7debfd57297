"""Muon, ScheduleFreeAdamW, MultiOptimizer/OptimizerMap and `optimizers.legacy` vs real Keras 3.

As in tests/test_optimizers.py: each case runs the same gradients for STEPS steps on the same
initial variables in Keras and in tkeras, then compares the variables, every optimizer variable
(order, name, path, shape, value) and the config. Optimizers are built from configs (a
`MultiOptimizer`'s nested config included), so config (de)serialization is exercised too.
"""

import json
import warnings

import numpy as np
import pytest
import torch
from keras_oracle import requires_keras, run_keras

import tkeras.optimizers as optimizers
from tkeras.core.variables import KerasVariable

STEPS = 6
# 2-D tall (Muon transposes it), 1-D, 3-D, 2-D wide, and a 2-D variable whose path contains
# "embedding" (Muon gives it the AdamW step by default).
SHAPES = [(4, 3), (3,), (2, 3, 4), (3, 5), (5, 2)]
NAMES = ["kernel", "bias", "conv_kernel", "wide", "embedding_table"]
RTOL, ATOL = 1e-5, 1e-6


def _opt(class_name, **config):
    return {"module": "keras.optimizers", "class_name": class_name, "config": config,
            "registered_name": None}


def _map(default, mapping):
    return {"module": "keras.optimizers", "class_name": "OptimizerMap",
            "config": {"default_optimizer": default, "optimizer_map": mapping},
            "registered_name": None}


CASES = {
    "muon": _opt("Muon", name="muon"),
    "muon_custom": _opt("Muon", name="muon_custom", learning_rate=0.02, nesterov=False,
                        rms_rate=None, exclude_layers=["wide"], exclude_embeddings=False,
                        weight_decay=0.1, adam_weight_decay=None, adam_lr_ratio=0.1,
                        ns_steps=3, momentum=0.9, clipnorm=1.0),
    "muon_ema_schedule": _opt("Muon", name="muon_ema", use_ema=True, ema_momentum=0.9,
                              learning_rate={"module": "keras.optimizers.schedules",
                                             "class_name": "ExponentialDecay",
                                             "config": {"initial_learning_rate": 0.05,
                                                        "decay_steps": 2, "decay_rate": 0.5},
                                             "registered_name": None}),
    "schedule_free": _opt("ScheduleFreeAdamW", name="sf"),
    "schedule_free_warmup_wd": _opt("ScheduleFreeAdamW", name="sf_warm", learning_rate=0.05,
                                    beta_1=0.8, warmup_steps=3, weight_decay=0.05,
                                    global_clipnorm=2.0),
    "schedule_free_accumulation": _opt("ScheduleFreeAdamW", name="sf_acc", learning_rate=0.01,
                                       gradient_accumulation_steps=2),
    "multi": _opt("MultiOptimizer", name="multi", optimizer_map=_map(
        _opt("SGD", name="m_sgd", learning_rate=0.1, momentum=0.9),
        {"bias": _opt("Adam", name="m_adam", learning_rate=0.01),
         "conv_.*|wide": _opt("Muon", name="m_muon", learning_rate=0.02)})),
    "multi_loss_scale": _opt("MultiOptimizer", name="multi_ls", loss_scale_factor=4.0,
                             optimizer_map=_map(_opt("RMSprop", name="ls_rms"),
                                                {"kernel": _opt("Lion", name="ls_lion")})),
}


def _inputs():
    rng = np.random.default_rng(1)
    data = {f"w{i}": rng.normal(size=s).astype("float32") for i, s in enumerate(SHAPES)}
    for step in range(STEPS):
        for i, s in enumerate(SHAPES):
            data[f"g{step}_{i}"] = (0.5 * rng.normal(size=s)).astype("float32")
    data["cases"] = np.array(json.dumps(CASES))
    data["names"] = np.array(json.dumps(NAMES))
    return data


KERAS_CODE = f"""
import warnings
warnings.simplefilter("ignore")
names = json.loads(str(inputs["names"]))
for cid, config in json.loads(str(inputs["cases"])).items():
    variables = [keras.Variable(inputs[f"w{{i}}"], name=n) for i, n in enumerate(names)]
    opt = keras.saving.deserialize_keras_object(config)
    for step in range({STEPS}):
        grads = [keras.ops.convert_to_tensor(inputs[f"g{{step}}_{{i}}"]) for i in range(len(names))]
        opt.apply_gradients(zip(grads, variables))
    if getattr(opt, "use_ema", False):
        opt.finalize_variable_values(variables)
    for i, v in enumerate(variables):
        outputs[f"{{cid}}/var{{i}}"] = v.numpy()
    for j, v in enumerate(opt.variables):
        outputs[f"{{cid}}/slot{{j}}"] = v.numpy()
    outputs[f"{{cid}}/paths"] = [v.path for v in opt.variables]
    outputs[f"{{cid}}/names"] = [v.name for v in opt.variables]
    outputs[f"{{cid}}/serialized"] = keras.optimizers.serialize(opt)
    outputs[f"{{cid}}/iterations"] = int(opt.iterations)

# Optimizer state in a .keras file written by Keras (one step of fit).
for opt_name, opt in [("muon", keras.optimizers.Muon(learning_rate=0.01)),
                      ("sf", keras.optimizers.ScheduleFreeAdamW()),
                      ("multi", keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
                          keras.optimizers.SGD(momentum=0.9), {{".*bias": keras.optimizers.Adam()}})))]:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    model.compile(optimizer=opt, loss="mse")
    model.fit(np.ones((8, 4)), np.ones((8, 3)), epochs=1, verbose=0)
    model.save(f"{{opt_name}}.keras")
    outputs[f"saved/{{opt_name}}"] = [v.numpy().tolist() for v in opt.variables]

outputs["legacy"] = sorted(n for n in dir(keras.optimizers.legacy) if not n.startswith("_"))
try:
    keras.optimizers.legacy.Adam(learning_rate=0.1)
except ImportError as e:
    outputs["legacy_error"] = str(e)
"""


@pytest.fixture(scope="module")
def saved_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("keras_saved")


@pytest.fixture(scope="module")
def oracle(saved_dir):
    inputs = _inputs()
    return inputs, run_keras(KERAS_CODE, inputs, cwd=str(saved_dir))


def _run(case_id, inputs):
    variables = [KerasVariable(torch.tensor(inputs[f"w{i}"]), name=n) for i, n in enumerate(NAMES)]
    opt = optimizers.deserialize(CASES[case_id])
    for step in range(STEPS):
        grads = [torch.tensor(inputs[f"g{step}_{i}"]) for i in range(len(NAMES))]
        opt.apply_gradients(zip(grads, variables))
    if getattr(opt, "use_ema", False):
        opt.finalize_variable_values(variables)
    return opt, variables


def _unwrap_modules(config):
    """Keras (torch backend) names its backend modules for some optimizers; tkeras writes
    `keras.optimizers` (both load in either)."""
    if isinstance(config, dict):
        config = {k: _unwrap_modules(v) for k, v in config.items()}
        if str(config.get("module", "")).startswith("keras.src.backend.torch.optimizers"):
            config["module"], config["registered_name"] = "keras.optimizers", None
    return config


@requires_keras
@pytest.mark.parametrize("case_id", list(CASES))
def test_matches_keras(oracle, case_id):
    inputs, ref = oracle
    opt, variables = _run(case_id, inputs)
    for i, v in enumerate(variables):
        np.testing.assert_allclose(v.detach().numpy(), ref[f"{case_id}/var{i}"], rtol=RTOL,
                                   atol=ATOL, err_msg=f"variable {NAMES[i]}")
    assert [v.path for v in opt.variables] == ref[f"{case_id}/paths"]
    assert [v.name for v in opt.variables] == ref[f"{case_id}/names"]
    for j, v in enumerate(opt.variables):
        expected = ref[f"{case_id}/slot{j}"]
        assert tuple(v.shape) == expected.shape
        np.testing.assert_allclose(v.detach().numpy().astype("float64"), expected, rtol=RTOL,
                                   atol=ATOL, err_msg=f"optimizer variable {v.path}")
    assert int(opt.iterations) == ref[f"{case_id}/iterations"]


@requires_keras
@pytest.mark.parametrize("case_id", list(CASES))
def test_config_matches_keras(oracle, case_id):
    _, ref = oracle
    expected = _unwrap_modules(ref[f"{case_id}/serialized"])
    opt = optimizers.deserialize(CASES[case_id])
    assert optimizers.serialize(opt) == expected
    # What Keras wrote loads back into the same tkeras optimizer.
    from_keras = optimizers.deserialize(ref[f"{case_id}/serialized"])
    assert type(from_keras) is type(opt)
    assert optimizers.serialize(from_keras) == expected


@requires_keras
@pytest.mark.parametrize("opt_name", ["muon", "sf", "multi"])
def test_optimizer_state_loads_from_keras_file(oracle, saved_dir, opt_name):
    import tkeras as keras

    _, ref = oracle
    model = keras.saving.load_model(str(saved_dir / f"{opt_name}.keras"))
    expected = ref[f"saved/{opt_name}"]
    assert len(model.optimizer.variables) == len(expected)
    for v, e in zip(model.optimizer.variables, expected):
        np.testing.assert_allclose(v.detach().numpy(), np.array(e), rtol=0, atol=0)


@requires_keras
def test_legacy_namespace_matches_keras(oracle):
    _, ref = oracle
    assert sorted(n for n in dir(optimizers.legacy) if not n.startswith("_")) == ref["legacy"]
    with pytest.raises(ImportError) as info:
        optimizers.legacy.Adam(learning_rate=0.1)
    assert str(info.value) == ref["legacy_error"]


def _params():
    g = torch.Generator().manual_seed(0)
    return [KerasVariable(torch.randn(*s, generator=g), name=n) for s, n in zip(SHAPES, NAMES)]


def _grads(step):
    g = torch.Generator().manual_seed(10 + step)
    return [torch.randn(*s, generator=g) for s in SHAPES]


def test_multi_optimizer_state_round_trip_and_callable_map():
    def selector(variable):
        return adam if variable.dim() == 1 else sgd

    adam, sgd = optimizers.Adam(learning_rate=0.01), optimizers.SGD(momentum=0.9)
    variables = _params()
    opt = optimizers.MultiOptimizer(selector)
    for step in range(3):
        opt.apply(_grads(step), variables)
    assert opt.optimizers == [sgd, adam]  # in the order the variables met them
    assert int(opt.iterations) == 3 and int(adam.iterations) == 3
    store = {}
    opt.save_own_variables(store)
    assert len(store) == len(opt.variables) == 2 + (2 + 4) + (2 + 2)

    other_adam, other_sgd = optimizers.Adam(learning_rate=0.01), optimizers.SGD(momentum=0.9)
    other_vars = _params()
    restored = optimizers.MultiOptimizer(
        lambda v: other_adam if v.dim() == 1 else other_sgd)
    restored.build(other_vars)
    restored.load_own_variables(store)
    for v, w in zip(other_vars, variables):
        v.data.copy_(w.data)
    opt.apply(_grads(3))
    restored.apply(_grads(3))
    for a, b in zip(opt.variables + variables, restored.variables + other_vars):
        torch.testing.assert_close(a.data, b.data, rtol=0, atol=0)


def test_multi_optimizer_rules():
    sgd, adam = optimizers.SGD(), optimizers.Adam()
    mapping = optimizers.OptimizerMap(sgd)
    mapping["encoder/.*"] = adam
    mapping["decoder"] = adam
    assert mapping["encoder/dense/kernel"] is adam and mapping["decoder"] is adam
    assert mapping["decoder/dense"] is sgd and len(mapping) == 2
    with pytest.raises(ValueError, match="already exists"):
        mapping["decoder"] = sgd
    with pytest.raises(ValueError, match="LossScaleOptimizer"):
        mapping["x"] = optimizers.LossScaleOptimizer(optimizers.SGD())
    mapping["d.*"] = sgd
    mapping["de.*"] = adam
    with pytest.raises(ValueError, match="Multiple optimizers"):
        mapping["decoder/x"]
    with pytest.raises(TypeError):
        optimizers.OptimizerMap("sgd")

    multi = optimizers.MultiOptimizer(optimizers.OptimizerMap(sgd, {"bias": adam}),
                                      loss_scale_factor=2.0)
    assert sgd.loss_scale_factor == adam.loss_scale_factor == 2.0
    with pytest.raises(AttributeError, match="sub-optimizers"):
        multi.learning_rate
    with pytest.raises(AttributeError, match="sub-optimizers"):
        multi.learning_rate = 0.1
    with pytest.raises(ValueError, match="one-to-one"):
        multi.apply(_grads(0)[:2], _params()[:3])


def test_multi_optimizer_trains_a_model_with_fit():
    import tkeras as keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="enc"),
                              keras.layers.Dense(1, name="head")])
    head_opt = optimizers.SGD(learning_rate=0.0)
    model.compile(optimizer=optimizers.MultiOptimizer(
        optimizers.OptimizerMap(optimizers.Adam(0.01), {".*/head/.*": head_opt})), loss="mse")
    head_before = model.get_layer("head").kernel.detach().clone()
    enc_before = model.get_layer("enc").kernel.detach().clone()
    x, y = np.random.rand(32, 4).astype("float32"), np.random.rand(32, 1).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert torch.equal(model.get_layer("head").kernel.data, head_before)  # lr 0 for the head
    assert not torch.equal(model.get_layer("enc").kernel.data, enc_before)
    assert int(model.optimizer.iterations) == 4 and int(head_opt.iterations) == 4


def test_muon_validation_and_orthogonalization():
    opt = optimizers.Muon(ns_steps=10)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        opt.zeropower_via_newtonschulz5(torch.ones(3), 5)
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    q = opt.zeropower_via_newtonschulz5(x, 10)
    # Quintic Newton-Schulz drives singular values into roughly [0.7, 1.2] (not exactly 1).
    s = torch.linalg.svdvals(q)
    assert s.min() > 0.6 and s.max() < 1.25
    assert opt.get_config()["exclude_layers"] == []
