"""Optimizers and schedules vs real Keras 3 (one batched oracle subprocess per module).

Each case runs 5 steps of the same gradient sequence on the same initial variables in Keras
(`opt.apply_gradients(zip(grads, vars))` on `keras.Variable`s) and in tkeras, then compares the
variables, every optimizer variable (order, names, shapes, values) and `get_config()`.
"""

import json
import math
import re
import warnings

import numpy as np
import pytest
import torch
from keras_oracle import requires_keras, run_keras

import tkeras.optimizers as optimizers
from tkeras.core.variables import KerasVariable
from tkeras.optimizers import schedules

STEPS = 5
SHAPES = [(4, 3), (3,), (2, 3, 4)]
NAMES = ["kernel", "bias", "conv_kernel"]
RTOL, ATOL = 1e-5, 1e-6


def _schedule(class_name, **config):
    return {"module": "keras.optimizers.schedules", "class_name": class_name, "config": config,
            "registered_name": None}


# id -> (class_name, config, options). Options: exclude (var names excluded from weight decay),
# missing (index of a variable whose gradient is None), inf_step (a step whose first gradient is
# inf), finalize (call finalize_variable_values), plain (tkeras uses plain nn.Parameters).
CASES = {
    "sgd": ("SGD", {}, {}),
    "sgd_nesterov_wd_clipnorm": ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.05,
                                         "clipnorm": 1.0}, {}),
    "sgd_momentum_schedule": ("SGD", {"momentum": 0.5, "learning_rate": _schedule(
        "ExponentialDecay", initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5)}, {}),
    "sgd_missing_grad": ("SGD", {"momentum": 0.9}, {"missing": 1}),
    "adam": ("Adam", {}, {}),
    "adam_amsgrad_globalclip_ema": ("Adam", {"amsgrad": True, "global_clipnorm": 1.0,
                                             "use_ema": True, "ema_momentum": 0.9},
                                    {"finalize": True}),
    "adam_lossscale_accumulation": ("Adam", {"learning_rate": 0.01, "loss_scale_factor": 1e6,
                                             "gradient_accumulation_steps": 2}, {}),
    "adam_plain_parameters": ("Adam", {"learning_rate": 0.01, "beta_1": 0.8}, {"plain": True}),
    "adamw": ("AdamW", {}, {"exclude": ["bias"]}),
    "adamw_amsgrad_clipvalue_ema_overwrite": ("AdamW", {
        "learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True, "clipvalue": 0.3,
        "use_ema": True, "ema_overwrite_frequency": 2}, {}),
    "adamax": ("Adamax", {}, {}),
    "adamax_custom": ("Adamax", {"learning_rate": 0.01, "beta_1": 0.8, "weight_decay": 0.01,
                                 "clipvalue": 0.5}, {}),
    "adadelta": ("Adadelta", {}, {}),
    "adadelta_custom": ("Adadelta", {"learning_rate": 1.0, "rho": 0.9, "global_clipnorm": 2.0},
                        {}),
    "adagrad": ("Adagrad", {}, {}),
    "adagrad_custom": ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5,
                                   "epsilon": 1e-5, "clipnorm": 0.5}, {}),
    "adafactor": ("Adafactor", {}, {}),
    "adafactor_custom": ("Adafactor", {"learning_rate": 0.05, "relative_step": False,
                                       "clip_threshold": 0.5, "beta_2_decay": -0.5,
                                       "epsilon_2": 1e-2}, {}),
    "adafactor_schedule": ("Adafactor", {"learning_rate": _schedule(
        "InverseTimeDecay", initial_learning_rate=0.5, decay_steps=1, decay_rate=1.0)}, {}),
    "ftrl": ("Ftrl", {}, {}),
    "ftrl_custom": ("Ftrl", {"learning_rate": 0.1, "learning_rate_power": -0.7,
                             "l1_regularization_strength": 0.01,
                             "l2_regularization_strength": 0.02,
                             "l2_shrinkage_regularization_strength": 0.01, "beta": 0.1}, {}),
    "lamb": ("Lamb", {}, {}),
    "lamb_custom": ("Lamb", {"learning_rate": 0.01, "beta_1": 0.8, "weight_decay": 0.01,
                             "clipnorm": 1.0}, {}),
    "lion": ("Lion", {}, {}),
    "lion_custom": ("Lion", {"learning_rate": 0.01, "beta_1": 0.95, "beta_2": 0.98,
                             "weight_decay": 0.1}, {}),
    "nadam": ("Nadam", {}, {}),
    "nadam_custom": ("Nadam", {"learning_rate": 0.01, "beta_1": 0.8, "use_ema": True,
                               "global_clipnorm": 1.0}, {"finalize": True}),
    "rmsprop": ("RMSprop", {}, {}),
    "rmsprop_momentum_centered": ("RMSprop", {"learning_rate": 0.01, "rho": 0.8,
                                              "momentum": 0.9, "centered": True,
                                              "loss_scale_factor": 1e6}, {}),
    "rmsprop_centered_schedule": ("RMSprop", {"centered": True, "learning_rate": _schedule(
        "CosineDecay", initial_learning_rate=0.01, decay_steps=4, alpha=0.1)}, {}),
    "loss_scale": ("LossScaleOptimizer", {
        "inner_optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                            "config": {"learning_rate": 0.01}, "registered_name": None},
        "initial_scale": 8.0, "dynamic_growth_steps": 2}, {"inf_step": 2}),
}

SCHEDULES = {
    "exp": _schedule("ExponentialDecay", initial_learning_rate=0.1, decay_steps=10,
                     decay_rate=0.9),
    "exp_stair": _schedule("ExponentialDecay", initial_learning_rate=0.1, decay_steps=10,
                           decay_rate=0.9, staircase=True),
    "inv": _schedule("InverseTimeDecay", initial_learning_rate=0.1, decay_steps=10,
                     decay_rate=0.5),
    "inv_stair": _schedule("InverseTimeDecay", initial_learning_rate=0.1, decay_steps=10,
                           decay_rate=0.5, staircase=True),
    "piecewise": _schedule("PiecewiseConstantDecay", boundaries=[5, 20, 50],
                           values=[0.1, 0.05, 0.01, 0.001]),
    "poly": _schedule("PolynomialDecay", initial_learning_rate=0.1, decay_steps=50,
                      end_learning_rate=0.001, power=2.0),
    "poly_cycle": _schedule("PolynomialDecay", initial_learning_rate=0.1, decay_steps=30,
                            cycle=True),
    "cosine": _schedule("CosineDecay", initial_learning_rate=0.1, decay_steps=50, alpha=0.1),
    "cosine_warmup": _schedule("CosineDecay", initial_learning_rate=0.0, decay_steps=50,
                               warmup_target=0.2, warmup_steps=10),
    "restarts": _schedule("CosineDecayRestarts", initial_learning_rate=0.1,
                          first_decay_steps=10, t_mul=2.0, m_mul=0.9, alpha=0.01),
    "restarts_t1": _schedule("CosineDecayRestarts", initial_learning_rate=0.1,
                             first_decay_steps=7, t_mul=1.0),
}
SCHEDULE_STEPS = [0, 1, 3, 5, 7, 10, 11, 25, 33, 60, 100, 1000]


def _named(case_id, config):
    """Explicit names make optimizer variable paths comparable across processes."""
    config = dict(config, name=f"opt_{case_id}")
    if "inner_optimizer" in config:
        inner = dict(config["inner_optimizer"])
        inner["config"] = dict(inner["config"], name=f"inner_{case_id}")
        config["inner_optimizer"] = inner
    return config


def _inputs():
    rng = np.random.default_rng(0)
    data = {f"w{i}": rng.normal(size=s).astype("float32") for i, s in enumerate(SHAPES)}
    for step in range(STEPS):
        for i, s in enumerate(SHAPES):
            data[f"g{step}_{i}"] = (0.5 * rng.normal(size=s)).astype("float32")
    cases = {cid: [cls, _named(cid, cfg), opts] for cid, (cls, cfg, opts) in CASES.items()}
    data["cases"] = np.array(json.dumps(cases))
    data["schedules"] = np.array(json.dumps(SCHEDULES))
    data["schedule_steps"] = np.array(SCHEDULE_STEPS)
    return data


KERAS_CODE = """
import warnings
warnings.simplefilter("ignore")
cases = json.loads(str(inputs["cases"]))
for cid, (cls, config, opts) in cases.items():
    variables = [keras.Variable(inputs[f"w{i}"], name=name)
                 for i, name in enumerate(["kernel", "bias", "conv_kernel"])]
    opt = keras.saving.deserialize_keras_object({"module": "keras.optimizers", "class_name": cls,
                                                  "config": config, "registered_name": None})
    if opts.get("exclude"):
        opt.exclude_from_weight_decay(var_names=opts["exclude"])
    for step in range(5):
        grads = [keras.ops.convert_to_tensor(inputs[f"g{step}_{i}"]) for i in range(3)]
        if "missing" in opts:
            grads[opts["missing"]] = None
        if opts.get("inf_step") == step:
            grads[0] = grads[0] * float("inf")
        opt.apply_gradients(zip(grads, variables))
    if opts.get("finalize"):
        opt.finalize_variable_values(variables)
    for i, v in enumerate(variables):
        outputs[f"{cid}/var{i}"] = v.numpy()
    for j, v in enumerate(opt.variables):
        outputs[f"{cid}/slot{j}"] = v.numpy()
    outputs[f"{cid}/names"] = [v.name for v in opt.variables]
    outputs[f"{cid}/paths"] = [v.path for v in opt.variables]
    outputs[f"{cid}/config"] = opt.get_config()
    outputs[f"{cid}/serialized"] = keras.optimizers.serialize(opt)

steps = [int(s) for s in inputs["schedule_steps"]]
for sid, config in json.loads(str(inputs["schedules"])).items():
    schedule = keras.optimizers.schedules.deserialize(config)
    outputs[f"schedule/{sid}"] = np.array([float(schedule(s)) for s in steps], "float32")
    outputs[f"schedule/{sid}/config"] = keras.optimizers.schedules.serialize(schedule)
"""


@pytest.fixture(scope="module")
def oracle():
    inputs = _inputs()
    return inputs, run_keras(KERAS_CODE, inputs)


def _run_tkeras(case_id, inputs):
    cls, config, opts = CASES[case_id]
    if opts.get("plain"):
        variables = [torch.nn.Parameter(torch.tensor(inputs[f"w{i}"])) for i in range(3)]
    else:
        variables = [KerasVariable(torch.tensor(inputs[f"w{i}"]), name=name)
                     for i, name in enumerate(NAMES)]
    opt = optimizers.deserialize({"class_name": cls, "config": _named(case_id, config)})
    if opts.get("exclude"):
        opt.exclude_from_weight_decay(var_names=opts["exclude"])
    for step in range(STEPS):
        grads = [torch.tensor(inputs[f"g{step}_{i}"]) for i in range(3)]
        if "missing" in opts:
            grads[opts["missing"]] = None
        if opts.get("inf_step") == step:
            grads[0] = grads[0] * float("inf")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.apply_gradients(zip(grads, variables))
    if opts.get("finalize"):
        opt.finalize_variable_values(variables)
    return opt, variables


def _stem(name):
    return re.sub(r"(^|/)variable_\d+$", r"\1variable", name)


@requires_keras
@pytest.mark.parametrize("case_id", list(CASES))
def test_matches_keras(oracle, case_id):
    inputs, ref = oracle
    opt, variables = _run_tkeras(case_id, inputs)
    for i, v in enumerate(variables):
        np.testing.assert_allclose(v.detach().numpy(), ref[f"{case_id}/var{i}"], rtol=RTOL,
                                   atol=ATOL, err_msg=f"variable {NAMES[i]}")
    opt_vars = opt.variables
    names = ref[f"{case_id}/names"]
    assert len(opt_vars) == len(names)
    if not CASES[case_id][2].get("plain"):
        # Unnamed variables get process-wide counters (`variable_3`): compare the stem only.
        assert [_stem(v.name) for v in opt_vars] == [_stem(n) for n in names]
        if case_id != "loss_scale":  # Keras nests the inner optimizer's slot paths.
            assert [_stem(v.path) for v in opt_vars] == [_stem(p) for p in ref[f"{case_id}/paths"]]
    for j, v in enumerate(opt_vars):
        expected = ref[f"{case_id}/slot{j}"]
        assert tuple(v.shape) == expected.shape, names[j]
        np.testing.assert_allclose(v.detach().numpy().astype("float64"), expected, rtol=RTOL,
                                   atol=ATOL, err_msg=f"optimizer variable {names[j]}")


@requires_keras
@pytest.mark.parametrize("case_id", list(CASES))
def test_config_matches_keras(oracle, case_id):
    _, ref = oracle
    cls, config, _ = CASES[case_id]
    opt = optimizers.deserialize({"class_name": cls, "config": _named(case_id, config)})
    expected = dict(ref[f"{case_id}/config"])
    ours = opt.get_config()
    if cls == "LossScaleOptimizer":
        # Keras on torch names its backend module here; compare the inner optimizer itself.
        ours_inner, expected_inner = ours.pop("inner_optimizer"), expected.pop("inner_optimizer")
        assert ours_inner["class_name"] == expected_inner["class_name"]
        assert ours_inner["config"] == expected_inner["config"]
    assert ours == expected
    clone = type(opt).from_config(opt.get_config())
    assert clone.get_config() == opt.get_config()
    # What Keras (torch backend) writes, e.g. module `keras.src.backend.torch.optimizers...`.
    from_keras = optimizers.deserialize(ref[f"{case_id}/serialized"])
    assert type(from_keras) is type(opt)
    assert from_keras.get_config() == opt.get_config()


@requires_keras
@pytest.mark.parametrize("schedule_id", list(SCHEDULES))
def test_schedule_matches_keras(oracle, schedule_id):
    _, ref = oracle
    schedule = schedules.deserialize(SCHEDULES[schedule_id])
    values = np.array([float(schedule(s)) for s in SCHEDULE_STEPS], "float32")
    np.testing.assert_allclose(values, ref[f"schedule/{schedule_id}"], rtol=1e-5, atol=1e-7)
    # The optimizer evaluates schedules on its int64 step counter.
    tensor_values = schedule(torch.tensor(SCHEDULE_STEPS, dtype=torch.int64)).numpy()
    np.testing.assert_allclose(tensor_values, values, rtol=1e-6, atol=1e-8)
    assert schedules.serialize(schedule) == ref[f"schedule/{schedule_id}/config"]


# ----------------------------------------------------------------------------- tkeras-only


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [KerasVariable(torch.randn(*s, generator=g), name=n) for s, n in zip(SHAPES, NAMES)]


def _grads(step):
    g = torch.Generator().manual_seed(100 + step)
    return [torch.randn(*s, generator=g) for s in SHAPES]


@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_adam_equals_keras_formula(amsgrad):
    """The fused kernel (per-step eps) and Keras's multi-tensor formula give the same result."""
    fused_vars, plain_vars = _params(), _params()
    fused = optimizers.Adam(learning_rate=0.01, amsgrad=amsgrad, weight_decay=0.01)
    plain = optimizers.Adam(learning_rate=0.01, amsgrad=amsgrad, weight_decay=0.01)
    fused.build(fused_vars)
    plain.build(plain_vars)
    assert fused._fused
    plain._fused = False
    for step in range(8):
        fused.apply(_grads(step))
        plain.apply(_grads(step))
    # Fused kernel vs the written-out Keras formula: both float32, rounding differs (~2e-6).
    for a, b in zip(fused_vars, plain_vars):
        torch.testing.assert_close(a.data, b.data, rtol=1e-5, atol=1e-6)
    for a, b in zip(fused.variables, plain.variables):
        torch.testing.assert_close(a.data, b.data, rtol=1e-5, atol=1e-6)


def test_learning_rate_property_and_setter():
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    assert opt.learning_rate.dtype == torch.float32
    assert float(opt.learning_rate) == pytest.approx(0.1)
    opt.learning_rate = 0.05  # what ReduceLROnPlateau does
    assert float(opt.learning_rate) == pytest.approx(0.05)
    opt.learning_rate.assign(0.02)
    assert opt.get_config()["learning_rate"] == float(np.float32(0.02))

    with_schedule = optimizers.Adam(schedules.ExponentialDecay(0.1, 1, 0.5))
    assert [v.name for v in with_schedule.variables] == ["iteration"]
    with pytest.raises(TypeError, match="not settable"):
        with_schedule.learning_rate = 0.1
    opt.learning_rate = schedules.ExponentialDecay(0.1, 1, 0.5)
    assert [v.name for v in opt.variables] == ["iteration"]


def test_schedule_follows_iterations():
    variables = _params()
    opt = optimizers.SGD(schedules.ExponentialDecay(1.0, 1, 0.5))
    for step in range(3):
        opt.apply(_grads(step), variables)
    assert int(opt.iterations) == 3
    assert float(opt.learning_rate) == pytest.approx(0.125)


def test_state_round_trip_in_keras_layout():
    variables, other_vars = _params(), _params()
    opt = optimizers.Nadam(learning_rate=0.01, use_ema=True)
    for step in range(3):
        opt.apply(_grads(step), variables)
    store = {}
    opt.save_own_variables(store)
    assert sorted(store, key=int) == [str(i) for i in range(len(opt.variables))]
    assert [name for name, _ in opt.saved_variables()][:3] == [
        f"{opt.name}/iteration", f"{opt.name}/learning_rate", f"{opt.name}/kernel_average"]

    restored = optimizers.Nadam(learning_rate=0.01, use_ema=True)
    restored.build(other_vars)
    restored.load_own_variables(store)
    for v, w in zip(other_vars, variables):
        v.data.copy_(w.data)
    opt.apply(_grads(3))
    restored.apply(_grads(3))
    for a, b in zip(opt.variables + variables, restored.variables + other_vars):
        torch.testing.assert_close(a.data, b.data, rtol=0, atol=0)

    with pytest.warns(UserWarning, match="Skipping variable loading"):
        optimizers.Nadam().load_own_variables(store)


def test_loss_scale_optimizer_scales_and_skips():
    variables = _params()
    inner = optimizers.SGD(learning_rate=0.1)
    opt = optimizers.LossScaleOptimizer(inner, initial_scale=4.0, dynamic_growth_steps=2)
    assert float(opt.scale_loss(torch.tensor(1.5))) == 6.0
    before = [v.detach().clone() for v in variables]
    bad = _grads(0)
    bad[1][0] = float("nan")
    opt.apply(bad, variables)
    assert float(opt.dynamic_scale) == 2.0 and int(inner.iterations) == 0
    for v, b in zip(variables, before):
        assert torch.equal(v.data, b)
    grads = _grads(1)
    opt.apply([g * 2.0 for g in grads])
    torch.testing.assert_close(variables[0].data, before[0] - 0.1 * grads[0])
    opt.apply(_grads(2))
    assert float(opt.dynamic_scale) == 4.0 and int(opt.step_counter) == 0
    assert int(opt.iterations) == 2


def test_get_serialize_and_validation():
    adam = optimizers.get("adam")
    assert isinstance(adam, optimizers.Adam)
    assert optimizers.get(adam) is adam
    config = optimizers.serialize(optimizers.RMSprop(momentum=0.5, name="r"))
    assert config["module"] == "keras.optimizers" and config["class_name"] == "RMSprop"
    assert optimizers.deserialize(config).get_config() == config["config"]
    with pytest.raises(ValueError):
        optimizers.get("not_an_optimizer")
    with pytest.raises(ValueError, match="Could not interpret"):
        optimizers.get(3)
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.Adam(learning_rate=1)
    with pytest.raises(ValueError, match="not recognized"):
        optimizers.Adam(foo=1)


def test_unknown_variable_and_missing_gradients():
    variables = _params()
    opt = optimizers.Adam()
    opt.apply(_grads(0), variables)
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply(_grads(1), _params(1))
    with pytest.raises(ValueError, match="No gradients"):
        opt.apply([None, None, None], variables)


def test_constraints_applied_after_update():
    variables = _params()
    variables[0].constraint = lambda w: torch.clamp(w, -0.1, 0.1)
    optimizers.SGD(learning_rate=0.5).apply(_grads(0), variables)
    assert variables[0].abs().max() <= 0.1 + 1e-7
    assert variables[1].abs().max() > 0.1


def test_keras_style_custom_optimizer():
    """A subclass written the Keras way (build + update_step) works unchanged."""

    class SignSGD(optimizers.Optimizer):
        def __init__(self, learning_rate=0.1, **kwargs):
            super().__init__(learning_rate=learning_rate, **kwargs)

        def update_step(self, gradient, variable, learning_rate):
            self.assign_sub(variable, learning_rate * torch.sign(gradient))

    variables = _params()
    before = variables[0].detach().clone()
    grads = _grads(0)
    SignSGD().apply(grads, variables)
    torch.testing.assert_close(variables[0].data,
                               before - np.float32(0.1) * torch.sign(grads[0]))


def test_iterations_with_gradient_accumulation():
    variables = _params()
    opt = optimizers.SGD(learning_rate=0.1, gradient_accumulation_steps=3)
    before = variables[1].detach().clone()
    grads = [_grads(s) for s in range(3)]
    for g in grads:
        opt.apply(g, variables)
    assert int(opt.iterations) == 1 and int(opt._iterations) == 3
    mean = sum(g[1] for g in grads) / 3
    torch.testing.assert_close(variables[1].data, before - 0.1 * mean)
    assert math.isclose(float(opt.learning_rate), 0.1, rel_tol=1e-6)
