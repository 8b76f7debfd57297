"""keras.visualization vs real Keras (one subprocess): `draw_segmentation_masks` outputs, the
box-format conversion and value-range helper the drawing/plotting functions use, and the
ImportErrors Keras raises without OpenCV / matplotlib. With OpenCV installed, drawn boxes are
compared with Keras's too.
"""

import importlib.util

import numpy as np
import pytest
import torch

import tkeras.visualization as V
from keras_oracle import requires_keras, run_keras
from tkeras.utils.bounding_boxes import SUPPORTED_FORMATS
from tkeras.utils.bounding_boxes import convert_format
from tkeras.visualization.draw_bounding_boxes import _find_text_location
from tkeras.visualization.plot_image_gallery import _transform_value_range

HAS_CV2 = importlib.util.find_spec("cv2") is not None
HAS_MPL = importlib.util.find_spec("matplotlib") is not None

# name -> (images key, masks key, kwargs)
MASK_CASES = {
    "blend_default": ("img", "mask", {"num_classes": 4}),
    "no_blend": ("img", "mask", {"num_classes": 4, "blend": False}),
    "alpha_ignore0": ("img", "mask", {"num_classes": 5, "alpha": 0.35, "ignore_index": 0}),
    "color_mapping": ("img", "mask_le2", {"num_classes": 3, "color_mapping": {
        0: [255, 0, 0], 1: [0, 255, 0], 2: [10, 20, 30]}}),
    "channels_first": ("img_cf", "mask_cf", {"num_classes": 4,
                                             "data_format": "channels_first"}),
    "unit_images_int64_masks": ("img_unit", "mask64", {"num_classes": 4, "alpha": 0.5}),
}


def _inputs():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, size=(2, 6, 5, 3)).astype("float32")
    mask = rng.integers(-1, 4, size=(2, 6, 5, 1)).astype("int32")
    boxes = rng.uniform(0, 1, size=(2, 3, 4)).astype("float32")
    return {
        "img": img, "mask": mask, "mask_le2": np.minimum(mask, 2),
        "img_cf": img.transpose(0, 3, 1, 2).copy(), "mask_cf": mask.transpose(0, 3, 1, 2).copy(),
        "img_unit": img / 255.0, "mask64": mask.astype("int64"),
        "boxes": boxes, "boxes_px": (boxes * 40).astype("float32"),
        "labels": np.array([[0, 1, -1], [2, 0, 1]], dtype="int32"),
        "conf": rng.uniform(size=(2, 3)).astype("float32"),
        "canvas": rng.uniform(0, 1, size=(2, 48, 40, 3)).astype("float32"),
    }


KERAS_CODE = """
from keras.src.layers.preprocessing.image_preprocessing.base_image_preprocessing_layer import (
    BaseImagePreprocessingLayer)
V = keras.visualization
for name, (img_key, mask_key, kwargs) in MASK_CASES.items():
    outputs["mask/" + name] = V.draw_segmentation_masks(inputs[img_key], inputs[mask_key],
                                                        **kwargs)
for fmt in FORMATS:
    src = inputs["boxes"] if fmt.startswith("rel_") else inputs["boxes_px"]
    outputs["xyxy/" + fmt] = keras.utils.bounding_boxes.convert_format(
        src, fmt, "xyxy", height=48, width=40)
try:  # num_classes inferred as the mask's maximum: that class is out of one_hot's range
    V.draw_segmentation_masks(inputs["img"], inputs["mask"])
except RuntimeError as e:
    outputs["mask/inferred_error"] = str(e)
layer = BaseImagePreprocessingLayer()
outputs["range/unit"] = layer._transform_value_range(inputs["img_unit"], (0, 1), (0, 255))
outputs["range/signed"] = layer._transform_value_range(inputs["img"], (-1, 300), (0, 255))
if HAS_CV2:
    bb = {"boxes": inputs["boxes_px"], "labels": inputs["labels"]}
    outputs["boxes/plain"] = V.draw_bounding_boxes(inputs["canvas"], bb, "xywh")
    bb_conf = dict(bb, confidences=inputs["conf"])
    outputs["boxes/labels"] = V.draw_bounding_boxes(
        inputs["canvas"] * 255, bb_conf, "center_xywh", class_mapping={0: "cat", 1: "dog"},
        color=(255, 0, 0), line_thickness=1, text_thickness=2, font_scale=0.5)
"""


@pytest.fixture(scope="module")
def oracle():
    inputs = _inputs()
    code = (f"MASK_CASES = {MASK_CASES!r}\nFORMATS = {SUPPORTED_FORMATS!r}\n"
            f"HAS_CV2 = {HAS_CV2!r}\n" + KERAS_CODE)
    return inputs, run_keras(code, inputs)


@requires_keras
@pytest.mark.parametrize("name", list(MASK_CASES))
def test_draw_segmentation_masks_parity(oracle, name):
    inputs, result = oracle
    img_key, mask_key, kwargs = MASK_CASES[name]
    ours = V.draw_segmentation_masks(inputs[img_key], inputs[mask_key], **kwargs)
    ref = result["mask/" + name]
    if kwargs.get("blend", True):
        assert isinstance(ours, np.ndarray) and ours.dtype == np.uint8
    else:  # Keras returns the painted float32 tensor itself when not blending
        assert isinstance(ours, torch.Tensor) and ours.dtype == torch.float32
        ours = ours.numpy()
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


@requires_keras
def test_inferred_num_classes_fails_as_keras(oracle):
    """Keras infers num_classes = max(mask), then one-hot encodes the max class: torch refuses."""
    inputs, result = oracle
    with pytest.raises(RuntimeError) as info:
        V.draw_segmentation_masks(inputs["img"], inputs["mask"])
    assert str(info.value) == result["mask/inferred_error"]


@requires_keras
@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_box_format_conversion_parity(oracle, fmt):
    inputs, result = oracle
    src = inputs["boxes"] if fmt.startswith("rel_") else inputs["boxes_px"]
    ours = convert_format(src, source=fmt, target="xyxy", height=48, width=40)
    np.testing.assert_array_equal(ours.numpy(), result["xyxy/" + fmt])


@requires_keras
def test_value_range_parity(oracle):
    inputs, result = oracle
    np.testing.assert_array_equal(
        _transform_value_range(inputs["img_unit"], (0, 1), (0, 255)).numpy(),
        result["range/unit"])
    np.testing.assert_array_equal(
        _transform_value_range(inputs["img"], (-1, 300), (0, 255)).numpy(),
        result["range/signed"])
    same = inputs["img"]
    assert _transform_value_range(same, (0, 255), (0, 255)) is same


@requires_keras
@pytest.mark.skipif(not HAS_CV2, reason="OpenCV not installed (optional, as in Keras)")
def test_draw_bounding_boxes_parity(oracle):
    inputs, result = oracle
    bb = {"boxes": inputs["boxes_px"], "labels": inputs["labels"]}
    plain = V.draw_bounding_boxes(inputs["canvas"], bb, "xywh")
    assert (plain != (inputs["canvas"] * 255).astype("uint8")).any()  # boxes were drawn
    np.testing.assert_array_equal(plain, result["boxes/plain"])
    bb_conf = dict(bb, confidences=inputs["conf"])
    np.testing.assert_array_equal(
        V.draw_bounding_boxes(inputs["canvas"] * 255, bb_conf, "center_xywh",
                              class_mapping={0: "cat", 1: "dog"}, color=(255, 0, 0),
                              line_thickness=1, text_thickness=2, font_scale=0.5),
        result["boxes/labels"])


@pytest.mark.skipif(HAS_CV2, reason="checks the error raised without OpenCV")
def test_draw_bounding_boxes_needs_cv2():
    with pytest.raises(ImportError, match=r"requires the `cv2` package .*opencv-python"):
        V.draw_bounding_boxes(np.zeros((1, 4, 4, 3)), {"boxes": np.zeros((1, 0, 4)),
                                                       "labels": np.zeros((1, 0))}, "xyxy")


def test_text_location_rule():
    # Room above the box: 8 pixels above its top-left corner.
    assert _find_text_location(5, 40, 1.0, 1) == (5, 32)
    # No room (40 - 8 - 24 <= 0 at font_scale 2 -> height 24): inside the box.
    assert _find_text_location(5, 40, 2.0, 3) == (8, 40 + 48 + 3 + 3)


def test_draw_segmentation_masks_errors():
    img = np.zeros((1, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match="must be batched 4D tensor"):
        V.draw_segmentation_masks(img[0], np.zeros((4, 4, 1), "int32"))
    with pytest.raises(TypeError, match="must be in integer dtype. Received: "
                                        "segmentation_masks.dtype=float32"):
        V.draw_segmentation_masks(img, np.zeros((1, 4, 4, 1), "float32"))


@pytest.mark.skipif(HAS_MPL, reason="checks the errors raised without matplotlib")
def test_plot_functions_need_matplotlib():
    images = np.zeros((2, 4, 4, 3), "float32")
    with pytest.raises(ImportError, match="`plot_image_gallery` function requires the "
                                          "`matplotlib` package"):
        V.plot_image_gallery(images)
    with pytest.raises(ImportError, match="`plot_bounding_box_gallery` function requires"):
        V.plot_bounding_box_gallery(images, "xyxy")
    # Keras draws the masks first; its shape checks run before the missing package shows.
    with pytest.raises(ValueError, match="must be batched 4D tensor"):
        V.plot_segmentation_mask_gallery(images[0], num_classes=2)
    with pytest.raises(ImportError, match="`plot_image_gallery` function requires"):
        V.plot_segmentation_mask_gallery(images, num_classes=2,
                                         y_true=np.ones((2, 4, 4, 1), "int32"))
