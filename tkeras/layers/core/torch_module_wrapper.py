"""`TorchModuleWrapper`: use any `torch.nn.Module` as a tkeras layer.

Kept from Keras 3 (torch backend): the module's parameters are the layer's weights (trainable
when `requires_grad`, in `module.parameters()` order), `call(*args, training=..., **kwargs)`
runs the module in train or eval mode, `output_shape` helps shape inference, and weight files
store the module's `state_dict` entries (buffers included) under its keys, as Keras does.

tkeras turns each parameter into a `KerasVariable` that shares the original storage and puts it
back in the module, so the module, `layer.weights`, `state_dict()` and any optimizer all see the
same tensors.

Deliberate differences:
- Keras's config pickles the module (`torch.save`, base64). tkeras never pickles or unpickles:
  `get_config()` works only when the module's class is registered
  (`@tkeras.saving.register_keras_serializable()`, with `get_config`/`from_config`), and
  `from_config` refuses Keras's pickled modules.
- A call without `training` runs the module in eval mode (tkeras's usual inference default;
  Keras would switch it to train mode), and only the wrapped module's mode is changed.
"""

import numpy as np
import torch
from torch import nn

from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import get_registered_name
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.core.variables import KerasVariable
from tkeras.layers.layer import Layer


@keras_export("keras.layers.TorchModuleWrapper")
class TorchModuleWrapper(Layer):
    def __init__(self, module, name=None, output_shape=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(module, nn.Module):
            raise ValueError(f"`module` must be a `torch.nn.Module`. Received: module={module}")
        if isinstance(module, nn.modules.lazy.LazyModuleMixin) and (
                module.has_uninitialized_params()):
            raise ValueError("LazyModules are not supported unless they are already initialized. "
                             f"Received uninitialized LazyModule: module={module}")
        self._track_module_parameters(module)
        self.module = module
        self.output_shape = tuple(output_shape) if isinstance(output_shape, list) else output_shape
        self.built = True

    def _track_module_parameters(self, module):
        """Replace every parameter of `module` by a KerasVariable on the same storage (shared
        parameters stay shared) and track them in `module.parameters()` order."""
        variables = {}
        for prefix, sub in module.named_modules(remove_duplicate=False):
            for pname, param in list(sub._parameters.items()):
                if param is None:
                    continue
                variable = variables.get(id(param))
                if variable is None:
                    if isinstance(param, KerasVariable):
                        variable = param
                    else:
                        key = f"{prefix}.{pname}" if prefix else pname
                        variable = KerasVariable(param.data, trainable=param.requires_grad,
                                                 name=key, path=f"{self.name}/{key}")
                    variables[id(param)] = variable
                sub._parameters[pname] = variable
        for variable in module.parameters():
            if variable.trainable:
                self._trainable_variables.append(variable)
            else:
                self._non_trainable_variables.append(variable)

    def call(self, *args, training=None, **kwargs):
        training = bool(training)
        if self.module.training != training:
            self.module.train(training)
        return self.module(*args, **kwargs)

    def compute_output_shape(self, input_shape):
        if self.output_shape is None:
            return super().compute_output_shape(input_shape)
        return tuple(self.output_shape)

    def compute_output_spec(self, *args, **kwargs):
        if self.output_shape is None:
            from tkeras.model.keras_tensor import spec_call

            return spec_call(self, args, kwargs)
        return super().compute_output_spec(*args, **kwargs)

    # Weight files: the module's state_dict, as Keras writes it.
    def save_own_variables(self, store):
        for key, value in self.module.state_dict().items():
            store[key] = value.detach().cpu().numpy()

    def load_own_variables(self, store):
        state_dict = {}
        for key in store.keys():
            name = key.decode() if isinstance(key, bytes) else key
            state_dict[name] = torch.as_tensor(np.asarray(store[key]))
        self.module.load_state_dict(state_dict)

    def get_config(self):
        cls = type(self.module)
        if ">" not in get_registered_name(cls):
            raise ValueError(
                f"TorchModuleWrapper '{self.name}' cannot be serialized: its module "
                f"({cls.__name__}) is not a registered class. Keras pickles the module, and "
                "unpickling can run arbitrary code, so tkeras neither writes nor reads pickles. "
                "Register the module class with `@tkeras.saving.register_keras_serializable()` "
                "and give it `get_config()`/`from_config()`, or save only the weights "
                "(`save_weights`)."
            )
        return {**super().get_config(), "module": serialize_keras_object(self.module),
                "output_shape": self.output_shape}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        module = config.get("module")
        if isinstance(module, str):
            raise ValueError(
                "This TorchModuleWrapper config holds a pickled torch module (Keras's format). "
                "tkeras never unpickles (`torch.load(weights_only=False)` can run arbitrary "
                "code). Rebuild the module in Python and wrap it, or register its class with "
                "`@tkeras.saving.register_keras_serializable()` and save it again from tkeras."
            )
        config["module"] = deserialize_keras_object(module, custom_objects=custom_objects)
        return super().from_config(config)
