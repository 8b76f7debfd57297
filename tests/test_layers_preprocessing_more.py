"""More preprocessing layers: parity with real Keras (torch backend).

- Layer harness: configs, inference (identity where Keras is), deterministic training modes
  (collapsed factor ranges), CLAHE, MelSpectrogram/STFTSpectrogram outputs and gradients.
- Scripted randomness: Keras's torch random functions (`uniform`, `normal`, `randint`,
  `shuffle`, `beta`, `gamma`, AugMix's Python `random.choice`) and tkeras's draw methods are both
  replaced by one NumPy stream, so every random layer is compared with Keras on the same draws
  (this also checks that tkeras draws in Keras's order and shapes).
- IntegerLookup/StringLookup need TensorFlow in Keras, so they are tested against Keras's
  documented semantics (docstring examples and index_lookup.py rules).
"""

import json
import os

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


CF = {"data_format": "channels_first"}
IMG = img(2, 8, 10, 3)
IMG_CF = img(2, 3, 8, 10, seed=1)
UNIT = img(2, 8, 10, 3, seed=2, high=1.0)
BIG = img(2, 17, 23, 3, seed=3)
SIGNAL = rand(2, 800, seed=4)
AUDIO_CL = rand(2, 300, 2, seed=5)
AUDIO_CF = rand(2, 2, 300, seed=6)

CASES = [
    # Colour layers: inference identity, and training with deterministic draws.
    LayerCase("grayscale_inference", "RandomGrayscale", {"factor": 0.7, "seed": 1}, IMG),
    LayerCase("grayscale_always", "RandomGrayscale", {"factor": 1.0}, IMG, training=True),
    LayerCase("grayscale_cf", "RandomGrayscale", {"factor": 1.0, **CF}, IMG_CF, training=True),
    LayerCase("invert_always", "RandomInvert", {"factor": (1.0, 1.0)}, IMG, training=True),
    LayerCase("invert_never_unit", "RandomInvert",
              {"factor": (0.0, 0.0), "value_range": (0, 1), "seed": 2}, UNIT, training=True),
    LayerCase("hue_no_shift", "RandomHue", {"factor": (0.0, 0.0)}, IMG, training=True),
    LayerCase("hue_inference", "RandomHue", {"factor": 0.5, "value_range": [0, 1]}, UNIT),
    LayerCase("saturation", "RandomSaturation", {"factor": (0.7, 0.7), "value_range": (0, 1)},
              UNIT, training=True),
    LayerCase("saturation_cf", "RandomSaturation", {"factor": (0.3, 0.3), **CF}, IMG_CF / 255.0,
              training=True),
    LayerCase("saturation_symmetric", "RandomSaturation", {"factor": 0.4}, UNIT),
    LayerCase("color_degeneration", "RandomColorDegeneration", {"factor": (0.4, 0.4)}, IMG,
              training=True),
    LayerCase("color_degeneration_cf", "RandomColorDegeneration",
              {"factor": (-0.5, -0.5), "value_range": (0, 255), **CF}, IMG_CF, training=True),
    # grads=False: Keras's RandomBrightness adds in place to its (leaf) input.
    LayerCase("color_jitter", "RandomColorJitter",
              {"value_range": (0, 1), "brightness_factor": (0.1, 0.1),
               "contrast_factor": (-0.3, 0.3), "saturation_factor": (0.7, 0.7),
               "hue_factor": (0.0, 0.0)}, UNIT, training=True, grads=False),
    LayerCase("color_jitter_default", "RandomColorJitter", {}, IMG, training=True),
    LayerCase("sharpness", "RandomSharpness", {"factor": (0.3, 0.3)}, IMG, training=True),
    LayerCase("sharpness_cf", "RandomSharpness", {"factor": (0.8, 0.8), **CF}, IMG_CF,
              training=True),
    LayerCase("posterization", "RandomPosterization", {"factor": (3, 3)}, IMG, training=True,
              grads=False),
    LayerCase("posterization_unit", "RandomPosterization",
              {"factor": 1, "value_range": (0, 1)}, UNIT, training=True, grads=False),
    LayerCase("posterization_inference", "RandomPosterization", {"factor": 5}, IMG),
    LayerCase("gaussian_blur", "RandomGaussianBlur", {"factor": (1.0, 1.0), "sigma": (0.6, 0.6)},
              IMG, training=True),
    LayerCase("gaussian_blur_k5_cf", "RandomGaussianBlur",
              {"factor": (1.0, 1.0), "kernel_size": 5, "sigma": (0.9, 0.9), **CF}, IMG_CF,
              training=True),
    LayerCase("gaussian_blur_inference", "RandomGaussianBlur", {"kernel_size": (7, 7)}, IMG),
    # CLAHE (always applied; integer-valued histograms, so no input gradient).
    LayerCase("clahe", "ContrastLimitedAdaptiveHistogramEqualization",
              {"tile_grid_size": (2, 2)}, IMG, grads=False, atol=1e-4),
    LayerCase("clahe_padded", "ContrastLimitedAdaptiveHistogramEqualization",
              {"tile_grid_size": (3, 4), "clip_limit": 2.0}, BIG, grads=False, atol=1e-4),
    LayerCase("clahe_large_tiles", "ContrastLimitedAdaptiveHistogramEqualization",
              {"tile_grid_size": (2, 2), "clip_limit": 8.0}, img(1, 32, 40, 2, seed=14),
              grads=False, atol=1e-4),
    LayerCase("clahe_no_clip_unit", "ContrastLimitedAdaptiveHistogramEqualization",
              {"tile_grid_size": (4, 4), "clip_limit": 0, "value_range": (0, 1)}, UNIT,
              grads=False, atol=1e-4),
    LayerCase("clahe_cf", "ContrastLimitedAdaptiveHistogramEqualization",
              {"tile_grid_size": (2, 3), **CF}, IMG_CF, grads=False, atol=1e-4),
    LayerCase("clahe_uint8", "ContrastLimitedAdaptiveHistogramEqualization",
              {"tile_grid_size": (3, 3)}, BIG.astype(np.uint8), grads=False),
    # Warps and occlusion.
    # Non-negative pairs: Keras's own config round trip rejects the (-f, f) pair of a number.
    LayerCase("shear_inference", "RandomShear", {"x_factor": (0.0, 0.3), "y_factor": (0.1, 0.4)},
              IMG),
    LayerCase("shear_zero", "RandomShear", {"fill_mode": "constant", **CF}, IMG_CF,
              training=True),
    LayerCase("perspective_inference", "RandomPerspective", {"scale": 0.5, "seed": 3}, IMG),
    LayerCase("perspective_still", "RandomPerspective", {"factor": (1.0, 1.0), "scale": 0.0},
              IMG, training=True, atol=1e-4),
    LayerCase("elastic_inference", "RandomElasticTransform",
              {"scale": (0.2, 0.5), "fill_mode": "mirror"}, IMG),
    LayerCase("elastic_scale_zero", "RandomElasticTransform", {"scale": 0.0}, IMG,
              training=True),
    LayerCase("erasing_inference", "RandomErasing", {"fill_value": 3.0}, IMG),
    LayerCase("erasing_whole", "RandomErasing",
              {"factor": (1.0, 1.0), "scale": (1.0, 1.0), "fill_value": 300.0}, IMG,
              training=True),
    LayerCase("erasing_whole_rgb", "RandomErasing",
              {"factor": (1.0, 1.0), "scale": (1.0, 1.0), "fill_value": [1.0, 2.0, 3.0]}, IMG,
              training=True),
    # Mixing and policies: configs and inference identity (training: scripted tests below).
    LayerCase("mix_up_inference", "MixUp", {"alpha": 0.5, "seed": 2}, IMG),
    LayerCase("cut_mix_inference", "CutMix", {"factor": 0.5, **CF}, IMG_CF),
    LayerCase("aug_mix_inference", "AugMix", {"num_chains": 2, "all_ops": False}, IMG),
    LayerCase("rand_augment_inference", "RandAugment", {"num_ops": 3, "factor": 0.2}, IMG),
    LayerCase("max_num_boxes_images", "MaxNumBoundingBoxes", {"max_number": 4}, IMG),
    LayerCase("max_num_boxes_format", "MaxNumBoundingBoxes",
              {"max_number": 2, "fill_value": 0, "bounding_box_format": "xyxy"}, IMG),
    # Audio.
    LayerCase("mel_default_1d", "MelSpectrogram",
              {"fft_length": 256, "sequence_stride": 64, "num_mel_bins": 20}, SIGNAL[0],
              atol=1e-4),
    LayerCase("mel_batch", "MelSpectrogram",
              {"fft_length": 128, "sequence_stride": 32, "sequence_length": 100,
               "num_mel_bins": 16, "sampling_rate": 8000, "min_freq": 50.0, "max_freq": 3000},
              SIGNAL, atol=1e-4),
    LayerCase("mel_power_hamming", "MelSpectrogram",
              {"fft_length": 128, "sequence_stride": 50, "window": "hamming",
               "power_to_db": False, "mag_exp": 1.0, "num_mel_bins": 12}, SIGNAL, atol=1e-4),
    LayerCase("mel_no_window_db", "MelSpectrogram",
              {"fft_length": 64, "sequence_stride": 16, "window": None, "num_mel_bins": 8,
               "top_db": 20.0, "ref_power": 0.5}, SIGNAL, atol=1e-4),
    LayerCase("stft_log", "STFTSpectrogram", {"frame_length": 64, "frame_step": 16},
              AUDIO_CL, atol=1e-4),
    LayerCase("stft_magnitude_same", "STFTSpectrogram",
              {"mode": "magnitude", "frame_length": 48, "frame_step": 20, "padding": "same",
               "window": "hamming", "periodic": True}, AUDIO_CL, atol=1e-4),
    LayerCase("stft_psd_cf", "STFTSpectrogram",
              {"mode": "psd", "frame_length": 32, "fft_length": 64, "scaling": "spectrum",
               **CF}, AUDIO_CF, atol=1e-4),
    LayerCase("stft_real_expand", "STFTSpectrogram",
              {"mode": "real", "frame_length": 40, "frame_step": 10, "expand_dims": True},
              AUDIO_CL, atol=1e-4),
    LayerCase("stft_imag_expand_cf", "STFTSpectrogram",
              {"mode": "imag", "frame_length": 40, "frame_step": 40, "expand_dims": True,
               "window": None, **CF}, AUDIO_CF, atol=1e-4),
    LayerCase("stft_full", "STFTSpectrogram",
              {"mode": "stft", "frame_length": 32, "frame_step": 8, "scaling": None},
              AUDIO_CL, atol=1e-4),
    # angle: atan2 has large gradients where both parts are near 0; outputs still match.
    LayerCase("stft_angle", "STFTSpectrogram",
              {"mode": "angle", "frame_length": 32, "frame_step": 8, "window": "blackman"},
              AUDIO_CL, atol=1e-4, grads=False),
]

test_preprocessing_more_parity = requires_keras(parametrize_cases(CASES))


# ------------------------------------------------------------------- scripted randomness
# The same NumPy stream replaces Keras's draws (in its subprocess) and tkeras's draws.
_SCRIPTED_KERAS = r"""
import types
import torch
import keras.src.backend.torch.random as R
from keras.src.backend.torch.core import to_torch_dtype
from keras.src.layers.preprocessing.image_preprocessing import aug_mix

state = {}

def _count(shape):
    shape = tuple(shape)
    return int(np.prod(shape)) if shape else 1

def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    shape = tuple(shape)
    rand = torch.tensor(state["rng"].random(_count(shape)),
                        dtype=to_torch_dtype(dtype or "float32")).reshape(shape)
    return (maxval - minval) * rand + minval

def randint(shape, minval, maxval, dtype="int32", seed=None):
    values = state["rng"].integers(int(minval), int(maxval), _count(shape))
    return torch.tensor(values).reshape(tuple(shape)).to(to_torch_dtype(dtype))

def shuffle(x, axis=0, seed=None):
    return x[torch.tensor(state["rng"].permutation(x.shape[0]))]

def beta(shape, alpha, beta, dtype=None, seed=None):
    values = state["rng"].beta(float(alpha), float(beta), _count(shape))
    return torch.tensor(values, dtype=to_torch_dtype(dtype or "float32")).reshape(tuple(shape))

def gamma(shape, alpha, dtype=None, seed=None):
    values = state["rng"].gamma(float(alpha), size=_count(shape))
    return torch.tensor(values, dtype=to_torch_dtype(dtype or "float32")).reshape(tuple(shape))

real_normal = torch.normal
def normal(mean, std=1.0, *args, size=None, generator=None, dtype=None, device=None, **kw):
    if size is None:
        return real_normal(mean, std, *args, generator=generator, **kw)
    z = torch.tensor(state["rng"].standard_normal(_count(size)),
                     dtype=dtype or torch.float32).reshape(tuple(size))
    return z * std + mean

R.uniform, R.randint, R.shuffle, R.beta, R.gamma = uniform, randint, shuffle, beta, gamma

# Keras's RandomBrightness adds its delta to the images in place; inside RandAugment (which runs
# every op on the same tensor) that leaks the brightness change into the other ops' results.
# tkeras does not mutate inputs, so compare with the functional form of the same op.
from keras.src.layers.preprocessing.image_preprocessing import random_brightness
def brightness(self, images, transformation, training=True):
    if not training:
        return images
    images = images + self.backend.cast(transformation["rgb_delta"], images.dtype)
    return self.backend.numpy.clip(images, self.value_range[0], self.value_range[1])
random_brightness.RandomBrightness.transform_images = brightness
torch.normal = normal
aug_mix.py_random = types.SimpleNamespace(
    choice=lambda seq: seq[int(state["rng"].integers(len(seq)))])

for case in json.loads(str(inputs["__cases__"])):
    cid = case["id"]
    state["rng"] = np.random.default_rng(case["seed"])
    layer = getattr(keras.layers, case["cls"])(**case["kwargs"])
    x = torch.tensor(inputs[cid + "/x"])
    if cid + "/labels" in inputs:
        out = layer({"images": x, "labels": torch.tensor(inputs[cid + "/labels"])},
                    training=True)
        outputs[cid + "/labels"] = out["labels"].numpy()
        out = out["images"]
    else:
        out = layer(x, training=True)
    outputs[cid + "/out"] = out.detach().numpy()
    outputs[cid + "/draws_left"] = float(state["rng"].random())
"""


def script_randomness(layer, rng):
    """Make `layer` and its sub-layers draw from `rng` exactly as the Keras fakes above."""
    from tkeras.layers.preprocessing.base import BaseImagePreprocessingLayer

    def count(shape):
        shape = tuple(shape)
        return int(np.prod(shape)) if shape else 1

    def uniform(shape, low, high, device, dtype=torch.float32):
        rand = torch.tensor(rng.random(count(shape)), dtype=dtype).reshape(tuple(shape))
        return (high - low) * rand + low

    def normal(shape, device, dtype=torch.float32):
        return torch.tensor(rng.standard_normal(count(shape)), dtype=dtype).reshape(tuple(shape))

    def randint(shape, low, high, device):
        return torch.tensor(rng.integers(int(low), int(high), count(shape))).reshape(shape)

    def beta(shape, alpha, b, device):
        return torch.tensor(rng.beta(float(alpha), float(b), count(shape)),
                            dtype=torch.float32).reshape(tuple(shape))

    def gamma(shape, alpha, device):
        return torch.tensor(rng.gamma(float(alpha), size=count(shape)),
                            dtype=torch.float32).reshape(tuple(shape))

    for module in layer.modules():
        if isinstance(module, BaseImagePreprocessingLayer):
            module._uniform, module._normal, module._randint = uniform, normal, randint
            module._beta, module._gamma = beta, gamma
            module._permutation = lambda n, device: torch.tensor(rng.permutation(n))
            module._choice = lambda options: options[int(rng.integers(len(options)))]


LABELS = np.eye(4, dtype=np.float32)[[0, 2, 1, 3, 3, 0]]
B6 = img(6, 8, 10, 3, seed=7)
B6_CF = img(6, 3, 8, 10, seed=8)
# (id, class, kwargs, images, labels or None, atol relative to the output scale[, seeds])
SCRIPTED = [
    ("grayscale", "RandomGrayscale", {"factor": 0.5}, B6, None, 1e-5),
    ("invert", "RandomInvert", {"factor": (0.2, 0.9)}, B6, None, 1e-5),
    ("hue", "RandomHue", {"factor": (0.2, 0.8)}, B6, None, 1e-5),
    ("hue_unit_cf", "RandomHue", {"factor": 0.6, "value_range": (0, 1), **CF}, B6_CF / 255,
     None, 1e-5),
    ("saturation", "RandomSaturation", {"factor": (0.2, 0.8), "value_range": (0, 1)},
     B6 / 255, None, 1e-5),
    ("color_degeneration", "RandomColorDegeneration", {"factor": 0.7}, B6, None, 1e-5),
    ("sharpness", "RandomSharpness", {"factor": (0.1, 0.9)}, B6, None, 1e-5),
    ("posterization", "RandomPosterization", {"factor": (1, 8)}, B6, None, 1e-5),
    ("gaussian_blur", "RandomGaussianBlur",
     {"factor": (0.3, 0.8), "sigma": (0.2, 0.9), "kernel_size": 5}, B6, None, 1e-5),
    ("color_jitter", "RandomColorJitter",
     {"brightness_factor": 0.2, "contrast_factor": 0.3, "saturation_factor": (0.3, 0.7),
      "hue_factor": 0.4}, B6, None, 1e-4),
    ("shear", "RandomShear", {"x_factor": 0.3, "y_factor": 0.2}, B6, None, 1e-4),
    ("shear_constant_nearest_cf", "RandomShear",
     {"x_factor": (0.1, 0.5), "fill_mode": "constant", "fill_value": 9.0,
      "interpolation": "nearest", **CF}, B6_CF, None, 1e-4),
    ("perspective", "RandomPerspective", {"factor": (0.5, 1.0), "scale": 0.6}, B6, None, 1e-4),
    ("perspective_nearest_cf", "RandomPerspective",
     {"scale": 0.4, "interpolation": "nearest", "fill_value": 5.0, **CF}, B6_CF, None, 1e-4),
    ("elastic", "RandomElasticTransform", {"factor": (0.5, 1.0), "scale": (0.3, 0.8)},
     img(6, 20, 24, 3, seed=9), None, 1e-4),
    ("elastic_constant_cf", "RandomElasticTransform",
     {"scale": 1.0, "fill_mode": "constant", "fill_value": 50.0, "value_range": (0, 200), **CF},
     img(3, 2, 24, 20, seed=10), None, 1e-4),
    ("erasing_noise", "RandomErasing", {"factor": (0.5, 1.0)}, B6, None, 1e-5),
    ("erasing_value_cf", "RandomErasing",
     {"factor": 1.0, "scale": (0.1, 0.6), "fill_value": 7.0, **CF}, B6_CF, None, 1e-5),
    ("mix_up", "MixUp", {"alpha": 0.4}, B6, None, 1e-5),
    ("mix_up_labels", "MixUp", {"alpha": 0.8}, B6, LABELS, 1e-5),
    ("cut_mix", "CutMix", {"factor": (0.3, 1.0)}, B6, LABELS, 1e-5),
    ("cut_mix_cf", "CutMix", {**CF}, B6_CF, LABELS, 1e-5),
    ("aug_mix", "AugMix", {"factor": 0.3}, B6, None, 1e-4),
    ("aug_mix_basic_ops", "AugMix",
     {"num_chains": 2, "chain_depth": 4, "all_ops": False, "alpha": 0.5, "factor": 0.5}, B6,
     None, 1e-4),
    # Streams whose first draw picks each of the 11 ops once.
    ("rand_augment", "RandAugment", {"num_ops": 1, "factor": 0.4}, B6, None, 1e-4,
     [0, 1, 3, 4, 6, 7, 11, 12, 21, 23, 38]),
    ("rand_augment_unit", "RandAugment", {"num_ops": 1, "value_range": (0, 1)}, B6 / 255,
     None, 1e-4, [1, 4, 7, 12, 23]),
]
SCRIPTED = [c if len(c) == 7 else (*c, [0, 1, 2]) for c in SCRIPTED]  # default: 3 streams


@pytest.fixture(scope="module")
def scripted_reference():
    arrays, specs = {}, []
    for cid, cls, kwargs, x, labels, _, seeds in SCRIPTED:
        for seed in seeds:
            key = f"{cid}/{seed}"
            arrays[key + "/x"] = x
            if labels is not None:
                arrays[key + "/labels"] = labels
            specs.append({"id": key, "cls": cls, "kwargs": kwargs, "seed": seed})
    arrays["__cases__"] = np.array(json.dumps(specs))
    arrays.update({"images": IMG, **BOXES})  # for the MaxNumBoundingBoxes dict test
    return run_keras(_SCRIPTED_KERAS + _DICT_SCRIPT, arrays)


@requires_keras
@pytest.mark.parametrize("case", SCRIPTED, ids=[c[0] for c in SCRIPTED])
def test_random_layers_match_keras_on_the_same_draws(case, scripted_reference):
    import tkeras

    cid, cls, kwargs, x, labels, atol, seeds = case
    for seed in seeds:
        key = f"{cid}/{seed}"
        rng = np.random.default_rng(seed)
        layer = getattr(tkeras.layers, cls)(**kwargs)
        script_randomness(layer, rng)
        if labels is not None:
            out = layer({"images": torch.tensor(x), "labels": torch.tensor(labels)},
                        training=True)
            np.testing.assert_allclose(out["labels"].numpy(), scripted_reference[key + "/labels"],
                                       rtol=1e-5, atol=1e-6, err_msg=f"{key}: labels")
            out = out["images"]
        else:
            out = layer(torch.tensor(x), training=True)
        expected = scripted_reference[key + "/out"]
        assert out.shape == expected.shape and str(out.dtype).endswith(str(expected.dtype))
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=atol * scale,
                                   err_msg=key)
        # Both consumed the same number of draws: the next value of the streams agrees.
        assert rng.random() == scripted_reference[key + "/draws_left"], f"{key}: draw count"


def test_scripted_cases_change_the_images():
    """Guard against vacuous parity: every scripted case really augments for some stream."""
    import tkeras

    for cid, cls, kwargs, x, labels, _, seeds in SCRIPTED:
        changed = False
        for seed in seeds:
            layer = getattr(tkeras.layers, cls)(**kwargs)
            script_randomness(layer, np.random.default_rng(seed))
            out = layer(torch.tensor(x), training=True)
            changed |= not torch.allclose(out, torch.tensor(x).to(out.dtype))
        assert changed, cid


# ------------------------------------------------------------ dict inputs (Keras oracle)
# Runs in the scripted-randomness subprocess (one Keras start per module).
_DICT_SCRIPT = r"""
import torch
layer = keras.layers.MaxNumBoundingBoxes(max_number=3, fill_value=-7, bounding_box_format="xyxy")
for name in ("few", "many"):
    out = layer({"images": torch.tensor(inputs["images"]),
                 "bounding_boxes": {"boxes": torch.tensor(inputs[name + "/boxes"]),
                                    "labels": torch.tensor(inputs[name + "/labels"])}})
    outputs[name + "/boxes"] = out["bounding_boxes"]["boxes"].numpy()
    outputs[name + "/labels"] = out["bounding_boxes"]["labels"].numpy()
    outputs[name + "/images"] = out["images"].numpy()
"""
BOXES = {"few/boxes": rand(2, 2, 4, seed=11), "few/labels": np.array([[1, 2], [3, 4]]),
         "many/boxes": rand(2, 5, 4, seed=12), "many/labels": np.arange(10).reshape(2, 5)}


@requires_keras
def test_max_num_bounding_boxes_pads_and_truncates_like_keras(scripted_reference):
    import tkeras

    ref = scripted_reference
    layer = tkeras.layers.MaxNumBoundingBoxes(max_number=3, fill_value=-7,
                                              bounding_box_format="xyxy")
    for name in ("few", "many"):
        out = layer({"images": torch.tensor(IMG),
                     "bounding_boxes": {"boxes": torch.tensor(BOXES[name + "/boxes"]),
                                        "labels": torch.tensor(BOXES[name + "/labels"])}})
        for key in ("boxes", "labels"):
            np.testing.assert_array_equal(out["bounding_boxes"][key].numpy(),
                                          ref[f"{name}/{key}"])
        np.testing.assert_array_equal(out["images"].numpy(), ref[name + "/images"])
    with pytest.raises(ValueError, match="bounding box format"):
        tkeras.layers.MaxNumBoundingBoxes(2)({"images": torch.tensor(IMG), "bounding_boxes": {
            "boxes": torch.zeros(2, 1, 4), "labels": torch.zeros(2, 1)}})


# ------------------------------------------------------------- statistics and tracing
def test_seeded_draws_repeat_and_global_draws_vary():
    import tkeras

    x = torch.tensor(B6)
    for cls, kwargs in [("RandomHue", {"factor": 0.5}), ("RandomShear", {"x_factor": 0.4}),
                        ("RandomErasing", {}), ("MixUp", {}), ("CutMix", {}),
                        ("RandomElasticTransform", {}), ("RandAugment", {}), ("AugMix", {})]:
        make = getattr(tkeras.layers, cls)
        a, b = make(**kwargs, seed=5), make(**kwargs, seed=5)
        first = a(x, training=True)
        torch.testing.assert_close(first, b(x, training=True), msg=cls)
        assert not torch.equal(first, a(x, training=True)), cls  # the stream advances
        unseeded = make(**kwargs)
        assert not torch.equal(unseeded(x, training=True), unseeded(x, training=True)), cls


def test_random_layer_statistics():
    import tkeras

    x = torch.tensor(img(400, 4, 5, 3, seed=13))
    gray = tkeras.layers.RandomGrayscale(factor=0.3)(x, training=True)
    is_gray = (gray[..., :1] == gray).flatten(1).all(1).float().mean()
    assert 0.22 < is_gray < 0.38
    inverted = tkeras.layers.RandomInvert(factor=(0.2, 0.6))(x, training=True)
    assert 0.32 < (inverted != x).flatten(1).all(1).float().mean() < 0.48  # E[p] = 0.4
    posterized = tkeras.layers.RandomPosterization(factor=(2, 5))(x, training=True)
    steps = [np.gcd.reduce(image.to(torch.int64).flatten().numpy()) for image in posterized]
    assert {8 - int(np.log2(step)) for step in steps} == {2, 3, 4}  # randint excludes 5
    mixed = tkeras.layers.MixUp(alpha=0.5)
    labels = torch.eye(400)
    out = mixed({"images": x, "labels": labels}, training=True)
    weights = out["labels"].max(dim=1).values
    assert torch.all(weights >= 0.5) and weights.min() < 0.6  # Beta(0.5, 0.5) mass near 0/1
    torch.testing.assert_close(out["labels"].sum(1), torch.ones(400))
    erased = tkeras.layers.RandomErasing(factor=(1.0, 1.0), scale=(0.25, 0.25), fill_value=-1.0,
                                         value_range=(-1, 255))
    out = erased(torch.tensor(img(50, 20, 20, 1)), training=True)[..., 0] == -1
    assert torch.all(out.flatten(1).sum(1) == 100)  # a 10x10 box at a random position
    rows, cols = out.any(2).float().argmax(1), out.any(1).float().argmax(1)
    assert len(set(rows.tolist())) > 5 and len(set(cols.tolist())) > 5


@pytest.mark.parametrize("name,kwargs", [
    ("RandomGrayscale", {}), ("RandomInvert", {}), ("RandomHue", {"factor": 0.5}),
    ("RandomSaturation", {"factor": 0.5}), ("RandomColorDegeneration", {"factor": 0.5}),
    ("RandomColorJitter", {"brightness_factor": 0.2, "hue_factor": 0.3}),
    ("RandomSharpness", {"factor": 0.5}), ("RandomPosterization", {"factor": 4}),
    ("RandomGaussianBlur", {}), ("ContrastLimitedAdaptiveHistogramEqualization", {}),
    ("RandomShear", {"x_factor": 0.3}), ("RandomPerspective", {}),
    ("RandomElasticTransform", {}), ("RandomErasing", {}), ("MixUp", {}), ("CutMix", {}),
    ("RandAugment", {}),
])
def test_training_mode_compiles_without_graph_breaks(name, kwargs):
    import tkeras

    layer = getattr(tkeras.layers, name)(**kwargs)
    x = torch.tensor(IMG)
    torch._dynamo.reset()
    compiled = torch.compile(layer, backend="eager", fullgraph=True)
    torch.manual_seed(0)
    traced = compiled(x, training=True)
    torch.manual_seed(0)
    torch.testing.assert_close(traced, layer(x, training=True))


def test_functional_use_and_shapes():
    import tkeras

    inputs = tkeras.Input((8, 10, 3))
    x = tkeras.layers.RandomShear(0.2)(inputs)
    x = tkeras.layers.RandAugment()(x)
    x = tkeras.layers.ContrastLimitedAdaptiveHistogramEqualization()(x)
    model = tkeras.Model(inputs, x)
    assert tuple(x.shape) == (None, 8, 10, 3)
    images = torch.tensor(IMG)
    torch.testing.assert_close(
        model(images, training=False),
        tkeras.layers.ContrastLimitedAdaptiveHistogramEqualization()(images))
    signal = tkeras.Input((400,))
    assert tuple(tkeras.layers.MelSpectrogram(fft_length=128, sequence_stride=32,
                                              num_mel_bins=10)(signal).shape) == (None, 10, 13)
    audio = tkeras.Input((300, 2))
    stft = tkeras.layers.STFTSpectrogram(frame_length=64, frame_step=16)
    assert tuple(stft(audio).shape) == (None, 15, 66)
    assert tuple(stft(torch.tensor(AUDIO_CL)).shape) == (2, 15, 66)
    with pytest.raises(ValueError, match="3 channels"):
        tkeras.layers.RandomColorDegeneration(0.2)(tkeras.Input((4, 4, 1)))


def test_invalid_arguments_raise_like_keras():
    import tkeras

    layers = tkeras.layers
    with pytest.raises(ValueError, match="between 0 and 1"):
        layers.RandomGrayscale(factor=1.5)
    with pytest.raises(ValueError, match="factor"):
        layers.RandomPosterization(factor=9)
    with pytest.raises(ValueError, match="odd"):
        layers.RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match="scale"):
        layers.RandomPerspective(scale=2.0)
    with pytest.raises(NotImplementedError, match="fill_mode"):
        layers.RandomShear(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="frame_step"):
        layers.STFTSpectrogram(frame_length=16, frame_step=32)
    with pytest.raises(ValueError, match="fft_length"):
        layers.MelSpectrogram(fft_length=64, sequence_length=128)
    with pytest.raises(NotImplementedError, match="dict inputs"):
        layers.MixUp()({"images": torch.tensor(IMG), "segmentation_masks": torch.tensor(IMG)})


# ------------------------------------------------------------------ IntegerLookup
def test_integer_lookup_documented_examples():
    import tkeras

    vocab = [12, 36, 1138, 42]
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    out = tkeras.layers.IntegerLookup(vocabulary=vocab)(data)
    assert out.dtype == torch.int64
    np.testing.assert_array_equal(out.numpy(), [[1, 3, 4], [4, 0, 2]])
    layer = tkeras.layers.IntegerLookup()
    layer.adapt(data)
    assert layer.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    np.testing.assert_array_equal(layer(data).numpy(), [[5, 2, 1], [1, 3, 4]])
    two_oov = tkeras.layers.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    np.testing.assert_array_equal(two_oov(np.array([[12, 1138, 42], [37, 1000, 36]])).numpy(),
                                  [[2, 4, 5], [1, 0, 3]])  # floormod(37, 2)=1, (1000, 2)=0
    one_hot = tkeras.layers.IntegerLookup(vocabulary=vocab, output_mode="one_hot")
    np.testing.assert_array_equal(one_hot(np.array([12, 36, 1138, 42, 7])).numpy(),
                                  np.eye(5)[[1, 2, 3, 4, 0]])
    assert one_hot(np.array([12])).dtype == torch.int64  # as Keras returns it
    data2 = np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])
    multi = tkeras.layers.IntegerLookup(vocabulary=vocab, output_mode="multi_hot")
    np.testing.assert_array_equal(multi(data2).numpy(), [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    count = tkeras.layers.IntegerLookup(vocabulary=vocab, output_mode="count")
    np.testing.assert_array_equal(count(data2).numpy(), [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tfidf = tkeras.layers.IntegerLookup(output_mode="tf_idf", vocabulary=vocab,
                                        idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tfidf(data2).numpy(), [[0, 0.25, 0, 0.6, 0.8],
                                                      [1.0, 0, 0.75, 0, 0.4]])
    with_specials = tkeras.layers.IntegerLookup(
        output_mode="tf_idf", vocabulary=[-1] + vocab, idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(with_specials(data2).numpy(), [[0, 0.25, 0, 0.6, 0.8],
                                                              [1.8, 0, 0.75, 0, 0.4]])
    inverse = tkeras.layers.IntegerLookup(vocabulary=vocab, invert=True)
    np.testing.assert_array_equal(inverse(torch.tensor([[1, 3, 4], [4, 0, 2]])).numpy(),
                                  [[12, 1138, 42], [42, -1, 36]])


def test_integer_lookup_mask_oov_and_adapt_rules():
    import tkeras

    layer = tkeras.layers.IntegerLookup(mask_token=0, vocabulary=[5, 6, 7])
    assert layer.get_vocabulary() == [0, -1, 5, 6, 7] and layer.vocabulary_size() == 5
    assert layer.get_vocabulary(include_special_tokens=False) == [5, 6, 7]
    np.testing.assert_array_equal(layer(torch.tensor([[5, 0, 9, 7]])).numpy(), [[2, 0, 1, 4]])
    inverse = tkeras.layers.IntegerLookup(mask_token=0, vocabulary=[5, 6, 7], invert=True)
    np.testing.assert_array_equal(inverse(torch.tensor([0, 1, 2, 4, 9])).numpy(),
                                  [0, -1, 5, 7, -1])
    # Non-int modes give the mask no index; masked values encode to nothing.
    multi = tkeras.layers.IntegerLookup(mask_token=0, vocabulary=[5, 6], output_mode="multi_hot")
    np.testing.assert_array_equal(multi(np.array([[0, 5, 8]])).numpy(), [[1, 1, 0]])
    strict = tkeras.layers.IntegerLookup(vocabulary=[1, 2], num_oov_indices=0)
    np.testing.assert_array_equal(strict(np.array([2, 1])).numpy(), [1, 0])
    with pytest.raises(ValueError, match=r"found OOV values \[3\]"):
        strict(np.array([3, 1]))
    # adapt: counts descending, ties by the larger token; mask/OOV tokens never learned;
    # max_tokens keeps the most frequent; batches from an iterable accumulate.
    adapted = tkeras.layers.IntegerLookup(max_tokens=4, mask_token=0)
    adapted.adapt(iter([np.array([[3, 3, 9, 0]]), torch.tensor([[4, 4, 9, -1, -1, 1]])]))
    assert adapted.get_vocabulary() == [0, -1, 9, 4]
    padded = tkeras.layers.IntegerLookup(max_tokens=6, output_mode="count",
                                         pad_to_max_tokens=True)
    padded.adapt([1, 2, 2])
    np.testing.assert_array_equal(padded(np.array([[2, 2, 5]])).numpy(), [[1, 2, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="repeated"):
        tkeras.layers.IntegerLookup(vocabulary=[1, 2, 1])
    with pytest.raises(ValueError, match="mask token"):
        tkeras.layers.IntegerLookup(vocabulary=[1, 0, 2], mask_token=0)
    with pytest.raises(ValueError, match="larger than the maximum"):
        tkeras.layers.IntegerLookup(vocabulary=[1, 2, 3], max_tokens=3)
    with pytest.raises(ValueError, match="Cannot adapt"):
        tkeras.layers.IntegerLookup(vocabulary=[1]).adapt([1, 2])
    with pytest.raises(RuntimeError, match="set the layer's vocabulary"):
        tkeras.layers.IntegerLookup(output_mode="multi_hot")(np.array([1]))
    with pytest.raises(ValueError, match="`invert` is true"):
        tkeras.layers.IntegerLookup(invert=True, output_mode="count")


def test_tf_idf_adapt_matches_formula():
    import tkeras

    docs = np.array([[1, 1, 2], [2, 3, 3], [1, 4, 4]])
    layer = tkeras.layers.IntegerLookup(output_mode="tf_idf")
    layer.adapt(docs)
    assert layer.get_vocabulary() == [-1, 1, 4, 3, 2]  # 1 thrice; ties: larger token first
    doc_counts = np.array([2, 1, 1, 2])  # documents holding 1, 4, 3, 2
    idf = np.log(1 + 3 / (1 + doc_counts)).astype(np.float32)
    expected_idf = np.concatenate([[idf.mean()], idf])
    np.testing.assert_allclose(layer.idf_weights.numpy(), expected_idf, rtol=1e-6)
    out = layer(np.array([[4, 4, 7]]))
    np.testing.assert_allclose(out.numpy(), [[expected_idf[0], 0, 2 * expected_idf[2], 0, 0]],
                               rtol=1e-6)


def test_integer_lookup_config_round_trip():
    import tkeras

    layer = tkeras.layers.IntegerLookup(vocabulary=np.array([7, 8]), mask_token=0,
                                        num_oov_indices=2, name="ids")
    config = layer.get_config()
    assert {k: config[k] for k in ("invert", "max_tokens", "num_oov_indices", "oov_token",
                                   "mask_token", "output_mode", "sparse", "pad_to_max_tokens",
                                   "vocabulary_dtype", "idf_weights", "vocabulary",
                                   "vocabulary_size", "oov_method", "salt", "name")} == {
        "invert": False, "max_tokens": None, "num_oov_indices": 2, "oov_token": -1,
        "mask_token": 0, "output_mode": "int", "sparse": False, "pad_to_max_tokens": False,
        "vocabulary_dtype": "int64", "idf_weights": None, "vocabulary": [7, 8],
        "vocabulary_size": 5, "oov_method": "floormod", "salt": None, "name": "ids"}
    clone = tkeras.layers.IntegerLookup.from_config(json.loads(json.dumps(config)))
    x = np.array([[7, 0, 8, 11]])
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())
    np.testing.assert_array_equal(layer(x).numpy(), [[3, 0, 4, 2]])


# ------------------------------------------------------------------ StringLookup
def test_string_lookup_documented_examples():
    import tkeras

    vocab = ["a", "b", "c", "d"]
    data = [["a", "c", "d"], ["d", "z", "b"]]
    out = tkeras.layers.StringLookup(vocabulary=vocab)(data)
    assert out.dtype == torch.int64
    np.testing.assert_array_equal(out.numpy(), [[1, 3, 4], [4, 0, 2]])
    layer = tkeras.layers.StringLookup()
    layer.adapt(np.array(data))
    assert layer.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    np.testing.assert_array_equal(layer(np.array(data)).numpy(), [[5, 3, 1], [1, 2, 4]])
    one_hot = tkeras.layers.StringLookup(vocabulary=vocab, output_mode="one_hot")
    np.testing.assert_array_equal(one_hot(np.array(["a", "b", "c", "d", "z"])).numpy(),
                                  np.eye(5)[[1, 2, 3, 4, 0]])
    counts = tkeras.layers.StringLookup(vocabulary=vocab, output_mode="count")
    np.testing.assert_array_equal(counts([["a", "c", "d", "d"], ["d", "z", "b", "z"]]).numpy(),
                                  [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    inverse = tkeras.layers.StringLookup(vocabulary=vocab, invert=True)
    np.testing.assert_array_equal(inverse(torch.tensor([[1, 3, 4], [4, 0, 2]])),
                                  [["a", "c", "d"], ["d", "[UNK]", "b"]])
    masked = tkeras.layers.StringLookup(vocabulary=vocab, mask_token="")
    np.testing.assert_array_equal(masked(np.array([b"a", b"", "z"])).numpy(), [2, 0, 1])
    assert masked.get_vocabulary()[:2] == ["", "[UNK]"]
    utf8 = tkeras.layers.StringLookup()
    utf8.adapt(["é", "z", "é", "z", "a"])
    assert utf8.get_vocabulary() == ["[UNK]", "é", "z", "a"]  # ties by UTF-8 bytes, larger first
    config = tkeras.layers.StringLookup(vocabulary=vocab, name="s").get_config()
    assert "vocabulary_dtype" not in config and config["encoding"] == "utf-8"
    assert config["vocabulary"] == vocab and config["oov_token"] == "[UNK]"


def test_lookup_assets_use_keras_file_layout(tmp_path):
    import tkeras

    layer = tkeras.layers.StringLookup(mask_token="[MASK]")
    layer.adapt([["x", "y", "y"], ["z", "y", "x"]])
    layer.save_assets(str(tmp_path))
    with open(os.path.join(tmp_path, "vocabulary.txt"), encoding="utf-8") as f:
        assert f.read() == "[MASK]\n[UNK]\ny\nx\nz"  # Keras: "\n".join(all tokens)
    fresh = tkeras.layers.StringLookup(mask_token="[MASK]")
    fresh.load_assets(str(tmp_path))
    assert fresh.get_vocabulary() == layer.get_vocabulary()
    np.testing.assert_array_equal(fresh(np.array(["z", "[MASK]", "q"])).numpy(), [4, 0, 1])
    # A vocabulary given to the constructor lives in the config: no asset is written.
    given = tkeras.layers.IntegerLookup(vocabulary=[3, 4])
    given.save_assets(str(tmp_path / "none"))
    assert not os.path.exists(tmp_path / "none" / "vocabulary.txt")
    # Integers round-trip through the text file; tf-idf weights through the variable store.
    ints = tkeras.layers.IntegerLookup(output_mode="tf_idf")
    ints.adapt(np.array([[5, 6], [6, 7]]))
    store = {}
    ints.save_own_variables(store)
    os.makedirs(tmp_path / "ints")
    ints.save_assets(str(tmp_path / "ints"))
    restored = tkeras.layers.IntegerLookup.from_config(ints.get_config())
    restored.load_own_variables(store)
    restored.load_assets(str(tmp_path / "ints"))
    assert restored.get_vocabulary() == ints.get_vocabulary() == [-1, 6, 7, 5]
    np.testing.assert_allclose(restored(np.array([[6, 9]])).numpy(),
                               ints(np.array([[6, 9]])).numpy())
    # A vocabulary file path: one token per line, indices after the special tokens.
    path = tmp_path / "vocab.txt"
    path.write_text("b\na\n", encoding="utf-8")
    from_file = tkeras.layers.StringLookup(vocabulary=str(path))
    np.testing.assert_array_equal(from_file(["a", "b", "c"]).numpy(), [2, 1, 0])


def test_lookup_layers_round_trip_through_keras_files(tmp_path):
    import zipfile

    import tkeras

    inputs = tkeras.Input((3,), dtype="int64")
    lookup = tkeras.layers.IntegerLookup(output_mode="tf_idf", mask_token=0)
    lookup.adapt(np.array([[5, 6, 6], [7, 7, 0]]))
    model = tkeras.Model(inputs, lookup(inputs))
    path = str(tmp_path / "lookup.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive:  # Keras's asset path for the layer
        assert archive.read("assets/layers/integer_lookup/vocabulary.txt") == b"-1\n7\n6\n5"
    restored = tkeras.saving.load_model(path)
    x = np.array([[5, 7, 9], [0, 6, 6]])
    torch.testing.assert_close(restored(x), model(x))
    assert restored.layers[-1].get_vocabulary() == [-1, 7, 6, 5]


_NODE_KWARGS_CODE = """
L = keras.layers
cases = {
    "flip": (lambda: L.RandomFlip(name="f"), keras.Input((8, 8, 3), dtype="int32", name="i1")),
    "crop": (lambda: L.RandomCrop(4, 4, name="c"), keras.Input((8, 8, 3), name="i2")),
    "cat": (lambda: L.CategoryEncoding(4, output_mode="one_hot", name="e"),
            keras.Input((1,), dtype="int32", name="i3")),
    "disc": (lambda: L.Discretization(bin_boundaries=[0.0, 1.0], name="d"),
             keras.Input((2,), name="i4")),
    "disc_int": (lambda: L.Discretization(bin_boundaries=[0.0, 1.0], name="d"),
                 keras.Input((2,), dtype="int32", name="i5")),
}  # explicit names: auto names would shift other tests' expected names
result = {}
for name, (make, x) in cases.items():
    config = keras.Model(x, make()(x), name="m").get_config()
    result[name] = [node.get("kwargs") for layer in config["layers"]
                    for node in layer["inbound_nodes"]]
"""


@requires_keras
def test_preprocessing_node_kwargs_match_keras():
    """Layers that take inputs unconverted (`_convert_input_args = False`: RandomFlip, RandomCrop,
    CategoryEncoding, ...) and Discretization (`input_dtype` floatx) record call kwargs as Keras."""
    import tkeras as keras

    ref = run_keras(_NODE_KWARGS_CODE + "\noutputs['result'] = result\n", {})["result"]
    scope = {"keras": keras}
    exec(_NODE_KWARGS_CODE, scope)
    assert scope["result"] == ref
