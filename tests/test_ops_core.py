"""keras.ops core + math ops: values and dtypes equal Keras's (torch backend), eager and symbolic.

Every case is one expression evaluated by the same harness under real Keras (one subprocess for
the module) and under tkeras; outputs are flattened (tuples, lists, dicts) and compared leaf by
leaf: dtype exactly, values exactly for ints/bools and to ~1e-6 for floats.
"""

import numpy as np
import pytest
import torch

from keras_oracle import requires_keras
from keras_oracle import run_keras

import tkeras
from tkeras import ops

HARNESS = r'''
import numpy as np

def _leaves(x):
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _leaves(x[k])]
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _leaves(item)]
    return [x]

def evaluate(ops, KT, I, eager, symbolic, outputs):
    for name, expr in eager.items():
        try:
            result = eval(expr, {"ops": ops, "I": I, "np": np})
        except Exception as e:
            outputs[name + "/error"] = type(e).__name__
            continue
        leaves = _leaves(result)
        outputs[name + "/n"] = len(leaves)
        kinds = []
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, (bool, int, float, str)) or leaf is None:
                outputs[f"{name}/{i}"] = leaf
                kinds.append(type(leaf).__name__)
            else:
                arr = ops.convert_to_numpy(leaf)
                kinds.append(ops.dtype(leaf))
                if np.iscomplexobj(arr):
                    arr = np.stack([arr.real, arr.imag], -1)
                outputs[f"{name}/{i}"] = np.asarray(arr)
        outputs[name + "/dtypes"] = kinds
    for name, expr in symbolic.items():
        try:
            result = eval(expr, {"ops": ops, "KT": KT, "np": np})
        except Exception as e:
            outputs[name + "/error"] = type(e).__name__
            continue
        outputs[name + "/spec"] = [[list(t.shape), t.dtype] if hasattr(t, "shape") else repr(t)
                                   for t in _leaves(result)]
'''

C = "ops.convert_to_tensor"
EAGER = {
    # conversions and casts
    "cast_f_i32": "ops.cast(I['f'], 'int32')",
    "cast_i_f16": "ops.cast(I['i'], 'float16')",
    "cast_b_f32": "ops.cast(I['b'], 'float32')",
    "cast_scalar": "ops.cast(3, 'float32')",
    "ctt_ints": f"{C}([1, 2])",
    "ctt_mixed": f"{C}([1, 2.5])",
    "ctt_bools": f"{C}([True, False])",
    "ctt_int": f"{C}(3)",
    "ctt_bigint": f"{C}(2**40)",
    "ctt_float": f"{C}(2.5)",
    "ctt_f64": f"{C}(I['f64'])",
    "ctt_u32": f"{C}(I['u32'])",
    "ctt_dtype": f"{C}(I['i'], dtype='float32')",
    "ctt_nested": f"{C}([[1, 2], [3, 4]])",
    "ctt_tensors": f"{C}([{C}(1.0), {C}(2.0)])",
    "to_numpy": f"ops.convert_to_numpy({C}(I['f']))",
    "shape": f"ops.shape({C}(I['f']))",
    "dtype": f"ops.dtype({C}(I['i']))",
    "is_tensor_t": f"ops.is_tensor({C}(I['f']))",
    "is_tensor_np": "ops.is_tensor(I['f'])",
    "sat_u8": f"ops.saturate_cast({C}(I['big']), 'uint8')",
    "sat_i8": f"ops.saturate_cast({C}(I['big']), 'int8')",
    "sat_i32": f"ops.saturate_cast({C}(I['big']), 'int32')",
    "sat_int_u8": f"ops.saturate_cast({C}(I['i']), 'uint8')",
    "sat_f16": f"ops.saturate_cast({C}(I['big']), 'float16')",
    # control flow
    "cond_t": f"ops.cond(True, lambda: {C}(1.0), lambda: {C}(2.0))",
    "cond_f": f"ops.cond({C}(False), lambda: {C}(I['f']), lambda: {C}(I['f']) * 2)",
    "switch": f"ops.switch(1, [lambda x: x + 1, lambda x: x * 3], {C}(I['f']))",
    "switch_clamp": f"ops.switch(7, [lambda x, y: x + y, lambda x, y: x - y], {C}(I['f']), 2.0)",
    "scan": f"ops.scan(lambda c, x: (c + x, c * x), {C}(0.0), {C}(I['f'][:, 0]))",
    "scan_rev": f"ops.scan(lambda c, x: (c + x, c * x), {C}(1.0), {C}(I['f'][:, 1]), "
                "reverse=True)",
    "scan_len": f"ops.scan(lambda c, x: (c * 2, c), {C}(1), None, length=4)",
    "scan_struct": f"ops.scan(lambda c, x: ((c[0] + x['a'], c[1]), x['b'] * c[0]), "
                   f"({C}(0.0), {C}(1)), {{'a': {C}(I['f']), 'b': {C}(I['f'])}})",
    "assoc": f"ops.associative_scan(lambda a, b: a + b, {C}(I['f']), axis=1)",
    "assoc_rev": f"ops.associative_scan(lambda a, b: a * b, {C}(I['f']), reverse=True)",
    "assoc_list": f"ops.associative_scan(lambda a, b: [a[0] + b[0], a[1] * b[1]], "
                  f"[{C}(I['f'][0]), {C}(I['f'][1])])",
    "fori": f"ops.fori_loop(0, 5, lambda i, v: v + i, {C}(I['f']))",
    "while": f"ops.while_loop(lambda a, b: a < 10, lambda a, b: (a + 1, b * 2), (0, {C}(1.0)))",
    "while_max": f"ops.while_loop(lambda a: a < 10, lambda a: a + 3, {C}(0), "
                 "maximum_iterations=2)",
    "map": f"ops.map(lambda x: x ** 2, {C}(I['f']))",
    "map_dict": f"ops.map(lambda x: {{'y1': x * 2, 'y2': x + 1}}, {C}(I['f']))",
    "vmap": f"ops.vectorized_map(lambda x: x * 2 + 1, {C}(I['f']))",
    "stop_gradient": f"ops.stop_gradient({C}(I['f']))",
    # slices and scatters
    "slice": f"ops.slice({C}(I['f']), [1, 0], [2, 3])",
    "slice_tensor": f"ops.slice({C}(I['f']), {C}([1, 1]), [2, 2])",
    "slice_update": f"ops.slice_update({C}(I['f']), [1, 1], {C}(np.ones((2, 2), 'float32')))",
    "scatter": f"ops.scatter([[0, 1], [1, 1], [0, 1]], {C}([1.0, 1.0, 2.0]), (2, 2))",
    "scatter_rows": f"ops.scatter([[1], [3]], {C}(I['f'][:2, :3]), (4, 3))",
    "scatter_update": f"ops.scatter_update({C}(I['f']), [[0, 1], [2, 2]], {C}([5.0, 6.0]))",
    "scatter_add": f"ops.scatter_update({C}(I['f']), [[0, 1], [0, 1]], {C}([5.0, 6.0]), "
                   "reduction='add')",
    "scatter_max": f"ops.scatter_update({C}(I['f']), [[0, 1], [0, 1], [1, 0]], "
                   f"{C}([5.0, -6.0, -9.0]), reduction='max')",
    "scatter_min": f"ops.scatter_update({C}(I['f']), [[0], [0]], {C}(I['f'][1:3]), "
                   "reduction='min')",
    "scatter_mul": f"ops.scatter_update({C}(I['f']), [[2, 2], [2, 2]], {C}([3.0, 2.0]), "
                   "reduction='mul')",
    "unstack": f"ops.unstack({C}(I['f']), axis=1)",
    # math
    "seg_sum": f"ops.segment_sum({C}(I['f']), {C}([0, 0, 2, 5]), num_segments=3)",
    "seg_sum_none": f"ops.segment_sum({C}(I['f']), {C}([0, 1, 1, 3]))",
    "seg_max": f"ops.segment_max({C}(I['f']), {C}([1, 1, 0, 0]), num_segments=3)",
    "seg_min": f"ops.segment_min({C}(I['f']), {C}([1, 0, 1, 0]), num_segments=2)",
    "seg_prod_int": f"ops.segment_prod({C}(I['i']), {C}([0, 1, 1, 2]), num_segments=3)",
    "top_k": f"ops.top_k({C}(I['f']), 2)",
    "top_k_unsorted_int": f"ops.top_k({C}(I['i']), 3, sorted=True)",
    "in_top_k": f"ops.in_top_k({C}([0, 3, 1, 2]), {C}(I['f']), 2)",
    "logsumexp": f"ops.logsumexp({C}(I['f']))",
    "logsumexp_ax": f"ops.logsumexp({C}(I['f']), axis=1, keepdims=True)",
    "cdist": f"ops.cdist({C}(I['f']), {C}(I['f'][:2]))",
    "cdist_batch": f"ops.cdist({C}(I['f3']), {C}(I['f3'][:, :2]))",
    "extract_seq": f"ops.extract_sequences({C}(I['sig']), 8, 4)",
    "fft": f"ops.fft(({C}(I['f']), {C}(I['f'] * 2)))",
    "fft2": f"ops.fft2(({C}(I['f']), {C}(I['f'] - 1)))",
    "ifft2": f"ops.ifft2(({C}(I['f']), {C}(I['f'] - 1)))",
    "rfft": f"ops.rfft({C}(I['sig']))",
    "rfft_len": f"ops.rfft({C}(I['sig']), fft_length=16)",
    "irfft": f"ops.irfft(({C}(I['f']), {C}(I['f'] * 0.5)))",
    "irfft_len": f"ops.irfft(({C}(I['f']), {C}(I['f'] * 0.5)), fft_length=6)",
    "stft_hann": f"ops.stft({C}(I['sig']), 16, 8, 16)",
    "stft_hamming": f"ops.stft({C}(I['sig']), 10, 5, 16, window='hamming', center=False)",
    "stft_none": f"ops.stft({C}(I['sig3']), 8, 4, 8, window=None)",
    "istft_torch": f"ops.istft(ops.stft({C}(I['sig']), 16, 8, 16), 16, 8, 16)",
    "istft_custom": f"ops.istft(ops.stft({C}(I['sig']), 10, 5, 16, center=False), 10, 5, 16, "
                    "center=False)",
    "istft_len": f"ops.istft(ops.stft({C}(I['sig']), 12, 4, 16), 12, 4, 16, length=40)",
    "rsqrt": f"ops.rsqrt({C}(I['pos']))",
    "erf": f"ops.erf({C}(I['f']))",
    "erf_int": f"ops.erf({C}(I['i']))",
    "erfc": f"ops.erfc({C}(I['f']))",
    "erfinv": f"ops.erfinv({C}(I['unit']))",
    "logdet": f"ops.logdet({C}(I['spd']))",
    "view_as_complex": f"ops.view_as_complex({C}(I['f'][:, :2]))",
    "view_as_real": f"ops.view_as_real(ops.view_as_complex({C}(I['f'][:, 3:])))",
}

SYMBOLIC = {
    "cast": "ops.cast(KT((None, 3), 'float32'), 'int32')",
    "ctt": "ops.convert_to_tensor(KT((None, 3), 'int32'), 'float16')",
    "saturate_cast": "ops.saturate_cast(KT((None, 3)), 'uint8')",
    "top_k": "ops.top_k(KT((None, 5)), 2)",
    "segment_sum": "ops.segment_sum(KT((None, 3)), KT((None,), 'int32'), num_segments=4)",
    "segment_max_none": "ops.segment_max(KT((6, 3)), KT((6,), 'int32'))",
    "unstack": "ops.unstack(KT((2, None, 3)), axis=0)",
    "extract_sequences": "ops.extract_sequences(KT((None, 16)), 4, 2)",
    "rfft": "ops.rfft(KT((None, 16)))",
    "irfft": "ops.irfft((KT((None, 9)), KT((None, 9))))",
    "fft": "ops.fft((KT((None, 8)), KT((None, 8))))",
    "stft": "ops.stft(KT((None, 64)), 16, 8, 16)",
    "istft": "ops.istft((KT((None, 9, 9)), KT((None, 9, 9))), 16, 8, 16)",
    "scatter": "ops.scatter(KT((4, 2), 'int32'), KT((4,)), (3, 3))",
    "scatter_update": "ops.scatter_update(KT((None, 5)), KT((2, 2), 'int32'), KT((2,)))",
    "slice": "ops.slice(KT((None, 5)), [0, 1], [2, 3])",
    "slice_update": "ops.slice_update(KT((None, 5)), [0, 1], KT((1, 2)))",
    "stop_gradient": "ops.stop_gradient(KT((None, 3), 'int32'))",
    "cdist": "ops.cdist(KT((None, 4, 3)), KT((None, 5, 3)))",
    "in_top_k": "ops.in_top_k(KT((None,), 'int32'), KT((None, 5)), 2)",
    "erf": "ops.erf(KT((None, 3)))",
    "rsqrt": "ops.rsqrt(KT((None, 3), 'float16'))",
    "logdet": "ops.logdet(KT((None, 3, 3)))",
    "scan": "ops.scan(lambda c, x: (c + x, c * 2), KT((3,)), KT((5, 3)))",
    "map": "ops.map(lambda x: x * 2, KT((4, 3)))",
    "fori_loop": "ops.fori_loop(0, 3, lambda i, v: v * 2, KT((None, 2)))",
    "while_loop": "ops.while_loop(lambda v: False, lambda v: v, KT((None, 2), 'int32'))",
    "cond": "(lambda x: ops.cond(KT((), 'bool'), lambda: x * 2, lambda: x + 1))(KT((None, 3)))",
}


def _inputs():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3)).astype("float32")
    return {
        "f": rng.normal(size=(4, 5)).astype("float32"),
        "f3": rng.normal(size=(2, 4, 3)).astype("float32"),
        "f64": rng.normal(size=(3,)),
        "i": rng.integers(-5, 5, size=(4, 5)).astype("int32"),
        "u32": np.array([1, 2, 3], dtype="uint32"),
        "b": np.array([True, False, True]),
        "big": np.array([-1e10, -300.0, -1.5, 0.4, 200.7, 300.0, 3e9, np.inf], dtype="float32"),
        "sig": rng.normal(size=(2, 48)).astype("float32"),
        "sig3": rng.normal(size=(2, 3, 32)).astype("float32"),
        "pos": rng.uniform(0.1, 3.0, size=(3, 4)).astype("float32"),
        "unit": rng.uniform(-0.9, 0.9, size=(5,)).astype("float32"),
        "spd": (a @ a.T + 3 * np.eye(3)).astype("float32"),
    }


@pytest.fixture(scope="module")
def reference():
    code = HARNESS + f"""
evaluate(keras.ops, keras.KerasTensor, inputs, {EAGER!r}, {SYMBOLIC!r}, outputs)
"""
    return run_keras(code, _inputs())


@pytest.fixture(scope="module")
def ours():
    scope = {}
    exec(HARNESS, scope)
    outputs = {}
    scope["evaluate"](ops, tkeras.KerasTensor, _inputs(), EAGER, SYMBOLIC, outputs)
    return outputs


@requires_keras
@pytest.mark.parametrize("name", sorted(EAGER))
def test_eager_matches_keras(name, reference, ours):
    if name + "/error" in reference:
        assert ours.get(name + "/error") == reference[name + "/error"]
        return
    assert name + "/error" not in ours, ours.get(name + "/error")
    assert ours[name + "/n"] == reference[name + "/n"]
    assert list(ours[name + "/dtypes"]) == list(reference[name + "/dtypes"])
    for i in range(int(reference[name + "/n"])):
        expected, got = np.asarray(reference[f"{name}/{i}"]), np.asarray(ours[f"{name}/{i}"])
        assert got.shape == expected.shape, (got.shape, expected.shape)
        if expected.dtype.kind in "fc":
            np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-6)
        else:
            np.testing.assert_array_equal(got, expected)


@requires_keras
@pytest.mark.parametrize("name", sorted(SYMBOLIC))
def test_symbolic_spec_matches_keras(name, reference, ours):
    if name + "/error" in reference:
        assert ours.get(name + "/error") == reference[name + "/error"]
        return
    assert name + "/error" not in ours, ours.get(name + "/error")
    assert ours[name + "/spec"] == reference[name + "/spec"]


def test_custom_gradient():
    @ops.custom_gradient
    def log1pexp(x):
        e = torch.exp(x)

        def grad(*args, upstream):
            return upstream * (1.0 - 1.0 / (1 + e))

        return torch.log(1 + e), grad

    x = torch.tensor([0.0, 2.0, 100.0], requires_grad=True)
    y = log1pexp(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(g.numpy(), [0.5, 1 - 1 / (1 + np.exp(2.0)), 1.0], rtol=1e-6)


def test_stop_gradient_blocks_gradient():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (ops.stop_gradient(x * 3) + x).sum()
    (g,) = torch.autograd.grad(y, x)
    assert g.tolist() == [1.0, 1.0]


def test_symbolic_control_flow_node_is_not_serializable():
    x = tkeras.Input((2,))
    y = ops.fori_loop(0, 3, lambda i, v: v * 2, x)
    model = tkeras.Model(x, y)
    np.testing.assert_allclose(model(torch.ones(1, 2)).numpy(), [[8.0, 8.0]])
    with pytest.raises(NotImplementedError):
        model.get_config()



def test_negative_stride_arrays_convert():
    """NumPy views with negative strides (`a[:, ::-1]`) convert as Keras's `np.array(x)` copy does."""
    a = np.arange(6.0).reshape(2, 3)[:, ::-1]
    np.testing.assert_array_equal(tkeras.ops.convert_to_tensor(a).numpy(), a)
    np.testing.assert_array_equal(tkeras.ops.cast(a, "int32").numpy(), a.astype("int32"))
    np.testing.assert_array_equal(tkeras.ops.add(a, 1).numpy(), a + 1)
