"""`image_dataset_from_directory`: a batched dataset of images (and labels) read from disk.

Keras behaviour kept: arguments, defaults and checks; `.bmp .gif .jpeg .jpg .png` files indexed
as Keras does (same `file_paths`, labels, `class_names`, and the same `validation_split` subsets
for a seed); images decoded to `color_mode` (first frame of a GIF; color PNGs turned grayscale
with libpng's weights, as TensorFlow does) and resized as Keras's default
TensorFlow pipeline does: `crop_to_aspect_ratio` takes the largest centred crop with the target
aspect ratio then resizes (`smart_resize`); `pad_to_aspect_ratio` resizes to fit inside
`image_size` keeping the aspect ratio, then zero-pads (`tf.image.resize_with_pad`); images are
float32 except with `interpolation="nearest"`, which keeps uint8 (as `tf.image.resize` does);
labels are int32 `(n,)`, float32 `(n, 1)` (`"binary"`) or float32 one-hot (`"categorical"`).
The dataset has `class_names` and `file_paths`.

Deliberate differences: returns a `BatchDataset` (NumPy batches, a `keras.utils.PyDataset`)
instead of a `tf.data.Dataset`; `format` is checked and otherwise ignored. Decoding uses Pillow
(TensorFlow's decoders may differ on JPEG by a few levels); resizing uses
`keras.ops.image.resize` (PyTorch kernels: bilinear and nearest match TensorFlow, bicubic uses
PyTorch's cubic coefficient, and "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"
raise, as on Keras's torch backend). With `shuffle=True` the first epoch is in `file_paths` order
(Keras shuffles once more in a TensorFlow buffer).
"""

import io

import numpy as np
import torch

from tkeras.core import config
from tkeras.utils import dataset_utils
from tkeras.utils import image_utils

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_GRAY_MODES = ("L", "LA", "I;16", "I")
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                   "mitchellcubic")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, format="tf",
                                 verbose=True):
    """Images from the class subdirectories of `directory`, resized to `image_size`;
    `subset="both"` returns `[training, validation]`."""
    dataset_utils.check_labels_args(labels, label_mode, class_names, "image")
    if labels is None or label_mode is None:
        labels = None
        label_mode = None
    num_channels = {"rgb": 3, "rgba": 4, "grayscale": 1}.get(color_mode)
    if num_channels is None:
        raise ValueError('`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
                         f"Received: color_mode={color_mode}")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, (list, tuple)) or not len(image_size) == 2:
        raise ValueError("Invalid `image_size` value. Expected a tuple of 2 integers. "
                         f"Received: image_size={image_size}")
    interpolation = interpolation.lower()
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"Argument `interpolation` should be one of {_INTERPOLATIONS}. "
                         f"Received: interpolation={interpolation}")
    dataset_utils.check_format_arg(format)
    dataset_utils.check_validation_split_arg(validation_split, subset, shuffle, seed)
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set "
                         "to `True`.")

    image_paths, labels, class_names, seed = dataset_utils.index_labeled_files(
        directory, labels, label_mode, class_names, ALLOWLIST_FORMATS, shuffle, seed, follow_links, verbose)
    data_format = config.standardize_data_format(data_format)
    image_utils.pil_image("`image_dataset_from_directory`")

    def build(paths, part_labels, part_shuffle):
        encoded = (None if label_mode is None else dataset_utils.encode_labels(
            part_labels, label_mode, len(class_names)))

        def load_sample(i):
            image = load_image(paths[i], image_size, num_channels, interpolation, data_format,
                               crop_to_aspect_ratio, pad_to_aspect_ratio)
            return image if encoded is None else (image, encoded[i])

        dataset = dataset_utils.BatchDataset(load_sample, len(paths), batch_size=batch_size,
                                             shuffle=part_shuffle, seed=seed)
        dataset.class_names = class_names
        dataset.file_paths = paths
        return dataset

    return dataset_utils.split_and_build(
        directory, image_paths, labels, validation_split, subset, shuffle, build, "images",
        f"Allowed formats: {ALLOWLIST_FORMATS}")


def load_image(path, image_size, num_channels, interpolation, data_format,
               crop_to_aspect_ratio=False, pad_to_aspect_ratio=False):
    """One image file as a NumPy array of `image_size`, `num_channels` channels."""
    from tkeras.ops import image as image_ops

    with open(path, "rb") as f:
        img = image_utils.pil_image("`load_img`").open(io.BytesIO(f.read()))
    if num_channels == 1 and img.format == "PNG" and img.mode not in _GRAY_MODES:
        # TensorFlow lets libpng convert color PNGs: truncated 0.299/0.587/0.114 fixed point.
        rgb = np.asarray(img.convert("RGB"), dtype=np.int64)
        pixels = ((rgb @ np.array([9797, 19234, 3737])) >> 15).astype(np.uint8)
    else:
        mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[num_channels]
        pixels = np.array(image_utils.convert_color_mode(img, mode))
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    x = torch.from_numpy(pixels)
    if interpolation != "nearest":
        x = x.to(torch.float32)
    if crop_to_aspect_ratio:
        x = image_utils.smart_resize(x, image_size, interpolation=interpolation)
    elif pad_to_aspect_ratio:
        x = _resize_with_pad(x, image_size, interpolation)
    else:
        x = image_ops.resize(x, size=image_size, interpolation=interpolation)
    if data_format == "channels_first":
        x = x.permute(2, 0, 1)
    return x.numpy()


def _resize_with_pad(x, size, interpolation):
    """`tf.image.resize_with_pad` on one `(h, w, c)` image: resize to fit, then zero-pad
    (sizes computed in float32, as TensorFlow does)."""
    from tkeras.ops import image as image_ops

    height, width = np.float32(x.shape[0]), np.float32(x.shape[1])
    target_height, target_width = np.float32(size[0]), np.float32(size[1])
    ratio = max(width / target_width, height / target_height)
    resized_height, resized_width = height / ratio, width / ratio
    top = max(0, int(np.floor((target_height - resized_height) / np.float32(2))))
    left = max(0, int(np.floor((target_width - resized_width) / np.float32(2))))
    resized = image_ops.resize(
        x, size=(int(np.floor(resized_height)), int(np.floor(resized_width))),
        interpolation=interpolation)
    out = torch.zeros((size[0], size[1], x.shape[2]), dtype=resized.dtype)
    out[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return out
