"""Random geometric augmentations: `RandomFlip`, `RandomRotation`, `RandomTranslation`,
`RandomZoom`, `RandomCrop`. All are the identity at inference (`training=False`).

Keras behaviour kept (in training):
- `RandomFlip`: one draw `u <= 0.5` per image; with `horizontal_and_vertical` the same draw flips
  both axes (as Keras).
- `RandomRotation`: angle `U(factor[0] * 360, factor[1] * 360)` degrees per image, rotated about
  the image centre.
- `RandomTranslation`: shifts `U(height_lower, height_upper) * height` and
  `U(width_lower, width_upper) * width` pixels per image.
- `RandomZoom`: scale `U(1 + lower, 1 + upper)` per image and axis (the width zoom reuses the
  height draw when `width_factor=None`); values above 1 zoom out.
- The affine layers sample with `interpolation` (`nearest`/`bilinear`) and `fill_mode`
  (`reflect`/`wrap`/`constant`/`nearest`, `fill_value`) through Keras's `affine_transform` numerics.
- `RandomCrop`: one random `height x width` window for the whole batch when the image is larger
  on both axes; otherwise a central crop to the target aspect ratio and a bilinear resize.
  At inference Keras 3.15.1 returns the input unchanged (uncropped), and so does tkeras.
  A `seed=None` is replaced by a random integer at construction (it shows in the config).
"""

import random as python_random

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.preprocessing import image_ops
from tkeras.layers.preprocessing.base import BaseImagePreprocessingLayer

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _check_fill_and_interpolation(fill_mode, interpolation):
    if fill_mode not in _FILL_MODES:
        raise NotImplementedError(
            f"Unknown `fill_mode` {fill_mode}. Expected of one {_FILL_MODES}.")
    if interpolation not in _INTERPOLATIONS:
        raise NotImplementedError(
            f"Unknown `interpolation` {interpolation}. Expected of one {_INTERPOLATIONS}.")


@keras_export("keras.layers.RandomFlip")
class RandomFlip(BaseImagePreprocessingLayer):

    _convert_input_args = False  # as Keras: inputs reach `call` unconverted
    _USE_BASE_FACTOR = False

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed
        self.mode = mode

    def transform_images(self, images, training=True):
        images = self._cast(images)
        if not training:
            return images
        flips = self._uniform((images.shape[0], 1, 1, 1), 0.0, 1.0, images.device) <= 0.5
        h_axis, w_axis = self._spatial_axes()
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            images = torch.where(flips, torch.flip(images, dims=(w_axis,)), images)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            images = torch.where(flips, torch.flip(images, dims=(h_axis,)), images)
        return images

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "mode": self.mode,
                "data_format": self.data_format}


class _RandomAffine(BaseImagePreprocessingLayer):
    """Shared arguments (`fill_mode`, `interpolation`, `fill_value`, `seed`) and sampling of the
    affine augmentations."""

    def __init__(self, fill_mode, interpolation, seed, fill_value, data_format, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = fill_value
        _check_fill_and_interpolation(fill_mode, interpolation)

    def _sample(self, images, transform):
        return image_ops.affine_transform(images, transform, self.interpolation, self.fill_mode,
                                          self.fill_value, self.data_format)

    def _height_width(self, images):
        h_axis, w_axis = self._spatial_axes()
        return images.shape[h_axis], images.shape[w_axis]


@keras_export("keras.layers.RandomRotation")
class RandomRotation(_RandomAffine):
    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, factor=factor,
                         **kwargs)

    def transform_images(self, images, training=True):
        images = self._cast(images)
        if not training:
            return images
        height, width = self._height_width(images)
        angle = self._uniform((images.shape[0],), self.factor[0] * 360.0,
                              self.factor[1] * 360.0, images.device)
        return self._sample(images, image_ops.rotation_matrix(angle, height, width))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "data_format": self.data_format,
                "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "interpolation": self.interpolation, "seed": self.seed}


def _two_sided_factor(factor, name, error, lowest_ok):
    values = factor if isinstance(factor, (tuple, list)) else [factor]
    if isinstance(factor, (tuple, list)) and len(factor) != 2 or not all(
            isinstance(v, (int, float)) for v in values):
        raise ValueError(error + f"Received: {name}={factor}")
    for v in values:
        if v > 1.0 or not lowest_ok(v):
            raise ValueError(error + f"Received: input_number={v}")
    if isinstance(factor, (tuple, list)):
        return tuple(sorted(factor))
    return -abs(factor), abs(factor)


class _HeightWidthAffine(_RandomAffine):
    """RandomTranslation and RandomZoom: a two-sided factor per axis, checked against
    `_FACTOR_ERROR` with lower bound `_lowest_ok` (a `width_factor` of None is kept as None)."""

    _USE_BASE_FACTOR = False

    def __init__(self, height_factor, width_factor, fill_mode, interpolation, seed, fill_value,
                 data_format, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _two_sided_factor(
            height_factor, "height_factor", self._FACTOR_ERROR, self._lowest_ok)
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = _two_sided_factor(
                width_factor, "width_factor", self._FACTOR_ERROR, self._lowest_ok)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor, "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value, "data_format": self.data_format}


@keras_export("keras.layers.RandomTranslation")
class RandomTranslation(_HeightWidthAffine):
    _FACTOR_ERROR = ("The `factor` argument should be a number (or a list of two numbers) in "
                     "the range [-1.0, 1.0]. ")
    _lowest_ok = staticmethod(lambda v: v >= -1.0)

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(height_factor, width_factor, fill_mode, interpolation, seed, fill_value,
                         data_format, **kwargs)

    def transform_images(self, images, training=True):
        images = self._cast(images)
        if not training:
            return images
        height, width = self._height_width(images)
        batch = images.shape[0]
        dy = self._uniform((batch,), self.height_lower, self.height_upper, images.device) * height
        dx = self._uniform((batch,), self.width_lower, self.width_upper, images.device) * width
        ones, zeros = torch.ones_like(dx), torch.zeros_like(dx)
        transform = torch.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], dim=1)
        return self._sample(images, transform)


@keras_export("keras.layers.RandomZoom")
class RandomZoom(_HeightWidthAffine):
    _FACTOR_ERROR = ("The `height_factor` and `width_factor` arguments should be a number (or a "
                     "list of two numbers) in the range (-1.0, 1.0]. ")
    _lowest_ok = staticmethod(lambda v: v > -1.0)

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(height_factor, width_factor, fill_mode, interpolation, seed, fill_value,
                         data_format, **kwargs)

    def transform_images(self, images, training=True):
        images = self._cast(images)
        if not training:
            return images
        height, width = self._height_width(images)
        batch = images.shape[0]
        zoom_y = self._uniform((batch,), 1.0 + self.height_lower, 1.0 + self.height_upper,
                               images.device)
        zoom_x = zoom_y
        if self.width_factor is not None:
            zoom_x = self._uniform((batch,), 1.0 + self.width_lower, 1.0 + self.width_upper,
                                   images.device)
        x_offset = (width - 1.0) / 2.0 * (1.0 - zoom_x)
        y_offset = (height - 1.0) / 2.0 * (1.0 - zoom_y)
        zeros = torch.zeros_like(zoom_x)
        transform = torch.stack([zoom_x, zeros, x_offset, zeros, zoom_y, y_offset, zeros, zeros],
                                dim=1)
        return self._sample(images, transform)


def _slice(x, axis, start, length):
    """`x[..., start:start + length, ...]` along `axis` (Python slice clamping)."""
    return x.narrow(axis, start, max(0, min(length, x.shape[axis] - start)))


@keras_export("keras.layers.RandomCrop")
class RandomCrop(BaseImagePreprocessingLayer):

    _convert_input_args = False  # as Keras: inputs reach `call` unconverted
    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(name=name, data_format=data_format, **kwargs)
        self.height = height
        self.width = width
        self.seed = seed if seed is not None else python_random.randint(1, int(1e9))

    def transform_images(self, images, training=True):
        if not training:
            return images
        images = self._cast(images)
        h_axis, w_axis = self._spatial_axes()
        in_height, in_width = images.shape[h_axis], images.shape[w_axis]
        if in_height > self.height and in_width > self.width:
            h_start = self._uniform((), 0.0, float(in_height - self.height + 1),
                                    images.device).to(torch.int32)
            w_start = self._uniform((), 0.0, float(in_width - self.width + 1),
                                    images.device).to(torch.int32)
            rows = h_start + torch.arange(self.height, device=images.device)
            cols = w_start + torch.arange(self.width, device=images.device)
            return images.index_select(h_axis, rows).index_select(w_axis, cols)
        crop_height = max(min(in_height, int(float(in_width * self.height) / self.width)), 1)
        crop_width = max(min(in_width, int(float(in_height * self.width) / self.height)), 1)
        h_start = int(float(in_height - crop_height) / 2)
        w_start = int(float(in_width - crop_width) / 2)
        images = _slice(images, h_axis, h_start, self.height)
        images = _slice(images, w_axis, w_start, self.width)
        if images.shape[h_axis] != self.height or images.shape[w_axis] != self.width:
            images = self._cast(image_ops.resize(images, (self.height, self.width),
                                                 data_format=self.data_format))
        return images

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h = len(shape) - (3 if self.data_format == "channels_last" else 2)
        shape[h], shape[h + 1] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "seed": self.seed, "data_format": self.data_format}
