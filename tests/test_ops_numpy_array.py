"""keras.ops numpy array ops (tkeras/ops/numpy_array.py) against real Keras 3 (torch backend).

Every case is one expression evaluated twice: under Keras in one batched subprocess (with
`ops = keras.ops`) and here (with `ops = tkeras.ops`), on the same inputs. Values must match
(exactly for ints/bools) and so must the result dtypes and structure.
"""

import json

import numpy as np
import pytest
import torch

from keras_oracle import requires_keras
from keras_oracle import run_keras

import tkeras
from tkeras import ops
from tkeras.core import registry

rng = np.random.default_rng(0)
INPUTS = {
    "x": rng.normal(size=(3, 4)).astype("float32"),
    "x3": rng.normal(size=(2, 3, 4)).astype("float32"),
    "p3": rng.normal(size=(4, 3)).astype("float32"),
    "sq": rng.normal(size=(3, 3)).astype("float32"),
    "v": rng.normal(size=(3,)).astype("float32"),
    "w": rng.normal(size=(3,)).astype("float32"),
    "v5": rng.normal(size=(5,)).astype("float32"),
    "xi": rng.integers(-5, 6, size=(3, 4)).astype("int32"),
    "vi": np.array([3, 1, 4, 1, 5, 9, 2, 6], "int32"),
    "xb": rng.random(size=(3, 4)) > 0.5,
    "x8": rng.integers(-3, 4, size=(3, 4)).astype("int8"),
    "y8": rng.integers(-3, 4, size=(4, 2)).astype("int8"),
    "x16": rng.normal(size=(3, 4)).astype("float16"),
    "idx": np.array([[0, 2], [-1, 1]], "int32"),
    "cnt": np.array([0, 1, 1, 3, 2, 1, 7], "int32"),
    "cw": rng.random(size=(7,)).astype("float32"),
    "srt": np.array([1.0, 2.0, 2.0, 3.5, 7.0], "float32"),
    "dup": np.array([[1, 2, 2], [3, 1, 1], [1, 2, 2]], "int32"),
}

# id -> expression, evaluated with `ops`, `np` and the INPUTS names in scope
CASES = {
    # creation
    "arange_int": "ops.arange(5)",
    "arange_start_stop_step": "ops.arange(1, 10, 3)",
    "arange_float": "ops.arange(0.0, 2.0, 0.25)",
    "arange_mixed": "ops.arange(1, 3.5)",
    "arange_dtype": "ops.arange(4, dtype='float16')",
    "array_list": "ops.array([[1, 2], [3, 4]])",
    "array_float_list": "ops.array([1, 2.5])",
    "array_dtype": "ops.array(xi, dtype='float32')",
    "zeros": "ops.zeros((2, 3))",
    "zeros_int": "ops.zeros(3, dtype='int32')",
    "ones": "ops.ones((2, 2), dtype='bool')",
    "empty_shape": "ops.zeros_like(ops.empty((2, 3)))",
    "zeros_like": "ops.zeros_like(xi)",
    "ones_like_dtype": "ops.ones_like(x, dtype='int8')",
    "empty_like_shape": "ops.zeros_like(ops.empty_like(xb))",
    "full": "ops.full((2, 3), 7)",
    "full_float": "ops.full((2, 3), 1.5, dtype='float16')",
    "full_tensor_fill": "ops.full((2, 3), v)",
    "full_like": "ops.full_like(xi, 2.7)",
    "full_like_dtype": "ops.full_like(x, 3, dtype='int32')",
    "eye": "ops.eye(3)",
    "eye_rect_k": "ops.eye(3, 5, k=2, dtype='int32')",
    "eye_neg_k": "ops.eye(4, k=-1)",
    "identity": "ops.identity(3, dtype='bool')",
    "tri": "ops.tri(3, 4, k=1)",
    "linspace": "ops.linspace(0, 1, 5)",
    "linspace_noend": "ops.linspace(2.0, 3.0, num=4, endpoint=False)",
    "linspace_retstep": "ops.linspace(0.0, 1.0, 3, retstep=True)[0]",
    "linspace_arrays": "ops.linspace(v, w, 4)",
    "linspace_dtype": "ops.linspace(0, 10, 6, dtype='int32')",
    "logspace": "ops.logspace(0, 2, 3)",
    "logspace_base": "ops.logspace(1.0, 3.0, 4, base=2, endpoint=False)",
    "geomspace": "ops.geomspace(1, 1000, 4)",
    "meshgrid_xy": "ops.meshgrid(v, v5)",
    "meshgrid_ij": "ops.meshgrid(v, v5, indexing='ij')",
    # windows
    "bartlett": "ops.bartlett(5)",
    "blackman": "ops.blackman(6)",
    "hamming": "ops.hamming(5)",
    "hanning": "ops.hanning(7)",
    "kaiser": "ops.kaiser(6, 5.0)",
    # shape and layout
    "reshape": "ops.reshape(x, (4, 3))",
    "reshape_minus1": "ops.reshape(x3, (-1, 4))",
    "reshape_int": "ops.reshape(x, 12)",
    "ravel": "ops.ravel(xi)",
    "transpose": "ops.transpose(x)",
    "transpose_axes": "ops.transpose(x3, (1, 0, 2))",
    "moveaxis": "ops.moveaxis(x3, 0, -1)",
    "moveaxis_multi": "ops.moveaxis(x3, [0, 1], [2, 0])",
    "swapaxes": "ops.swapaxes(x3, 0, 2)",
    "expand_dims": "ops.expand_dims(x, 1)",
    "expand_dims_multi": "ops.expand_dims(x, (0, -1))",
    "squeeze": "ops.squeeze(ops.reshape(x, (1, 3, 1, 4)))",
    "squeeze_axis": "ops.squeeze(ops.reshape(x, (1, 3, 1, 4)), axis=2)",
    "broadcast_to": "ops.broadcast_to(v, (2, 3))",
    "flip": "ops.flip(x)",
    "flip_axis": "ops.flip(x3, axis=(0, 2))",
    "fliplr": "ops.fliplr(x)",
    "flipud": "ops.flipud(xb)",
    "rot90": "ops.rot90(x)",
    "rot90_k": "ops.rot90(x3, k=3, axes=(1, 2))",
    "roll": "ops.roll(x, 2)",
    "roll_axis": "ops.roll(x3, -1, axis=1)",
    "tile": "ops.tile(x, (2, 1))",
    "tile_int": "ops.tile(v, 3)",
    "repeat": "ops.repeat(x, 2)",
    "repeat_axis": "ops.repeat(x, 3, axis=1)",
    "repeat_tensor": "ops.repeat(x, cnt[1:4], axis=0)",
    "pad": "ops.pad(x, ((1, 0), (2, 1)))",
    "pad_value": "ops.pad(xi, ((1, 1), (0, 0)), constant_values=9)",
    "pad_reflect": "ops.pad(x, ((1, 1), (2, 2)), mode='reflect')",
    "pad_symmetric": "ops.pad(x3, ((0, 0), (1, 1), (1, 0)), mode='symmetric')",
    "pad_edge_1d": "ops.pad(v5, ((2, 1),), mode='reflect')",
    # join and split
    "concatenate": "ops.concatenate([x, x], axis=1)",
    "concatenate_mixed": "ops.concatenate([x, xi])",
    "append": "ops.append(x, v)",
    "append_axis": "ops.append(x, x, axis=0)",
    "stack": "ops.stack([v, w], axis=1)",
    "hstack": "ops.hstack([x, xi])",
    "vstack": "ops.vstack([v, w])",
    "dstack": "ops.dstack([x, x])",
    "split": "ops.split(x, 2, axis=1)",
    "split_indices": "ops.split(x3, [1, 3], axis=2)",
    "array_split": "ops.array_split(x, 3, axis=1)",
    "hsplit": "ops.hsplit(x, 2)",
    "vsplit": "ops.vsplit(x, [1])",
    "dsplit": "ops.dsplit(x3, 2)",
    # diagonals
    "diag_vec": "ops.diag(v, k=1)",
    "diag_mat": "ops.diag(x, k=-1)",
    "diagflat": "ops.diagflat(sq)",
    "diagonal": "ops.diagonal(x3, offset=1, axis1=1, axis2=2)",
    "trace": "ops.trace(x)",
    "trace_int8": "ops.trace(x8, offset=1)",
    "trace_bool": "ops.trace(xb)",
    "tril": "ops.tril(x)",
    "triu": "ops.triu(x3, k=1)",
    "vander": "ops.vander(v)",
    "vander_int": "ops.vander(vi[:4], N=3, increasing=True)",
    # indexing
    "get_item_int": "ops.get_item(x, 1)",
    "get_item_slices": "ops.get_item(x3, (slice(None), 1, slice(1, None, 2)))",
    "get_item_none_ellipsis": "ops.get_item(x3, (Ellipsis, None, 0))",
    "take": "ops.take(x, idx, axis=1)",
    "take_flat": "ops.take(x, idx)",
    "take_axis0": "ops.take(x, [2, 0, -1], axis=0)",
    "take_along_axis": "ops.take_along_axis(x, ops.argsort(x, axis=1), axis=1)",
    "where": "ops.where(xb, x, xi)",
    "where_scalars": "ops.where(xb, 1.5, 0)",
    "where_int8": "ops.where(xb, x8, 2)",
    "where_single": "ops.where(xb)",
    "select": "ops.select([xb, x > 0], [x, xi], default=-1.0)",
    "nonzero": "ops.nonzero(xi)",
    "unravel_index": "ops.unravel_index(vi, (3, 4))",
    # searching and sorting
    "sort": "ops.sort(x)",
    "sort_axis0": "ops.sort(xi, axis=0)",
    "sort_none": "ops.sort(x3, axis=None)",
    "argsort": "ops.argsort(x)",
    "argsort_bool": "ops.argsort(xb, axis=0)",
    "argsort_none": "ops.argsort(xi, axis=None)",
    "argpartition": "ops.argpartition(ops.flip(vi)[:6], 2)",
    "searchsorted": "ops.searchsorted(srt, v5)",
    "searchsorted_right": "ops.searchsorted(srt, v5[:3], side='right')",
    "digitize": "ops.digitize(v5, srt)",
    "isin": "ops.isin(xi, [1, 2, 3])",
    "isin_invert": "ops.isin(vi, cnt, invert=True)",
    "isin_bool": "ops.isin(xb, [True])",
    "unique": "ops.unique(dup)",
    "unique_all": "ops.unique(vi, return_index=True, return_inverse=True, return_counts=True)",
    "unique_size": "ops.unique(vi, size=8, fill_value=-1)",
    "unique_axis": "ops.unique(dup, axis=0)",
    "bincount": "ops.bincount(cnt)",
    "bincount_weights": "ops.bincount(cnt, weights=cw, minlength=9)",
    "histogram": "ops.histogram(v5, bins=4)",
    "histogram_range": "ops.histogram(srt, bins=3, range=(0.0, 6.0))",
    # products
    "matmul": "ops.matmul(x, ops.transpose(x))",
    "matmul_int": "ops.matmul(xi, ops.transpose(xi))",
    "matmul_int8": "ops.matmul(x8, y8)",
    "matmul_mixed": "ops.matmul(xi, ops.transpose(x))",
    "matmul_bool": "ops.matmul(xb, ops.transpose(xb))",
    "matmul_f16": "ops.matmul(x16, ops.transpose(x16))",
    "matmul_batch": "ops.matmul(x3, ops.transpose(x))",
    "dot": "ops.dot(x, ops.transpose(x))",
    "dot_int": "ops.dot(vi, vi)",
    "dot_scalar": "ops.dot(x, 2)",
    "vdot": "ops.vdot(v, w)",
    "vdot_int": "ops.vdot(vi, vi)",
    "inner": "ops.inner(x, x3)",
    "outer": "ops.outer(v, xi)",
    "tensordot": "ops.tensordot(x3, x, axes=([2], [1]))",
    "tensordot_int": "ops.tensordot(xi, ops.transpose(xi), axes=1)",
    "tensordot_scalar": "ops.tensordot(xi, x, axes=2)",
    "kron": "ops.kron(sq, xi)",
    "cross": "ops.cross(p3, ops.flip(p3, 0))",
    "cross_axis": "ops.cross(sq, ops.flip(sq, 1), axis=0)",
    "einsum": "ops.einsum('ij,jk->ik', x, ops.transpose(x))",
    "einsum_int8": "ops.einsum('ij,jk->ik', x8, y8)",
    "einsum_trace": "ops.einsum('ii', sq)",
    "slogdet": "ops.slogdet(sq)",
    "correlate": "ops.correlate(v5, v)",
    "correlate_same": "ops.correlate(v5, v, mode='same')",
    "correlate_full_int": "ops.correlate(vi, vi[:3], mode='full')",
    "corrcoef": "ops.corrcoef(x)",
    "corrcoef_int": "ops.corrcoef(xi)",
    "diff": "ops.diff(x)",
    "diff_n": "ops.diff(xi, n=2, axis=0)",
    "trapezoid": "ops.trapezoid(x)",
    "trapezoid_dx": "ops.trapezoid(x3, dx=0.5, axis=1)",
    "trapezoid_x": "ops.trapezoid(v, x=w)",
    # misc
    "copy": "ops.copy(xi)",
    "view": "ops.view(x, 'int32')",
    "view_int8": "ops.view(xi, 'uint8')",
    "ndim": "ops.ndim(x3)",
    "size": "ops.size(x3)",
    "vectorize": "ops.vectorize(lambda a, b: a * b + 1)(x, v5[:4])",
    "vectorize_signature":
        "ops.vectorize(lambda a, b: ops.dot(a, b), signature='(n),(n)->()')(x3, x[0])",
}

# the dtype-preserving / dtype-rule ops, on every input dtype
for _name in ("x", "xi", "xb", "x8", "x16"):
    CASES.update({
        f"sweep_{_name}_{expr.split('(')[0]}": expr.replace("X", _name) for expr in (
            "flip(X, 0)", "ravel(X)", "transpose(X)", "sort(X, axis=0)", "argsort(X)",
            "tril(X, -1)", "roll(X, 1, axis=1)", "copy(X)", "trace(X)", "diff(X, axis=0)",
            "concatenate([X, xi], 0)", "stack([X, X])", "where(xb, X, 1)", "where(xb, X, 0.5)",
            "matmul(X, ops.transpose(xi))", "dot(X, ops.transpose(x))", "append(X, xb)",
            "take(X, idx, axis=1)", "isin(X, xi)", "digitize(ops.ravel(X), srt)",
            "repeat(X, 2, axis=0)", "pad(X, ((1, 0), (0, 1)))", "broadcast_to(X[0], (2, 4))",
            "full_like(X, 1)", "zeros_like(X)", "unique(X)", "nonzero(X)", "kron(X, xb)",
            "outer(X[0], v)", "tensordot(X, ops.transpose(xi), axes=1)", "vander(ops.ravel(X)[:3])",
            "einsum('ij,kj->ik', X, X)", "correlate(ops.ravel(X), v)", "trapezoid(X)",
        )
    })
CASES = {k: ("ops." + v if k.startswith("sweep_") else v) for k, v in CASES.items()}


# (id, expression over KerasTensors `K(shape, dtype)`) for the symbolic output spec
SYMBOLIC = {
    "reshape": "ops.reshape(K((None, 3, 4)), (-1, 12))",
    "transpose": "ops.transpose(K((None, 3, 4)), (0, 2, 1))",
    "expand_dims": "ops.expand_dims(K((None, 3)), -1)",
    "squeeze": "ops.squeeze(K((None, 1, 3)), 1)",
    "concatenate": "ops.concatenate([K((None, 3)), K((None, 2))], axis=1)",
    "stack": "ops.stack([K((None, 3)), K((None, 3))], axis=1)",
    "split": "ops.split(K((None, 6)), 3, axis=1)",
    "get_item": "ops.get_item(K((None, 3, 4)), (slice(None), 0))",
    "take": "ops.take(K((None, 5)), K((2,), 'int32'), axis=1)",
    "where": "ops.where(K((None, 3), 'bool'), K((None, 3)), K((None, 3), 'int32'))",
    "matmul": "ops.matmul(K((None, 3, 4)), K((4, 5)))",
    "matmul_int8": "ops.matmul(K((2, 3), 'int8'), K((3, 5), 'int8'))",
    "einsum": "ops.einsum('bij,jk->bik', K((None, 3, 4)), K((4, 2)))",
    "tile": "ops.tile(K((None, 3)), (1, 2))",
    "repeat": "ops.repeat(K((2, 3)), 2, axis=1)",
    "pad": "ops.pad(K((None, 3)), ((0, 0), (1, 2)))",
    "argsort": "ops.argsort(K((None, 3)))",
    "sort": "ops.sort(K((None, 3), 'int32'))",
    "flip": "ops.flip(K((None, 3)), 1)",
    "roll": "ops.roll(K((None, 3)), 1, axis=1)",
    "tensordot": "ops.tensordot(K((None, 3, 4)), K((4, 2)), axes=1)",
    "full_like": "ops.full_like(K((None, 3), 'int32'), 2)",
    "zeros_like": "ops.zeros_like(K((None, 3)), dtype='int32')",
    "broadcast_to": "ops.broadcast_to(K((3,)), (2, 3))",
    "tril": "ops.tril(K((None, 3, 3)))",
    "diagonal": "ops.diagonal(K((2, 3, 3)), axis1=1, axis2=2)",
    "searchsorted": "ops.searchsorted(K((5,)), K((None,)))",
    "digitize": "ops.digitize(K((None, 2)), K((4,)))",
    "bincount": "ops.bincount(K((6,), 'int32'), minlength=4)",
    "unique_size": "ops.unique(K((6,), 'int32'), size=3)",
}

_KERAS_CASES = r"""
import torch
ops = keras.ops
from keras.src.backend import standardize_dtype
env = {k: ops.convert_to_tensor(v) for k, v in inputs.items()}
env.update(ops=ops, np=np)

def flatten(value):
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [flatten(v) for v in value]]
    if isinstance(value, (int, float)) and not hasattr(value, "dtype"):
        return ["py", value]
    return ["t", standardize_dtype(value.dtype), ops.convert_to_numpy(value)]

def store(case, tree, path=""):
    if tree[0] == "t":
        outputs[case + path] = tree[2]
        return ["t", tree[1]]
    if tree[0] == "py":
        return tree
    return [tree[0], [store(case, t, f"{path}/{i}") for i, t in enumerate(tree[1])]]

results = {}
for case, expr in json.loads(inputs_json).items():
    try:
        results[case] = store(case, flatten(eval(expr, env)))
    except Exception as e:
        results[case] = ["error", type(e).__name__]
outputs["results"] = results

K = lambda shape, dtype="float32": keras.KerasTensor(shape, dtype)
specs = {}
def spec(v):
    if isinstance(v, (list, tuple)):
        return [spec(t) for t in v]
    return [list(v.shape), v.dtype]
for case, expr in json.loads(symbolic_json).items():
    specs[case] = spec(eval(expr, dict(ops=ops, K=K)))
outputs["specs"] = specs
"""


def _keras_model_code():
    return r"""
inp = keras.Input((3, 4), name="inp")
idx = keras.Input((2,), dtype="int32", name="idx")
a = ops.transpose(inp, (0, 2, 1))
b = ops.pad(a, ((0, 0), (1, 0), (0, 0)), constant_values=0.5)
c = ops.concatenate([b, ops.flip(b, axis=2)], axis=-1)
d = ops.get_item(c, (slice(None), slice(1, None), Ellipsis))
e = ops.einsum("bij,bkj->bik", d, d)
f = ops.take_along_axis(inp, ops.expand_dims(idx, 1), axis=2)
g = ops.split(ops.reshape(e, (-1, 16)), 2, axis=1)
h = ops.where(ops.isin(ops.argsort(g[0]), [0, 1, 2]), g[0], ops.zeros_like(g[0]))
k = ops.matmul(h, ops.tile(ops.transpose(h), (1, 2)))
model = keras.Model([inp, idx], [k, f, ops.argsort(d, axis=-1)])
outputs["keras_config"] = json.dumps(model.get_config())
feed = [inputs["m_x"], inputs["m_idx"]]
for i, t in enumerate(model(feed)):
    outputs[f"keras_model/{i}"] = ops.convert_to_numpy(t)
tk = keras.Model.from_config(json.loads(inputs_tk_config))
for i, t in enumerate(tk(feed)):
    outputs[f"keras_runs_tkeras/{i}"] = ops.convert_to_numpy(t)
"""


def _tkeras_model():
    inp = tkeras.Input((3, 4), name="inp")
    idx = tkeras.Input((2,), dtype="int32", name="idx")
    a = ops.transpose(inp, (0, 2, 1))
    b = ops.pad(a, ((0, 0), (1, 0), (0, 0)), constant_values=0.5)
    c = ops.concatenate([b, ops.flip(b, axis=2)], axis=-1)
    d = ops.get_item(c, (slice(None), slice(1, None), Ellipsis))
    e = ops.einsum("bij,bkj->bik", d, d)
    f = ops.take_along_axis(inp, ops.expand_dims(idx, 1), axis=2)
    g = ops.split(ops.reshape(e, (-1, 16)), 2, axis=1)
    h = ops.where(ops.isin(ops.argsort(g[0]), [0, 1, 2]), g[0], ops.zeros_like(g[0]))
    k = ops.matmul(h, ops.tile(ops.transpose(h), (1, 2)))
    return tkeras.Model([inp, idx], [k, f, ops.argsort(d, axis=-1)])


MODEL_INPUTS = {
    "m_x": rng.normal(size=(2, 3, 4)).astype("float32"),
    "m_idx": np.array([[0, 3], [2, 1]], "int32"),
}


@pytest.fixture(scope="module")
def keras_results():
    tk_config = json.dumps(_tkeras_model().get_config(), default=registry_default)
    code = ("inputs_json = " + repr(json.dumps(CASES)) + "\n"
            + "symbolic_json = " + repr(json.dumps(SYMBOLIC)) + "\n"
            + "inputs_tk_config = " + repr(tk_config) + "\n"
            + _KERAS_CASES + _keras_model_code())
    return run_keras(code, {**INPUTS, **MODEL_INPUTS})


def registry_default(obj):
    return registry.serialize_keras_object(obj)


def _local_env():
    env = {k: torch.from_numpy(v.copy()) for k, v in INPUTS.items()}
    env.update(ops=ops, np=np)
    return env


def _compare(case, expected, actual, arrays, path=""):
    if expected[0] == "t":
        assert isinstance(actual, torch.Tensor), f"{case}{path}: got {type(actual)}"
        dtype = tkeras.ops.dtypes.standardize_dtype(actual.dtype)
        assert dtype == expected[1], f"{case}{path}: dtype {dtype} != Keras {expected[1]}"
        want = arrays[case + path]
        got = actual.detach().numpy()
        assert got.shape == want.shape, f"{case}{path}: shape {got.shape} != {want.shape}"
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(got.astype(want.dtype), want, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{case}{path}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{case}{path}")
    elif expected[0] == "py":
        assert actual == expected[1], f"{case}{path}"
    else:
        assert isinstance(actual, (list, tuple)), f"{case}{path}: got {type(actual)}"
        assert len(actual) == len(expected[1]), f"{case}{path}: length"
        for i, (e, a) in enumerate(zip(expected[1], actual)):
            _compare(case, e, a, arrays, f"{path}/{i}")


@requires_keras
@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_keras(keras_results, case):
    expected = keras_results["results"][case]
    if expected[0] == "error":
        # a dtype sweep may hit an input Keras's torch backend rejects: so must tkeras
        assert case.startswith("sweep_"), f"Keras raised {expected[1]} on {CASES[case]}"
        with pytest.raises(Exception):
            eval(CASES[case], _local_env())
        return
    actual = eval(CASES[case], _local_env())
    _compare(case, expected, actual, keras_results)


@requires_keras
@pytest.mark.parametrize("case", sorted(SYMBOLIC))
def test_symbolic_spec_matches_keras(keras_results, case):
    K = lambda shape, dtype="float32": tkeras.KerasTensor(shape, dtype=dtype)  # noqa: E731

    def spec(v):
        if isinstance(v, (list, tuple)):
            return [spec(t) for t in v]
        return [list(v.shape), v.dtype]

    assert spec(eval(SYMBOLIC[case], dict(ops=ops, K=K))) == keras_results["specs"][case]


def _normalized(config):
    """Config with auto-generated op/tensor names replaced by their order of appearance."""
    names = {config["name"]: "model"}
    text = json.dumps(config)
    for layer in config["layers"]:
        names.setdefault(layer["name"], f"n{len(names)}")
    for old, new in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f'"{old}"', f'"{new}"')
    return json.loads(text)


@requires_keras
def test_functional_model_config_matches_keras(keras_results):
    ours = json.loads(json.dumps(_tkeras_model().get_config(), default=registry_default))
    theirs = json.loads(keras_results["keras_config"])
    assert _normalized(ours) == _normalized(theirs)


@requires_keras
def test_functional_models_load_both_ways(keras_results):
    feed = [torch.from_numpy(MODEL_INPUTS["m_x"]), torch.from_numpy(MODEL_INPUTS["m_idx"])]
    ours = _tkeras_model()
    out = ours(feed)
    loaded = tkeras.Model.from_config(json.loads(keras_results["keras_config"]))
    for i, got in enumerate(loaded(feed)):
        want = keras_results[f"keras_model/{i}"]
        np.testing.assert_allclose(out[i].detach().numpy(), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(keras_results[f"keras_runs_tkeras/{i}"], want, rtol=1e-5,
                                   atol=1e-5)
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- no oracle needed
def test_ops_keep_autograd():
    x = torch.randn(3, 4, requires_grad=True)
    y = ops.pad(ops.take(ops.flip(x, 1), [0, 2], axis=1), ((1, 1), (0, 0))).sum()
    y.backward()
    expected = torch.zeros(3, 4)
    expected[:, [3, 1]] = 1.0
    torch.testing.assert_close(x.grad, expected)


def test_errors_as_keras():
    with pytest.raises(TypeError):
        ops.eye(2.0)
    with pytest.raises(TypeError):
        ops.array_split(torch.ones(4), [1, 2])
    with pytest.raises(ValueError):
        ops.where(torch.ones(2, dtype=torch.bool), torch.ones(2))
    with pytest.raises(ValueError):
        ops.split(torch.ones(5), 2)
    with pytest.raises(TypeError):
        ops.hamming(tkeras.KerasTensor((5,)))
    with pytest.raises(ValueError):
        ops.linspace(0.0, 1.0, 3, axis=1)


def test_repeat_python_list():
    # Keras 3.15 fails to convert a list of repeats; tkeras repeats as NumPy does
    x = np.arange(6.0, dtype="float32").reshape(3, 2)
    np.testing.assert_array_equal(ops.repeat(torch.from_numpy(x), [1, 0, 2], axis=0).numpy(),
                                  np.repeat(x, [1, 0, 2], axis=0))


def test_vectorize_excluded():
    scale = ops.vectorize(lambda a, k: a * k, excluded={1})
    torch.testing.assert_close(scale(torch.arange(3.0), 2.0), torch.tensor([0.0, 2.0, 4.0]))


def test_ops_compile_fullgraph():
    def fn(x):
        y = ops.concatenate([ops.transpose(x), ops.flip(ops.transpose(x), 0)], axis=1)
        return ops.matmul(ops.pad(y, ((0, 1), (0, 0))), ops.expand_dims(ops.ones((6,)), -1))

    x = torch.randn(3, 4)
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), fn(x))
