"""`plot_segmentation_mask_gallery`: each image next to its true/predicted masks."""

import functools

import numpy as np

from tkeras import ops
from tkeras.core.config import image_data_format
from tkeras.core.registry import keras_export
from tkeras.visualization.draw_segmentation_masks import draw_segmentation_masks
from tkeras.visualization.plot_image_gallery import plot_image_gallery


@keras_export("keras.visualization.plot_segmentation_mask_gallery")
def plot_segmentation_mask_gallery(images, num_classes, value_range=(0, 255), y_true=None,
                                   y_pred=None, color_mapping=None, blend=True, alpha=0.8,
                                   ignore_index=-1, data_format=None, **kwargs):
    """One row per image: the image, then `y_true` and `y_pred` drawn on it (Keras draws the
    masks before `plot_image_gallery` checks for matplotlib)."""
    data_format = data_format or image_data_format()
    image_shape = ops.shape(images)
    if len(image_shape) != 4:
        raise ValueError(f"`images` must be batched 4D tensor. Received: "
                         f"images.shape={image_shape}")
    if data_format == "channels_first":
        images = ops.transpose(images, (0, 2, 3, 1))
    batch_size = image_shape[0]
    cols = 1 + (y_true is not None) + (y_pred is not None)
    images_np = ops.convert_to_numpy(images)
    draw_masks_fn = functools.partial(draw_segmentation_masks, num_classes=num_classes,
                                      color_mapping=color_mapping, alpha=alpha,
                                      ignore_index=ignore_index, blend=blend)
    drawn = []
    for masks in (y_true, y_pred):
        if masks is not None:
            if data_format == "channels_first":
                masks = ops.transpose(masks, (0, 2, 3, 1))
            drawn.append(draw_masks_fn(images_np, ops.cast(masks, "int32")))
    gallery = []
    for i in range(batch_size):
        gallery.append(images_np[i])
        gallery.extend(ops.convert_to_numpy(d[i]) for d in drawn)
    return plot_image_gallery(np.stack(gallery, axis=0), value_range=value_range,
                              rows=batch_size, cols=cols, **kwargs)
