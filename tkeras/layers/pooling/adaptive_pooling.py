"""`BaseAdaptivePooling` and AdaptiveMax/AdaptiveAveragePooling1D/2D/3D.

Keras semantics kept (they are torch's): output window `i` covers input positions
`floor(i * L / out)` to `ceil((i + 1) * L / out)`; `output_size` is an int or a tuple of `rank`
ints, stored as a tuple; no input spec; `data_format` defaults to `image_data_format()`.
"""

import torch.nn.functional as F

from tkeras.core.config import image_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.layer import Layer

ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}
ADAPTIVE_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
_SIZE_NAMES = {1: "tuple of 1 integer", 2: "(height, width) tuple",
               3: "(depth, height, width) tuple"}


class BaseAdaptivePooling(Layer):
    pool_ops = None

    def __init__(self, rank, output_size, data_format=None, **kwargs):
        if isinstance(output_size, int):
            output_size = (output_size,) * rank
        elif isinstance(output_size, (tuple, list)) and len(output_size) == rank:
            output_size = tuple(output_size)
        elif rank == 1 and isinstance(output_size, (tuple, list)):
            raise ValueError(
                f"For 1D input, `output_size` tuple must have length 1. Received: {output_size}")
        else:
            raise TypeError(f"`output_size` must be an integer or {_SIZE_NAMES[rank]}. "
                            f"Received: {output_size} of type {type(output_size)}")
        super().__init__(**kwargs)
        self.output_size = output_size
        self.data_format = data_format or image_data_format()
        if self.data_format not in {"channels_first", "channels_last"}:
            raise ValueError(f"Invalid data_format: {self.data_format}. "
                             "Expected 'channels_first' or 'channels_last'.")

    def call(self, inputs):
        x = conv_utils.to_channels_first(inputs, self.data_format)
        outputs = self.pool_ops[len(self.output_size)](x, self.output_size)
        return conv_utils.to_data_format(outputs, self.data_format)

    def compute_output_shape(self, input_shape):
        channels = input_shape[conv_utils.channel_axis(self.data_format)]
        return conv_utils.with_spatial(input_shape, self.output_size, channels, self.data_format)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size,
                "data_format": self.data_format}


class BaseAdaptiveAveragePooling(BaseAdaptivePooling):
    pool_ops = ADAPTIVE_AVG


class BaseAdaptiveMaxPooling(BaseAdaptivePooling):
    pool_ops = ADAPTIVE_MAX


@keras_export("keras.layers.AdaptiveAveragePooling1D")
class AdaptiveAveragePooling1D(BaseAdaptiveAveragePooling):
    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(1, output_size, data_format, **kwargs)


@keras_export("keras.layers.AdaptiveAveragePooling2D")
class AdaptiveAveragePooling2D(BaseAdaptiveAveragePooling):
    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(2, output_size, data_format, **kwargs)


@keras_export("keras.layers.AdaptiveAveragePooling3D")
class AdaptiveAveragePooling3D(BaseAdaptiveAveragePooling):
    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(3, output_size, data_format, **kwargs)


@keras_export("keras.layers.AdaptiveMaxPooling1D")
class AdaptiveMaxPooling1D(BaseAdaptiveMaxPooling):
    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(1, output_size, data_format, **kwargs)


@keras_export("keras.layers.AdaptiveMaxPooling2D")
class AdaptiveMaxPooling2D(BaseAdaptiveMaxPooling):
    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(2, output_size, data_format, **kwargs)


@keras_export("keras.layers.AdaptiveMaxPooling3D")
class AdaptiveMaxPooling3D(BaseAdaptiveMaxPooling):
    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(3, output_size, data_format, **kwargs)
