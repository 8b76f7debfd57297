"""`MaxNumBoundingBoxes`: pad or truncate bounding boxes to a fixed count.

Keras behaviour kept: image tensors pass through unchanged; a dict input
`{"images", "bounding_boxes": {"boxes", "labels"}, ...}` (requires `bounding_box_format`) gets
`boxes` (batch, n, 4) and `labels` (batch, n) cut or padded with `fill_value` to
`max_number` along axis 1; other keys pass through. As in Keras, `fill_value` is not part of
the config. Dense box tensors only (Keras also densifies ragged inputs).
"""

import torch
import torch.nn.functional as F

from tkeras.core.registry import keras_export
from tkeras.layers.preprocessing.base import BaseImagePreprocessingLayer


@keras_export("keras.layers.MaxNumBoundingBoxes")
class MaxNumBoundingBoxes(BaseImagePreprocessingLayer):
    def __init__(self, max_number, fill_value=-1, **kwargs):
        super().__init__(**kwargs)
        self.max_number = int(max_number)
        self.fill_value = int(fill_value)

    def call(self, inputs, training=True):
        if not isinstance(inputs, dict):
            return super().call(inputs, training=training)
        outputs = dict(inputs)
        if "bounding_boxes" in inputs:
            if not self.bounding_box_format:
                raise ValueError(
                    "You passed an input with a 'bounding_boxes' key, but you didn't specify a "
                    "bounding box format. Pass a `bounding_box_format` argument to your "
                    f"{self.__class__.__name__} layer, e.g. `bounding_box_format='xyxy'`.")
            unbatched = torch.as_tensor(inputs["images"]).ndim == 3
            boxes = dict(inputs["bounding_boxes"])
            for key, rank in (("boxes", 3), ("labels", 2)):
                value = torch.as_tensor(boxes[key])
                value = value.unsqueeze(0) if unbatched else value
                value = self._fit(value, rank)
                boxes[key] = value.squeeze(0) if unbatched else value
            outputs["bounding_boxes"] = boxes
        return outputs

    def _fit(self, value, rank):
        value = value[:, :self.max_number]
        pad = self.max_number - value.shape[1]
        if pad > 0:
            value = F.pad(value, (0, 0) * (rank - 2) + (0, pad), value=self.fill_value)
        return value

    def transform_images(self, images, training=True):
        return images

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict) and "bounding_boxes" in input_shape:
            extra = set(input_shape["bounding_boxes"]) - {"boxes", "labels"}
            if extra:
                raise KeyError(f"There are unsupported keys in `bounding_boxes`: {list(extra)}. "
                               "Only `boxes` and `labels` are supported.")
            boxes = dict(input_shape["bounding_boxes"])
            for key in ("boxes", "labels"):
                shape = list(boxes[key])
                shape[1] = self.max_number
                boxes[key] = shape
            input_shape = {**input_shape, "bounding_boxes": boxes}
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_number": self.max_number}
