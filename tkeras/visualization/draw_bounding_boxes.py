"""`draw_bounding_boxes`: Keras's OpenCV drawing (rectangles and `cv2.putText` labels)."""

import numpy as np
import torch

from tkeras.core.config import image_data_format
from tkeras.core.registry import keras_export
from tkeras.utils.bounding_boxes import convert_format

try:
    import cv2
except ImportError:
    cv2 = None


def _to_numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


@keras_export("keras.visualization.draw_bounding_boxes")
def draw_bounding_boxes(images, bounding_boxes, bounding_box_format, class_mapping=None,
                        color=(128, 128, 128), line_thickness=2, text_thickness=1,
                        font_scale=1.0, data_format=None):
    """Draw `bounding_boxes` (`{"boxes", "labels"[, "confidences"]}`, batched) on a batch of
    images; returns a uint8 NumPy batch. Labels of -1 are skipped; labels in `class_mapping`
    are written above the box. Requires OpenCV, as in Keras."""
    if cv2 is None:
        raise ImportError(
            "The `draw_bounding_boxes` function requires the `cv2` package "
            " (OpenCV). Please install it with `pip install opencv-python`."
        )
    class_mapping = class_mapping or {}
    text_thickness = text_thickness or line_thickness
    data_format = data_format or image_data_format()
    images_shape = tuple(images.shape)
    if len(images_shape) != 4:
        raise ValueError(f"`images` must be batched 4D tensor. Received: "
                         f"images.shape={images_shape}")
    if not isinstance(bounding_boxes, dict):
        raise TypeError(f"`bounding_boxes` should be a dict. Received: bounding_boxes="
                        f"{bounding_boxes} of type {type(bounding_boxes)}")
    if "boxes" not in bounding_boxes or "labels" not in bounding_boxes:
        raise ValueError("`bounding_boxes` should be a dict containing 'boxes' and 'labels' "
                         f"keys. Received: bounding_boxes={bounding_boxes}")
    h_axis, w_axis = (-3, -2) if data_format == "channels_last" else (-2, -1)
    height, width = images_shape[h_axis], images_shape[w_axis]
    bounding_boxes = dict(bounding_boxes)
    bounding_boxes["boxes"] = convert_format(bounding_boxes["boxes"], source=bounding_box_format,
                                             target="xyxy", height=height, width=width)

    images = _to_numpy(images)
    if images.dtype.kind == "f" and images.size > 0:
        images = np.clip(images, 0, 1) * 255 if images.max() <= 1.0 else np.clip(images, 0, 255)
    images = images.astype("uint8")
    boxes = _to_numpy(bounding_boxes["boxes"])
    labels = _to_numpy(bounding_boxes["labels"])
    confidences = (_to_numpy(bounding_boxes["confidences"])
                   if "confidences" in bounding_boxes else None)

    result = []
    for i in range(images.shape[0]):
        image = images[i]
        for box_i in range(boxes[i].shape[0]):
            x1, y1, x2, y2 = (int(v) for v in boxes[i][box_i].astype("int32"))
            c = int(labels[i][box_i].astype("int32"))
            if c == -1:
                continue
            cv2.rectangle(image, (x1, y1), (x2, y2), color, line_thickness)
            if c in class_mapping:
                label = class_mapping[c]
                if confidences is not None:
                    label = f"{label} | {confidences[i][box_i]:.2f}"
                cv2.putText(img=image, text=label,
                            org=_find_text_location(x1, y1, font_scale, text_thickness),
                            fontFace=cv2.FONT_HERSHEY_SIMPLEX, fontScale=font_scale,
                            color=color, thickness=text_thickness)
        result.append(image)
    return np.stack(result, axis=0)


def _find_text_location(x, y, font_scale, thickness):
    """Above the box when it fits, else inside its top-left corner (Keras's rule)."""
    font_height = int(font_scale * 12)
    if y - 8 - 2 * font_height > 0:
        return x, y - 8
    return x + 3, y + 2 * font_height + thickness + 3
