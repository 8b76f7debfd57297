"""`Pipeline`: apply preprocessing layers one after the other.

Keras behaviour kept: `call(inputs, training=True, mask=None)` passes `training` and each output's
`_keras_mask` on to the next layer; the config is only `layers` (serialized layers) and `name`.
"""

from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.layer import Layer


@keras_export("keras.layers.Pipeline")
class Pipeline(Layer):

    _convert_input_args = False  # as Keras: inputs reach `call` unconverted
    def __init__(self, layers, name=None):
        super().__init__(name=name)
        self._pipeline_layers = list(layers)
        for i, layer in enumerate(self._pipeline_layers):
            self.add_module(str(i), layer)

    @property
    def layers(self):
        return self._pipeline_layers

    def call(self, inputs, training=True, mask=None):
        for layer in self._pipeline_layers:
            outputs = layer(inputs, training=training, mask=mask)
            mask = getattr(outputs, "_keras_mask", None)
            inputs = outputs
        return inputs

    def compute_output_shape(self, input_shape):
        for layer in self._pipeline_layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    @classmethod
    def from_config(cls, config):
        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError("`Pipeline` config must contain a `layers` key mapping to a list of "
                             f"serialized layers. Received config with layers={layers}.")
        layers = [deserialize_keras_object(x, printable_module_name="layers") for x in layers]
        return cls(**{**config, "layers": layers})

    def get_config(self):
        return {"layers": [serialize_keras_object(layer) for layer in self._pipeline_layers],
                "name": self.name}
