"""`Identity`: returns its inputs (any structure) unchanged; masks pass through."""

from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.layers.layer import map_structure


@keras_export("keras.layers.Identity")
class Identity(Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, inputs, **kwargs):
        from tkeras.model.keras_tensor import KerasTensor

        return map_structure(lambda x: KerasTensor(x.shape, dtype=x.dtype, sparse=x.sparse),
                             inputs)
