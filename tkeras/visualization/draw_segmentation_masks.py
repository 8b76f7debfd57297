"""`draw_segmentation_masks`: paint class colours over images (pure tensor ops)."""

import numpy as np
import torch

from tkeras import ops
from tkeras.core.config import image_data_format
from tkeras.core.registry import keras_export


@keras_export("keras.visualization.draw_segmentation_masks")
def draw_segmentation_masks(images, segmentation_masks, num_classes=None, color_mapping=None,
                            alpha=0.8, blend=True, ignore_index=-1, data_format=None):
    """Overlay integer masks `(batch, h, w, 1)` on images `(batch, h, w, c)`.

    As Keras: classes `0 .. num_classes - 1` get colours (`num_classes` defaults to the mask's
    maximum, so that class is left unpainted); with `blend`, pixels equal to `ignore_index` keep
    the image and the result is a uint8 NumPy array, else the painted float32 tensor is returned.
    """
    data_format = data_format or image_data_format()
    images_shape = ops.shape(images)
    if len(images_shape) != 4:
        raise ValueError(f"`images` must be batched 4D tensor. Received: "
                         f"images.shape={images_shape}")
    if data_format == "channels_first":
        images = ops.transpose(images, (0, 2, 3, 1))
        segmentation_masks = ops.transpose(segmentation_masks, (0, 2, 3, 1))
    images = ops.convert_to_tensor(images, dtype="float32")
    segmentation_masks = ops.convert_to_tensor(segmentation_masks)
    if segmentation_masks.is_floating_point() or segmentation_masks.is_complex() or (
            segmentation_masks.dtype == torch.bool):
        dtype = str(segmentation_masks.dtype).replace("torch.", "")
        raise TypeError("`segmentation_masks` must be in integer dtype. "
                        f"Received: segmentation_masks.dtype={dtype}")

    if num_classes is None:
        num_classes = int(ops.convert_to_numpy(ops.max(segmentation_masks)))
    if color_mapping is None:
        colors = _generate_color_palette(num_classes)
    else:
        colors = [color_mapping[i] for i in range(num_classes)]
    valid_masks = ops.squeeze(ops.not_equal(segmentation_masks, ignore_index), axis=-1)
    one_hot = ops.convert_to_numpy(ops.one_hot(segmentation_masks, num_classes)[..., 0, :])

    masks = np.transpose(one_hot, axes=(3, 0, 1, 2)).astype("bool")
    images_to_draw = ops.convert_to_numpy(images).copy()
    for mask, color in zip(masks, colors):
        images_to_draw[mask, ...] = np.array(color, dtype=images_to_draw.dtype)[None, :]
    outputs = ops.cast(ops.convert_to_tensor(images_to_draw), dtype="float32")
    if blend:
        outputs = images * (1 - alpha) + outputs * alpha
        outputs = ops.where(valid_masks[..., None], outputs, images)
        outputs = ops.convert_to_numpy(ops.cast(outputs, dtype="uint8"))
    return outputs


def _generate_color_palette(num_classes):
    palette = np.array([2**25 - 1, 2**15 - 1, 2**21 - 1])
    return [((i * palette) % 255).tolist() for i in range(num_classes)]
