"""`BaseGlobalPooling` and GlobalMax/GlobalAveragePooling1D/2D/3D: a max/mean over the spatial
axes (`keepdims` keeps them with length 1). GlobalAveragePooling1D supports masks: the mean is
taken over unmasked steps only, and no mask is passed on (as Keras)."""

from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer


class BaseGlobalPooling(Layer):
    def __init__(self, pool_dimensions, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.pool_dimensions = pool_dimensions
        self.data_format = standardize_data_format(data_format)
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=pool_dimensions + 2)

    @property
    def spatial_axes(self):
        start = 1 if self.data_format == "channels_last" else 2
        return tuple(range(start, start + self.pool_dimensions))

    def compute_output_shape(self, input_shape):
        spatial = (1,) * self.pool_dimensions if self.keepdims else ()
        if self.data_format == "channels_last":
            return (input_shape[0], *spatial, input_shape[-1])
        return (input_shape[0], input_shape[1], *spatial)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling(BaseGlobalPooling):
    def call(self, inputs):
        return inputs.amax(dim=self.spatial_axes, keepdim=self.keepdims)


class GlobalAveragePooling(BaseGlobalPooling):
    def call(self, inputs):
        return inputs.mean(dim=self.spatial_axes, keepdim=self.keepdims)


@keras_export("keras.layers.GlobalAveragePooling1D", "keras.layers.GlobalAvgPool1D")
class GlobalAveragePooling1D(GlobalAveragePooling):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(pool_dimensions=1, data_format=data_format, keepdims=keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        steps_axis = self.spatial_axes[0]
        mask = mask.bool().unsqueeze(2 if self.data_format == "channels_last" else 1)
        total = inputs.masked_fill(~mask, 0).sum(dim=steps_axis, keepdim=self.keepdims)
        return total / mask.to(inputs.dtype).sum(dim=steps_axis, keepdim=self.keepdims)

    def compute_mask(self, inputs, previous_mask):
        return None


@keras_export("keras.layers.GlobalAveragePooling2D", "keras.layers.GlobalAvgPool2D")
class GlobalAveragePooling2D(GlobalAveragePooling):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(pool_dimensions=2, data_format=data_format, keepdims=keepdims, **kwargs)


@keras_export("keras.layers.GlobalAveragePooling3D", "keras.layers.GlobalAvgPool3D")
class GlobalAveragePooling3D(GlobalAveragePooling):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(pool_dimensions=3, data_format=data_format, keepdims=keepdims, **kwargs)


@keras_export("keras.layers.GlobalMaxPooling1D", "keras.layers.GlobalMaxPool1D")
class GlobalMaxPooling1D(GlobalMaxPooling):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(pool_dimensions=1, data_format=data_format, keepdims=keepdims, **kwargs)


@keras_export("keras.layers.GlobalMaxPooling2D", "keras.layers.GlobalMaxPool2D")
class GlobalMaxPooling2D(GlobalMaxPooling):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(pool_dimensions=2, data_format=data_format, keepdims=keepdims, **kwargs)


@keras_export("keras.layers.GlobalMaxPooling3D", "keras.layers.GlobalMaxPool3D")
class GlobalMaxPooling3D(GlobalMaxPooling):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(pool_dimensions=3, data_format=data_format, keepdims=keepdims, **kwargs)
