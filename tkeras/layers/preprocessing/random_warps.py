"""Random warps and occlusion: `RandomShear`, `RandomPerspective`, `RandomElasticTransform`,
`RandomErasing`. All are the identity at inference (images cast to the compute dtype, as Keras).

Keras behaviour kept (in training, per image):
- `RandomShear`: affine `[1, sx, 0, sy, 1, 0]` with `sx ~ U(x_factor)`, `sy ~ U(y_factor)`
  (a single `f` gives `(-f, f)`) and one random sign for both, sampled through Keras's
  `affine_transform` (interpolation, fill mode and value).
- `RandomPerspective`: where `U(0, 1) < U(factor)`, the corners move by
  `corner * U(-scale / 2, scale / 2)` and the image is warped by the homography mapping output
  pixels onto the input (constant fill).
- `RandomElasticTransform`: where `U(0, 1) < U(factor)`, a displacement field of standard-normal
  noise blurred with sigma `min(h, w) * 0.05 * d` and scaled by `max(h, w) * 0.1 * d`,
  `d ~ U(scale)` (one per batch); output clipped to `value_range`. The noise is drawn with the
  other parameters (`noise_x`, `noise_y` in the transformation; Keras draws it inside the op).
- `RandomErasing`: where `U(0, 1) < U(factor)`, a box of relative sides `sqrt(U(scale))` at a
  random position is filled with `fill_value` (or `N(0, 1) * value_range[1]` noise when None),
  clipped to `value_range`.
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.preprocessing import image_ops
from tkeras.layers.preprocessing.augmentation import RandomAugmentationLayer
from tkeras.layers.preprocessing.augmentation import check_factor

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _check_interpolation(interpolation):
    if interpolation not in _INTERPOLATIONS:
        raise NotImplementedError(
            f"Unknown `interpolation` {interpolation}. Expected of one {_INTERPOLATIONS}.")


def _where_per_image(condition, a, b):
    return torch.where(condition.reshape(-1, 1, 1, 1), a, b)


class _SpatialLayer(RandomAugmentationLayer):
    def _height_width(self, images):
        h_axis, w_axis = self._spatial_axes()
        return images.shape[h_axis], images.shape[w_axis]

    def _apply_probability(self, images):
        batch = (images.shape[0],)
        probability = self._uniform(batch, self.factor[0], self.factor[1], images.device)
        threshold = self._uniform(batch, 0.0, 1.0, images.device)
        return threshold < probability


@keras_export("keras.layers.RandomShear")
class RandomShear(_SpatialLayer):
    _USE_BASE_FACTOR = False
    _FACTOR_ERROR = ("The `factor` argument should be a number (or a list of two numbers) in "
                     "the range [0, 1.0]. ")

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.x_factor = self._shear_factor(x_factor, "x_factor")
        self.y_factor = self._shear_factor(y_factor, "y_factor")
        if fill_mode not in _FILL_MODES:
            raise NotImplementedError(
                f"Unknown `fill_mode` {fill_mode}. Expected of one {_FILL_MODES}.")
        _check_interpolation(interpolation)
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.interpolation = interpolation
        self.seed = seed

    def _shear_factor(self, factor, name):
        values = factor if isinstance(factor, (tuple, list)) else [factor]
        if isinstance(factor, (tuple, list)) and len(factor) != 2 or not all(
                isinstance(v, (int, float)) for v in values):
            raise ValueError(self._FACTOR_ERROR + f"Received: {name}={factor}")
        for v in values:
            if v > 1.0 or v < 0.0:
                raise ValueError(self._FACTOR_ERROR + f"Received: input_number={v}")
        if isinstance(factor, (tuple, list)):
            return tuple(sorted(factor))
        return -abs(factor), abs(factor)

    def get_random_transformation(self, images, training=True):
        shape = (images.shape[0], 1)
        invert = self._uniform(shape, 0, 1, images.device)
        invert = torch.where(invert > 0.5, -torch.ones_like(invert), torch.ones_like(invert))
        shear_y = self._uniform(shape, self.y_factor[0], self.y_factor[1], images.device)
        shear_x = self._uniform(shape, self.x_factor[0], self.x_factor[1], images.device)
        return {"shear_factor": torch.cat([shear_x, shear_y], dim=1) * invert}

    def transform_images(self, images, transformation=None, training=True):
        images = self._cast(images)
        if not training:
            return images
        shear = self._cast(self._draws(images, transformation)["shear_factor"])
        ones, zeros = torch.ones_like(shear[:, 0]), torch.zeros_like(shear[:, 0])
        matrix = torch.stack([ones, shear[:, 0], zeros, shear[:, 1], ones, zeros, zeros, zeros],
                             dim=1)
        return image_ops.affine_transform(images, matrix, self.interpolation, self.fill_mode,
                                          self.fill_value, self.data_format)

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "seed": self.seed, "fill_value": self.fill_value,
                "data_format": self.data_format}


@keras_export("keras.layers.RandomPerspective")
class RandomPerspective(_SpatialLayer):
    _USE_BASE_FACTOR = False
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0,
                 seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.scale = scale
        self.fill_value = fill_value
        self.interpolation = interpolation
        self.seed = seed
        if scale < 0.0 or scale > 1.0:
            raise ValueError("The `scale` argument should be a number in the range [0,1]. "
                             f"Received: scale={scale}")
        _check_interpolation(interpolation)

    def get_random_transformation(self, images, training=True):
        height, width = self._height_width(images)
        apply = self._apply_probability(images)
        dtype = self._dtype()
        factor = self._uniform((images.shape[0], 4, 2), -0.5 * self.scale, 0.5 * self.scale,
                               images.device, dtype)
        start = torch.tensor([[[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1],
                               [width - 1, height - 1]]], dtype=dtype, device=images.device)
        start = start.repeat(images.shape[0], 1, 1)
        return {"apply_perspective": apply, "start_points": start,
                "end_points": start + start * factor}

    def transform_images(self, images, transformation=None, training=True):
        images = self._cast(images)
        if not training:
            return images
        transformation = self._draws(images, transformation)
        warped = image_ops.perspective_transform(
            images, transformation["start_points"], transformation["end_points"],
            self.interpolation, self.fill_value, self.data_format)
        return _where_per_image(transformation["apply_perspective"], warped, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value,
                "seed": self.seed}


@keras_export("keras.layers.RandomElasticTransform")
class RandomElasticTransform(_SpatialLayer):
    _USE_BASE_FACTOR = False
    _FACTOR_BOUNDS = (0, 1)
    _SUPPORTED_FILL_MODES = {"constant", "nearest", "wrap", "mirror", "reflect"}

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.scale = check_factor(scale, "scale", self._FACTOR_BOUNDS)
        self.interpolation = interpolation
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.value_range = value_range
        self.seed = seed
        _check_interpolation(interpolation)
        if fill_mode not in self._SUPPORTED_FILL_MODES:
            raise NotImplementedError(f"Unknown `fill_mode` {fill_mode}. Expected of one "
                                      f"{self._SUPPORTED_FILL_MODES}.")

    def get_random_transformation(self, images, training=True):
        if self.scale[1] == 0 or self.factor[1] == 0:
            return None
        apply = self._apply_probability(images)
        dtype = self._dtype()
        distortion = self._uniform((), self.scale[0], self.scale[1], images.device, dtype)
        height, width = self._height_width(images)
        noise_shape = (images.shape[0], height, width)
        # Keras draws this noise inside `ops.image.elastic_transform`, in this order.
        noise_x = self._normal(noise_shape, images.device, dtype)
        noise_y = self._normal(noise_shape, images.device, dtype)
        return {"apply_transform": apply, "distortion_factor": distortion, "noise_x": noise_x,
                "noise_y": noise_y}

    def transform_images(self, images, transformation=None, training=True):
        images = self._cast(images)
        if not training:
            return images
        transformation = self._draws(images, transformation)
        if transformation is None:
            return images
        height, width = self._height_width(images)
        factor = transformation["distortion_factor"]
        alpha, sigma = max(height, width) * 0.1 * factor, min(height, width) * 0.05 * factor
        warped = image_ops.elastic_transform(
            images, transformation["noise_x"], transformation["noise_y"], alpha, sigma,
            self.interpolation, self.fill_mode, self.fill_value, self.data_format)
        images = _where_per_image(transformation["apply_transform"], warped, images)
        return self._cast(torch.clip(images, self.value_range[0], self.value_range[1]))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "value_range": self.value_range,
                "seed": self.seed}


def box_masks(layer, images, relative_sides):
    """Keras's random boxes of RandomErasing/CutMix: per image a box of
    `relative_sides[:, 0] * width` by `relative_sides[:, 1] * height` pixels at `U(0, 1)` of the
    free range; returns a boolean mask broadcastable to `images` and the corners."""
    height, width = layer._height_width(images)
    dtype = layer._dtype()
    batch = images.shape[0]

    def bounds(length, ratio):
        crop = (ratio * length).to(dtype)
        start = layer._uniform((batch,), 0, 1, images.device, dtype) * (length - crop)
        return start, start + crop

    x0, x1 = bounds(width, relative_sides[:, 0])
    y0, y1 = bounds(height, relative_sides[:, 1])
    grid_y = torch.arange(height, dtype=dtype, device=images.device).view(1, height, 1)
    grid_x = torch.arange(width, dtype=dtype, device=images.device).view(1, 1, width)
    corners = [v.view(-1, 1, 1) for v in (x0, x1, y0, y1)]
    masks = ((grid_x >= corners[0]) & (grid_x < corners[1]) & (grid_y >= corners[2])
             & (grid_y < corners[3]))
    masks = masks.unsqueeze(-1 if layer.data_format == "channels_last" else 1)
    return masks, (x0, x1, y0, y1)


@keras_export("keras.layers.RandomErasing")
class RandomErasing(_SpatialLayer):
    _USE_BASE_FACTOR = False
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.scale = check_factor(scale, "scale", self._FACTOR_BOUNDS)
        self.fill_value = fill_value
        self.value_range = value_range
        self.seed = seed

    def _fill(self, images):
        dtype = self._dtype()
        if self.fill_value is None:
            fill = self._normal(images.shape, images.device, dtype) * self.value_range[1]
        elif isinstance(self.fill_value, (tuple, list)) and len(self.fill_value) == 3:
            fill = torch.tensor(self.fill_value, dtype=dtype, device=images.device).expand(
                images.shape)
        elif isinstance(self.fill_value, (int, float)):
            fill = torch.ones(images.shape, dtype=dtype, device=images.device) * self.fill_value
        else:
            raise ValueError("The `fill_value` argument should be a number (or a list of three "
                             "numbers) ")
        return torch.clip(fill, self.value_range[0], self.value_range[1])

    def get_random_transformation(self, images, training=True):
        dtype = self._dtype()
        sides = torch.sqrt(self._uniform((images.shape[0], 2), self.scale[0], self.scale[1],
                                         images.device, dtype))
        masks, _ = box_masks(self, images, sides)
        apply = self._apply_probability(images)
        return {"apply_erasing": apply, "batch_masks": masks, "fill_value": self._fill(images)}

    def transform_images(self, images, transformation=None, training=True):
        images = self._cast(images)
        if not training:
            return images
        transformation = self._draws(images, transformation)
        erased = torch.where(transformation["batch_masks"], transformation["fill_value"], images)
        return self._cast(_where_per_image(transformation["apply_erasing"], erased, images))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "fill_value": self.fill_value, "value_range": self.value_range,
                "seed": self.seed}
