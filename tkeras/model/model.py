"""`Model`: the base of subclassed, functional and sequential models.

`Model(inputs, outputs)` returns a `Functional` (as in Keras); subclass `Model` and define
`call` for a subclassed model, whose sub-layers are tracked by attribute assignment.
"""

import copy
import json

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.trainer import Trainer
from tkeras.layers.layer import Layer


def _is_functional_init(args, kwargs):
    return (len(args) == 2 or (len(args) == 1 and "outputs" in kwargs)
            or ("inputs" in kwargs and "outputs" in kwargs))


@keras_export("keras.Model", "keras.models.Model")
class Model(Trainer, Layer):
    def __new__(cls, *args, **kwargs):
        if cls is Model and _is_functional_init(args, kwargs):
            from tkeras.model.functional import Functional

            return Functional.__new__(Functional, *args, **kwargs)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args, **kwargs):
        if _is_functional_init(args, kwargs):  # `class M(Model)` built as `M(inputs, outputs)`
            from tkeras.model.functional import Functional

            _inject_functional(type(self))
            Functional.__init__(self, *args, **kwargs)
            return
        trainable = kwargs.pop("trainable", True)
        name = kwargs.pop("name", None)
        dtype = kwargs.pop("dtype", None)
        if args or kwargs:
            raise TypeError(
                f"Unrecognized arguments for Model: args={args}, kwargs={list(kwargs)}. "
                "A functional model is created with `Model(inputs, outputs)`."
            )
        Layer.__init__(self, name=name, trainable=trainable, dtype=dtype)
        self._init_trainer()

    @property
    def layers(self):
        return self._layers

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in `model.layers`."""
        if index is not None and name is not None:
            raise ValueError("Provide only a layer name or a layer index, not both.")
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has "
                    f"{len(self.layers)} layers."
                )
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(
                f"No such layer: {name}. Existing layers are: {[l.name for l in self.layers]}."
            )
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def reset_states(self):
        """Reset the states of every stateful layer (Keras 2 name; Keras 3: reset_state)."""
        for module in self.modules():
            if (not isinstance(module, Model) and getattr(module, "stateful", False)
                    and callable(getattr(module, "reset_state", None))):
                module.reset_state()

    reset_state = reset_states

    def build(self, input_shape=None):
        """Build a subclassed model by running `call` once on zeros of `input_shape`."""
        if self.built or input_shape is None:
            self.built = True
            return
        if type(self).build is not Model.build:
            return
        from tkeras.model.keras_tensor import KerasTensor, _concrete

        def to_spec(shape):
            if isinstance(shape, dict):
                return {k: to_spec(v) for k, v in shape.items()}
            if isinstance(shape, list) or (shape and isinstance(shape[0], (list, tuple))):
                return [to_spec(s) for s in shape]
            return KerasTensor(shape)

        dummy = _concrete(to_spec(input_shape), (2, 7))
        self.built = True
        with torch.no_grad():
            self(dummy, training=False) if _accepts_training(self) else self(dummy)
        self._build_shapes = {"input_shape": input_shape}

    def quantize(self, mode=None, config=None, filters=None, **kwargs):
        """Quantize the weights of every leaf layer that supports it ("int8", "int4"); see
        `tkeras.layers.core.quantization.quantize_model`."""
        from tkeras.layers.core.quantization import quantize_model

        type_check = kwargs.pop("type_check", True)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to "
                             f"{self.__class__.__name__}: {kwargs}")
        if quantize_model(self, mode, config=config, filters=filters, type_check=type_check):
            # As Keras: the step functions are rebuilt; the weights `compile` saw are taken
            # again (quantization replaced the kernels).
            self.train_function = self.test_function = self.predict_function = None
            self._compiled_trainable = None

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        from tkeras.model.summary import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    def to_json(self, **kwargs):
        from tkeras.core.registry import serialize_keras_object

        return json.dumps(serialize_keras_object(self), **kwargs)

    # Files: implemented in tkeras.saving (formats in tkeras.compat). Under a distribution the
    # strategy says who writes (rank 0, with the whole weights) and re-shards what is loaded.
    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        from tkeras.fit import strategy
        from tkeras.saving import save_model

        with strategy.current().save_context(self) as writes:
            if writes:
                return save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        return None

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Keras 3: `max_shard_size` (GB) writes a `.weights.json` index plus shards."""
        from tkeras.fit import strategy
        from tkeras.saving import save_weights

        with strategy.current().save_context(self) as writes:
            if writes:
                return save_weights(self, filepath, overwrite=overwrite,
                                    max_shard_size=max_shard_size)
        return None

    def load_weights(self, filepath, skip_mismatch=False, by_name=False, **kwargs):
        from tkeras.fit import strategy
        from tkeras.saving import load_weights

        with strategy.current().load_context(self):
            return load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name,
                                **kwargs)

    def get_config(self):
        return Layer.get_config(self)

    def __reduce__(self):
        """Keras (`KerasSaveable.__reduce__`): a model pickles as its `.keras` bytes (for joblib,
        scikit-learn and multiprocessing); unpickling loads them with `safe_mode=False`."""
        import os
        import tempfile

        from tkeras.compat import keras_zip

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            keras_zip.save_keras(self, path)
            with open(path, "rb") as f:
                data = f.read()
        return (_unpickle_model, (data,))

    def __deepcopy__(self, memo):
        """`copy.deepcopy` stays torch's plain copy (same classes, copied tensors: what
        `torch.optim.swa_utils.AveragedModel` and custom, unregistered layers need); only
        pickling goes through `.keras` bytes."""
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__dict__, memo))
        return new

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tkeras.model.functional import Functional, functional_from_config

        if "layers" in config and "input_layers" in config and "output_layers" in config:
            target = cls if issubclass(cls, Functional) else Functional
            return functional_from_config(target, config, custom_objects)
        return Layer.from_config.__func__(cls, config)


def _unpickle_model(data):
    import io

    from tkeras.compat import keras_zip

    return keras_zip.load_keras_fileobj(io.BytesIO(data), "<pickle>", safe_mode=False)


def _inject_functional(cls):
    """Keras's `inject_functional_model_class`: `Functional` takes `Model`'s place among the
    bases of a `Model` subclass instantiated the functional way."""
    from tkeras.model.functional import Functional

    if cls is Model:
        return Functional
    if cls is object or not issubclass(cls, Model) or issubclass(cls, Functional):
        return cls
    cls.__bases__ = tuple(_inject_functional(base) for base in cls.__bases__)
    return cls


def _accepts_training(layer):
    from tkeras.layers.layer import _call_info

    return _call_info(type(layer))["training"]
