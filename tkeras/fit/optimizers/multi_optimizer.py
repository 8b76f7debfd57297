"""`OptimizerMap` and `MultiOptimizer`: different optimizers for different variables.

Keras behaviour kept: an `OptimizerMap` maps variable paths to optimizers (exact key first, else
the one key that `re.fullmatch`es, else the default); `MultiOptimizer` takes a map or any
callable `variable -> optimizer`, builds each inner optimizer on its own variables, dispatches
gradients, and counts its own `iterations`. Its `variables` are its own (`iteration`,
`learning_rate`) followed by each inner optimizer's, in the order the inner optimizers were met
(the map's values, then its default, then any new ones a callable returns), so saved optimizer
state lines up with Keras's. `learning_rate` is not available on it (set it on the inner
optimizers); `loss_scale_factor` is forwarded to them.
"""

import re
from collections.abc import MutableMapping

import torch

from tkeras.core.registry import deserialize_keras_object, keras_export, serialize_keras_object
from tkeras.fit.optimizers.base import Optimizer
from tkeras.fit.optimizers.loss_scale_optimizer import LossScaleOptimizer


@keras_export("keras.optimizers.OptimizerMap")
class OptimizerMap(MutableMapping):
    """Variable path (or regex over paths) -> optimizer, with a default for unmapped ones."""

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError("default_optimizer must be a Keras Optimizer instance. "
                            f"Received: {default_optimizer}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = optimizer_map or {}

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matches = [p for p in self._optimizer_map if re.fullmatch(p, key)]
        if len(matches) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}.")
        return self._optimizer_map[matches[0]] if matches else self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(
                f"'{key}' already exists in the OptimizerMap with value "
                f"{self._optimizer_map[key]}. Please make sure to not use duplicated keys.")
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be a Keras Optimizer instance. Received: {optimizer}")
        if isinstance(optimizer, LossScaleOptimizer):
            raise ValueError("optimizer cannot be LossScaleOptimizer.")
        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("optimizer cannot be MultiOptimizer.")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        return self[variable.path]

    def get_config(self):
        return {"default_optimizer": serialize_keras_object(self._default_optimizer),
                "optimizer_map": serialize_keras_object(self._optimizer_map)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(deserialize_keras_object(config["default_optimizer"], custom_objects),
                   deserialize_keras_object(config["optimizer_map"], custom_objects))


@keras_export("keras.optimizers.MultiOptimizer")
class MultiOptimizer(Optimizer):
    """Delegates each variable to the optimizer `optimizer_map(variable)` returns."""

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        self._inner_optimizers = []
        candidates = list(optimizer_map.values()) if hasattr(optimizer_map, "values") else []
        default = getattr(optimizer_map, "default_optimizer", None)
        for opt in candidates + ([default] if default is not None else []):
            self._add_inner(opt)

    def _add_inner(self, opt):
        if not any(opt is known for known in self._inner_optimizers):
            opt.loss_scale_factor = self.loss_scale_factor
            self._inner_optimizers.append(opt)

    def _inner_index(self, opt):
        return next(i for i, known in enumerate(self._inner_optimizers) if known is opt)

    def build(self, var_list):
        if self.built:
            return
        var_list = list(var_list)
        self._var_to_optimizer_idx = {}
        for variable in var_list:
            opt = self._optimizer_map(variable)
            if not isinstance(opt, Optimizer):
                raise ValueError(f"Optimizer for variable {variable} is not an Optimizer instance.")
            if isinstance(opt, LossScaleOptimizer):
                raise ValueError("LossScaleOptimizer cannot be used inside an MultiOptimizer.")
            if isinstance(opt, MultiOptimizer):
                raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
            self._add_inner(opt)
            self._var_to_optimizer_idx[id(variable)] = self._inner_index(opt)
        for opt, variables in zip(self._inner_optimizers, self._split(var_list)):
            if variables:
                opt.build(variables)
        super().build(var_list)

    def _split(self, items, variables=None):
        """`items` (variables, or anything aligned with `variables`) per inner optimizer."""
        groups = [[] for _ in self._inner_optimizers]
        for item, variable in zip(items, items if variables is None else variables):
            groups[self._var_to_optimizer_idx[id(variable)]].append(item)
        return groups

    @property
    def optimizers(self):
        return self._inner_optimizers

    @property
    def variables(self):
        variables = self._variables[:]
        for opt in self._inner_optimizers:
            variables.extend(opt.variables)
        return variables

    @property
    def learning_rate(self):
        raise AttributeError(
            "Learning rate cannot be accessed on a MultiOptimizer. "
            "Access the learning rate on the individual sub-optimizers instead.")

    @learning_rate.setter
    def learning_rate(self, value):
        raise AttributeError(
            "Learning rate cannot be set on a MultiOptimizer. "
            "Set the learning rate on the individual sub-optimizers instead.")

    @property
    def loss_scale_factor(self):
        return getattr(self, "_loss_scale_factor", None)

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        self._loss_scale_factor = value
        for opt in getattr(self, "_inner_optimizers", ()):
            opt.loss_scale_factor = value

    @property
    def iterations(self):
        return self._iterations

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be "
                    "built on a list of variables. Call `optimizer.build(trainable_variables)` "
                    "first.")
            trainable_variables = self._trainable_variables
        trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        if len(grads) != len(self._trainable_variables):
            raise ValueError(
                "Gradients must match trainable variables one-to-one. Received "
                f"{len(grads)} gradients and {len(self._trainable_variables)} variables.")
        grad_groups = self._split(grads, trainable_variables)
        for opt, sub_grads, sub_vars in zip(self._inner_optimizers, grad_groups,
                                            self._split(trainable_variables)):
            if sub_grads:
                opt.apply(sub_grads, sub_vars)
        with torch.no_grad():
            self._iterations.add_(1)
        self._host_iterations += 1

    def finalize_variable_values(self, var_list=None):
        var_list = self._trainable_variables if var_list is None else list(var_list)
        for opt, variables in zip(self._inner_optimizers, self._split(var_list)):
            if variables:
                opt.finalize_variable_values(variables)

    def _sync_host_state(self):
        super()._sync_host_state()
        for opt in self._inner_optimizers:
            opt._sync_host_state()

    def get_config(self):
        return {"optimizer_map": serialize_keras_object(self._optimizer_map),
                "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer_map"] = deserialize_keras_object(config["optimizer_map"],
                                                           custom_objects=custom_objects)
        return cls(**config)
