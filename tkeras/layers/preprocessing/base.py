"""`BaseImagePreprocessingLayer`: the base of Keras 3's image preprocessing layers.

Keras behaviour kept: `call(images, training=True)` (so a layer called outside a model with no
`training` argument augments, while `Model.predict`/`evaluate` pass `training=False`); rank-3
inputs are treated as one image; `factor` validation into a `(lower, upper)` pair with
`_FACTOR_BOUNDS`; the `data_format` (and `bounding_box_format` when set) config keys.

Randomness: with an integer `seed` each layer draws from its own `torch.Generator` seeded once
(reproducible sequences, like Keras's `SeedGenerator`; the numbers themselves differ from Keras's);
with `seed=None` it draws from torch's global generator. Under `torch.compile` the global generator
is used (dynamo cannot trace a `torch.Generator`).

Deliberate difference: only image tensors are accepted; Keras's dict inputs with `labels`,
`bounding_boxes` and `segmentation_masks` raise `NotImplementedError`.
"""

import torch

from tkeras.core import dtype_policies
from tkeras.core.config import standardize_data_format
from tkeras.layers.layer import Layer


class BaseImagePreprocessingLayer(Layer):
    _USE_BASE_FACTOR = True
    _FACTOR_BOUNDS = (-1, 1)

    def __init__(self, factor=None, bounding_box_format=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.bounding_box_format = bounding_box_format
        self.data_format = standardize_data_format(data_format)
        if self._USE_BASE_FACTOR:
            self._set_factor(factor or 0.0)
        elif factor is not None:
            raise ValueError(f"Layer {self.__class__.__name__} does not take a `factor` "
                             f"argument. Received: factor={factor}")
        self._generator = None

    def _set_factor(self, factor):
        error_msg = ("The `factor` argument should be a number (or a list of two numbers) in "
                     f"the range [{self._FACTOR_BOUNDS[0]}, {self._FACTOR_BOUNDS[1]}]. "
                     f"Received: factor={factor}")
        if isinstance(factor, (tuple, list)):
            if len(factor) != 2 or factor[0] > self._FACTOR_BOUNDS[1] or (
                    factor[1] < self._FACTOR_BOUNDS[0]):
                raise ValueError(error_msg)
            lower, upper = sorted(factor)
        elif isinstance(factor, (int, float)):
            if factor < self._FACTOR_BOUNDS[0] or factor > self._FACTOR_BOUNDS[1]:
                raise ValueError(error_msg)
            factor = abs(factor)
            lower, upper = [max(-factor, self._FACTOR_BOUNDS[0]), factor]
        else:
            raise ValueError(error_msg)
        self.factor = lower, upper

    @staticmethod
    def _check_value_range(value_range):
        if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
            raise ValueError("The `value_range` argument should be a list of two numbers. "
                             f"Received: value_range={value_range}")
        return sorted(value_range)

    # ---------------------------------------------------------------------------- randomness
    def _uniform(self, shape, low, high, device, dtype=torch.float32):
        """`low + (high - low) * U[0, 1)` of `shape` (Keras's `random.uniform`)."""
        seed = getattr(self, "seed", None)
        if seed is not None and not torch.compiler.is_compiling():
            if self._generator is None:
                self._generator = torch.Generator().manual_seed(int(seed))
            u = torch.rand(shape, generator=self._generator, dtype=dtype).to(device)
        else:
            u = torch.rand(shape, dtype=dtype, device=device)
        return (high - low) * u + low

    # ---------------------------------------------------------------------------- call
    def call(self, inputs, training=True):
        if isinstance(inputs, dict):
            raise NotImplementedError(
                f"{self.__class__.__name__}: dict inputs (images with labels, bounding boxes or "
                "segmentation masks) are not supported by tkeras; pass an image tensor.")
        if inputs.ndim == 3:
            return self.transform_images(inputs.unsqueeze(0), training=training).squeeze(0)
        if inputs.ndim != 4:
            raise ValueError("Expected image tensor to have rank 3 (single image) or rank 4 "
                             f"(batch of images). Received: data.shape={tuple(inputs.shape)}")
        return self.transform_images(inputs, training=training)

    def transform_images(self, images, training=True):
        """Transform a batch `(batch, height, width, channels)` (or channels-first) of images."""
        raise NotImplementedError

    def _cast(self, images):
        return images.to(dtype_policies.torch_dtype(self.compute_dtype))

    def _spatial_axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config


def transform_value_range(images, original_range, target_range):
    """Map values linearly from `original_range` to `target_range` (Keras's
    `_transform_value_range`; a no-op when the ranges are equal)."""
    if original_range[0] == target_range[0] and original_range[1] == target_range[1]:
        return images
    images = images.to(torch.float32)
    o_min, o_max = float(original_range[0]), float(original_range[1])
    t_min, t_max = float(target_range[0]), float(target_range[1])
    images = (images - o_min) / (o_max - o_min)
    return images * (t_max - t_min) + t_min
