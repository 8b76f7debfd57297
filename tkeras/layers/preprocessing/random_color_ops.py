"""Random colour and filter augmentations: `RandomGrayscale`, `RandomInvert`, `RandomHue`,
`RandomSaturation`, `RandomColorDegeneration`, `RandomColorJitter`, `RandomSharpness`,
`RandomPosterization`, `RandomGaussianBlur`. All are the identity at inference.

Keras behaviour kept (in training, draws per image unless noted; `value_range` is the images'
range):
- `RandomGrayscale`: grayscale (kept channel count) where `U(0, 1) < factor`.
- `RandomInvert`: `value_range[1] - x` where `U(0, 1) < U(factor[0], factor[1])`.
- `RandomHue`: hue shifted by `+-U(factor) / 2` (random sign) in HSV, wrapped to [0, 1].
- `RandomSaturation`: HSV saturation times `f / (1 - f + epsilon)`, `f ~ U(factor)`, clipped to
  `value_range` (Keras's bounds: a single `f` gives `(-f, f)`).
- `RandomColorDegeneration`: blend towards grayscale by `U(factor)` (a single `f`: `(-f, f)`).
- `RandomColorJitter`: brightness, contrast, saturation, hue sub-layers in that order (they use
  the default data format, as in Keras).
- `RandomSharpness`: blend with a 3x3 smoothing filter by `1 - 2 U(factor)`.
- `RandomPosterization`: keep the top `b` bits, `b ~ randint(factor[0], factor[1])` (upper
  bound excluded, as Keras's `randint`) or `factor[0]` when both ends are equal.
- `RandomGaussianBlur`: Gaussian blur with sigmas `U(sigma) + 1e-6` (one pair per batch) where
  `U(0, 1) < U(factor)`.
Deliberate difference: `RandomHue`/`RandomSaturation` accept integer images (cast to the compute
dtype; Keras's HSV conversion rejects them).
"""

import torch
import torch.nn.functional as F

from tkeras.core.config import epsilon
from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.preprocessing import image_ops
from tkeras.layers.preprocessing.augmentation import RandomAugmentationLayer
from tkeras.layers.preprocessing.augmentation import check_factor
from tkeras.layers.preprocessing.augmentation import check_value_range
from tkeras.layers.preprocessing.base import transform_value_range
from tkeras.layers.preprocessing.random_color import RandomBrightness
from tkeras.layers.preprocessing.random_color import RandomContrast


def _per_image(values):
    return values.reshape(-1, 1, 1, 1)


class _FactorAugmentation(RandomAugmentationLayer):
    """The layers taking Keras's `factor`, `value_range`, `data_format` and `seed`: `factor`
    checked by `_set_factor`, `value_range` by `check_value_range` unless `_CHECK_VALUE_RANGE`
    is False (as in Keras), and the config `factor, value_range, seed`."""

    _CHECK_VALUE_RANGE = True

    def __init__(self, factor, value_range, data_format, seed, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.value_range = (check_value_range(value_range) if self._CHECK_VALUE_RANGE
                            else value_range)
        self.seed = seed

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range,
                "seed": self.seed}


@keras_export("keras.layers.RandomGrayscale")
class RandomGrayscale(RandomAugmentationLayer):
    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if factor < 0 or factor > 1:
            raise ValueError(f"`factor` should be between 0 and 1. Received: factor={factor}")
        self.factor = factor
        self.data_format = standardize_data_format(data_format)
        self.seed = seed

    def get_random_transformation(self, images, training=True):
        values = self._uniform((images.shape[0],), 0, 1, images.device)
        return _per_image(values < self.factor)

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        should_apply = self._draws(images, transformation)
        grayscale = image_ops.rgb_to_grayscale(images, self.data_format)
        return torch.where(should_apply, grayscale, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras_export("keras.layers.RandomInvert")
class RandomInvert(_FactorAugmentation):
    _CHECK_VALUE_RANGE = False
    _USE_BASE_FACTOR = False
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)

    def get_random_transformation(self, images, training=True):
        batch = (images.shape[0],)
        probability = self._uniform(batch, self.factor[0], self.factor[1], images.device)
        threshold = self._uniform(batch, 0, 1, images.device)
        return {"apply_inversion": threshold < probability}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        apply = _per_image(self._draws(images, transformation)["apply_inversion"])
        images = self._cast(images)
        return torch.where(apply, self.value_range[1] - images, images)


def _replace_channel(images, index, channel, data_format):
    axis = -1 if data_format == "channels_last" else -3
    channels = list(images.unbind(dim=axis))
    channels[index] = channel
    return torch.stack(channels, dim=axis)


def _channel(images, index, data_format):
    return images[..., index] if data_format == "channels_last" else images[:, index]


@keras_export("keras.layers.RandomHue")
class RandomHue(_FactorAugmentation):
    _CHECK_VALUE_RANGE = False
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)

    def get_random_transformation(self, images, training=True):
        batch = (images.shape[0],)
        invert = self._uniform(batch, 0, 1, images.device)
        invert = torch.where(invert > 0.5, -torch.ones_like(invert), torch.ones_like(invert))
        factor = self._uniform(batch, self.factor[0], self.factor[1], images.device)
        return {"factor": invert * factor * 0.5}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        factor = self._draws(images, transformation)["factor"]
        images = transform_value_range(self._cast(images), self.value_range, (0, 1))
        hsv = image_ops.rgb_to_hsv(images, self.data_format)
        hue = _channel(hsv, 0, self.data_format) + factor.to(hsv.dtype).reshape(-1, 1, 1)
        hue = torch.where(hue > 1.0, hue - 1.0, hue)
        hue = torch.where(hue < 0.0, hue + 1.0, hue)
        hsv = _replace_channel(hsv, 0, hue, self.data_format)
        images = torch.clip(image_ops.hsv_to_rgb(hsv, self.data_format), 0, 1)
        return self._cast(transform_value_range(images, (0, 1), self.value_range))


@keras_export("keras.layers.RandomSaturation")
class RandomSaturation(_FactorAugmentation):
    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)

    def get_random_transformation(self, images, training=True):
        factor = self._uniform((images.shape[0],), self.factor[0], self.factor[1], images.device)
        return {"factor": factor / (1 - factor + epsilon())}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        factor = self._draws(images, transformation)["factor"]
        if not images.is_floating_point():
            images = self._cast(images)
        hsv = image_ops.rgb_to_hsv(images, self.data_format)
        factor = self._cast(factor).reshape(-1, 1, 1)
        saturation = torch.clip(_channel(hsv, 1, self.data_format) * factor,
                                self.value_range[0], self.value_range[1])
        hsv = _replace_channel(hsv, 1, saturation, self.data_format)
        return image_ops.hsv_to_rgb(hsv, self.data_format)


@keras_export("keras.layers.RandomColorDegeneration")
class RandomColorDegeneration(_FactorAugmentation):
    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)

    def get_random_transformation(self, images, training=True):
        shape = (images.shape[0], 1, 1, 1)
        return {"factor": self._uniform(shape, self.factor[0], self.factor[1], images.device)}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        factor = self._draws(images, transformation)["factor"]
        images = self._cast(images)
        degenerate = image_ops.rgb_to_grayscale(images, self.data_format)
        images = images + self._cast(factor) * (degenerate - images)
        return self._cast(torch.clip(images, self.value_range[0], self.value_range[1]))

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (3, 4):
            raise ValueError("Invalid images rank: expected rank 3 (single image) or rank 4 "
                             f"(batch of images). Received: input_shape={input_shape}")
        channels = input_shape[-1 if self.data_format == "channels_last" else -3]
        if channels is not None and channels != 3:
            raise ValueError("Input images must have 3 channels, but received images with "
                             f"{channels} channels.")
        return input_shape


@keras_export("keras.layers.RandomColorJitter")
class RandomColorJitter(RandomAugmentationLayer):
    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None,
                 saturation_factor=None, hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range
        self.brightness_factor = brightness_factor
        self.contrast_factor = contrast_factor
        self.saturation_factor = saturation_factor
        self.hue_factor = hue_factor
        self.seed = seed
        # Sub-layers in Keras's order; each draws from its own stream (seeded with `seed`).
        self.random_brightness = None if brightness_factor is None else RandomBrightness(
            factor=brightness_factor, value_range=value_range, seed=seed)
        self.random_contrast = None if contrast_factor is None else RandomContrast(
            factor=contrast_factor, value_range=value_range, seed=seed)
        self.random_saturation = None if saturation_factor is None else RandomSaturation(
            factor=saturation_factor, value_range=value_range, seed=seed)
        self.random_hue = None if hue_factor is None else RandomHue(
            factor=hue_factor, value_range=value_range, seed=seed)

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        images = self._cast(images)
        for layer in (self.random_brightness, self.random_contrast, self.random_saturation,
                      self.random_hue):
            if layer is not None:
                images = layer.transform_images(images, training=True)
        return self._cast(images)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor,
                "saturation_factor": self.saturation_factor, "hue_factor": self.hue_factor,
                "seed": self.seed}


@keras_export("keras.layers.RandomSharpness")
class RandomSharpness(_FactorAugmentation):
    _USE_BASE_FACTOR = False
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)

    def get_random_transformation(self, images, training=True):
        return {"factor": self._uniform((images.shape[0],), self.factor[0], self.factor[1],
                                        images.device)}

    def transform_images(self, images, transformation=None, training=True):
        images = self._cast(images)
        if not training:
            return images
        sharpness = _per_image(self._cast(self._draws(images, transformation)["factor"] * 2))
        nchw = images.permute(0, 3, 1, 2) if self.data_format == "channels_last" else images
        channels = nchw.shape[1]
        a, b = 1.0 / 13.0, 5.0 / 13.0
        kernel = torch.tensor([[a, a, a], [a, b, a], [a, a, a]], dtype=images.dtype,
                              device=images.device).expand(channels, 1, 3, 3)
        smoothed = F.conv2d(nchw, kernel, padding=1, groups=channels)
        if self.data_format == "channels_last":
            smoothed = smoothed.permute(0, 2, 3, 1)
        images = images + (1.0 - sharpness) * (smoothed - images)
        return torch.clip(images, self.value_range[0], self.value_range[1])


@keras_export("keras.layers.RandomPosterization")
class RandomPosterization(_FactorAugmentation):
    _USE_BASE_FACTOR = False
    _FACTOR_BOUNDS = (1, 8)
    _MAX_FACTOR = 8

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)

    def get_random_transformation(self, images, training=True):
        batch = (images.shape[0],)
        if self.factor[0] != self.factor[1]:
            bits = self._randint(batch, self.factor[0], self.factor[1], images.device)
        else:
            bits = torch.full(batch, self.factor[0], device=images.device)
        return {"shift_factor": self._MAX_FACTOR - bits.to(torch.uint8)}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        shift = _per_image(self._draws(images, transformation)["shift_factor"].to(torch.uint8))
        images = transform_value_range(images, self.value_range, (0, 255)).to(torch.uint8)
        images = torch.bitwise_left_shift(torch.bitwise_right_shift(images, shift), shift)
        return self._cast(transform_value_range(self._cast(images), (0, 255), self.value_range))


@keras_export("keras.layers.RandomGaussianBlur")
class RandomGaussianBlur(_FactorAugmentation):
    _CHECK_VALUE_RANGE = False
    _USE_BASE_FACTOR = False
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255),
                 data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, data_format, seed, **kwargs)
        self.kernel_size = self._check_kernel_size(kernel_size)
        self.sigma = check_factor(sigma, "sigma", self._FACTOR_BOUNDS)

    @staticmethod
    def _check_kernel_size(size):
        error_msg = f"kernel_size must be an odd number. Received: kernel_size={size}"
        if isinstance(size, (tuple, list)):
            if len(size) != 2:
                raise ValueError("The `kernel_size` argument should be a number (or a list of two "
                                 f"numbers) Received: kernel_size={size}")
            if size[0] % 2 == 0 or size[1] % 2 == 0:
                raise ValueError(error_msg)
            return size[0], size[1]
        if isinstance(size, (int, float)):
            if size % 2 == 0:
                raise ValueError(error_msg)
            return size, size
        raise ValueError(error_msg)

    def get_random_transformation(self, images, training=True):
        batch = (images.shape[0],)
        probability = self._uniform(batch, self.factor[0], self.factor[1], images.device)
        threshold = self._uniform(batch, 0.0, 1.0, images.device)
        sigmas = self._uniform((2,), self.sigma[0], self.sigma[1], images.device) + 1e-6
        return {"should_apply_blur": threshold < probability, "blur_factor": sigmas}

    def transform_images(self, images, transformation=None, training=True):
        images = self._cast(images)
        if not training:
            return images
        transformation = self._draws(images, transformation)
        blurred = image_ops.gaussian_blur(images, self.kernel_size,
                                          transformation["blur_factor"], self.data_format)
        images = torch.where(_per_image(transformation["should_apply_blur"]), blurred, images)
        return self._cast(torch.clip(images, self.value_range[0], self.value_range[1]))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "kernel_size": self.kernel_size,
                "sigma": self.sigma, "value_range": self.value_range, "seed": self.seed}
