"""`Resizing` and `CenterCrop` (deterministic; applied in training and inference alike).

Keras behaviour kept: `Resizing` runs Keras's torch `ops.image.resize` (see `image_ops.resize`):
interpolation `bilinear`/`nearest`/`bicubic` (`area`/`lanczos*` raise on torch, as in Keras),
`antialias`, `crop_to_aspect_ratio`, `pad_to_aspect_ratio` with `fill_value`; integer images are
rounded back to their dtype. `CenterCrop` slices the central `height x width` window, or, when the
image is smaller along an axis, crops to the target aspect ratio and resizes bilinearly
(`keras.utils.smart_resize`); its output is in the compute dtype.
"""

from tkeras.core.registry import keras_export
from tkeras.layers.preprocessing import image_ops
from tkeras.layers.preprocessing.base import BaseImagePreprocessingLayer


def _resized_shape(input_shape, height, width, data_format):
    shape = list(input_shape)
    h = len(shape) - (3 if data_format == "channels_last" else 2)
    shape[h], shape[h + 1] = height, width
    return tuple(shape)


@keras_export("keras.layers.Resizing")
class Resizing(BaseImagePreprocessingLayer):
    _USE_BASE_FACTOR = False

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = height
        self.width = width
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = bool(antialias)

    def transform_images(self, images, training=True):
        resized = image_ops.resize(
            images, (self.height, self.width), interpolation=self.interpolation,
            antialias=self.antialias, crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio, fill_mode=self.fill_mode,
            fill_value=self.fill_value, data_format=self.data_format)
        return image_ops.saturate_cast(resized, images.dtype)

    def compute_output_shape(self, input_shape):
        return _resized_shape(input_shape, self.height, self.width, self.data_format)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias,
                "data_format": self.data_format}


@keras_export("keras.layers.CenterCrop")
class CenterCrop(BaseImagePreprocessingLayer):
    _USE_BASE_FACTOR = False

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = height
        self.width = width

    def transform_images(self, images, training=True):
        images = self._cast(images)
        h_axis, w_axis = self._spatial_axes()
        h_diff = images.shape[h_axis] - self.height
        w_diff = images.shape[w_axis] - self.width
        if h_diff >= 0 and w_diff >= 0:
            return images.narrow(h_axis, h_diff // 2, self.height).narrow(
                w_axis, w_diff // 2, self.width)
        return image_ops.smart_resize(images, (self.height, self.width), self.data_format)

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (3, 4):
            raise ValueError("`input_shape` must be a non-nested tuple or list of rank-1 with "
                             "size 3 (unbatched) or 4 (batched). ")
        return _resized_shape(input_shape, self.height, self.width, self.data_format)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "data_format": self.data_format}
