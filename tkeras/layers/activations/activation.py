"""`Activation`: apply a named or callable activation."""

from tkeras.core import activations
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer


@keras_export("keras.layers.Activation")
class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.activation = activations.get(activation)
        self.built = True

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
