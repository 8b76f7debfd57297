"""`BasePooling` and Max/AveragePooling1D/2D/3D.

Runs torch's pooling on a channels-first view of the input (channels_last inputs keep torch's
channels_last memory format). "same" padding is TF's (odd pixel at the end). Max pooling pads with
-inf. Average pooling never counts padded positions (TF/JAX semantics; `conv_utils.average_pool`):
symmetric paddings use torch's `count_include_pad=False`; asymmetric ones divide the zero-padded
window sums by the number of real positions in each window.

Deliberate difference: Keras 3.15.1's *torch backend* replicates edge values for asymmetric
"same" average pooling (so they are counted); this was fixed upstream (keras-team/keras#23233)
to the TF semantics used here.
"""

from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer


class BasePooling(Layer):
    def __init__(self, pool_size, strides, pool_dimensions, pool_mode="max", padding="valid",
                 data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = conv_utils.standardize_tuple(pool_size, pool_dimensions, "pool_size")
        strides = pool_size if strides is None else strides
        self.strides = conv_utils.standardize_tuple(strides, pool_dimensions, "strides",
                                                    allow_zero=True)
        self.pool_mode = pool_mode
        self.padding = padding
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=pool_dimensions + 2)

    def call(self, inputs):
        x = conv_utils.to_channels_first(inputs, self.data_format)
        padding = self.padding.lower()
        if self.pool_mode == "max":
            outputs = conv_utils.max_pool(x, self.pool_size, self.strides, padding)
        elif self.pool_mode == "average":
            outputs = conv_utils.average_pool(x, self.pool_size, self.strides, padding)
        else:
            raise ValueError(
                f"`pool_mode` must be either 'max' or 'average'. Received: {self.pool_mode}.")
        return conv_utils.to_data_format(outputs, self.data_format)

    def compute_output_shape(self, input_shape):
        same = self.padding.lower() == "same"
        spatial = []
        for n, k, s in zip(conv_utils.spatial_shape(input_shape, self.data_format),
                           self.pool_size, self.strides):
            if n is None:
                spatial.append(None)
            elif same:
                spatial.append((n - 1) // s + 1)
            else:
                out = (n - k) // s + 1
                if out <= 0:
                    raise ValueError(
                        "Computed output size would be zero or negative. Received: "
                        f"`inputs.shape={tuple(input_shape)}`, `pool_size={self.pool_size}`, "
                        f"`strides={self.strides}`, `padding={self.padding}`.")
                spatial.append(out)
        channels = input_shape[conv_utils.channel_axis(self.data_format)]
        return conv_utils.with_spatial(input_shape, spatial, channels, self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


@keras_export("keras.layers.MaxPooling1D", "keras.layers.MaxPool1D")
class MaxPooling1D(BasePooling):
    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, pool_dimensions=1, pool_mode="max",
                         padding=padding, data_format=data_format, name=name, **kwargs)


@keras_export("keras.layers.MaxPooling2D", "keras.layers.MaxPool2D")
class MaxPooling2D(BasePooling):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, pool_dimensions=2, pool_mode="max",
                         padding=padding, data_format=data_format, name=name, **kwargs)


@keras_export("keras.layers.MaxPooling3D", "keras.layers.MaxPool3D")
class MaxPooling3D(BasePooling):
    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, pool_dimensions=3, pool_mode="max",
                         padding=padding, data_format=data_format, name=name, **kwargs)


@keras_export("keras.layers.AveragePooling1D", "keras.layers.AvgPool1D")
class AveragePooling1D(BasePooling):
    def __init__(self, pool_size, strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, pool_dimensions=1, pool_mode="average",
                         padding=padding, data_format=data_format, name=name, **kwargs)


@keras_export("keras.layers.AveragePooling2D", "keras.layers.AvgPool2D")
class AveragePooling2D(BasePooling):
    def __init__(self, pool_size, strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, pool_dimensions=2, pool_mode="average",
                         padding=padding, data_format=data_format, name=name, **kwargs)


@keras_export("keras.layers.AveragePooling3D", "keras.layers.AvgPool3D")
class AveragePooling3D(BasePooling):
    def __init__(self, pool_size, strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, pool_dimensions=3, pool_mode="average",
                         padding=padding, data_format=data_format, name=name, **kwargs)
