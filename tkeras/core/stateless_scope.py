"""`keras.StatelessScope` and `Layer.stateless_call` on torch.

`StatelessScope(state_mapping)`: inside the block each mapped variable reads its mapped value,
and every in-place change to it (BatchNormalization's moving statistics, `assign`, an
optimizer step) lands in the scope's copy, not in the variable nor in the tensor that was
passed: the variable's storage is swapped for a private copy on entry and restored on exit.
`scope.get_current_value(variable)` returns that copy (None for unmapped variables that were not
updated through `add_update`); `add_loss`/`losses` collect losses when `collect_losses=True`.
Deliberate differences from Keras: gradients of computations inside the scope flow to the
variables, not to the mapped tensors (`stateless_call` gives gradients to the passed tensors),
and must be taken before the scope exits (ops may have saved the variables, whose storage is
restored on exit);
`assign` on an unmapped variable is recorded as in Keras, but an in-place kernel update of an
unmapped variable (not through `assign`) still lands in the variable;
`initialize_variables` is accepted and has no effect (tkeras variables are created initialized).
"""

import threading

import torch

from tkeras.core.registry import keras_export
from tkeras.core.variables import KerasVariable

_STATE = threading.local()


@keras_export("keras.StatelessScope")
class StatelessScope:
    """Scope where variables take the values in `state_mapping` (a list of `(variable, value)`)
    and their updates are recorded in the scope instead of being applied."""

    def __init__(self, state_mapping=None, collect_losses=False, initialize_variables=True):
        self.collect_losses = collect_losses
        self.initialize_variables = initialize_variables
        self.losses = []
        self.state_mapping = {}
        self._variables = {}
        self._originals = []
        for variable, value in state_mapping or ():
            if not isinstance(variable, KerasVariable):
                raise ValueError(
                    "Invalid reference variable in StatelessScope: all keys in argument "
                    f"`mapping` must be Variable instances. Received instead: {variable}"
                )
            value = torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value,
                                    dtype=variable.dtype, device=variable.device)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    "Invalid variable value in StatelessScope: all values in argument `mapping` "
                    "must be tensors with a shape that matches the corresponding variable "
                    f"shape. For variable {variable}, received invalid value {value} with "
                    f"shape {tuple(value.shape)}."
                )
            self.state_mapping[id(variable)] = value
            self._variables[id(variable)] = variable

    def __enter__(self):
        self.original_scope = get_stateless_scope()
        _STATE.scope = self
        for key, variable in self._variables.items():
            self._swap_in(variable, self.state_mapping[key])
        return self

    def __exit__(self, *exc):
        for variable, original in reversed(self._originals):
            variable.data = original
        self._originals = []
        _STATE.scope = self.original_scope

    def _swap_in(self, variable, value):
        """Point `variable` at a private copy of `value` until the scope exits."""
        live = value.detach().to(device=variable.device, dtype=variable.dtype).clone()
        self._originals.append((variable, variable.data))
        variable.data = live
        self.state_mapping[id(variable)] = live
        self._variables[id(variable)] = variable

    def add_loss(self, loss):
        self.losses.append(loss)

    def add_update(self, update):
        """Record `variable`'s new value: it is read inside the scope; the variable is kept."""
        variable, value = update
        value = torch.as_tensor(value)
        if get_stateless_scope() is self:
            live = self.state_mapping.get(id(variable))
            if live is not None and variable.data is live:
                with torch.no_grad():
                    live.copy_(value)
            else:
                self._swap_in(variable, value)
        else:
            self.state_mapping[id(variable)] = value

    def get_current_value(self, variable):
        return self.state_mapping.get(id(variable), None)


def get_stateless_scope():
    return getattr(_STATE, "scope", None)


def in_stateless_scope():
    return get_stateless_scope() is not None


def stateless_call(layer, trainable_variables, non_trainable_variables, args, kwargs,
                   return_losses=False):
    """`layer(*args, **kwargs)` with its variables taken from the two lists (Keras's
    `Layer.stateless_call`); returns `(outputs, non_trainable_variables[, losses])`.

    All values are substituted in the module (`torch.func.functional_call`) inside a
    `StatelessScope`: gradients reach the trainable tensors passed in, and non-trainable
    updates come back as new tensors; nothing passed in or held by the layer changes.
    """
    if not layer.built:
        raise ValueError(
            f"To call stateless_call, {layer.__class__.__name__} must be built (i.e. its "
            "variables must have been already created). You can build it by calling it on "
            "some data."
        )
    trainable, non_trainable = layer.trainable_variables, layer.non_trainable_variables
    if len(trainable_variables) != len(trainable):
        raise ValueError(
            "Argument `trainable_variables` must be a list of tensors corresponding 1:1 to "
            f"{layer.__class__.__name__}().trainable_variables. Received list with length "
            f"{len(trainable_variables)}, but expected {len(trainable)} variables."
        )
    if len(non_trainable_variables) != len(non_trainable):
        raise ValueError(
            "Argument `non_trainable_variables` must be a list of tensors corresponding 1:1 to "
            f"{layer.__class__.__name__}().non_trainable_variables. Received list with length "
            f"{len(non_trainable_variables)}, but expected {len(non_trainable)} variables."
        )
    # Non-trainable values are copied: in-place updates (moving statistics) land in the
    # copies, which are returned. They are substituted in the module rather than swapped into
    # the variables, because ops save them for backward (inference BatchNormalization).
    values = {id(v): value for v, value in zip(trainable, trainable_variables)}
    values.update({id(v): torch.as_tensor(value, dtype=v.dtype, device=v.device).clone()
                   for v, value in zip(non_trainable, non_trainable_variables)})
    substitutes = {}
    for name, parameter in layer.named_parameters(remove_duplicate=False):
        if id(parameter) in values:
            value = values[id(parameter)]
            if not isinstance(value, torch.Tensor):
                value = torch.as_tensor(value, dtype=parameter.dtype, device=parameter.device)
            substitutes[name] = value
    with StatelessScope(collect_losses=return_losses):
        outputs = torch.func.functional_call(layer, substitutes, tuple(args), kwargs)
        losses = list(layer.losses) if return_losses else None
    new_non_trainable = [values[id(v)] for v in non_trainable]
    if return_losses:
        return outputs, new_non_trainable, losses
    return outputs, new_non_trainable
