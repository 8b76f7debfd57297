"""`Sequential`: a plain stack of layers.

As in Keras, the model is built as soon as its input shape is known (an `Input` first, or a
first layer given `input_shape=`/`batch_input_shape=`), otherwise on the first call.
`model.layers` excludes the input layer.
"""

import torch

from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.input_layer import InputLayer
from tkeras.layers.layer import CALL_STATE
from tkeras.layers.layer import Layer
from tkeras.layers.layer import _attach_mask
from tkeras.layers.layer import shape_of
from tkeras.model.keras_tensor import KerasTensor
from tkeras.model.model import Model


@keras_export("keras.Sequential", "keras.models.Sequential")
class Sequential(Model):
    def __init__(self, layers=None, trainable=True, name=None, **kwargs):
        Model.__init__(self, trainable=trainable, name=name, **kwargs)
        object.__setattr__(self, "_input_layer", None)
        self._graph_inputs = None
        self._graph_outputs = None
        if layers:
            for layer in layers:
                self.add(layer, rebuild=False)
            self._maybe_rebuild()

    def add(self, layer, rebuild=True):
        """Append a layer (or an `Input`) to the stack."""
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history.operation
        if not isinstance(layer, Layer):
            raise ValueError(
                "Only instances of `tkeras.Layer` can be added to a Sequential model. "
                f"Received: {layer} (of type {type(layer)})"
            )
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or len(self._modules):
                raise ValueError(
                    f"Sequential model '{self.name}' has already been configured to use an input "
                    "layer; an InputLayer can only be the first layer."
                )
            object.__setattr__(self, "_input_layer", layer)
        else:
            if any(l.name == layer.name for l in self.layers):
                raise ValueError(
                    "All layers added to a Sequential model should have unique names. Name "
                    f'"{layer.name}" is already the name of a layer in this model.'
                )
            if self._input_layer is None and not self._modules and getattr(
                    layer, "_batch_input_shape", None) is not None:
                object.__setattr__(self, "_input_layer",
                                   InputLayer(batch_shape=layer._batch_input_shape))
            self._modules[layer.name.replace(".", "_")] = layer
        self.built = False
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild=True):
        layers = self.layers
        if not layers:
            raise TypeError("There are no layers in the model.")
        layer = layers[-1]
        for key, module in list(self._modules.items()):
            if module is layer:
                del self._modules[key]
        self.built = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    @property
    def layers(self):
        return [m for m in self._modules.values() if isinstance(m, Layer)]

    def _maybe_rebuild(self):
        self._graph_inputs = self._graph_outputs = None
        if self._input_layer is not None and self.layers:
            self.build(self._input_layer.batch_shape)
        elif self._input_layer is not None:
            self.built = False

    def build(self, input_shape=None):
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError("You must provide an `input_shape` argument.")
            input_shape = self._input_layer.batch_shape
        input_shape = tuple(input_shape)
        if self._input_layer is None:
            object.__setattr__(self, "_input_layer", InputLayer(batch_shape=input_shape))
        x = self._input_layer.output
        inputs = x
        scopes = CALL_STATE.name_scope
        scoped = not scopes or scopes[-1] != self.name
        if scoped:
            scopes.append(self.name)  # variable paths: `sequential/dense/kernel`
        try:
            for layer in self.layers:
                x = layer(x)
        except NotImplementedError:
            # A layer that cannot run symbolically: build eagerly on the first real call.
            self._graph_inputs = self._graph_outputs = None
            return
        finally:
            if scoped:
                scopes.pop()
        self._graph_inputs, self._graph_outputs = inputs, x
        self._build_shapes = {"input_shape": input_shape}
        self.built = True

    def _build_from_call(self, args, kwargs):
        # As Keras: built on the first call's full shape, batch size included (the input
        # layer's `batch_shape`, summary's output shapes and `build_input_shape` show it).
        shape = shape_of(args[0])
        if isinstance(shape, tuple):
            self.build(shape)
        self.built = True

    def call(self, inputs, training=None, mask=None):
        x = inputs
        if mask is not None and isinstance(x, torch.Tensor):
            _attach_mask(x, mask)
        for layer in self._modules.values():  # `self.layers`, without building the list
            if isinstance(layer, Layer):
                x = layer(x)
        return x

    def compute_output_spec(self, inputs, training=None, mask=None):
        x = inputs
        for layer in self.layers:
            x = layer.compute_output_spec(x)
        return x

    @property
    def input_dtype(self):
        """As Keras: the input layer's dtype, when the model has one."""
        if self._input_layer is not None:
            return self._input_layer.dtype
        return super().input_dtype

    @property
    def inputs(self):
        if self._graph_inputs is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined inputs yet.")
        return [self._graph_inputs]

    @property
    def outputs(self):
        if self._graph_outputs is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined outputs yet.")
        return [self._graph_outputs]

    @property
    def input(self):
        return self.inputs[0]

    @property
    def output(self):
        return self.outputs[0]

    @property
    def input_shape(self):
        return self.inputs[0].shape

    @property
    def output_shape(self):
        return self.outputs[0].shape

    def get_config(self):
        layer_configs = []
        if self._input_layer is not None:
            layer_configs.append(serialize_keras_object(self._input_layer))
        for layer in self.layers:
            layer_configs.append(serialize_keras_object(layer))
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self._serialized_dtype(),
            "layers": layer_configs,
        }
        if self._build_shapes is not None:
            config["build_input_shape"] = list(self._build_shapes["input_shape"])
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if isinstance(config, list):  # very old Keras: a bare list of layer configs
            config = {"layers": config}
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for layer_config in config["layers"]:
            layer = deserialize_keras_object(layer_config, custom_objects=custom_objects,
                                             printable_module_name="layers")
            model.add(layer, rebuild=False)
        if not model.built:
            model._maybe_rebuild()
        build_shape = config.get("build_input_shape")
        if not model.built and build_shape:
            model.build(tuple(build_shape))
        return model
