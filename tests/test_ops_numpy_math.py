"""keras.ops numpy math ops and dtype promotion: values and dtypes against real Keras (torch
backend), symbolic output specs, and functional models with ops exchanged with Keras.

One Keras subprocess computes every reference (module-scoped fixture).
"""

import json

import numpy as np
import pytest
import torch

import tkeras as keras
from keras_oracle import requires_keras, run_keras
from tkeras import ops
from tkeras.ops import dtypes

RNG = np.random.default_rng(0)


def _with_nans(shape):
    x = RNG.normal(size=shape).astype("float32")
    flat = x.reshape(-1)
    flat[[1, 5, 6]] = np.nan
    flat[2], flat[7] = np.inf, -np.inf
    return x


INPUTS = {
    "f": (RNG.normal(size=(3, 4)) * 2).astype("float32"),
    "g": RNG.normal(size=(3, 4)).astype("float32"),
    "f_near": None,  # filled below
    "row": RNG.normal(size=(4,)).astype("float32"),
    "wrow": RNG.uniform(0.5, 2, size=(4,)).astype("float32"),
    "fpos": RNG.uniform(0.5, 3, size=(3, 4)).astype("float32"),
    "fu": RNG.uniform(-0.9, 0.9, size=(3, 4)).astype("float32"),
    "fbig": RNG.uniform(1.1, 4, size=(3, 4)).astype("float32"),
    "fnan": _with_nans((3, 4)),
    "f3": RNG.normal(size=(2, 3, 4)).astype("float32"),
    "fnan3": _with_nans((2, 3, 4)),
    "i": RNG.integers(-5, 6, size=(3, 4)).astype("int32"),
    "j": RNG.integers(1, 4, size=(3, 4)).astype("int32"),
    "i3": RNG.integers(-3, 4, size=(2, 3, 4)).astype("int32"),
    "i8": RNG.integers(-5, 6, size=(3, 4)).astype("int8"),
    "i64": RNG.integers(-5, 6, size=(3, 4)).astype("int64"),
    "u8": RNG.integers(0, 10, size=(3, 4)).astype("uint8"),
    "b": RNG.integers(0, 2, size=(3, 4)).astype(bool),
    "b2": RNG.integers(0, 2, size=(3, 4)).astype(bool),
    "b3": RNG.integers(0, 2, size=(2, 3, 4)).astype(bool),
    "h": RNG.normal(size=(3, 4)).astype("float16"),
    "hpos": RNG.uniform(0.5, 3, size=(3, 4)).astype("float16"),
    "d": RNG.normal(size=(3, 4)).astype("float64"),
    "c": (RNG.normal(size=(3, 4)) + 1j * RNG.normal(size=(3, 4))).astype("complex64"),
    "s0": np.asarray(1.5, dtype="float32"),
    "q": np.asarray([0.1, 0.5, 0.9], dtype="float32"),
}
INPUTS["f_near"] = INPUTS["f"] + np.asarray(RNG.normal(size=(3, 4)) * 1e-5, dtype="float32")
INPUTS["fnan"][0, 0] = INPUTS["f"][0, 0]

GENERIC = ["@f", "@i", "@b", "@h", "@d", "@i8", "@u8", "@i64", "@f:bfloat16", 2.0, 3, "@s0"]
POSITIVE = ["@fpos", "@j", "@hpos", "@fpos:float64", "@j:int64", "@j:uint8", 2.0, 3]
UNIT = ["@fu", "@fu:float16", "@fu:float64"]
PAIRS = [("@f", "@g"), ("@i", "@j"), ("@i", "@f"), ("@f", 2.0), ("@i", 2.5), ("@i", 3),
         ("@i8", 3), ("@i8", "@i"), ("@u8", "@i8"), ("@b", "@b2"), ("@b", "@j"), ("@h", 2.0),
         ("@h", "@f"), ("@f", "@row"), ("@f:bfloat16", 2), ("@d", "@f"), ("@i64", "@j"),
         (2.0, "@f"), (3, "@i8"), ("@s0", "@i8"), ("@h", 3)]

UNARY = ["exp", "exp2", "expm1", "sin", "cos", "tan", "sinh", "cosh", "tanh", "arctan",
         "arcsinh", "sinc", "sign", "negative", "square", "cbrt", "abs", "absolute", "fabs",
         "floor", "ceil", "trunc", "round", "deg2rad", "rad2deg", "i0", "isfinite", "isinf",
         "isnan", "isneginf", "isposinf", "isreal", "signbit", "logical_not", "nan_to_num",
         "real", "conj", "conjugate", "angle", "bitwise_invert", "bitwise_not"]
POSITIVE_UNARY = ["log", "log2", "log10", "log1p", "sqrt", "reciprocal"]
BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "mod", "fmod",
          "power", "maximum", "minimum", "fmax", "fmin", "arctan2", "logaddexp", "logaddexp2",
          "hypot", "heaviside", "equal", "not_equal", "greater", "greater_equal", "less",
          "less_equal", "logical_and", "logical_or", "logical_xor", "divide_no_nan"]
INT_BINARY = ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
              "bitwise_right_shift", "left_shift", "right_shift", "gcd", "lcm"]
INT_PAIRS = [("@i", "@j"), ("@i8", "@i"), ("@b", "@b2"), ("@u8", 3), ("@i", 2), ("@i8", 1),
             ("@i64", "@j"), ("@u8", "@u8")]
REDUCTIONS = ["sum", "mean", "prod", "std", "var", "max", "min", "amax", "amin", "all", "any",
              "ptp", "median", "nanmax", "nanmin", "nansum", "nanmean", "nanprod", "nanstd",
              "nanvar", "nanmedian"]
REDUCTION_INPUTS = ["@f3", "@i3", "@b3", "@fnan3", "@f3:float16", "@i3:int8", "@i3:uint8",
                    "@f3:float64", "@i3:int64"]
AXES = [{}, {"axis": 0}, {"axis": -1}, {"axis": [0, 2]}, {"axis": (0, 2)},
        {"axis": 1, "keepdims": True}, {"keepdims": True}, {"axis": []}]


def _cases():
    cases = []

    def add(op, args, kwargs=None):
        cases.append([f"{op}#{len(cases)}", op, list(args), kwargs or {}])

    for op in UNARY:
        for a in GENERIC:
            add(op, [a])
    for op in ["isfinite", "isinf", "isnan", "isneginf", "isposinf", "signbit", "nan_to_num",
               "sign", "abs", "floor", "ceil", "trunc", "round", "fabs"]:
        add(op, ["@fnan"])
    add("nan_to_num", ["@fnan"], {"nan": 7.0, "posinf": 100.0, "neginf": -100.0})
    add("nan_to_num", ["@fnan:float16"], {"nan": 1.0})
    for op in ["real", "imag", "conj", "conjugate", "angle", "isreal", "abs", "negative"]:
        add(op, ["@c"])
    for op in POSITIVE_UNARY:
        for a in POSITIVE:
            add(op, [a])
    for op in ["arcsin", "arccos", "arctanh"]:
        for a in UNIT:
            add(op, [a])
    add("arccosh", ["@fbig"])
    add("arccosh", ["@fbig:float64"])
    for op in BINARY:
        for a, b in PAIRS:
            add(op, [a, b])
    for op in INT_BINARY:
        for a, b in INT_PAIRS:
            add(op, [a, b])
    for op in ["bitwise_invert", "bitwise_not"]:
        add(op, ["@b"])
    add("divide_no_nan", ["@f", "@i"])
    add("divide_no_nan", ["@i", "@i"])
    for a, b in [("@f", "@j"), ("@h", "@j"), ("@i", "@j"), ("@d", "@j"), ("@f", 2), ("@f", "@g")]:
        add("ldexp", [a, b])
    for args in [("@f", -1.0, 1.0), ("@i", -2, 3), ("@i", -1.5, 2.5), ("@b", 0, 1),
                 ("@h", -1.0, 1.0), ("@i8", -2, 2), ("@u8", 2, 5), ("@d", -0.5, 0.5)]:
        add("clip", args)
    for kwargs in [{}, {"rtol": 1e-3, "atol": 1e-4}, {"equal_nan": True}]:
        for a, b in [("@f", "@f_near"), ("@f", "@g"), ("@i", "@j"), ("@f", "@fnan"), ("@f", 1.0),
                     ("@h", "@h")]:
            add("isclose", [a, b], kwargs)
            add("allclose", [a, b], kwargs)
    for args, kwargs in [(["@f"], {"decimals": 1}), (["@i"], {"decimals": -1}),
                         (["@d"], {"decimals": 2}), (["@h"], {"decimals": 1})]:
        add("round", args, kwargs)
    for op in REDUCTIONS:
        for a in REDUCTION_INPUTS:
            for kwargs in AXES:
                add(op, [a], kwargs)
    for op in ["argmax", "argmin", "nanargmax", "nanargmin"]:
        for a in REDUCTION_INPUTS:
            for kwargs in [{}, {"axis": 0}, {"axis": -1}, {"axis": 1, "keepdims": True}]:
                add(op, [a], kwargs)
    add("nanargmax", ["@fnan"], {"axis": 0})
    for op in ["count_nonzero"]:
        for a in ["@f3", "@i3", "@b3", "@fnan3"]:
            for kwargs in [{}, {"axis": -1}, {"axis": [0, 2]}, {"axis": ()}]:
                add(op, [a], kwargs)
        add(op, ["@i"], {"axis": 0})
    for op in ["cumsum", "cumprod", "nancumsum", "nancumprod"]:
        for a in ["@f", "@i", "@b", "@h", "@i8", "@fnan", "@u8", "@d"]:
            for kwargs in [{}, {"axis": 0}, {"axis": -1}, {"axis": 1, "dtype": "float32"},
                           {"dtype": "int64"}]:
                add(op, [a], kwargs)
    for op, q in [("quantile", 0.3), ("nanquantile", 0.3), ("percentile", 30.0),
                  ("nanpercentile", 30.0)]:
        for a in ["@f3", "@i3", "@fnan3", "@f3:float16", "@f3:float64"]:
            for kwargs in [{}, {"axis": 1}, {"axis": [0, 2], "keepdims": True},
                           {"axis": -1, "method": "lower"}, {"method": "higher"},
                           {"method": "midpoint", "axis": 0}, {"method": "nearest"},
                           {"keepdims": True}]:
                add(op, [a, q], kwargs)
        add(op, ["@f3", "@q" if "quantile" in op else [10.0, 50.0, 90.0]], {"axis": 1})
        add(op, ["@f3", "@q" if "quantile" in op else [10.0, 50.0, 90.0]],
            {"axis": -1, "keepdims": True})
    for op in ["max", "min"]:
        for a in ["@f3", "@i3"]:
            add(op, [a], {"initial": 0.5})
            add(op, [a], {"axis": 1, "initial": 0})
    for a in ["@f3", "@i3", "@b3"]:
        add("average", [a])
        add("average", [a], {"axis": -1})
        add("average", [a], {"axis": []})
    add("average", ["@f"], {"axis": -1, "weights": "@wrow"})
    add("average", ["@i"], {"axis": 1, "weights": "@fpos"})
    add("prod", ["@i"], {"axis": 0, "dtype": "float32"})
    add("prod", ["@f"], {"dtype": "int32"})
    add("sum", [[1.0, 2.0, 3.0]])
    add("mean", [[1, 2, 4]])
    return cases


CASES = _cases()

# Where Keras's torch backend departs from NumPy (docs/ops.md), tkeras follows NumPy: compared
# with NumPy below, not with Keras.
NUMPY_CASES = [
    ("nextafter", lambda: (ops.nextafter(INPUTS["f"], INPUTS["g"]),
                           np.nextafter(INPUTS["f"], INPUTS["g"]))),
    ("nextafter_int", lambda: (ops.nextafter(INPUTS["i"], 0.0),
                               np.nextafter(INPUTS["i"].astype("float32"), np.float32(0)))),
    ("count_nonzero_3d", lambda: (ops.count_nonzero(INPUTS["i3"], axis=0),
                                  np.count_nonzero(INPUTS["i3"], axis=0))),
    ("average_axis0", lambda: (ops.average(INPUTS["f"], axis=0, weights=INPUTS["fpos"][:, 0]),
                               np.average(INPUTS["f"], axis=0, weights=INPUTS["fpos"][:, 0]))),
    ("average_full", lambda: (ops.average(INPUTS["f"], weights=INPUTS["fpos"]),
                              np.average(INPUTS["f"], weights=INPUTS["fpos"]))),
    ("imag_real", lambda: (ops.imag(INPUTS["f"]), np.imag(INPUTS["f"]))),
]

SYMBOLIC = [
    ("add", [((None, 3), "float32"), ((None, 3), "float32")], {}),
    ("add", [((None, 3), "int8"), ((None, 3), "int32")], {}),
    ("add", [((2, 3), "int32"), 1.5], {}),
    ("add", [((2, 3), "float16"), 2.0], {}),
    ("multiply", [((None, 3), "bool"), ((None, 3), "int32")], {}),
    ("divide", [((None, 3), "int32"), ((None, 3), "int32")], {}),
    ("true_divide", [((4, 3), "int8"), 2], {}),
    ("floor_divide", [((4, 3), "int32"), 2.0], {}),
    ("power", [((None, 3), "int32"), 2], {}),
    ("mean", [((None, 3, 5), "int32")], {"axis": 1}),
    ("mean", [((None, 3, 5), "float16")], {"axis": -1, "keepdims": True}),
    ("sum", [((None, 3), "bool")], {"axis": 0}),
    ("sum", [((None, 3), "int8")], {}),
    ("prod", [((None, 3), "int16")], {"axis": 1}),
    ("argmax", [((None, 3, 5), "float32")], {"axis": -1}),
    ("argmin", [((None, 3, 5), "float32")], {}),
    ("std", [((None, 3), "int32")], {"axis": 1}),
    ("var", [((None, 3), "float32")], {"axis": [0, 1], "keepdims": True}),
    ("max", [((None, 3, 5), "float32")], {"axis": (1, 2)}),
    ("all", [((None, 3), "float32")], {"axis": 1}),
    ("count_nonzero", [((None, 3), "float32")], {"axis": 1}),
    ("cumsum", [((None, 3), "bool")], {"axis": 1}),
    ("cumsum", [((2, 3), "float32")], {}),
    ("median", [((None, 3, 4), "int32")], {"axis": 1}),
    ("quantile", [((None, 3, 4), "float32"), 0.5], {"axis": -1, "keepdims": True}),
    ("sqrt", [((None, 3), "int32")], {}),
    ("exp", [((None, 3), "int8")], {}),
    ("floor", [((None, 3), "int32")], {}),
    ("round", [((None, 3), "int32")], {"decimals": 1}),
    ("isnan", [((None, 3), "float32")], {}),
    ("equal", [((None, 3), "float32"), ((None, 3), "int32")], {}),
    ("logical_and", [((None, 3), "float32"), ((None, 3), "bool")], {}),
    ("arctan2", [((None, 3), "int32"), ((None, 3), "int32")], {}),
    ("hypot", [((None, 3), "int8"), ((None, 3), "int8")], {}),
    ("maximum", [((None, 3), "int8"), 1.5], {}),
    ("clip", [((None, 3), "int32"), 0, 5], {}),
    ("bitwise_and", [((None, 3), "int8"), ((None, 3), "int16")], {}),
    ("abs", [((None, 3), "int32")], {}),
    ("square", [((None, 3), "bool")], {}),
    ("nanmean", [((None, 3), "int32")], {"axis": 1}),
    ("average", [((None, 3), "int32")], {"axis": 1}),
    ("ptp", [((None, 3), "float32")], {"axis": 1}),
]

MODEL_CODE = """
def build(keras):
    keras.utils.clear_session()
    ops = keras.ops
    x = keras.Input((4,), name="x")
    w = keras.Input((4,), name="w")
    a = ops.add(x, 1.0)
    b = ops.clip(ops.multiply(a, w), -1.0, 2.0)
    outs = [
        ops.sum(b, axis=-1, keepdims=True),
        ops.mean(ops.square(x), axis=1),
        ops.average(x, axis=-1, weights=w),
        ops.average(x, axis=-1),
        ops.isclose(x, w, 0.1, 0.2),
        ops.logical_and(ops.greater(x, 0.0), ops.less_equal(w, 0.5)),
        ops.quantile(x, 0.5, axis=-1),
        ops.max(x, axis=-1, initial=0.0),
        ops.round(x, 1),
        ops.argmax(x, axis=-1),
        ops.conj(ops.abs(ops.negative(x))),
        ops.cumsum(x, axis=1),
        ops.nan_to_num(ops.log(x), nan=-1.0, neginf=-2.0),
        ops.divide_no_nan(x, ops.subtract(w, w)),
        ops.allclose(x, w),
        ops.std(x, axis=-1),
    ]
    return keras.Model([x, w], outs, name="ops_model")
"""


def _tk_arg(a):
    if isinstance(a, str) and a.startswith("@"):
        name, _, dt = a[1:].partition(":")
        t = torch.from_numpy(INPUTS[name].copy())
        return t.to(dtypes.torch_dtype(dt)) if dt else t
    return a


def _keras_code():
    return f"""
import torch
cases = json.loads(str(inputs["cases_json"]))
symbolic = json.loads(str(inputs["symbolic_json"]))
tk_config = json.loads(str(inputs["tk_config_json"]))

def conv(a):
    if isinstance(a, str) and a.startswith("@"):
        name, _, dt = a[1:].partition(":")
        t = keras.ops.convert_to_tensor(inputs[name])
        return keras.ops.cast(t, dt) if dt else t
    return a

def put(key, r):
    dt = keras.backend.standardize_dtype(r.dtype)
    r = torch.as_tensor(r).detach().cpu()
    outputs[key] = (r.float() if dt == "bfloat16" else r).numpy()
    outputs[key + "|dtype"] = dt

for cid, op, args, kwargs in cases:
    kwargs = {{k: conv(v) for k, v in kwargs.items()}}
    try:
        put(cid, getattr(keras.ops, op)(*[conv(a) for a in args], **kwargs))
    except Exception as e:
        outputs[cid + "|error"] = type(e).__name__

spec = []
for op, args, kwargs in symbolic:
    args = [keras.KerasTensor(tuple(a[0]), a[1]) if isinstance(a, list) else a for a in args]
    out = getattr(keras.ops, op)(*args, **kwargs)
    spec.append([list(out.shape), out.dtype])
outputs["symbolic"] = spec

{MODEL_CODE}
model = build(keras)
outputs["model_config"] = json.dumps(model.get_config())
xin, win = inputs["model_x"], inputs["model_w"]
for k, r in enumerate(model([xin, win])):
    put(f"model_out{{k}}", r)
loaded = keras.Model.from_config(tk_config)
for k, r in enumerate(loaded([xin, win])):
    put(f"tk_model_out{{k}}", r)
"""


def _tk_model():
    namespace = {}
    exec(MODEL_CODE, namespace)
    return namespace["build"](keras)


MODEL_X = RNG.normal(size=(5, 4)).astype("float32")
MODEL_X[0, 0] = 0.0
MODEL_W = RNG.uniform(0, 1, size=(5, 4)).astype("float32")


@pytest.fixture(scope="module")
def ref():
    # The case lists travel as NumPy strings (too long for a command line).
    texts = {"cases_json": CASES, "symbolic_json": SYMBOLIC,
             "tk_config_json": _tk_model().get_config()}
    return run_keras(_keras_code(), {**INPUTS, "model_x": MODEL_X, "model_w": MODEL_W,
                                     **{k: np.asarray(json.dumps(v)) for k, v in texts.items()}})


def _tol(dtype):
    return {"float16": 2e-3, "bfloat16": 2e-2}.get(dtype, 1e-5)


def _assert_close(actual, expected, dtype, what):
    actual = actual.detach().cpu()
    if actual.dtype == torch.bfloat16:
        actual = actual.float()
    actual = actual.numpy()
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if dtype in ("bool",) or "int" in dtype:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        tol = _tol(dtype)
        np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, equal_nan=True,
                                   err_msg=what)


OPS = sorted({c[1] for c in CASES})

# Python scalars given to real/conj: Keras's torch backend fails (torch.from_numpy on a float);
# tkeras converts them like every other op.
_PERMISSIVE = {"real", "conj", "conjugate"}


def _keras_departs(op, args, kwargs):
    """Cases where Keras's torch backend departs from NumPy semantics (docs/ops.md); tkeras
    follows NumPy there and is compared with NumPy."""
    axis, keepdims = kwargs.get("axis"), kwargs.get("keepdims", False)
    if op in ("prod", "nanprod", "max", "min", "amax", "amin", "ptp") and keepdims and (
            axis is None):
        return True  # Keras ignores keepdims=True when axis is None
    if op == "ptp" and isinstance(axis, list) and not axis:
        return True  # axis=[] reduces everything in Keras; NumPy returns zeros
    if op in ("nanmax", "nanmin") and isinstance(axis, list) and not axis and (
            not _tk_arg(args[0]).is_floating_point()):
        return True  # same for integer inputs
    if op == "count_nonzero" and _tk_arg(args[0]).ndim - len(_axes_of(axis, 3)) >= 2:
        return True  # Keras transposes multi-dimensional results
    return False


def _axes_of(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)


def _numpy_reference(op, args, kwargs):
    x = _tk_arg(args[0])
    x = (x.float() if x.dtype == torch.float16 else x).numpy()
    axis = kwargs.get("axis")
    axis = tuple(axis) if isinstance(axis, list) else axis
    if op == "count_nonzero":
        return np.count_nonzero(x, axis=axis)
    fn = {"max": np.max, "min": np.min, "amax": np.amax, "amin": np.amin, "prod": np.prod,
          "nanprod": np.nanprod, "ptp": np.ptp, "nanmax": np.nanmax, "nanmin": np.nanmin}[op]
    with np.errstate(invalid="ignore"):  # inf - inf in ptp
        return fn(x, axis=axis, keepdims=kwargs.get("keepdims", False))


@requires_keras
@pytest.mark.parametrize("op", OPS)
def test_values_and_dtypes_match_keras(ref, op):
    """Every case of `op` (several dtypes, Python scalars, mixed operands, axes) against Keras:
    same dtype, same values (exact for ints and bools), same errors."""
    checked = 0
    for cid, case_op, args, kwargs in CASES:
        if case_op != op:
            continue
        fn = getattr(ops, op)
        call = lambda: fn(*[_tk_arg(a) for a in args],
                          **{k: _tk_arg(v) for k, v in kwargs.items()})
        if cid + "|error" in ref:
            if op not in _PERMISSIVE:
                with pytest.raises(Exception):
                    call()
        elif _keras_departs(op, args, kwargs):
            out, expected = call(), _numpy_reference(op, args, kwargs)
            assert tuple(out.shape) == expected.shape, cid
            np.testing.assert_allclose(out.float().numpy(), expected.astype("float32"),
                                       rtol=2e-3, err_msg=cid)
        else:
            out = call()
            assert dtypes.standardize_dtype(out.dtype) == ref[cid + "|dtype"], (cid, args, kwargs)
            _assert_close(out, ref[cid], ref[cid + "|dtype"], f"{cid} {args} {kwargs}")
        checked += 1
    assert checked


@pytest.mark.parametrize("name,fn", NUMPY_CASES, ids=[n for n, _ in NUMPY_CASES])
def test_numpy_semantics_where_keras_torch_departs(name, fn):
    out, expected = fn()
    expected = np.asarray(expected)
    np.testing.assert_allclose(out.numpy(), expected.astype(out.numpy().dtype), rtol=1e-6,
                               atol=0)
    assert out.shape == expected.shape


@requires_keras
def test_symbolic_specs_match_keras(ref):
    for (op, args, kwargs), (shape, dtype) in zip(SYMBOLIC, ref["symbolic"]):
        args = [keras.KerasTensor(a[0], a[1]) if isinstance(a, tuple) else a for a in args]
        out = getattr(ops, op)(*args, **kwargs)
        assert (list(out.shape), out.dtype) == ([*shape], dtype), (op, args, kwargs)


@requires_keras
def test_functional_model_config_matches_keras(ref):
    assert _tk_model().get_config() == json.loads(ref["model_config"])


@requires_keras
def test_functional_models_exchange_with_keras(ref):
    tk_from_keras = keras.Model.from_config(json.loads(ref["model_config"]))
    outs = tk_from_keras([torch.from_numpy(MODEL_X), torch.from_numpy(MODEL_W)])
    assert len(outs) == 16
    for k, out in enumerate(outs):
        dtype = ref[f"model_out{k}|dtype"]
        assert dtypes.standardize_dtype(out.dtype) == dtype
        _assert_close(out, ref[f"model_out{k}"], dtype, f"tkeras(Keras config) output {k}")
        # Keras running tkeras's config gives the same numbers.
        np.testing.assert_array_equal(ref[f"tk_model_out{k}"], ref[f"model_out{k}"])


# ----------------------------------------------------------------------------- no oracle needed
@pytest.mark.parametrize("args,expected", [
    (("int8", int), "int8"), (("float16", float), "float16"), (("int32", float), "float32"),
    (("bool", int), "int32"), (("uint8", "int8"), "int16"), (("int64",), "int32"),
    (("float64", "float32"), "float32"), (("bfloat16", "float16"), "float32"),
    ((int, float), "float32"), ((), "float32"), ((None, "int8"), "float32"),
    ((torch.zeros(2, dtype=torch.int16), 1), "int16"), ((np.zeros(2, "uint8"), 2.0), "float32"),
])
def test_result_type(args, expected):
    assert dtypes.result_type(*args) == expected


def test_result_type_float8_refused():
    with pytest.raises(ValueError, match="float8"):
        dtypes.result_type("float8_e4m3fn", "float32")


def test_gradients_flow():
    x = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    y = ops.sum(ops.multiply(ops.exp(x), ops.clip(x, -0.5, 1.0))) + ops.mean(ops.square(x))
    y = y + ops.std(x) + ops.logaddexp(x, 0.0).sum() + ops.quantile(x, 0.5)
    y.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_compiles_without_graph_breaks():
    def f(x, w):
        return (ops.sum(ops.maximum(x, 0.0), axis=-1) + ops.mean(x, axis=-1)
                + ops.average(x, axis=-1, weights=w) + ops.var(x, axis=-1)
                + ops.max(x, axis=-1) + ops.argmax(x, axis=-1))

    x, w = torch.randn(4, 5), torch.rand(4, 5)
    compiled = torch.compile(f, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, w), f(x, w))


def test_ops_registered_as_keras_classes():
    from tkeras.core.registry import deserialize_keras_object

    op = deserialize_keras_object({"module": "keras.src.ops.numpy", "class_name": "AllClose",
                                   "config": {"name": "ac", "rtol": 0.1, "atol": 0.0,
                                              "equal_nan": False}, "registered_name": "AllClose"})
    assert bool(op(torch.tensor([1.0]), torch.tensor([1.05])))
    assert ops.abs is ops.numpy.abs and ops.numpy.sum is ops.sum
