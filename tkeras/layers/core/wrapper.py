"""`Wrapper`: base of layers that wrap one other layer (`self.layer`).

Kept from Keras: the wrapped layer must be a `Layer`; `build` builds it (when not built yet);
the config holds the wrapped layer's full serialized config under `"layer"`, and `from_config`
rebuilds it through the registry. Subclasses implement `call`.
"""

import copy

from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.layer import Layer


@keras_export("keras.layers.Wrapper")
class Wrapper(Layer):
    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Layer {layer} supplied to Wrapper isn't a supported layer type. Please ensure "
                "wrapped layer is a valid Keras layer."
            )
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        if not self.layer.built:
            if input_shape is None:
                self.layer.build(input_shape)
            else:  # also records the shape as the wrapped layer's build config
                self.layer.build_from_config({"input_shape": input_shape})
            self.layer.built = True
        self.built = True

    def get_config(self):
        return {**super().get_config(), "layer": serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.copy(config)
        layer = deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects,
                                         printable_module_name="layers")
        return cls(layer, **config)
