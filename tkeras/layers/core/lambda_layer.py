"""`Lambda`: wrap a function of the inputs as a layer.

Kept from Keras: `function(inputs, **arguments)` (plus `mask=`/`training=` when the function
takes them), `output_shape` (a shape without the batch axis, a structure of shapes, or a
function of the input shape), `mask` (a value, or a function `(inputs, mask)`), and the config
format: a Python lambda is written as Keras's `__lambda__` bytecode entry (so Keras can load it
with `safe_mode=False`), a named function by its (registered) name.

Deliberate difference: tkeras never loads `__lambda__` bytecode, whatever `safe_mode` says;
register the function (`@tkeras.saving.register_keras_serializable()`) instead.
"""

import inspect
import types

from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import func_dump
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.layer import Layer


def _is_shape(x):
    return isinstance(x, (list, tuple)) and all(isinstance(e, (int, type(None))) for e in x)


def _map_shapes(fn, structure):
    if _is_shape(structure):
        return fn(tuple(structure))
    if isinstance(structure, dict):
        return {k: _map_shapes(fn, v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(_map_shapes(fn, v) for v in structure)
    return fn(structure)


def _arg_names(fn):
    try:
        return inspect.getfullargspec(fn).args
    except TypeError:
        return []


def serialize_function(fn):
    """Keras's Lambda format for a function: `__lambda__` bytecode or a named function."""
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        code, defaults, closure = func_dump(fn)
        return {"class_name": "__lambda__",
                "config": {"code": code, "defaults": defaults, "closure": closure}}
    if callable(fn):
        return serialize_keras_object(fn)
    raise ValueError(f"Invalid input type for serialization. Received: {fn} of type {type(fn)}.")


@keras_export("keras.layers.Lambda")
class Lambda(Layer):
    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.arguments = arguments or {}
        self.function = function
        self.supports_masking = mask is not None
        self.mask = mask
        self._output_shape = output_shape
        names = _arg_names(function)
        self._fn_expects_training_arg = "training" in names
        self._fn_expects_mask_arg = "mask" in names

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._fn_expects_mask_arg:
            kwargs["mask"] = mask
        if self._fn_expects_training_arg:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            from tkeras.layers.layer import map_structure
            from tkeras.model.keras_tensor import KerasTensor

            inputs = _map_shapes(lambda s: KerasTensor(s, dtype=self.compute_dtype), input_shape)
            spec = self.compute_output_spec(inputs)
            return map_structure(lambda t: t.shape, spec)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        batch_size = input_shape[0] if _is_shape(input_shape) else _first_shape(input_shape)[0]
        return _map_shapes(lambda s: (batch_size,) + tuple(s), self._output_shape)

    def compute_output_spec(self, *args, **kwargs):
        if self._output_shape is None:
            from tkeras.model.keras_tensor import spec_call

            try:
                return spec_call(self, args, kwargs)
            except Exception as e:
                raise NotImplementedError(
                    "We could not automatically infer the shape of the Lambda's output. Please "
                    "specify the `output_shape` argument for this Lambda layer.") from e
        return super().compute_output_spec(*args, **kwargs)

    def get_config(self):
        config = {"function": serialize_function(self.function)}
        if self._output_shape is not None:
            config["output_shape"] = (serialize_function(self._output_shape)
                                      if callable(self._output_shape) else self._output_shape)
        if self.mask is not None:
            config["mask"] = (serialize_function(self.mask) if callable(self.mask)
                              else serialize_keras_object(self.mask))
        config["arguments"] = serialize_keras_object(self.arguments)
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        """Named functions resolve through the registry; `__lambda__` bytecode is refused."""
        config = dict(config)
        config["function"] = deserialize_keras_object(config["function"],
                                                      custom_objects=custom_objects)
        if "output_shape" in config:
            output_shape = deserialize_keras_object(config["output_shape"],
                                                    custom_objects=custom_objects)
            if _is_shape(output_shape):
                output_shape = tuple(output_shape)
            config["output_shape"] = output_shape
        if isinstance(config.get("mask"), dict) and "class_name" in config["mask"]:
            config["mask"] = deserialize_keras_object(config["mask"],
                                                      custom_objects=custom_objects)
        if "arguments" in config:
            config["arguments"] = deserialize_keras_object(config["arguments"],
                                                           custom_objects=custom_objects)
        return super().from_config(config)


def _first_shape(structure):
    if _is_shape(structure):
        return structure
    values = structure.values() if isinstance(structure, dict) else structure
    return _first_shape(next(iter(values)))
