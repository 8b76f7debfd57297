"""Deterministic colour layers: `AutoContrast`, `Equalization`, `Solarization`.

Keras behaviour kept:
- `AutoContrast` (always applied, also at inference): per image and channel, stretch
  `[min, max]` over axes (1, 2) to `value_range` (Keras uses axes (1, 2) whatever the
  `data_format`); constant images (0/0) keep their values.
- `Equalization` (training only; identity at inference): per channel, a `bins`-bin histogram of
  the values scaled to [0, 255] pooled over the whole batch (as Keras), then the rounded CDF lookup
  table; a channel with at most one non-empty bin is kept.
- `Solarization` (training only): add `U(addition_factor[0], addition_factor[1] * 255)`, clip to
  [0, 255], invert values at or above `U(threshold_factor[0], threshold_factor[1] * 255)` (Keras's
  ranges: the lower bounds are not scaled by 255), one draw per image.
Integer images are rounded and saturated back to their dtype where Keras does so.
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.preprocessing import image_ops
from tkeras.layers.preprocessing.base import BaseImagePreprocessingLayer
from tkeras.layers.preprocessing.base import transform_value_range


@keras_export("keras.layers.AutoContrast")
class AutoContrast(BaseImagePreprocessingLayer):
    _USE_BASE_FACTOR = False

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(**kwargs)
        self.value_range = self._check_value_range(value_range)

    def transform_images(self, images, training=True):
        original = images
        images = self._cast(transform_value_range(images, self.value_range, (0, 255)))
        low = torch.amin(images, dim=(1, 2), keepdim=True)
        high = torch.amax(images, dim=(1, 2), keepdim=True)
        scale = 255.0 / (high - low)
        results = torch.clamp(images * scale + (-low * scale), 0.0, 255.0)
        results = transform_value_range(results, (0, 255), self.value_range)
        results = torch.where(torch.isnan(results), original.to(results.dtype), results)
        return image_ops.saturate_cast(results, original.dtype)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range}


@keras_export("keras.layers.Equalization")
class Equalization(BaseImagePreprocessingLayer):
    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.bins = bins
        self.value_range = self._check_value_range(value_range)

    def _equalize_channel(self, channel):
        v_min, v_max = self.value_range
        channel = _scale_values(channel, (v_min, v_max), (0, 255))
        scaled = (channel.to(torch.float32) - 0.0) * (self.bins - 1) / 255.0
        ids = scaled.to(torch.int32).clamp(0, self.bins - 1).reshape(-1).long()
        hist = torch.zeros(self.bins, dtype=torch.int64, device=channel.device).scatter_add_(
            0, ids, torch.ones_like(ids))
        cdf = torch.cumsum(hist, 0)
        cdf_min = torch.where(cdf > 0, cdf, cdf[-1]).min()  # first non-zero CDF value
        denominator = cdf[-1] - cdf_min
        denominator = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
        lookup = torch.clamp(torch.round((cdf - cdf_min) * 255 / denominator), 0, 255)
        lookup_ids = torch.clamp(channel / 255.0 * (self.bins - 1), 0, self.bins - 1)
        equalized = lookup[lookup_ids.to(torch.int32).long()]
        equalized = torch.where(torch.count_nonzero(hist) <= 1, channel, equalized)
        return _scale_values(equalized, (0, 255), (v_min, v_max))

    def transform_images(self, images, training=True):
        if not training:
            return images
        images = self._cast(images)
        axis = -1 if self.data_format == "channels_last" else -3
        channels = [self._equalize_channel(c) for c in images.unbind(axis)]
        return self._cast(torch.stack(channels, dim=axis))

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "value_range": self.value_range}


def _scale_values(values, source_range, target_range):
    scale = (target_range[1] - target_range[0]) / (source_range[1] - source_range[0])
    return values * scale + (target_range[0] - source_range[0] * scale)


@keras_export("keras.layers.Solarization")
class Solarization(BaseImagePreprocessingLayer):
    _USE_BASE_FACTOR = False
    _FACTOR_ERROR = ("The `addition_factor` and `threshold_factor` arguments should be a number "
                     "(or a list of two numbers) in the range [0, 1]. ")

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255),
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.addition_factor = self._solarization_factor(addition_factor, "addition_factor")
        self.threshold_factor = self._solarization_factor(threshold_factor, "threshold_factor")
        self.value_range = self._check_value_range(value_range)

    def _solarization_factor(self, factor, name):
        if isinstance(factor, (tuple, list)) and len(factor) == 2:
            values, (lower, upper) = factor, sorted(factor)
        elif isinstance(factor, (int, float)):
            values, (lower, upper) = [factor], (0, factor)
        else:
            raise ValueError(self._FACTOR_ERROR + f"Received: {name}={factor}")
        for v in values:
            if v > 1.0 or v < 0:
                raise ValueError(self._FACTOR_ERROR + f"Received: input_number={v}")
        return lower, upper

    def transform_images(self, images, training=True):
        images = self._cast(images)
        if not training:
            return images
        shape = (images.shape[0], 1, 1, 1)
        additions = self._uniform(shape, self.addition_factor[0],
                                  self.addition_factor[1] * 255, images.device, images.dtype)
        thresholds = self._uniform(shape, self.threshold_factor[0],
                                   self.threshold_factor[1] * 255, images.device, images.dtype)
        results = transform_value_range(images, self.value_range, (0, 255))
        results = torch.clamp(results + additions, 0, 255)
        results = torch.where(results < thresholds, results, 255 - results)
        results = transform_value_range(results, (0, 255), self.value_range)
        return results.to(images.dtype)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor, "seed": self.seed}
