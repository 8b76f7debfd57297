"""`plot_image_gallery`: a grid of images with optional true/predicted labels (matplotlib)."""

import math

import numpy as np

from tkeras import ops
from tkeras.core.config import image_data_format
from tkeras.core.registry import keras_export

try:
    import matplotlib.pyplot as plt
except ImportError:
    plt = None


def _extract_image_batch(images, num_images, batch_size):
    """The first `min(num_images, batch_size)` images of a 4-D batch."""
    if len(ops.shape(images)) != 4:
        raise ValueError("`plot_images_gallery()` requires you to batch your `np.array` samples "
                         "together.")
    return images[:min(num_images, batch_size), ...]


def _transform_value_range(images, original_range, target_range):
    """Keras's `BaseImagePreprocessingLayer._transform_value_range` (float32)."""
    if original_range[0] == target_range[0] and original_range[1] == target_range[1]:
        return images
    images = ops.cast(images, "float32")
    o_min, o_max = (ops.cast(v, "float32") for v in original_range)
    t_min, t_max = (ops.cast(v, "float32") for v in target_range)
    images = (images - o_min) / (o_max - o_min)
    return images * (t_max - t_min) + t_min


@keras_export("keras.visualization.plot_image_gallery")
def plot_image_gallery(images, y_true=None, y_pred=None, label_map=None, rows=None, cols=None,
                       value_range=(0, 255), scale=2, path=None, show=None, transparent=True,
                       dpi=60, legend_handles=None, data_format=None):
    """Plot a batch of images in a `rows` x `cols` grid; save it to `path` or show it."""
    if plt is None:
        raise ImportError(
            "The `plot_image_gallery` function requires the `matplotlib` "
            "package. Please install it with `pip install matplotlib`."
        )
    if path is not None and show:
        raise ValueError("plot_gallery() expects either `path` to be set, or `show` to be true.")
    if (y_true is not None or y_pred is not None) and label_map is None:
        raise ValueError("If `y_true` or `y_pred` are provided, a `label_map` must also be "
                         "provided.")
    show = show if show is not None else (path is None)
    data_format = data_format or image_data_format()
    batch_size = ops.shape(images)[0] if len(ops.shape(images)) == 4 else 1
    rows = rows or int(math.ceil(math.sqrt(batch_size)))
    cols = cols or int(math.ceil(batch_size // rows))
    images = _extract_image_batch(images, rows * cols, batch_size)
    if data_format == "channels_first":
        images = ops.transpose(images, (0, 2, 3, 1))

    fig, axes = plt.subplots(nrows=rows, ncols=cols, figsize=(cols * scale, rows * scale),
                             frameon=False, layout="tight", squeeze=True, sharex="row",
                             sharey="col")
    fig.subplots_adjust(wspace=0, hspace=0)
    if isinstance(axes, np.ndarray) and len(axes.shape) == 1:
        axes = np.expand_dims(axes, 0 if rows == 1 else -1)
    if legend_handles is not None:
        fig.legend(handles=legend_handles, loc="lower center")

    images = ops.convert_to_numpy(_transform_value_range(images, value_range, (0, 255)))
    if data_format == "channels_first":  # transposed twice, as Keras does
        images = images.transpose(0, 2, 3, 1)
    y_true = ops.convert_to_numpy(y_true) if y_true is not None else None
    y_pred = ops.convert_to_numpy(y_pred) if y_pred is not None else None

    for row in range(rows):
        for col in range(cols):
            index = row * cols + col
            axis = axes[row, col] if isinstance(axes, np.ndarray) else axes
            axis.imshow(images[index].astype("uint8"))
            axis.margins(x=0, y=0)
            axis.axis("off")
            title_parts = []
            if y_true is not None and index < len(y_true):
                title_parts.append(f"Label: {label_map.get(y_true[index], 'Unknown')}")
            if y_pred is not None and index < len(y_pred):
                title_parts.append(f"Pred: {label_map.get(y_pred[index], 'Unknown')}")
            if title_parts:
                axis.set_title("  ".join(title_parts), fontsize=8)

    if path is not None:
        plt.savefig(fname=path, pad_inches=0, bbox_inches="tight", transparent=transparent,
                    dpi=dpi)
        plt.close()
    elif show:
        plt.show()
        plt.close()
