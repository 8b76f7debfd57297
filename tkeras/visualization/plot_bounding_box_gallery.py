"""`plot_bounding_box_gallery`: images with true/predicted boxes drawn, as a gallery."""

import functools

import numpy as np

from tkeras import ops
from tkeras.core.config import image_data_format
from tkeras.core.registry import keras_export
from tkeras.visualization.draw_bounding_boxes import draw_bounding_boxes
from tkeras.visualization.plot_image_gallery import plot_image_gallery

try:
    from matplotlib import patches
except ImportError:
    patches = None


@keras_export("keras.visualization.plot_bounding_box_gallery")
def plot_bounding_box_gallery(images, bounding_box_format, y_true=None, y_pred=None,
                              value_range=(0, 255), true_color=(0, 188, 212),
                              pred_color=(255, 235, 59), line_thickness=2, font_scale=1.0,
                              text_thickness=None, class_mapping=None, ground_truth_mapping=None,
                              prediction_mapping=None, legend=False, legend_handles=None,
                              rows=None, cols=None, data_format=None, **kwargs):
    """Draw `y_true` and `y_pred` boxes (see `draw_bounding_boxes`) and plot the gallery."""
    if patches is None:
        raise ImportError(
            "The `plot_bounding_box_gallery` function requires the "
            " `matplotlib` package. Please install it with "
            " `pip install matplotlib`."
        )
    prediction_mapping = prediction_mapping or class_mapping
    ground_truth_mapping = ground_truth_mapping or class_mapping
    data_format = data_format or image_data_format()
    images_shape = ops.shape(images)
    if len(images_shape) != 4:
        raise ValueError(f"`images` must be batched 4D tensor. Received: "
                         f"images.shape={images_shape}")
    if data_format == "channels_first":
        images = ops.transpose(images, (0, 2, 3, 1))
    plotted_images = ops.convert_to_numpy(images)
    draw_fn = functools.partial(draw_bounding_boxes, bounding_box_format=bounding_box_format,
                                line_thickness=line_thickness, text_thickness=text_thickness,
                                font_scale=font_scale)
    if y_true is not None:
        plotted_images = draw_fn(plotted_images, y_true, color=true_color,
                                 class_mapping=ground_truth_mapping)
    if y_pred is not None:
        plotted_images = draw_fn(plotted_images, y_pred, color=pred_color,
                                 class_mapping=prediction_mapping)
    if legend:
        if legend_handles:
            raise ValueError("Only pass `legend` OR `legend_handles` to "
                             "`keras.visualization.plot_bounding_box_gallery()`.")
        legend_handles = [
            patches.Patch(color=np.array(true_color) / 255.0, label="Ground Truth"),
            patches.Patch(color=np.array(pred_color) / 255.0, label="Prediction"),
        ]
    return plot_image_gallery(plotted_images, value_range=value_range,
                              legend_handles=legend_handles, rows=rows, cols=cols, **kwargs)
