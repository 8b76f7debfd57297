"""Image helpers: `load_img`, `img_to_array`, `array_to_img`, `save_img`, `smart_resize`.

Keras behaviour kept: the same arguments, defaults, checks and results (Pillow decodes and
encodes, as in Keras; `smart_resize` crops the largest centred window with the target aspect
ratio, then resizes with `keras.ops.image.resize`, and returns NumPy for NumPy input, a tensor
for tensor input). Pillow is imported when first needed; without it these raise Keras's
ImportError.
"""

import io
import pathlib
import warnings

import numpy as np
import torch

from tkeras.core import config

_PIL_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def pil_image(purpose):
    """The `PIL.Image` module, or Keras's ImportError naming `purpose` (e.g. "`load_img`")."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            f"Could not import PIL.Image. The use of {purpose} requires PIL.") from None
    return Image


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3D array (one image) as a PIL image: RGBA, RGB, L, or I for one channel above 255."""
    data_format = config.standardize_data_format(data_format)
    if dtype is None:
        dtype = config.floatx()
    image = pil_image("`array_to_img`")
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 3:
        raise ValueError("Expected image array to have rank 3 (single image). Got array with "
                         f"shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    if x.shape[2] == 4:
        return image.fromarray(x.astype("uint8"), "RGBA")
    if x.shape[2] == 3:
        return image.fromarray(x.astype("uint8"), "RGB")
    if x.shape[2] == 1:
        if np.max(x) > 255:
            return image.fromarray(x[:, :, 0].astype("int32"), "I")
        return image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {x.shape[2]}")


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image as a 3D NumPy array (a channel axis is added to 2D images)."""
    data_format = config.standardize_data_format(data_format)
    if dtype is None:
        dtype = config.floatx()
    x = np.asarray(img, dtype=dtype)
    if x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        if data_format == "channels_first":
            x = x.reshape((1, x.shape[0], x.shape[1]))
        else:
            x = x.reshape((x.shape[0], x.shape[1], 1))
    else:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Save an image array to `path` (format from the extension unless `file_format`)."""
    data_format = config.standardize_data_format(data_format)
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.")
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """Load an image file (path or `io.BytesIO`) as a PIL image, converted to `color_mode`
    and optionally resized to `target_size = (height, width)` by Pillow."""
    image = pil_image("`load_img`")
    if isinstance(path, io.BytesIO):
        img = image.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        if isinstance(path, pathlib.Path):
            path = str(path.resolve())
        with open(path, "rb") as f:
            img = image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    img = convert_color_mode(img, color_mode)
    if target_size is not None:
        width_height = (target_size[1], target_size[0])
        if img.size != width_height:
            if interpolation not in _PIL_INTERPOLATIONS:
                raise ValueError(
                    f"Invalid interpolation method {interpolation} specified. Supported methods "
                    f"are {', '.join(_PIL_INTERPOLATIONS)}")
            resample = getattr(image.Resampling, interpolation.upper())
            box = None
            if keep_aspect_ratio:
                width, height = img.size
                crop_height = min(height, width * width_height[1] // width_height[0])
                crop_width = min(width, height * width_height[0] // width_height[1])
                top, left = (height - crop_height) // 2, (width - crop_width) // 2
                box = [left, top, left + crop_width, top + crop_height]
            img = img.resize(width_height, resample, box=box)
    return img


def convert_color_mode(img, color_mode):
    """`img` as Keras converts it: grayscale keeps 8/16/32-bit gray modes, else "L"."""
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif color_mode == "rgb":
        if img.mode != "RGB":
            img = img.convert("RGB")
    else:
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')
    return img


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last", **kwargs):
    """Resize image(s) `(h, w, c)` / `(n, h, w, c)` to `size` without distortion: crop the
    largest centred window with the target aspect ratio, then resize it."""
    from tkeras.ops import image as image_ops

    if kwargs:
        raise TypeError(
            f"smart_resize() got unexpected keyword arguments: {list(kwargs.keys())}")
    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers, but got: {size}.")
    img = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if img.ndim < 3 or img.ndim > 4:
        raise ValueError(
            "Expected an image array with shape `(height, width, channels)`, or `(batch_size, "
            f"height, width, channels)`, but got input with incorrect rank, of shape "
            f"{tuple(img.shape)}.")
    if data_format == "channels_last":
        height, width = img.shape[-3], img.shape[-2]
    else:
        height, width = img.shape[-2], img.shape[-1]
    target_height, target_width = size
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    top = int(float(height - crop_height) / 2)
    left = int(float(width - crop_width) / 2)
    rows, cols = slice(top, top + crop_height), slice(left, left + crop_width)
    if data_format == "channels_last":
        img = img[..., rows, cols, :]
    else:
        img = img[..., rows, cols]
    img = image_ops.resize(img, size=size, interpolation=interpolation, data_format=data_format)
    if isinstance(x, np.ndarray):
        return img.cpu().numpy()
    return img
