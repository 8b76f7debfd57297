"""Parity harness for `keras.ops` modules: the same op expressions evaluated by real Keras (in one
subprocess, via `keras_oracle.run_keras`) and by tkeras.

A case is `(id, expression, grad)`: `expression` uses `ops` (`keras.ops` / `tkeras.ops`) and the
names of the input arrays, which both sides receive as torch tensors. Each output leaf gives its
values and Keras dtype; with `grad`, also the gradients of the sum of the first output with
respect to every floating input the expression names. An exception is recorded as
`<id>|error` so tests can assert that both sides refuse the same inputs.

A spec case `(id, expression)` builds KerasTensors with `KT(shape, dtype="float32")` and records
each output's shape and dtype (Keras's `compute_output_spec`).
"""

import json

import numpy as np
import torch

from keras_oracle import run_keras

EVAL_SRC = '''
def _leaves(out):
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in _leaves(item)]
    return [out]


def evaluate_cases(ops, cases, tensors, standardize_dtype, extra=None):
    import torch

    results = {}
    for cid, expr, grad in cases:
        names = [n for n in compile(expr, cid, "eval").co_names if n in tensors]
        # fresh copies: Keras's torch affine_transform writes into its `transform` argument
        env = {n: tensors[n].clone() for n in names}
        if grad:
            for n in names:
                if env[n].is_floating_point():
                    env[n] = env[n].clone().requires_grad_(True)
        try:
            out = eval(expr, {"ops": ops, "np": __import__("numpy"), "torch": torch,
                              **(extra or {})}, env)
        except Exception as e:  # recorded: both sides must refuse alike
            results[cid + "|error"] = type(e).__name__
            continue
        leaves = [leaf if isinstance(leaf, torch.Tensor) else torch.as_tensor(leaf)
                  for leaf in _leaves(out)]
        for i, leaf in enumerate(leaves):
            results[f"{cid}|{i}"] = leaf.detach().cpu().numpy()
            results[f"{cid}|{i}|dtype"] = standardize_dtype(leaf.dtype)
        if grad:
            wrt = [n for n in names if env[n].requires_grad]
            grads = torch.autograd.grad(leaves[0].sum(), [env[n] for n in wrt],
                                        allow_unused=True)
            for n, g in zip(wrt, grads):
                results[f"{cid}|grad|{n}"] = (
                    torch.zeros_like(env[n]) if g is None else g).detach().cpu().numpy()
    return results


def evaluate_specs(ops, specs, KT, extra=None):
    results = {}
    for cid, expr in specs:
        try:
            out = eval(expr, {"ops": ops, "KT": KT, **(extra or {})})
        except Exception as e:
            results[cid + "|error"] = type(e).__name__
            continue
        results[cid] = [[list(leaf.shape), str(leaf.dtype)] for leaf in _leaves(out)]
    return results
'''

_namespace = {}
exec(EVAL_SRC, _namespace)
evaluate_cases = _namespace["evaluate_cases"]
evaluate_specs = _namespace["evaluate_specs"]

_KERAS_CODE = EVAL_SRC + '''
import torch
T = {k: torch.from_numpy(v) for k, v in inputs.items() if v.dtype.kind != "U"}
res = evaluate_cases(keras.ops, CASES, T, keras.backend.standardize_dtype)
res.update({"spec|" + k: v for k, v in
            evaluate_specs(keras.ops, SPECS, lambda s, d="float32": keras.KerasTensor(s, d)).items()})
outputs.update(res)
'''


def keras_reference(cases, specs, inputs, extra_code=""):
    """All Keras results of `cases` and `specs` (plus whatever `extra_code` puts into
    `outputs`) from one subprocess."""
    code = (f"CASES = {cases!r}\nSPECS = {specs!r}\n" + _KERAS_CODE
            + extra_code)
    return run_keras(code, inputs)


def tkeras_results(cases, specs, inputs):
    import tkeras
    from tkeras.ops import dtypes

    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}
    results = evaluate_cases(tkeras.ops, cases, tensors, dtypes.standardize_dtype)
    specs = evaluate_specs(tkeras.ops, specs,
                           lambda s, d="float32": tkeras.KerasTensor(s, dtype=d))
    results.update({"spec|" + k: v for k, v in specs.items()})
    return results


def assert_case(cid, ours, ref, atol=1e-5, rtol=1e-5):
    """Same refusal, or same leaves: values (exact for ints/bools), Keras dtype, gradients."""
    if cid + "|error" in ref or cid + "|error" in ours:
        assert ours.get(cid + "|error") == ref.get(cid + "|error"), (
            f"{cid}: keras {ref.get(cid + '|error', 'ok')} vs tkeras "
            f"{ours.get(cid + '|error', 'ok')}")
        return
    keys = sorted(k for k in ref if k.startswith(cid + "|") and not k.endswith("|dtype"))
    assert keys, f"{cid}: no Keras output"
    assert keys == sorted(k for k in ours if k.startswith(cid + "|")
                          and not k.endswith("|dtype")), cid
    for key in keys:
        expected, actual = np.asarray(ref[key]), np.asarray(ours[key])
        assert actual.shape == expected.shape, f"{key}: {actual.shape} vs {expected.shape}"
        if key + "|dtype" in ref:
            assert ours[key + "|dtype"] == ref[key + "|dtype"], (
                f"{key}: dtype {ours[key + '|dtype']} vs {ref[key + '|dtype']}")
        if expected.dtype.kind in "biu":
            np.testing.assert_array_equal(actual, expected, err_msg=key)
        else:
            scale = max(1.0, float(np.nanmax(np.abs(expected)))) if expected.size else 1.0
            np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale,
                                       err_msg=key)


def assert_spec(cid, ours, ref):
    key = "spec|" + cid
    if key + "|error" in ref or key + "|error" in ours:
        assert ours.get(key + "|error") == ref.get(key + "|error"), cid
        return
    expected = [[[d for d in shape], dtype] for shape, dtype in ref[key]]
    assert ours[key] == expected, f"{cid}: {ours[key]} vs {expected}"


def normalized_config(config):
    """A functional config without the model's name and with layer and tensor names replaced
    by their order of appearance (auto-generated names depend on what else each process has
    created)."""
    config = {k: v for k, v in config.items() if k != "name"}  # the model's auto name
    names = {}

    def rename(name):
        return names.setdefault(name, f"n{len(names)}")

    for layer in config["layers"]:
        rename(layer["name"])
    text = json.dumps(config, sort_keys=True)
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(f'"{name}"', f'"{names[name]}"')
    return json.loads(text)
