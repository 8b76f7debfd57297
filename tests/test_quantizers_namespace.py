"""`tkeras.quantizers`: Keras's names, float8 helpers and fake quantization against real Keras."""

import numpy as np
import pytest
import torch

import tkeras
from keras_oracle import requires_keras, run_keras

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 3)).astype("float32") * 3
MIN_T, MAX_T = np.float32(-2.0), np.float32(1.5)
MIN_C = np.array([-1.0, -2.0, -0.5], "float32")
MAX_C = np.array([1.0, 0.5, 2.5], "float32")
HIST = np.array([0.5, 2.0, 1.0], "float32")

KERAS_CODE = """
import torch
from keras import quantizers as q
x = torch.tensor(inputs["x"], requires_grad=True)
for tag, (mn, mx, axis) in {"t": (inputs["min_t"], inputs["max_t"], None),
                            "c": (inputs["min_c"], inputs["max_c"], 1)}.items():
    mn = torch.tensor(mn, requires_grad=True); mx = torch.tensor(mx, requires_grad=True)
    for narrow in (False, True):
        y = q.fake_quant_with_min_max_vars(x, mn, mx, num_bits=4, narrow_range=narrow, axis=axis)
        w = torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape)
        gx, gmn, gmx = torch.autograd.grad((y * w).sum(), [x, mn, mx])
        key = f"{tag}{int(narrow)}"
        outputs["fq_" + key] = y.detach().numpy()
        outputs["gx_" + key] = gx.numpy(); outputs["gmin_" + key] = gmn.numpy()
        outputs["gmax_" + key] = gmx.numpy()
outputs["scale"] = q.compute_float8_scale(torch.tensor([2.0, 0.0, float("inf")]),
                                          torch.tensor([0.5, 0.25, 2.0]), 448.0, margin=1)
outputs["hist"] = q.compute_float8_amax_history(torch.tensor(inputs["x"]), torch.tensor(inputs["hist"]))
outputs["qdq"] = q.quantize_and_dequantize(torch.tensor(inputs["x"]), 0.01, "float8_e4m3fn", "float32")
outputs["names"] = sorted(n for n in dir(q) if not n.startswith("_"))
"""


@pytest.fixture(scope="module")
def keras_ref():
    return run_keras(KERAS_CODE, {"x": X, "min_t": MIN_T, "max_t": MAX_T, "min_c": MIN_C,
                                  "max_c": MAX_C, "hist": HIST})


@requires_keras
def test_names_match_keras(keras_ref):
    ours = sorted(n for n in tkeras.quantizers.__all__)
    assert ours == [n for n in keras_ref["names"]]


@requires_keras
@pytest.mark.parametrize("key", ["t0", "t1", "c0", "c1"])
def test_fake_quant_values_and_gradients_match_keras(keras_ref, key):
    q = tkeras.quantizers
    x = torch.tensor(X, requires_grad=True)
    per_channel = key[0] == "c"
    mn = torch.tensor(MIN_C if per_channel else MIN_T, requires_grad=True)
    mx = torch.tensor(MAX_C if per_channel else MAX_T, requires_grad=True)
    y = q.fake_quant_with_min_max_vars(x, mn, mx, num_bits=4, narrow_range=key[1] == "1",
                                       axis=1 if per_channel else None)
    w = torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape)
    gx, gmn, gmx = torch.autograd.grad((y * w).sum(), [x, mn, mx])
    np.testing.assert_allclose(y.detach().numpy(), keras_ref["fq_" + key], atol=1e-6)
    np.testing.assert_allclose(gx.numpy(), keras_ref["gx_" + key], atol=1e-6)
    np.testing.assert_allclose(gmn.numpy(), keras_ref["gmin_" + key], atol=1e-5)
    np.testing.assert_allclose(gmx.numpy(), keras_ref["gmax_" + key], atol=1e-5)


@requires_keras
def test_float8_helpers_match_keras(keras_ref):
    q = tkeras.quantizers
    scale = q.compute_float8_scale(torch.tensor([2.0, 0.0, float("inf")]),
                                   torch.tensor([0.5, 0.25, 2.0]), 448.0, margin=1)
    np.testing.assert_allclose(scale.numpy(), keras_ref["scale"], rtol=1e-6)
    hist = q.compute_float8_amax_history(torch.tensor(X), torch.tensor(HIST))
    np.testing.assert_allclose(hist.numpy(), keras_ref["hist"], rtol=1e-6)
    qdq = q.quantize_and_dequantize(torch.tensor(X), 0.01, "float8_e4m3fn", "float32")
    np.testing.assert_allclose(qdq.numpy(), keras_ref["qdq"], rtol=1e-6)


def test_get_and_uncalibrated_configs():
    q = tkeras.quantizers
    assert isinstance(q.get("abs_max_quantizer", axis=-1), q.AbsMaxQuantizer)
    config = q.serialize(q.Int8QuantizationConfig())
    assert isinstance(q.deserialize(config), q.Int8QuantizationConfig)
    with pytest.raises(ValueError, match="Could not interpret"):
        q.get(3)
    for cls in (q.GPTQConfig, q.AWQConfig):
        with pytest.raises(NotImplementedError, match="calibration"):
            cls()
