"""The one harness every layer goes through.

A `LayerCase` names a Keras layer class, constructor kwargs and concrete inputs. `check_cases`
runs all cases of a test module through real Keras in ONE subprocess, then through tkeras, and
checks for each case:

- the same `get_config()` as Keras (minus `name`), and `from_config` round trip;
- the same weight count, order and shapes (`get_weights()` in Keras's layout), and Keras's
  weights load into tkeras with `set_weights` unchanged;
- the same outputs (inference, and training mode when `training=True` and deterministic);
- the same gradients w.r.t. inputs and every trainable weight (loss = sum(out * cotangent),
  cotangent a fixed function of the output shape), and every trainable weight gets a gradient;
- `torch.compile(layer, backend="eager", fullgraph=True)` gives the same output (when
  `compile=True`), i.e. no graph breaks.
"""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from keras_oracle import run_keras


@dataclasses.dataclass
class LayerCase:
    id: str
    cls: str
    kwargs: dict = dataclasses.field(default_factory=dict)
    inputs: object = None  # array, or list of arrays for multi-input layers
    call_kwargs: dict = dataclasses.field(default_factory=dict)  # JSON-able call kwargs
    call_arrays: dict = dataclasses.field(default_factory=dict)  # tensor call kwargs (masks, ...)
    training: bool = False  # also compare in training mode (deterministic layers only)
    grads: bool = True
    compile: bool = True
    atol: float = 1e-5
    rtol: float = 1e-5
    check_config: bool = True
    positional: bool = False  # multi-input layers called as layer(*inputs) (MultiHeadAttention)
    input_masks: object = None  # per input: a mask array attached as `_keras_mask`, or None
    check_updates: bool = False  # compare all weights after the training-mode call (BN stats)
    from_config: bool = False  # build with cls.from_config(kwargs) (wrappers: kwargs["layer"])


def cotangent(shape):
    n = int(np.prod(shape)) if len(shape) else 1
    return np.sin(np.arange(n, dtype=np.float64) * 0.37 + 0.1).reshape(shape).astype(np.float32)


_KERAS_SCRIPT = r"""
import json, math
import numpy as np
import torch
cases = json.loads(str(inputs["__cases__"]))

def cot(shape):
    n = int(np.prod(shape)) if len(shape) else 1
    return np.sin(np.arange(n, dtype=np.float64) * 0.37 + 0.1).reshape(shape).astype(np.float32)

def flat(o):
    if isinstance(o, (list, tuple)):
        return [t for x in o for t in flat(x)]
    if isinstance(o, dict):
        return [t for k in sorted(o) for t in flat(o[k])]
    return [o]

results = {}
for case in cases:
    cid = case["id"]
    cls = getattr(keras.layers, case["cls"])
    layer = cls.from_config(case["kwargs"]) if case.get("from_config") else cls(**case["kwargs"])
    def make_inputs(grad):
        xs = [torch.tensor(inputs[f"{cid}/in{i}"]) for i in range(case["n_inputs"])]
        if grad:
            xs = [x.requires_grad_(True) if x.is_floating_point() else x for x in xs]
        for i in case.get("masked_inputs", []):
            keras.src.backend.set_keras_mask(xs[i], torch.tensor(inputs[f"{cid}/mask{i}"]))
        return xs
    def call(xs, training):
        arg = xs if case["is_list"] else xs[0]
        kw = dict(case["call_kwargs"])
        for k in case["array_kwargs"]:
            kw[k] = torch.tensor(inputs[f"{cid}/kw/{k}"])
        if training is not None:
            kw["training"] = training
        if case.get("positional"):
            return layer(*arg, **kw)
        return layer(arg, **kw)
    out = call(make_inputs(False), None)
    outputs[f"{cid}/n_weights"] = len(layer.weights)
    for i, w in enumerate(layer.weights):
        outputs[f"{cid}/w{i}"] = np.array(w.numpy())
    outputs[f"{cid}/trainable_idx"] = [
        [j for j, w in enumerate(layer.weights) if w is tw][0] for tw in layer.trainable_weights]
    outputs[f"{cid}/config"] = json.dumps(keras.saving.serialize_keras_object(layer)["config"])
    modes = [False] + ([True] if case["training"] else [])
    for mode in modes:
        xs = make_inputs(case["grads"])
        for tw in layer.trainable_weights:
            tw.value.grad = None
        outs = flat(call(xs, mode))
        outputs[f"{cid}/{mode}/n_out"] = len(outs)
        for i, o in enumerate(outs):
            o = o.detach().cpu()
            o = o.float() if o.dtype == torch.bfloat16 else o  # numpy has no bfloat16
            outputs[f"{cid}/{mode}/out{i}"] = o.numpy()
        if case["grads"] and mode is False:
            loss = sum((o * torch.tensor(cot(tuple(o.shape)))).sum() for o in outs
                       if o.is_floating_point())
            loss.backward()
            for i, x in enumerate(xs):
                if x.is_floating_point() and x.grad is not None:
                    outputs[f"{cid}/gin{i}"] = x.grad.numpy()
            for i, tw in enumerate(layer.trainable_weights):
                g = tw.value.grad
                outputs[f"{cid}/gw{i}"] = g.numpy() if g is not None else np.zeros(0)
        if mode is True and case.get("check_updates"):
            for i, w in enumerate(layer.weights):
                outputs[f"{cid}/post_w{i}"] = np.array(w.numpy())
"""


def _flat(o):
    if isinstance(o, (list, tuple)):
        return [t for x in o for t in _flat(x)]
    if isinstance(o, dict):
        return [t for k in sorted(o) for t in _flat(o[k])]
    return [o]


def keras_reference(cases):
    arrays, specs = {}, []
    for case in cases:
        xs = case.inputs if isinstance(case.inputs, list) else [case.inputs]
        for i, x in enumerate(xs):
            arrays[f"{case.id}/in{i}"] = np.asarray(x)
        for k, v in case.call_arrays.items():
            arrays[f"{case.id}/kw/{k}"] = np.asarray(v)
        masked = [i for i, m in enumerate(case.input_masks or []) if m is not None]
        for i in masked:
            arrays[f"{case.id}/mask{i}"] = np.asarray(case.input_masks[i])
        specs.append({"id": case.id, "cls": case.cls, "kwargs": case.kwargs,
                      "n_inputs": len(xs), "is_list": isinstance(case.inputs, list),
                      "call_kwargs": case.call_kwargs, "array_kwargs": list(case.call_arrays),
                      "training": case.training, "grads": case.grads,
                      "positional": case.positional, "masked_inputs": masked,
                      "check_updates": case.check_updates, "from_config": case.from_config})
    arrays["__cases__"] = np.array(json.dumps(specs))
    return run_keras(_KERAS_SCRIPT, arrays)


def _call(layer, case, xs, training):
    arg = xs if isinstance(case.inputs, list) else xs[0]
    kw = dict(case.call_kwargs)
    for k, v in case.call_arrays.items():
        kw[k] = torch.as_tensor(np.asarray(v))
    if training is not None:
        kw["training"] = training
    if case.positional:
        return layer(*arg, **kw)
    return layer(arg, **kw)


def _strip_name(config):
    """A config without layer names (top level and wrapped layers): names depend on how many
    layers of a class each process created before."""
    if isinstance(config, list):
        return [_strip_name(c) for c in config]
    if not isinstance(config, dict):
        return config
    is_layer_config = "trainable" in config
    return {k: _strip_name(v) for k, v in config.items() if not (k == "name" and is_layer_config)}


def check_case(case, ref):
    import tkeras
    from tkeras.core.registry import serialize_keras_object
    from tkeras.layers.layer import _attach_mask

    cid = case.id
    cls = getattr(tkeras.layers, case.cls)
    layer = cls.from_config(dict(case.kwargs)) if case.from_config else cls(**case.kwargs)
    raw = case.inputs if isinstance(case.inputs, list) else [case.inputs]

    def make_inputs(grad):
        xs = [torch.tensor(np.asarray(x)) for x in raw]
        if grad:
            xs = [x.requires_grad_(True) if x.is_floating_point() else x for x in xs]
        for x, m in zip(xs, case.input_masks or []):
            if m is not None:
                # As a mask-producing layer attaches it (also turns Layer's mask handling on).
                _attach_mask(x, torch.as_tensor(np.asarray(m)))
        return xs

    _call(layer, case, make_inputs(False), None)  # build
    n_weights = int(ref[f"{cid}/n_weights"])
    keras_weights = [ref[f"{cid}/w{i}"] for i in range(n_weights)]
    assert len(layer.weights) == n_weights, (
        f"{cid}: tkeras has {len(layer.weights)} weights, Keras {n_weights}")
    for w, kw in zip(layer.weights, keras_weights):
        assert tuple(w.shape) == kw.shape, f"{cid}: weight {w.path} {tuple(w.shape)} vs {kw.shape}"
    layer.set_weights(keras_weights)
    trainable_idx = list(ref[f"{cid}/trainable_idx"])
    weights = layer.weights
    ids = [id(w) for w in weights]
    assert [ids.index(id(tw)) for tw in layer.trainable_weights] == trainable_idx, (
        f"{cid}: trainable weight order differs from Keras")

    if case.check_config:
        keras_config = json.loads(ref[f"{cid}/config"])
        ours = json.loads(json.dumps(serialize_keras_object(layer)["config"]))
        assert _strip_name(ours) == _strip_name(keras_config), (
            f"{cid}: config differs from Keras\n tkeras: {ours}\n keras:  {keras_config}")
        clone = type(layer).from_config(layer.get_config())
        assert _strip_name(clone.get_config()) == _strip_name(layer.get_config())

    modes = [False] + ([True] if case.training else [])
    for mode in modes:
        xs = make_inputs(case.grads and mode is False)
        outs = _flat(_call(layer, case, xs, mode))
        n_out = int(ref[f"{cid}/{mode}/n_out"])
        assert len(outs) == n_out, f"{cid}: {len(outs)} outputs vs Keras {n_out}"
        for i, o in enumerate(outs):
            expected = ref[f"{cid}/{mode}/out{i}"]
            got = o.detach().cpu()
            got = (got.float() if got.dtype == torch.bfloat16 else got).numpy()  # no bf16 numpy
            assert got.shape == expected.shape, f"{cid}: output {i} shape {got.shape} vs {expected.shape}"
            scale = max(1.0, float(np.abs(expected).max()) if expected.size else 1.0)
            np.testing.assert_allclose(got, expected, rtol=case.rtol, atol=case.atol * scale,
                                       err_msg=f"{cid}: output {i} (training={mode})")
        if case.grads and mode is False:
            loss = sum((o * torch.tensor(cotangent(tuple(o.shape)))).sum() for o in outs
                       if o.is_floating_point())
            loss.backward()
            for i, x in enumerate(xs):
                key = f"{cid}/gin{i}"
                if key in ref:
                    assert x.grad is not None, f"{cid}: no gradient for input {i}"
                    _close(x.grad, ref[key], case, f"{cid}: input gradient {i}")
            for i, tw in enumerate(layer.trainable_weights):
                assert tw.grad is not None, f"{cid}: trainable weight {tw.path} got no gradient"
                _close(tw.grad, ref[f"{cid}/gw{i}"], case, f"{cid}: gradient of {tw.path}")
        if mode is True and case.check_updates:
            for i, w in enumerate(layer.weights):
                _close(w, ref[f"{cid}/post_w{i}"], case,
                       f"{cid}: {w.path} after the training-mode call")

    if case.compile:
        torch._dynamo.reset()
        compiled = torch.compile(layer, backend="eager", fullgraph=True)
        with torch.no_grad():
            eager = _flat(_call(layer, case, make_inputs(False), False))
            traced = _flat(_call(compiled, case, make_inputs(False), False))
        for a, b in zip(eager, traced):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-6,
                                       err_msg=f"{cid}: torch.compile output differs")


def _close(got, expected, case, msg):
    got = got.detach().cpu().numpy()
    scale = max(1.0, float(np.abs(expected).max()) if expected.size else 1.0)
    np.testing.assert_allclose(got, expected, rtol=case.rtol * 10, atol=case.atol * 10 * scale,
                               err_msg=msg)


def parametrize_cases(cases):
    """Module helper: `test_layer = parametrize_cases(CASES)` gives one pytest test per case,
    all sharing one Keras subprocess."""
    cache = {}

    @pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])
    def test_layer(case):
        if "ref" not in cache:
            cache["ref"] = keras_reference(cases)
        check_case(case, cache["ref"])

    return test_layer


def rand(*shape, seed=0, low=-1.0, high=1.0):
    rng = np.random.default_rng(seed + int(math.prod(shape)))
    return rng.uniform(low, high, size=shape).astype(np.float32)
