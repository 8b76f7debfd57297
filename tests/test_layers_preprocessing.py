"""Preprocessing layers: parity with real Keras through the layer harness (deterministic layers,
and the random layers at inference and in training with degenerate factor ranges, where Keras's
draw is a constant), `adapt()` parity, and statistical tests of the random augmentations."""

import json

import numpy as np
import pytest
import torch

from keras_oracle import requires_keras
from keras_oracle import run_keras
from layer_harness import LayerCase
from layer_harness import parametrize_cases
from layer_harness import rand


def img(*shape, seed=0, high=255.0):
    return rand(*shape, seed=seed, low=0.0, high=high)


def ids(*shape, high=5, seed=0):
    return np.random.default_rng(seed).integers(0, high, size=shape).astype(np.int64)


CF = {"data_format": "channels_first"}
IMG = img(2, 8, 10, 3)
IMG_CF = img(2, 3, 8, 10, seed=1)
UNIT = img(2, 8, 10, 3, seed=2, high=1.0)
# One channel constant: AutoContrast divides 0 by 0 there and keeps the input.
FLAT_CHANNEL = IMG.copy()
FLAT_CHANNEL[1, :, :, 2] = 7.0

CASES = [
    # Rescaling
    LayerCase("rescaling", "Rescaling", {"scale": 1 / 255.0}, IMG),
    LayerCase("rescaling_offset", "Rescaling", {"scale": 2.0, "offset": -1.0}, rand(3, 4)),
    LayerCase("rescaling_per_channel", "Rescaling", {"scale": [1.0, 0.5, 0.25], "offset": 0.5},
              IMG),
    LayerCase("rescaling_uint8", "Rescaling", {"scale": 1 / 127.5, "offset": -1},
              IMG.astype(np.uint8), grads=False),
    # Resizing
    LayerCase("resizing_bilinear_down", "Resizing", {"height": 4, "width": 5}, IMG),
    LayerCase("resizing_bilinear_up", "Resizing", {"height": 11, "width": 13}, IMG),
    LayerCase("resizing_nearest", "Resizing", {"height": 5, "width": 7, "interpolation": "nearest"},
              IMG),
    LayerCase("resizing_bicubic", "Resizing", {"height": 6, "width": 4, "interpolation": "bicubic"},
              IMG, atol=1e-4),  # bicubic sums 16 taps of values up to 255
    LayerCase("resizing_antialias", "Resizing", {"height": 3, "width": 4, "antialias": True}, IMG),
    LayerCase("resizing_bicubic_antialias", "Resizing",
              {"height": 3, "width": 4, "interpolation": "bicubic", "antialias": True}, IMG,
              atol=1e-4),
    LayerCase("resizing_crop_aspect", "Resizing",
              {"height": 4, "width": 4, "crop_to_aspect_ratio": True}, IMG),
    LayerCase("resizing_pad_aspect", "Resizing",
              {"height": 6, "width": 3, "pad_to_aspect_ratio": True, "fill_value": 9.0}, IMG),
    LayerCase("resizing_channels_first", "Resizing", {"height": 5, "width": 6, **CF}, IMG_CF),
    LayerCase("resizing_unbatched", "Resizing", {"height": 4, "width": 7}, IMG[0]),
    LayerCase("resizing_uint8", "Resizing", {"height": 5, "width": 6, "interpolation": "bicubic"},
              IMG.astype(np.uint8), grads=False),
    # CenterCrop
    LayerCase("center_crop", "CenterCrop", {"height": 5, "width": 6}, IMG),
    LayerCase("center_crop_channels_first", "CenterCrop", {"height": 3, "width": 8, **CF},
              IMG_CF),
    LayerCase("center_crop_upsize", "CenterCrop", {"height": 9, "width": 6}, IMG),
    LayerCase("center_crop_unbatched", "CenterCrop", {"height": 4, "width": 4}, IMG[1]),
    # Normalization (given statistics; adapt() is tested below)
    LayerCase("normalization_scalar", "Normalization", {"mean": 2.0, "variance": 4.0}, rand(3, 4)),
    LayerCase("normalization_per_feature", "Normalization",
              {"mean": [0.1, -0.2, 0.3], "variance": [1.0, 4.0, 0.25]}, rand(2, 5, 3)),
    LayerCase("normalization_axes", "Normalization",
              {"axis": [1, 2], "mean": [[0.5] * 3] * 4, "variance": [[2.0] * 3] * 4},
              rand(2, 4, 3)),
    LayerCase("normalization_invert", "Normalization",
              {"mean": [1.0, 2.0], "variance": [0.5, 9.0], "invert": True}, rand(4, 2)),
    LayerCase("normalization_weights", "Normalization", {"axis": -1}, rand(3, 5)),
    LayerCase("normalization_axis_none", "Normalization", {"axis": None}, rand(3, 5)),
    # CategoryEncoding / Discretization (integer outputs or inputs: no gradients)
    LayerCase("category_one_hot", "CategoryEncoding", {"num_tokens": 5, "output_mode": "one_hot"},
              ids(4, 1), grads=False),
    LayerCase("category_one_hot_rank1", "CategoryEncoding",
              {"num_tokens": 6, "output_mode": "one_hot"}, ids(4, high=6), grads=False),
    LayerCase("category_multi_hot", "CategoryEncoding", {"num_tokens": 5}, ids(4, 3),
              grads=False),
    LayerCase("category_count", "CategoryEncoding", {"num_tokens": 5, "output_mode": "count"},
              ids(3, 6), grads=False),
    LayerCase("category_count_weights", "CategoryEncoding",
              {"num_tokens": 5, "output_mode": "count"}, ids(3, 4),
              call_arrays={"count_weights": rand(3, 4)}, grads=False),
    LayerCase("discretization_int", "Discretization", {"bin_boundaries": [-0.5, 0.0, 0.5]},
              rand(4, 3), grads=False),
    LayerCase("discretization_one_hot", "Discretization",
              {"bin_boundaries": [-0.3, 0.2], "output_mode": "one_hot"}, rand(5), grads=False),
    LayerCase("discretization_multi_hot", "Discretization",
              {"bin_boundaries": [0.0, 0.5], "output_mode": "multi_hot"}, rand(3, 4),
              grads=False),
    LayerCase("discretization_count", "Discretization",
              {"bin_boundaries": [0.0], "output_mode": "count"}, rand(3, 4), grads=False),
    # Deterministic colour ops
    LayerCase("auto_contrast", "AutoContrast", {}, IMG),
    LayerCase("auto_contrast_unit_range", "AutoContrast", {"value_range": [0, 1]}, UNIT),
    LayerCase("auto_contrast_flat_channel", "AutoContrast", {}, FLAT_CHANNEL),
    LayerCase("equalization", "Equalization", {}, IMG, training=True),
    LayerCase("equalization_bins", "Equalization", {"bins": 16, "value_range": (0, 1)}, UNIT,
              training=True),
    LayerCase("equalization_channels_first", "Equalization", {**CF}, IMG_CF, training=True),
    LayerCase("solarization_invert", "Solarization", {}, IMG, training=True),
    LayerCase("solarization_unit", "Solarization",
              {"value_range": [0, 1], "addition_factor": (0.0, 0.0), "threshold_factor": 0.0,
               "seed": 3}, UNIT, training=True),
    # Random augmentations: identity at inference; degenerate factor ranges in training.
    LayerCase("random_flip", "RandomFlip", {"seed": 1}, IMG),
    LayerCase("random_flip_horizontal_cf", "RandomFlip", {"mode": "horizontal", **CF}, IMG_CF),
    LayerCase("random_rotation_90", "RandomRotation", {"factor": (0.25, 0.25)}, IMG,
              training=True),
    LayerCase("random_rotation_wrap", "RandomRotation",
              {"factor": (0.1, 0.1), "fill_mode": "wrap"}, IMG, training=True, atol=1e-4),
    LayerCase("random_rotation_constant", "RandomRotation",
              {"factor": (-0.07, -0.07), "fill_mode": "constant", "fill_value": 3.0}, IMG,
              training=True, atol=1e-4),
    LayerCase("random_rotation_nearest_fill", "RandomRotation",
              {"factor": (0.3, 0.3), "fill_mode": "nearest", **CF}, IMG_CF, training=True,
              atol=1e-4),
    LayerCase("random_rotation_nearest_interp", "RandomRotation",
              {"factor": (0.12, 0.12), "interpolation": "nearest", "seed": 5}, IMG,
              training=True),
    LayerCase("random_rotation_unbatched", "RandomRotation", {"factor": (0.2, 0.2)}, IMG[0],
              training=True, atol=1e-4),
    LayerCase("random_translation_reflect", "RandomTranslation",
              {"height_factor": (0.2, 0.2), "width_factor": (-0.15, -0.15)}, IMG, training=True),
    LayerCase("random_translation_constant_cf", "RandomTranslation",
              {"height_factor": (-0.3, -0.3), "width_factor": (0.22, 0.22),
               "fill_mode": "constant", "fill_value": 1.5, **CF}, IMG_CF, training=True),
    LayerCase("random_translation_nearest", "RandomTranslation",
              {"height_factor": (0.1, 0.1), "width_factor": (0.12, 0.12),
               "interpolation": "nearest", "fill_mode": "wrap"}, IMG, training=True),
    LayerCase("random_translation_symmetric", "RandomTranslation",
              {"height_factor": 0.2, "width_factor": 0.1}, IMG),
    LayerCase("random_zoom", "RandomZoom", {"height_factor": (0.3, 0.3),
                                            "width_factor": (-0.2, -0.2)}, IMG, training=True),
    LayerCase("random_zoom_same", "RandomZoom",
              {"height_factor": (-0.4, -0.4), "fill_mode": "constant"}, IMG, training=True),
    LayerCase("random_zoom_mirror_cf", "RandomZoom",
              {"height_factor": (0.5, 0.5), "width_factor": (0.25, 0.25), "fill_mode": "nearest",
               **CF}, IMG_CF, training=True),
    LayerCase("random_crop_center", "RandomCrop", {"height": 8, "width": 6, "seed": 2}, IMG,
              training=True),
    LayerCase("random_crop_resize", "RandomCrop", {"height": 10, "width": 12, "seed": 2}, IMG,
              training=True),
    LayerCase("random_crop_cf", "RandomCrop", {"height": 5, "width": 10, "seed": 7, **CF},
              IMG_CF, training=True),
    LayerCase("random_crop_inference", "RandomCrop", {"height": 4, "width": 5, "seed": 2}, IMG),
    LayerCase("random_contrast", "RandomContrast", {"factor": (-0.3, 0.3)}, IMG, training=True),
    LayerCase("random_contrast_cf", "RandomContrast",
              {"factor": (-0.5, 0.5), "value_range": (0, 1), **CF}, img(2, 3, 8, 10, high=1.0),
              training=True),
    LayerCase("random_contrast_symmetric", "RandomContrast", {"factor": 0.2, "seed": 4}, IMG),
    # grads=False: Keras's RandomBrightness adds in place to its input, which torch refuses for
    # a leaf tensor that requires grad.
    LayerCase("random_brightness", "RandomBrightness", {"factor": (0.1, 0.1)}, IMG,
              training=True, grads=False),
    LayerCase("random_brightness_unit", "RandomBrightness",
              {"factor": (-0.2, -0.2), "value_range": (1, 0)}, UNIT, training=True,
              grads=False),
    # Pipeline (built from a config holding serialized layers)
    LayerCase("pipeline", "Pipeline", {"name": "pipe", "layers": [
        {"module": "keras.layers", "class_name": "Rescaling", "registered_name": None,
         "config": {"name": "scale", "scale": 0.5, "offset": 1.0}},
        {"module": "keras.layers", "class_name": "RandomContrast", "registered_name": None,
         "config": {"name": "contrast", "factor": [-0.3, 0.3]}},
        {"module": "keras.layers", "class_name": "CenterCrop", "registered_name": None,
         "config": {"name": "crop", "height": 4, "width": 6}}]},
              IMG, training=True, from_config=True),
]

test_preprocessing_layer_parity = requires_keras(parametrize_cases(CASES))


# ------------------------------------------------------------------------- adapt() vs Keras
ADAPT_DATA = {
    "a": rand(50, 4, seed=1), "b": rand(20, 3, 4, seed=2), "c": rand(30, 5, seed=3),
    "d": rand(40, 6, seed=4), "e0": rand(7, 3, 2, seed=5), "e1": rand(5, 3, 2, seed=6),
    "e2": rand(9, 3, 2, seed=7), "probe2": rand(3, 4, seed=8), "probe3": rand(2, 3, 4, seed=9),
    "probe_e": rand(2, 3, 2, seed=10), "probe6": rand(2, 6, seed=11),
    "disc0": rand(1000, seed=12) * 10, "disc1": rand(37, 4, seed=13),
}
# (id, axis, data kind, data keys, probe key); kinds: numpy, tensor, list (of batches),
# tuples (an iterable of (x, y) batches).
ADAPT_CASES = [
    ("last_axis_numpy", -1, "numpy", ["a"], "probe2"),
    ("two_axes_numpy", [1, 2], "numpy", ["b"], "probe3"),
    ("axis_none_numpy", None, "numpy", ["c"], "probe2c"),
    ("tensor", -1, "tensor", ["d"], "probe6"),
    ("batches", 1, "list", ["e0", "e1", "e2"], "probe_e"),
    ("tuple_batches", [1, 2], "tuples", ["e0", "e1", "e2"], "probe_e"),
]
ADAPT_DATA["probe2c"] = rand(3, 5, seed=14)
DISC_CASES = [("one_array", 4, 0.01, ["disc0"]), ("batches", 5, 0.1, ["disc1", "disc0"])]

# Keras's adapt() only touches TensorFlow for an `isinstance(data, tf.data.Dataset)` check before
# it reaches the iterable-of-batches branch; a stub `tf` lets real Keras run that branch here.
_ADAPT_SCRIPT = r"""
import types
import torch
from keras.src.layers.preprocessing import normalization as _norm
_norm.tf = types.SimpleNamespace(data=types.SimpleNamespace(Dataset=type("NoDataset", (), {})))
cases = json.loads(str(inputs["__cases__"]))
for cid, axis, kind, keys, probe in cases["norm"]:
    arrays = [inputs[k] for k in keys]
    data = {"numpy": lambda: arrays[0], "tensor": lambda: torch.tensor(arrays[0]),
            "list": lambda: arrays,
            "tuples": lambda: ((a, np.zeros(len(a))) for a in arrays)}[kind]()
    layer = keras.layers.Normalization(axis=axis)
    layer.adapt(data)
    for i, w in enumerate(layer.weights):
        outputs[f"{cid}/w{i}"] = np.array(w.numpy())
    outputs[f"{cid}/out"] = layer(torch.tensor(inputs[probe])).numpy()
for cid, num_bins, eps, keys in cases["disc"]:
    layer = keras.layers.Discretization(num_bins=num_bins, epsilon=eps)
    layer.reset_state()
    for k in keys:
        layer.update_state(inputs[k])
    layer.finalize_state()
    outputs[f"{cid}/bins"] = np.array(layer.bin_boundaries)
"""


@pytest.fixture(scope="module")
def adapt_reference():
    arrays = dict(ADAPT_DATA)
    arrays["__cases__"] = np.array(json.dumps({"norm": ADAPT_CASES, "disc": DISC_CASES}))
    return run_keras(_ADAPT_SCRIPT, arrays)


@requires_keras
@pytest.mark.parametrize("case", ADAPT_CASES, ids=[c[0] for c in ADAPT_CASES])
def test_normalization_adapt_matches_keras(case, adapt_reference):
    import tkeras

    cid, axis, kind, keys, probe = case
    arrays = [ADAPT_DATA[k] for k in keys]
    data = {"numpy": lambda: arrays[0], "tensor": lambda: torch.tensor(arrays[0]),
            "list": lambda: arrays,
            "tuples": lambda: ((a, np.zeros(len(a))) for a in arrays)}[kind]()
    layer = tkeras.layers.Normalization(axis=axis)
    layer.adapt(data)
    assert [w.name for w in layer.weights] == ["mean", "variance", "count"]
    for i, w in enumerate(layer.weights):
        np.testing.assert_allclose(w.numpy(), adapt_reference[f"{cid}/w{i}"], rtol=1e-5,
                                   atol=1e-6, err_msg=f"{cid}: {w.name}")
    out = layer(torch.tensor(ADAPT_DATA[probe]))
    np.testing.assert_allclose(out.numpy(), adapt_reference[f"{cid}/out"], rtol=1e-5, atol=1e-5)


@requires_keras
@pytest.mark.parametrize("case", DISC_CASES, ids=[c[0] for c in DISC_CASES])
def test_discretization_adapt_matches_keras(case, adapt_reference):
    import tkeras

    cid, num_bins, eps, keys = case
    layer = tkeras.layers.Discretization(num_bins=num_bins, epsilon=eps)
    layer.adapt([ADAPT_DATA[k] for k in keys])
    expected = adapt_reference[f"{cid}/bins"]
    assert len(layer.bin_boundaries) == num_bins - 1
    np.testing.assert_allclose(layer.bin_boundaries, expected, rtol=1e-6)
    config = layer.get_config()
    clone = tkeras.layers.Discretization.from_config(config)
    assert clone.bin_boundaries == layer.bin_boundaries and clone.num_bins == num_bins


def test_normalization_adapt_refits_and_tracks_shape():
    import tkeras

    layer = tkeras.layers.Normalization()
    layer.adapt(np.full((4, 2), 3.0, dtype=np.float32))
    np.testing.assert_allclose(layer.mean.numpy(), [[3.0, 3.0]])
    layer.adapt(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    np.testing.assert_allclose(layer.adapt_mean.numpy(), [2.0, 4.0])
    np.testing.assert_allclose(layer.adapt_variance.numpy(), [1.0, 4.0])
    with pytest.raises(ValueError, match="incompatible shape"):
        layer.adapt(np.zeros((3, 5), dtype=np.float32))


# ------------------------------------------------------------------ random augmentations
def _ramp(batch, height, width, axis):
    """Images whose value is the column (axis=2) or row (axis=1) index."""
    grid = np.indices((height, width), dtype=np.float32)[1 if axis == 2 else 0]
    return torch.tensor(np.broadcast_to(grid[None, :, :, None], (batch, height, width, 1)).copy())


def _assert_uniform(values, low, high):
    values = np.asarray(values)
    span = high - low
    assert values.min() >= low - 1e-4 * max(1, span) and values.max() <= high + 1e-4 * max(1, span)
    # Many draws fill the range: the extremes come close to both ends and the mean is central.
    assert values.min() < low + 0.1 * span and values.max() > high - 0.1 * span
    assert abs(values.mean() - (low + high) / 2) < 0.1 * span


def test_random_layers_are_identity_at_inference():
    import tkeras

    x = torch.tensor(np.concatenate([IMG] * 16))  # 32 images: some of them do get flipped
    for layer in [tkeras.layers.RandomFlip(), tkeras.layers.RandomRotation(0.3),
                  tkeras.layers.RandomTranslation(0.2, 0.2), tkeras.layers.RandomZoom(0.3),
                  tkeras.layers.RandomContrast(0.4), tkeras.layers.RandomBrightness(0.3),
                  tkeras.layers.RandomCrop(4, 4), tkeras.layers.Solarization(0.5, 0.5),
                  tkeras.layers.Equalization()]:
        assert torch.equal(layer(x, training=False), x), type(layer).__name__
        assert not torch.equal(layer(x, training=True), x), type(layer).__name__


def test_random_flip_statistics():
    import tkeras

    x = torch.randn(400, 5, 6, 2)
    both = tkeras.layers.RandomFlip()(x, training=True)
    flipped_both = torch.flip(x, dims=(1, 2))
    is_flipped = (both == flipped_both).flatten(1).all(1)
    assert torch.all(is_flipped | (both == x).flatten(1).all(1))
    assert 0.4 < is_flipped.float().mean() < 0.6
    horizontal = tkeras.layers.RandomFlip("horizontal", data_format="channels_first")
    x_cf = torch.randn(400, 2, 5, 6)
    out = horizontal(x_cf, training=True)
    is_flipped = (out == torch.flip(x_cf, dims=(3,))).flatten(1).all(1)
    assert torch.all(is_flipped | (out == x_cf).flatten(1).all(1))
    assert 0.4 < is_flipped.float().mean() < 0.6


def test_random_translation_statistics():
    import tkeras

    x = _ramp(500, 9, 21, axis=2)
    out = tkeras.layers.RandomTranslation((0.0, 0.0), 0.2, fill_mode="nearest")(x, training=True)
    shifts = 10.0 - out[:, 4, 10, 0].numpy()  # output column 10 reads input column 10 - shift
    _assert_uniform(shifts, -0.2 * 21, 0.2 * 21)
    y = _ramp(500, 20, 7, axis=1)
    out = tkeras.layers.RandomTranslation((0.1, 0.3), 0.0, fill_mode="nearest")(y, training=True)
    _assert_uniform(10.0 - out[:, 10, 3, 0].numpy(), 0.1 * 20, 0.3 * 20)


def test_random_zoom_statistics():
    import tkeras

    x = _ramp(500, 9, 21, axis=2)
    out = tkeras.layers.RandomZoom(0.0, 0.3)(x, training=True)
    slopes = (out[:, 4, 11, 0] - out[:, 4, 10, 0]).numpy()  # the sampling step is the zoom
    _assert_uniform(slopes, 0.7, 1.3)
    out = tkeras.layers.RandomZoom((-0.5, -0.1))(_ramp(500, 21, 21, axis=2), training=True)
    _assert_uniform((out[:, 10, 11, 0] - out[:, 10, 10, 0]).numpy(), 0.5, 0.9)


def test_random_rotation_statistics():
    import tkeras

    x = _ramp(500, 21, 21, axis=2)
    out = tkeras.layers.RandomRotation(0.05)(x, training=True)
    # A linear ramp stays linear under bilinear sampling: one row down moves -sin(angle) columns.
    sines = (out[:, 10, 10, 0] - out[:, 11, 10, 0]).numpy()
    angles = np.degrees(np.arcsin(np.clip(sines, -1, 1)))
    _assert_uniform(angles, -18.0, 18.0)


def test_random_contrast_and_brightness_statistics():
    import tkeras

    x = 100 + 50 * torch.rand(500, 6, 6, 3)
    out = tkeras.layers.RandomContrast(0.2)(x, training=True)
    mean = x.mean(dim=(1, 2), keepdim=True)
    centred = x - mean
    factor = (out - mean).mul(centred).sum((1, 2, 3)) / centred.square().sum((1, 2, 3))
    # One factor per image: the output is exactly the rescaled deviation from the mean.
    torch.testing.assert_close(out, centred * factor.view(-1, 1, 1, 1) + mean)
    _assert_uniform(factor.numpy(), 1.0, 1.2)  # Keras: [1 - 0, 1 + 0.2]
    out = tkeras.layers.RandomBrightness((-0.1, 0.2))(x, training=True)
    delta = (out - x).flatten(1)
    assert torch.allclose(delta, delta[:, :1], atol=1e-3)
    _assert_uniform(delta[:, 0].numpy(), -0.1 * 255, 0.2 * 255)


def test_random_crop_windows():
    import tkeras

    x = torch.arange(2 * 9 * 12, dtype=torch.float32).reshape(2, 9, 12, 1)
    layer = tkeras.layers.RandomCrop(4, 5, seed=3)
    starts = set()
    for _ in range(60):
        out = layer(x, training=True)
        assert out.shape == (2, 4, 5, 1)
        h0, w0 = int(out[0, 0, 0, 0]) // 12, int(out[0, 0, 0, 0]) % 12
        assert torch.equal(out, x[:, h0:h0 + 4, w0:w0 + 5])  # one window for the whole batch
        starts.add((h0, w0))
    assert {h for h, _ in starts} == set(range(6)) and {w for _, w in starts} == set(range(8))
    assert isinstance(tkeras.layers.RandomCrop(2, 2).get_config()["seed"], int)


def test_seeded_layers_repeat_and_differ():
    import tkeras

    x = torch.tensor(IMG)
    for cls, kwargs in [("RandomRotation", {"factor": 0.2}), ("RandomZoom", {"height_factor": 0.3}),
                        ("RandomTranslation", {"height_factor": 0.2, "width_factor": 0.2}),
                        ("RandomContrast", {"factor": 0.5}), ("Solarization",
                                                               {"threshold_factor": 0.8})]:
        make = getattr(tkeras.layers, cls)
        a, b, c = make(**kwargs, seed=1), make(**kwargs, seed=1), make(**kwargs, seed=2)
        first = a(x, training=True)
        assert torch.equal(first, b(x, training=True)), cls
        assert not torch.equal(first, c(x, training=True)), cls
        assert not torch.equal(first, a(x, training=True)), cls  # the stream advances


@pytest.mark.parametrize("name,kwargs", [
    ("RandomFlip", {}), ("RandomRotation", {"factor": 0.2}),
    ("RandomTranslation", {"height_factor": 0.2, "width_factor": 0.1, "seed": 4}),
    ("RandomZoom", {"height_factor": 0.2, "width_factor": 0.3}),
    ("RandomCrop", {"height": 4, "width": 5}), ("RandomContrast", {"factor": 0.3}),
    ("RandomBrightness", {"factor": 0.3}), ("Solarization", {"addition_factor": 0.3}),
    ("Equalization", {}), ("AutoContrast", {}),
])
def test_training_mode_compiles_without_graph_breaks(name, kwargs):
    import tkeras

    layer = getattr(tkeras.layers, name)(**kwargs)
    x = torch.tensor(IMG)
    torch._dynamo.reset()
    compiled = torch.compile(layer, backend="eager", fullgraph=True)
    out = compiled(x, training=True)
    assert out.shape == layer(x, training=True).shape


def test_functional_model_and_pipeline_inference():
    import tkeras

    inputs = tkeras.Input((8, 10, 3))
    pipeline = tkeras.layers.Pipeline([tkeras.layers.RandomFlip(), tkeras.layers.Rescaling(0.5),
                                       tkeras.layers.Resizing(4, 5)])
    outputs = tkeras.layers.CenterCrop(3, 3)(pipeline(inputs))
    assert tuple(outputs.shape) == (None, 3, 3, 3)
    model = tkeras.Model(inputs, outputs)
    x = torch.tensor(IMG)
    expected = tkeras.layers.CenterCrop(3, 3)(tkeras.layers.Resizing(4, 5)(x * 0.5))
    torch.testing.assert_close(model(x, training=False), expected)
    encoded = tkeras.layers.CategoryEncoding(4)(tkeras.Input((3,), dtype="int64"))
    assert tuple(encoded.shape) == (None, 4) and encoded.dtype == "float32"


def test_unsupported_inputs_raise():
    import tkeras

    with pytest.raises(ValueError, match="Lanczos"):
        tkeras.layers.Resizing(3, 3, interpolation="lanczos3")(torch.tensor(IMG))
    with pytest.raises(NotImplementedError, match="dict inputs"):
        tkeras.layers.RandomFlip()({"images": torch.tensor(IMG)})
    with pytest.raises(ValueError, match="sparse"):
        tkeras.layers.CategoryEncoding(3, sparse=True)
    with pytest.raises(ValueError, match="factor"):
        tkeras.layers.RandomRotation(1.5)
