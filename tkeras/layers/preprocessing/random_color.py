"""Random colour augmentations: `RandomContrast`, `RandomBrightness`. Both are the identity at
inference (`training=False`).

Keras behaviour kept (in training, one draw per image):
- `RandomContrast`: `(x - mean_hw) * c + mean_hw` clipped to `value_range`, with
  `c ~ U(1 - factor[0], 1 + factor[1])` where a single number `f` gives `factor = (0, f)`
  (Keras's bounds are `[0, 1]`, so `c` lies in `[1, 1 + f]`).
- `RandomBrightness`: add `U(factor[0], factor[1]) * (value_range[1] - value_range[0])`, clip to
  `value_range` (Keras adds in place to the input tensor; tkeras does not modify its input).
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.preprocessing.base import BaseImagePreprocessingLayer


@keras_export("keras.layers.RandomContrast")
class RandomContrast(BaseImagePreprocessingLayer):
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(**kwargs)
        self._set_factor(factor)
        self.value_range = value_range
        self.seed = seed

    def transform_images(self, images, training=True):
        if not training:
            return images
        contrast = self._uniform((images.shape[0], 1, 1, 1), 1.0 - self.factor[0],
                                 1.0 + self.factor[1], images.device,
                                 images.dtype if images.is_floating_point() else torch.float32)
        h_axis, w_axis = self._spatial_axes()
        mean = images.mean(dim=h_axis, keepdim=True).mean(dim=w_axis, keepdim=True)
        outputs = (images - mean) * contrast + mean
        return torch.clamp(outputs, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range,
                "seed": self.seed}


@keras_export("keras.layers.RandomBrightness")
class RandomBrightness(BaseImagePreprocessingLayer):
    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor=factor, **kwargs)
        self.seed = seed
        self.value_range = self._check_value_range(value_range)

    def transform_images(self, images, training=True):
        if not training:
            return images
        delta = self._uniform((images.shape[0], 1, 1, 1), self.factor[0], self.factor[1],
                              images.device)
        delta = (delta * (self.value_range[1] - self.value_range[0])).to(images.dtype)
        return torch.clamp(images + delta, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range,
                "seed": self.seed}
