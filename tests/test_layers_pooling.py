"""Parity of the pooling layers with real Keras (layer harness), and of asymmetric "same" average
pooling with a NumPy implementation of the TF/JAX semantics (see below)."""

import itertools

import numpy as np
import pytest
import torch

from keras_oracle import requires_keras
from layer_harness import LayerCase, cotangent, parametrize_cases, rand

CF, CL = "channels_first", "channels_last"


def image(rank, size, channels, data_format, seed=0):
    spatial = (size,) * rank if isinstance(size, int) else tuple(size)
    shape = (2, channels, *spatial) if data_format == CF else (2, *spatial, channels)
    return rand(*shape, seed=seed)


def same_pads(spatial, pool, strides):
    pads = []
    for n, k, s in zip(spatial, pool, strides):
        total = max(0, ((n + s - 1) // s - 1) * s + k - n)
        pads.append((total // 2, total - total // 2))
    return pads


def keras_torch_averages_like_tf(spatial, pool, strides, padding):
    """Keras 3.15.1's torch backend replicates edge values when "same" padding is asymmetric, so
    its averages count padded positions when a window holds padding plus >= 2 real values (pool
    size > 2); tkeras follows TF/JAX (padding never counted). Other cases agree."""
    if padding != "same":
        return True
    pads = same_pads(spatial, pool, strides)
    return all(a == b for a, b in pads) or max(pool) <= 2


def pool_cases():
    cases = []
    sizes = {1: [7, 8], 2: [(7, 6), (5, 5)], 3: [(5, 4, 3)]}
    configs = {1: [(2, None), (3, 2), (3, 1), (2, 3), (4, 1)],
               2: [((2, 2), None), ((3, 3), (2, 2)), ((3, 2), (1, 2)), ((2, 2), (3, 1))],
               3: [((2, 2, 2), None), ((3, 2, 2), (2, 1, 2))]}
    for mode, rank in itertools.product(["Max", "Average"], [1, 2, 3]):
        for (pool, strides), padding, df, size in itertools.product(
                configs[rank], ["valid", "same"], [CL, CF], sizes[rank]):
            x = image(rank, size, 3, df)
            spatial = x.shape[1:-1] if df == CL else x.shape[2:]
            pool_t = (pool,) * rank if isinstance(pool, int) else pool
            strides_t = pool_t if strides is None else (
                (strides,) * rank if isinstance(strides, int) else strides)
            if any(n < k for n, k in zip(spatial, pool_t)) and padding == "valid":
                continue
            if mode == "Average" and not keras_torch_averages_like_tf(spatial, pool_t, strides_t,
                                                                      padding):
                continue
            cid = f"{mode}Pooling{rank}D_p{pool}_s{strides}_{padding}_{df[9:]}_{size}"
            cid = cid.replace(" ", "")
            kwargs = {"pool_size": pool, "strides": strides, "padding": padding,
                      "data_format": df}
            cases.append(LayerCase(cid, f"{mode}Pooling{rank}D", kwargs, x, compile=False))
    return cases


def other_cases():
    cases = []
    for mode, rank, df, keepdims in itertools.product(
            ["Max", "Average"], [1, 2, 3], [CL, CF], [False, True]):
        cases.append(LayerCase(f"Global{mode}Pooling{rank}D_{df[9:]}_keep{keepdims}",
                               f"Global{mode}Pooling{rank}D",
                               {"data_format": df, "keepdims": keepdims},
                               image(rank, (5, 4, 3)[:rank], 3, df)))
    mask = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0]], dtype=bool)
    for df, keepdims in itertools.product([CL, CF], [False, True]):
        cases.append(LayerCase(f"GlobalAveragePooling1D_mask_{df[9:]}_keep{keepdims}",
                               "GlobalAveragePooling1D", {"data_format": df, "keepdims": keepdims},
                               image(1, 5, 3, df), call_arrays={"mask": mask}))
    for mode, rank, df in itertools.product(["Max", "Average"], [1, 2, 3], [CL, CF]):
        out, size = {1: (3, 8), 2: ((3, 2), (7, 5)), 3: (2, (5, 4, 3))}[rank]
        cases.append(LayerCase(f"Adaptive{mode}Pooling{rank}D_{df[9:]}",
                               f"Adaptive{mode}Pooling{rank}D",
                               {"output_size": out, "data_format": df}, image(rank, size, 3, df)))
    cases.append(LayerCase("AvgPool2D_alias_same", "AvgPool2D",
                           {"pool_size": 3, "strides": 1, "padding": "same"}, image(2, 5, 2, CL)))
    cases.append(LayerCase("MaxPool1D_alias_upper_same", "MaxPool1D",
                           {"pool_size": 3, "strides": 2, "padding": "SAME"}, image(1, 8, 2, CL)))
    cases.append(LayerCase("GlobalAvgPool1D_alias", "GlobalAvgPool1D", {}, image(1, 5, 2, CL)))
    for case in cases:  # torch.compile on the channels_last (keepdims=True) path of each class
        case.compile = "_first" not in case.id and "keepFalse" not in case.id
    return cases


def _with_compile_on_each_path(cases):
    """torch.compile (fullgraph, ~1 s a case) on one case per code path."""
    wanted = {"MaxPooling2D_p(3,3)_s(2,2)_same_last_(7,6)", "MaxPooling1D_p3_s2_valid_first_7",
              "AveragePooling2D_p(3,3)_s(2,2)_same_last_(5,5)",
              "AveragePooling1D_p2_sNone_same_last_7",
              "AveragePooling3D_p(2,2,2)_sNone_valid_first_(5,4,3)"}
    found = set()
    for case in cases:
        if case.id in wanted:
            case.compile = True
            found.add(case.id)
    assert found == wanted, wanted - found
    return cases


POOL_CASES = _with_compile_on_each_path(pool_cases())
CASES = [c for c in POOL_CASES  # one size; channels_first on the default-strides configs only
         if c.id.endswith(("_7", "_(7,6)", "_(5,4,3)")) and ("_last_" in c.id or "_sNone_" in c.id)
         ] + other_cases()
SWEEP = [c for c in POOL_CASES if c not in CASES]

test_pooling_layer_parity = requires_keras(parametrize_cases(CASES))
test_pooling_layer_sweep = pytest.mark.slow(requires_keras(parametrize_cases(SWEEP)))


# ------------------------------------------------------------------ asymmetric "same" averages
def tf_average_pool(x, pool, strides, cot):
    """TF/JAX "same" average pooling of a channels-first array (padding never counted), and the
    gradient of `sum(out * cot)` w.r.t. `x`."""
    spatial = x.shape[2:]
    pads = same_pads(spatial, pool, strides)
    out_shape = [(n + s - 1) // s for n, s in zip(spatial, strides)]
    out = np.zeros(x.shape[:2] + tuple(out_shape), np.float64)
    grad = np.zeros(x.shape, np.float64)
    for idx in itertools.product(*[range(n) for n in out_shape]):
        window = tuple(slice(max(0, o * s - left), min(n, o * s - left + k))
                       for o, s, (left, _), k, n in zip(idx, strides, pads, pool, spatial))
        region = x[(slice(None), slice(None)) + window]
        count = np.prod(region.shape[2:])
        out[(slice(None), slice(None)) + idx] = region.sum(axis=tuple(range(2, x.ndim))) / count
        g = cot[(slice(None), slice(None)) + idx] / count
        grad[(slice(None), slice(None)) + window] += g.reshape(g.shape + (1,) * len(pool))
    return out, grad


ASYMMETRIC = [
    ("AveragePooling1D", 6, 3, 2, CL), ("AveragePooling1D", 8, 4, 1, CF),
    ("AveragePooling1D", 8, 3, 3, CL), ("AveragePooling2D", (6, 5), (3, 3), (2, 2), CL),
    ("AveragePooling2D", (5, 6), (3, 4), (1, 1), CF),
    ("AveragePooling3D", (4, 5, 3), (3, 3, 2), (2, 2, 1), CL),
]


@pytest.mark.parametrize("cls,size,pool,strides,df", ASYMMETRIC)
def test_asymmetric_same_average_pooling_excludes_padding(cls, size, pool, strides, df):
    import tkeras

    rank = int(cls[-2])
    x = image(rank, size, 3, df)
    layer = getattr(tkeras.layers, cls)(pool, strides, padding="same", data_format=df)
    xt = torch.tensor(x, requires_grad=True)
    out = layer(xt)
    cot = cotangent(tuple(out.shape))
    (out * torch.tensor(cot)).sum().backward()

    to_cf = (lambda a: a) if df == CF else (lambda a: np.moveaxis(a, -1, 1))
    from_cf = (lambda a: a) if df == CF else (lambda a: np.moveaxis(a, 1, -1))
    pool_t = (pool,) * rank if isinstance(pool, int) else pool
    strides_t = (strides,) * rank if isinstance(strides, int) else strides
    expected, grad = tf_average_pool(to_cf(x).astype(np.float64), pool_t, strides_t, to_cf(cot))
    np.testing.assert_allclose(out.detach().numpy(), from_cf(expected), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xt.grad.numpy(), from_cf(grad), rtol=1e-5, atol=1e-6)
    assert tuple(layer.compute_output_shape(x.shape)) == tuple(out.shape)
    assert not keras_torch_averages_like_tf(to_cf(x).shape[2:], pool_t, strides_t, "same")


def test_symbolic_output_shapes_match_eager():
    import tkeras

    for case in CASES:
        layer = getattr(tkeras.layers, case.cls)(**case.kwargs)
        x = torch.as_tensor(np.asarray(case.inputs))
        out = layer(x)
        assert tuple(layer.compute_output_shape(tuple(x.shape))) == tuple(out.shape), case.id


def test_invalid_arguments_raise():
    import tkeras

    with pytest.raises(ValueError, match="pool_size"):
        tkeras.layers.MaxPooling2D(pool_size=(2, 2, 2))
    with pytest.raises(ValueError, match="length 1"):
        tkeras.layers.AdaptiveAveragePooling1D((2, 2))
    with pytest.raises(TypeError, match="output_size"):
        tkeras.layers.AdaptiveMaxPooling2D((2, 2, 2))
    with pytest.raises(ValueError, match="ndim"):
        tkeras.layers.MaxPooling2D()(torch.randn(2, 4, 3))
