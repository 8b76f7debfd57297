"""tkeras.initializers: configs, deterministic values and fans against real Keras (one
subprocess); random initializers by their statistics (torch's RNG cannot reproduce Keras's
numbers)."""

import inspect
import math

import numpy as np
import pytest
import torch

import tkeras.initializers as initializers
from keras_oracle import requires_keras, run_keras
from tkeras.core import config as tk_config
from tkeras.core.initializers import ALL_OBJECTS_DICT, compute_fans

CLASS_NAMES = [
    "Constant", "Zeros", "Ones", "Identity", "Orthogonal", "RandomNormal", "RandomUniform",
    "TruncatedNormal", "VarianceScaling", "GlorotNormal", "GlorotUniform", "HeNormal",
    "HeUniform", "LecunNormal", "LecunUniform", "STFT",
]
ALIASES = [
    "constant", "zeros", "ones", "identity", "IdentityInitializer", "orthogonal",
    "OrthogonalInitializer", "random_normal", "random_uniform", "truncated_normal",
    "variance_scaling", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
    "lecun_normal", "lecun_uniform", "stft", "STFTInitializer",
]

# (case id, class name, constructor kwargs) whose serialized configs must equal Keras's.
CONFIG_CASES = [
    ("constant", "Constant", {"value": 2.5}),
    ("constant_int", "Constant", {"value": 3}),
    ("zeros", "Zeros", {}),
    ("ones", "Ones", {}),
    ("identity", "Identity", {"gain": 2.0}),
    ("orthogonal", "Orthogonal", {"gain": 0.5, "seed": 3}),
    ("random_normal", "RandomNormal", {"mean": 1.0, "stddev": 0.2, "seed": 1}),
    ("random_uniform", "RandomUniform", {"minval": -1, "maxval": 2}),
    ("truncated_normal", "TruncatedNormal", {}),
    ("variance_scaling", "VarianceScaling", {"scale": 2.0, "mode": "fan_avg",
                                             "distribution": "uniform", "seed": 7}),
    ("variance_scaling_normal", "VarianceScaling", {"distribution": "normal"}),
    ("variance_scaling_axes", "VarianceScaling", {"input_axes": [0, 1], "output_axes": [2]}),
    ("glorot_normal", "GlorotNormal", {}),
    ("glorot_uniform", "GlorotUniform", {"seed": 1}),
    ("he_normal", "HeNormal", {"seed": 2}),
    ("he_uniform", "HeUniform", {}),
    ("lecun_normal", "LecunNormal", {"input_axes": [0], "output_axes": [1]}),
    ("lecun_uniform", "LecunUniform", {}),
    ("stft", "STFT", {"side": "imag", "window": "hamming", "scaling": "spectrum",
                      "periodic": True}),
]

# (case id, class name, kwargs, shape, dtype) evaluated in both libraries.
VALUE_CASES = [
    ("zeros", "Zeros", {}, (2, 3), None),
    ("ones", "Ones", {}, (4,), "float64"),
    ("constant", "Constant", {"value": -1.5}, (3, 2), None),
    ("identity", "Identity", {}, (3, 5), None),
    ("identity_gain", "Identity", {"gain": 3.0}, (4, 2), "float64"),
    ("stft_default", "STFT", {}, (8, 1, 5), None),
    ("stft_imag", "STFT", {"side": "imag"}, (8, 1, 5), None),
    ("stft_periodic", "STFT", {"window": "hamming", "periodic": True}, (16, 1, 9), None),
    ("stft_spectrum", "STFT", {"window": "blackman", "scaling": "spectrum"}, (10, 1, 6), None),
    ("stft_none", "STFT", {"window": None, "scaling": None}, (6, 1, 4), None),
    ("stft_array", "STFT", {"window": [0.1, 0.5, 1.0, 0.5, 0.1]}, (5, 1, 3), "float64"),
]

FAN_SHAPES = [(), (7,), (3, 5), (3, 4, 5), (2, 3, 4, 5), (3, 3, 3, 8, 16)]
FAN_AXES = [((2, 3, 4), (0,), (1, 2)), ((4, 5, 6), (0, 1), (2,))]

KERAS_CODE = """
import inspect
from keras.src.initializers.random_initializers import compute_fans
I = keras.initializers
outputs["configs"] = {case: I.serialize(getattr(I, name)(**kw)) for case, name, kw in CONFIG_CASES}
for case, name, kw, shape, dtype in VALUE_CASES:
    outputs[case] = keras.ops.convert_to_numpy(getattr(I, name)(**kw)(shape, dtype=dtype))
outputs["fans"] = [list(compute_fans(s)) for s in FAN_SHAPES]
outputs["fans_axes"] = [list(compute_fans(s, i, o)) for s, i, o in FAN_AXES]
outputs["signatures"] = {n: str(inspect.signature(getattr(I, n))) for n in CLASS_NAMES}
outputs["get_by_name"] = {n: type(I.get(n)).__name__ for n in LOOKUP_NAMES}
outputs["keras2"] = {c: I.serialize(I.get({"class_name": c, "config": cfg}))
                     for c, cfg in KERAS2_CONFIGS}
outputs["seed_none_repeats"] = bool(np.array_equal(
    *[keras.ops.convert_to_numpy(g((4, 4))) for g in [I.HeNormal()] * 2]))
"""

# Keras's `get("constant")` fails (Constant.from_config needs "value"); tkeras gives Constant().
LOOKUP_NAMES = sorted(n for n in ALL_OBJECTS_DICT if n.lower() != "constant")
KERAS2_CONFIGS = [
    ("GlorotUniform", {"seed": None}),
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal",
                         "seed": 5}),
    ("RandomNormal", {"mean": 0.0, "stddev": 0.01, "seed": None}),
    ("Zeros", {}),
    ("Orthogonal", {"gain": 1.0, "seed": None}),
]


@pytest.fixture(scope="module")
def keras_ref():
    header = (
        f"CONFIG_CASES = {CONFIG_CASES!r}\nVALUE_CASES = {VALUE_CASES!r}\n"
        f"FAN_SHAPES = {FAN_SHAPES!r}\nFAN_AXES = {FAN_AXES!r}\nCLASS_NAMES = {CLASS_NAMES!r}\n"
        f"LOOKUP_NAMES = {LOOKUP_NAMES!r}\nKERAS2_CONFIGS = {KERAS2_CONFIGS!r}\n"
    )
    return run_keras(header + KERAS_CODE)


@requires_keras
def test_configs_match_keras(keras_ref):
    ours = {case: initializers.serialize(getattr(initializers, name)(**kw))
            for case, name, kw in CONFIG_CASES}
    assert ours == keras_ref["configs"]


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_round_trip(case):
    _, name, kwargs = case
    original = getattr(initializers, name)(**kwargs)
    restored = initializers.deserialize(initializers.serialize(original))
    assert type(restored) is type(original)
    assert restored.get_config() == original.get_config()
    assert type(original.clone()) is type(original)


@requires_keras
@pytest.mark.parametrize("case", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_deterministic_values_match_keras(keras_ref, case):
    case_id, name, kwargs, shape, dtype = case
    out = getattr(initializers, name)(**kwargs)(shape, dtype=dtype)
    assert isinstance(out, torch.Tensor)
    assert str(out.dtype) == "torch." + (dtype or "float32")
    np.testing.assert_allclose(out.numpy(), keras_ref[case_id], rtol=1e-6, atol=1e-6)


@requires_keras
def test_compute_fans_matches_keras(keras_ref):
    assert [list(compute_fans(s)) for s in FAN_SHAPES] == keras_ref["fans"]
    assert [list(compute_fans(s, i, o)) for s, i, o in FAN_AXES] == keras_ref["fans_axes"]


@requires_keras
def test_signatures_match_keras(keras_ref):
    ours = {n: str(inspect.signature(getattr(initializers, n))) for n in CLASS_NAMES}
    assert ours == keras_ref["signatures"]


@requires_keras
def test_get_by_name_matches_keras(keras_ref):
    ours = {n: type(initializers.get(n)).__name__ for n in LOOKUP_NAMES}
    assert ours == keras_ref["get_by_name"]


@requires_keras
def test_keras2_configs_without_module(keras_ref):
    ours = {c: initializers.serialize(initializers.get({"class_name": c, "config": cfg}))
            for c, cfg in KERAS2_CONFIGS}
    assert ours == keras_ref["keras2"]


@requires_keras
def test_unseeded_initializer_repeats_its_values_like_keras(keras_ref):
    init = initializers.HeNormal()
    assert torch.equal(init((4, 4)), init((4, 4))) == keras_ref["seed_none_repeats"]
    assert not torch.equal(initializers.HeNormal()((8, 8)), initializers.HeNormal()((8, 8)))


def test_aliases():
    for alias in ALIASES:
        assert inspect.isclass(getattr(initializers, alias)), alias
    assert initializers.glorot_uniform is initializers.GlorotUniform
    assert initializers.IdentityInitializer is initializers.Identity
    assert initializers.OrthogonalInitializer is initializers.Orthogonal


def test_get_variants():
    assert initializers.get(None) is None
    assert initializers.get("constant")((2,)).tolist() == [0.0, 0.0]
    assert isinstance(initializers.get("glorot_uniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get(initializers.HeNormal), initializers.HeNormal)
    fn = lambda shape, dtype=None: torch.ones(shape)  # noqa: E731
    assert initializers.get(fn) is fn
    direct = initializers.get(np.arange(6.0).reshape(2, 3))
    out = direct((2, 3))
    assert out.dtype == torch.float32 and out.tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="Expected `shape`"):
        direct((3, 2))
    with pytest.raises(ValueError):
        initializers.get("no_such_initializer")


def test_constant_array_value_and_config():
    init = initializers.Constant(np.array([1.0, 2.0, 3.0]))
    assert init((2, 3)).tolist() == [[1, 2, 3], [1, 2, 3]]
    config = init.get_config()
    assert config["value"]["class_name"] == "__numpy__"
    restored = initializers.Constant.from_config(config)
    assert restored((1, 3)).tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10), (3, 3, 4, 8)])
def test_orthogonal_is_orthonormal(shape):
    q = initializers.Orthogonal(gain=2.0, seed=0)(shape).double()
    flat = q.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram.numpy(), 4.0 * np.eye(gram.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="at least two-dimensional"):
        initializers.Orthogonal()((5,))


def test_identity_rejects_non_matrix():
    with pytest.raises(ValueError, match="2D matrices"):
        initializers.Identity()((2, 2, 2))


@pytest.mark.parametrize(
    "cls,scale,mode",
    [
        (initializers.GlorotUniform, 1.0, "fan_avg"),
        (initializers.HeUniform, 2.0, "fan_in"),
        (initializers.LecunUniform, 1.0, "fan_in"),
    ],
)
def test_uniform_variance_scaling_limits(cls, scale, mode):
    shape = (3, 3, 32, 64)
    fan_in, fan_out = 3 * 3 * 32, 3 * 3 * 64
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    limit = math.sqrt(3.0 * scale / n)
    x = cls(seed=1)(shape)
    assert x.abs().max() <= limit
    assert x.abs().max() > 0.99 * limit
    assert abs(x.std().item() - limit / math.sqrt(3)) < 0.02 * limit


@pytest.mark.parametrize(
    "cls,scale,mode",
    [
        (initializers.GlorotNormal, 1.0, "fan_avg"),
        (initializers.HeNormal, 2.0, "fan_in"),
        (initializers.LecunNormal, 1.0, "fan_in"),
    ],
)
def test_truncated_variance_scaling_stddev(cls, scale, mode):
    # The 0.8796... correction makes the *truncated* distribution's stddev sqrt(scale / n).
    shape = (128, 256)
    n = {"fan_in": 128, "fan_avg": (128 + 256) / 2}[mode]
    target = math.sqrt(scale / n)
    x = cls(seed=2)(shape)
    assert x.abs().max() <= 2 * target / 0.87962566103423978 + 1e-7
    assert abs(x.std().item() - target) < 0.02 * target
    assert abs(x.mean().item()) < 0.02 * target


def test_untruncated_normal_and_fan_out():
    x = initializers.VarianceScaling(scale=3.0, mode="fan_out",
                                     distribution="untruncated_normal", seed=0)((64, 400))
    target = math.sqrt(3.0 / 400)
    assert abs(x.std().item() - target) < 0.02 * target
    assert x.abs().max() > 3 * target  # not truncated


def test_random_initializers_statistics():
    x = initializers.RandomNormal(mean=1.0, stddev=0.5, seed=3)((200, 200))
    assert abs(x.mean().item() - 1.0) < 0.01 and abs(x.std().item() - 0.5) < 0.01
    x = initializers.RandomUniform(minval=-1.0, maxval=3.0, seed=3)((200, 200))
    assert x.min() >= -1.0 and x.max() < 3.0 and abs(x.mean().item() - 1.0) < 0.02
    x = initializers.TruncatedNormal(mean=0.5, stddev=0.1, seed=3)((200, 200))
    assert x.min() >= 0.3 and x.max() <= 0.7
    assert abs(x.std().item() - 0.1 * 0.87962566103423978) < 0.002


def test_seeded_reproducibility_and_dtype():
    a = initializers.GlorotUniform(seed=11)((5, 7))
    b = initializers.GlorotUniform(seed=11)((5, 7))
    c = initializers.GlorotUniform(seed=12)((5, 7))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float32
    assert initializers.HeNormal(seed=1)((3, 3), dtype="float64").dtype == torch.float64
    assert initializers.RandomNormal(seed=1)((3, 3), dtype=torch.bfloat16).dtype == torch.bfloat16
    assert initializers.Zeros()((2,), dtype="int32").dtype == torch.int32


def test_default_dtype_follows_floatx():
    original = tk_config.floatx()
    try:
        tk_config.set_floatx("float64")
        assert initializers.Ones()((2,)).dtype == torch.float64
        assert initializers.GlorotNormal(seed=0)((2, 2)).dtype == torch.float64
    finally:
        tk_config.set_floatx(original)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        initializers.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="seed"):
        initializers.RandomNormal(seed="abc")
    with pytest.raises(ValueError, match="side"):
        initializers.STFT(side="both")
