"""`Optimizer`: Keras 3's optimizer base, updating torch tensors in place.

Keras behaviour kept: constructor arguments and validation, variable creation order and names
(`iteration`, `learning_rate` unless a schedule/callable is used, EMA averages, gradient
accumulators, then the optimizer's slots), the per-step order (drop `None` gradients ->
overwrite-with-gradient variables -> unscale by `loss_scale_factor` -> [accumulate] -> clip ->
decoupled weight decay `var *= 1 - lr * wd` -> update -> EMA -> constraints -> `iteration += 1`),
`get_config`/`from_config` dicts, and `save_own_variables`/`load_own_variables` in Keras's layout.

Deliberate differences: `iterations` is an int64 tensor (Keras on torch uses int32; both load
into each other). The update never reads a tensor back to the host: the learning rate and step
counter stay on the variables' device, and control flow (gradient accumulation, EMA overwrite)
uses a host mirror of the step counter, refreshed on load. Optimizer state follows the model's
device: built on the first variable's device and moved if the model moves.
"""

import re
import warnings

import numpy as np
import torch

from tkeras.core import config as keras_config
from tkeras.core.naming import auto_name
from tkeras.core.registry import (
    deserialize_keras_object,
    keras_export,
    serialize_keras_object,
)
from tkeras.core.variables import KerasVariable
from tkeras.core.variables import move_variables
from tkeras.fit.optimizers.schedules import LearningRateSchedule

_DTYPES = {
    "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
    "float64": torch.float64, "int32": torch.int32, "int64": torch.int64,
    "int": torch.int32, "bool": torch.bool,
}


def _torch_dtype(dtype):
    if dtype is None:
        return _DTYPES[keras_config.floatx()]
    if isinstance(dtype, torch.dtype):
        return dtype
    return _DTYPES[str(dtype)]


def _initial_value(initializer, shape, dtype):
    if isinstance(initializer, str):
        if initializer not in ("zeros", "ones"):
            raise ValueError(
                f"Optimizer variables accept the initializers 'zeros', 'ones', a number or a "
                f"callable `(shape, dtype)`. Received: initializer={initializer!r}"
            )
        fill = 0 if initializer == "zeros" else 1
        return torch.full(shape, fill, dtype=dtype)
    if isinstance(initializer, (int, float)):
        return torch.full(shape, initializer, dtype=dtype)
    value = initializer(shape, dtype=str(dtype).replace("torch.", ""))
    return torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value,
                           dtype=dtype).reshape(shape)


def _reference_name(variable):
    """Keras names slots after the model variable's path (`dense/kernel` -> `dense_kernel`)."""
    path = getattr(variable, "path", None)
    if path:
        return path.replace("/", "_")
    return str(getattr(variable, "name", None) or "variable").replace("/", "_").replace(":", "_")


@keras_export("keras.optimizers.Optimizer", "keras.Optimizer")
class Optimizer:
    """Base class for Keras optimizers.

    Subclasses create their slots in `build(var_list)` (calling `super().build` first) and
    either implement `update_step(gradient, variable, learning_rate)` (one variable at a time,
    as in Keras) or override `_backend_update_step(grads, variables, learning_rate)` with a
    multi-tensor (`torch._foreach_*`) update, as the built-in optimizers do.
    """

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        self.name = name if name is not None else auto_name(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.use_ema = use_ema
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        if gradient_accumulation_steps and not gradient_accumulation_steps >= 2:
            raise ValueError(
                "`gradient_accumulation_steps` must be an integer >= 2. Received: "
                f"gradient_accumulation_steps={gradient_accumulation_steps}"
            )
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError(
                    f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}"
                )
            if ema_overwrite_frequency and (
                not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1
            ):
                raise ValueError(
                    "`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                    f"ema_overwrite_frequency={ema_overwrite_frequency}"
                )
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        self.built = False
        self._device = torch.device("cpu")
        self._variables = []
        self._trainable_variables = []
        self._trainable_variables_indices = {}
        self._exclude_from_weight_decay = set()
        self._exclude_from_weight_decay_pattern = None
        self._decay_cache = {}
        self._plain_slots = {}
        self._host_iterations = 0
        self._iterations = self.add_variable((), initializer="zeros", dtype="int64",
                                             name="iteration")
        if isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            if not isinstance(learning_rate, float):
                raise ValueError(
                    "Argument `learning_rate` should be float, or an instance of "
                    "LearningRateSchedule, or a callable (that takes in the current iteration "
                    "value and returns the corresponding learning rate value). "
                    f"Received instead: learning_rate={learning_rate}"
                )
            self._learning_rate = self.add_variable((), initializer=learning_rate,
                                                    name="learning_rate")

    # ------------------------------------------------------------------ variables
    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="none",
                     layout=None, name=None):
        """Create and track a (non-trainable) optimizer variable on the optimizer's device."""
        shape = tuple(int(d) for d in shape)
        value = _initial_value(initializer, shape, _torch_dtype(dtype)).to(self._device)
        name = name or auto_name("Variable")  # Keras: unnamed variables are `variable`, `variable_1`, ...
        variable = KerasVariable(value, trainable=False, name=name, path=f"{self.name}/{name}")
        self._variables.append(variable)
        return variable

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        """A variable shaped like `reference_variable`, named `<its path>_<name>`."""
        name = f"{_reference_name(reference_variable)}_{name or 'var'}"
        return self.add_variable(tuple(reference_variable.shape), initializer=initializer,
                                 dtype=reference_variable.dtype, name=name)

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        """One slot per variable and per name, interleaved per variable as Keras does.

        Returns a list (one name) or a tuple of lists; variables with
        `overwrite_with_gradient` get `None`.
        """
        names = [name] if isinstance(name, str) else list(name)
        if isinstance(initializer, (list, tuple)):
            initializers = list(initializer)
        else:
            initializers = [initializer] * len(names)
        if len(names) != len(initializers):
            raise ValueError(
                "The number of provided names must match the number of provided initializers. "
                f"Received name='{name}', initializer='{initializer}'"
            )
        slots = tuple([] for _ in names)
        for variable in trainable_variables:
            for i, (slot_name, init) in enumerate(zip(names, initializers)):
                if self._overwrite_variable_with_gradient(variable):
                    slots[i].append(None)
                else:
                    slots[i].append(self.add_variable_from_reference(variable, slot_name, init))
        return slots[0] if isinstance(name, str) else slots

    @property
    def variables(self):
        return self._variables[:]

    @property
    def iterations(self):
        if self.gradient_accumulation_steps:
            return torch.div(self._iterations, self.gradient_accumulation_steps,
                             rounding_mode="floor")
        return self._iterations

    def _step_count(self):
        """Host copy of `iterations` (no device sync)."""
        if self.gradient_accumulation_steps:
            return self._host_iterations // self.gradient_accumulation_steps
        return self._host_iterations

    def build(self, variables):
        """Create the optimizer's state for `variables` (a list of torch Parameters)."""
        variables = list(variables)
        if variables:
            self._move_to(variables[0].device)
        if self.use_ema:
            self._model_variables_moving_average = self.add_optimizer_variables(variables,
                                                                                "average")
        if self.gradient_accumulation_steps:
            self._accumulated_gradients = []
        for i, variable in enumerate(variables):
            self._trainable_variables_indices[id(variable)] = i
            if self.gradient_accumulation_steps:
                self._accumulated_gradients.append(
                    self.add_variable_from_reference(variable, name="gradient_accumulator")
                )
        self._trainable_variables = variables
        self.built = True

    def _move_to(self, device):
        device = torch.device(device)
        if device == self._device:
            return
        self._device = device
        move_variables(self._variables, device)  # swapped: the variable objects are kept
        self._plain_slots = {}

    def _get_variable_index(self, variable):
        return self._trainable_variables_indices[id(variable)]

    def _gather(self, slots, variables):
        """The slots of `variables`, as plain tensors sharing the slots' storage.

        Plain tensors (not the Parameter objects) keep torch's per-tensor dispatch overhead out
        of the multi-tensor ops; they are cached until the state moves to another device.
        """
        plain = self._plain_slots.get(id(slots))
        if plain is None:
            plain = [None if s is None else s.data for s in slots]
            self._plain_slots[id(slots)] = plain
        if variables is self._trainable_variables:
            return plain
        return [plain[self._get_variable_index(v)] for v in variables]

    @staticmethod
    def _values(variables):
        """Plain tensors sharing the variables' storage (Keras's `[v.value for v in variables]`)."""
        return [v.data for v in variables]

    @staticmethod
    def _overwrite_variable_with_gradient(variable):
        return getattr(variable, "overwrite_with_gradient", False)

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        return self._get_current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        previous = self._learning_rate if isinstance(self._learning_rate, KerasVariable) else None
        if isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            if isinstance(self._learning_rate, LearningRateSchedule):
                raise TypeError(
                    "This optimizer was created with a `LearningRateSchedule` object as its "
                    "`learning_rate` constructor argument, hence its learning rate is not "
                    "settable. If you need the learning rate to be settable, you should "
                    "instantiate the optimizer with a float `learning_rate` argument."
                )
            with torch.no_grad():
                if isinstance(learning_rate, torch.Tensor):
                    self._learning_rate.copy_(learning_rate)
                else:
                    self._learning_rate.fill_(float(np.asarray(learning_rate)))
        if previous is not None and self._learning_rate is not previous:
            self._variables.remove(previous)

    def _get_current_learning_rate(self):
        if isinstance(self._learning_rate, LearningRateSchedule):
            return self._learning_rate(self._iterations)
        if isinstance(self._learning_rate, KerasVariable):
            return self._learning_rate
        if callable(self._learning_rate):
            return self._learning_rate()
        return self._learning_rate

    def _learning_rate_tensor(self, dtype):
        lr = self._get_current_learning_rate()
        if not isinstance(lr, torch.Tensor):
            return torch.tensor(float(lr), dtype=dtype, device=self._device)
        return lr if lr.dtype == dtype else lr.to(dtype)

    # ------------------------------------------------------------------ applying gradients
    def apply_gradients(self, grads_and_vars):
        grads, trainable_variables = zip(*grads_and_vars)
        self.apply(grads, trainable_variables)
        return self._iterations

    def apply(self, grads, trainable_variables=None):
        """Update `trainable_variables` (default: the built list) with `grads`."""
        grads = list(grads)
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be "
                    "built on a list of variables. Call `optimizer.build(trainable_variables)` "
                    "first. "
                )
            if len(grads) != len(self._trainable_variables_indices):
                raise ValueError(
                    "When passing `grads` as a list of gradient tensors, the gradients must "
                    "match `optimizer.variables` one-to-on. Received a list of "
                    f"{len(grads)} gradients, but the optimizer is tracking "
                    f"{len(self._trainable_variables)} trainable variables."
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                self.build(trainable_variables)
                self.built = True
            self._check_variables_are_known(trainable_variables)
        with torch.no_grad():
            grads, variables = self._filter_empty_gradients(grads, trainable_variables)
            grads, variables = self._overwrite_variables_directly_with_gradients(grads, variables)
            if grads:
                device = variables[0].device
                if device != self._device:
                    self._move_to(device)
                variables = self._canonical(variables)
                if self.loss_scale_factor is not None:
                    grads = torch._foreach_div(grads, self.loss_scale_factor)
                self._backend_apply_gradients(grads, variables)
                for variable in variables:
                    constraint = getattr(variable, "constraint", None)
                    if constraint is not None:
                        variable.copy_(constraint(variable))
            self._iterations.add_(1)
        self._host_iterations += 1

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """Keras's `stateless_apply`: `apply(grads)` inside a `StatelessScope` mapping the built
        trainable variables and `self.variables` to the given tensors; returns the updated
        `(trainable_variables, optimizer_variables)` and changes no variable."""
        from tkeras.core.stateless_scope import StatelessScope

        if not self.built:
            raise ValueError(
                f"To call `stateless_apply`, {self.__class__.__name__} must be built (i.e. its "
                "variables must have been created). You can build it via "
                "`optimizer.build(trainable_variables)`."
            )
        if len(optimizer_variables) != len(self.variables):
            raise ValueError(
                "Argument `optimizer_variables` must be a list of tensors corresponding 1:1 to "
                f"{self.__class__.__name__}().variables. Received list with length "
                f"{len(optimizer_variables)}, but expected {len(self.variables)} variables."
            )
        if len(trainable_variables) != len(self._trainable_variables):
            raise ValueError(
                "Argument `optimizer_variables` must be a list of tensors corresponding 1:1 to "
                "the trainable variables list that the optimizer was built with. Received "
                f"len(trainable_variables) == {len(trainable_variables)} whereas the optimizer "
                f"was built with {len(self._trainable_variables)} variables."
            )
        mapping = (list(zip(self._trainable_variables, trainable_variables))
                   + list(zip(self.variables, optimizer_variables)))
        try:
            with StatelessScope(state_mapping=mapping) as scope:
                self._sync_host_state()  # the step count comes from the mapped `iterations`
                self.apply(grads)
        finally:
            self._sync_host_state()
        return ([scope.get_current_value(v) for v in self._trainable_variables],
                [scope.get_current_value(v) for v in self.variables])

    def _check_variables_are_known(self, variables):
        for v in variables:
            if id(v) not in self._trainable_variables_indices:
                raise ValueError(
                    f"Unknown variable: {v}. This optimizer can only be called for the variables "
                    "it was originally built with. When working with a new set of variables, "
                    "you should recreate a new optimizer instance."
                )

    def _canonical(self, variables):
        """Return the built list itself when `variables` is exactly it (enables slot reuse)."""
        built = self._trainable_variables
        if len(variables) == len(built) and all(a is b for a, b in zip(variables, built)):
            return built
        return variables

    def _filter_empty_gradients(self, grads, variables):
        kept_grads, kept_vars, missing = [], [], []
        for g, v in zip(grads, variables):
            if g is None:
                missing.append(getattr(v, "path", getattr(v, "name", repr(v))))
                continue
            if not isinstance(g, torch.Tensor):
                g = torch.as_tensor(np.asarray(g))
            if g.dtype is not v.dtype or g.device != v.device:
                g = g.to(device=v.device, dtype=v.dtype)
            if g.stride() != v.stride():
                # Gradients of weights used through permuted views (conv kernels in Keras's
                # layout) come back with the view's strides; fused/foreach kernels need both
                # tensors in the same memory layout.
                g = torch.empty_like(v).copy_(g)
            kept_grads.append(g)
            kept_vars.append(v)
        if not kept_grads:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss. If "
                "using `model.compile()`, did you forget to provide a `loss` argument?"
            )
        return kept_grads, kept_vars

    def _overwrite_variables_directly_with_gradients(self, grads, variables):
        overwrite = self._overwrite_variable_with_gradient
        if not any([overwrite(v) for v in variables]):
            return grads, variables
        kept_grads, kept_vars = [], []
        for g, v in zip(grads, variables):
            if not self._overwrite_variable_with_gradient(v):
                kept_grads.append(g)
                kept_vars.append(v)
            elif self.gradient_accumulation_steps:
                acc = self._accumulated_gradients[self._get_variable_index(v)]
                if (self._host_iterations + 1) % self.gradient_accumulation_steps == 0:
                    v.copy_(torch.maximum(g, acc))
                    acc.zero_()
                else:
                    acc.copy_(torch.maximum(g, acc))
            else:
                v.copy_(g)
        return kept_grads, kept_vars

    def _backend_apply_gradients(self, grads, variables):
        if self.gradient_accumulation_steps:
            steps = self.gradient_accumulation_steps
            accumulators = self._gather(self._accumulated_gradients, variables)
            if (self._host_iterations + 1) % steps == 0:
                grads = torch._foreach_div(torch._foreach_add(grads, accumulators), steps)
                self._clip_and_update(grads, variables)
                torch._foreach_zero_([a for a in self._accumulated_gradients if a is not None])
            else:
                torch._foreach_add_(accumulators, grads)
        else:
            self._clip_and_update(grads, variables)
        if self.use_ema:
            self._update_model_variables_moving_average(self._trainable_variables)
            if self.ema_overwrite_frequency and (
                (self._step_count() + 1) % self.ema_overwrite_frequency == 0
            ):
                self._overwrite_model_variables_with_average_value(self._trainable_variables)

    def _clip_and_update(self, grads, variables):
        grads = self._clip_gradients(grads)
        self._apply_weight_decay(variables)
        self._backend_update_step(grads, variables, self._learning_rate_tensor(variables[0].dtype))

    def _backend_update_step(self, grads, variables, learning_rate):
        for grad, variable in zip(grads, variables):
            self.update_step(grad, variable, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        raise NotImplementedError

    def _clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            # Each gradient separately: g * c / max(||g||, c).
            norms = torch._foreach_norm(grads)
            torch._foreach_maximum_(norms, float(self.clipnorm))
            return torch._foreach_div(torch._foreach_mul(grads, float(self.clipnorm)), norms)
        if self.global_clipnorm and self.global_clipnorm > 0:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            v = float(self.clipvalue)
            return torch._foreach_clamp_max(torch._foreach_clamp_min(grads, -v), v)
        return grads

    # ------------------------------------------------------------------ weight decay
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exclude `var_list` and variables whose name contains any of `var_names`."""
        self._exclude_from_weight_decay = set(id(v) for v in var_list or ())
        if var_names:
            self._exclude_from_weight_decay_pattern = re.compile("|".join(set(var_names)))
        else:
            self._exclude_from_weight_decay_pattern = None
        self._decay_cache = {}

    def _use_weight_decay(self, variable):
        key = id(variable)
        if key not in self._decay_cache:
            pattern = self._exclude_from_weight_decay_pattern
            name = str(getattr(variable, "name", "") or "")
            self._decay_cache[key] = key not in self._exclude_from_weight_decay and not (
                pattern is not None and re.search(pattern, name) is not None
            )
        return self._decay_cache[key]

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None:
            return
        decayed = [v.data for v in variables if self._use_weight_decay(v)]
        if decayed:
            lr = self._learning_rate_tensor(decayed[0].dtype)
            torch._foreach_mul_(decayed, 1 - self.weight_decay * lr)

    # ------------------------------------------------------------------ EMA
    def _update_model_variables_moving_average(self, trainable_variables):
        averages = self._gather(self._model_variables_moving_average, trainable_variables)
        pairs = [(v.data, a) for v, a in zip(trainable_variables, averages) if a is not None]
        if not pairs:
            return
        momentum = self.ema_momentum if self._step_count() != 0 else 0.0
        variables, averages = [p[0] for p in pairs], [p[1] for p in pairs]
        torch._foreach_mul_(averages, momentum)
        torch._foreach_add_(averages, variables, alpha=1 - momentum)

    def _overwrite_model_variables_with_average_value(self, trainable_variables):
        if len(trainable_variables) != len(self._model_variables_moving_average):
            raise ValueError(
                f"The length of model variables ({len(trainable_variables)}) to override does "
                "not match the length of model variables stored in the optimizer "
                f"({len(self._model_variables_moving_average)}). Please check if the optimizer "
                "was called on your model."
            )
        with torch.no_grad():
            for variable, average in zip(trainable_variables, self._model_variables_moving_average):
                if average is not None:
                    variable.copy_(average)

    def finalize_variable_values(self, var_list=None):
        """With `use_ema`, copy the moving averages into the variables (default: built list)."""
        if self.use_ema:
            self._overwrite_model_variables_with_average_value(
                self._trainable_variables if var_list is None else list(var_list)
            )

    # ------------------------------------------------------------------ Keras helpers
    def assign(self, variable, value):
        with torch.no_grad():
            variable.copy_(value)

    def assign_add(self, variable, value):
        with torch.no_grad():
            variable.add_(value)

    def assign_sub(self, variable, value):
        with torch.no_grad():
            variable.sub_(value)

    def scale_loss(self, loss):
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    # ------------------------------------------------------------------ state
    def saved_variables(self):
        """`[(path, tensor), ...]` in the order Keras writes `optimizer/vars/0..N`."""
        return [(v.path, v) for v in self.variables]

    def load_saved_variables(self, values):
        """Load a list of arrays/tensors (or `(name, value)` pairs) in Keras's saved order."""
        variables = self.variables
        values = [v[1] if isinstance(v, tuple) else v for v in values]
        if len(values) != len(variables):
            raise ValueError(
                f"Optimizer '{self.name}' has {len(variables)} variables, received "
                f"{len(values)} values."
            )
        with torch.no_grad():
            for variable, value in zip(variables, values):
                value = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor)
                                        else value)
                if tuple(value.shape) != tuple(variable.shape):
                    raise ValueError(
                        f"Optimizer variable {variable.path} has shape {tuple(variable.shape)} "
                        f"not compatible with provided weight shape {tuple(value.shape)}."
                    )
                variable.copy_(value.to(device=variable.device, dtype=variable.dtype))
        self._sync_host_state()

    def _sync_host_state(self):
        self._host_iterations = int(self._iterations)

    def set_weights(self, weights):
        if not self.built:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not yet been built. "
                "Please call `optimizer.build(trainable_variables)` to create the optimizer "
                "weights before calling `set_weights()`."
            )
        self.load_saved_variables(list(weights))

    def save_own_variables(self, store):
        for i, variable in enumerate(self.variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        variables = self.variables
        if len(store.keys()) != len(variables):
            msg = (
                f"Skipping variable loading for optimizer '{self.name}', because it has "
                f"{len(variables)} variables whereas the saved optimizer has "
                f"{len(store.keys())} variables. "
            )
            if len(variables) == 0:
                msg += "This is likely because the optimizer has not been called/built yet."
            warnings.warn(msg, stacklevel=2)
            return
        self.load_saved_variables([np.asarray(store[str(i)]) for i in range(len(variables))])

    # ------------------------------------------------------------------ config
    def get_config(self):
        if isinstance(self._learning_rate, LearningRateSchedule):
            learning_rate = serialize_keras_object(self._learning_rate)
        elif isinstance(self._learning_rate, torch.Tensor):
            learning_rate = float(self._learning_rate)
        elif callable(self._learning_rate):
            learning_rate = serialize_keras_object(self._learning_rate)
        else:
            learning_rate = 0.5
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize_keras_object(
                config["learning_rate"], custom_objects=custom_objects,
                printable_module_name="schedules",
            )
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def clip_by_global_norm(grads, clip_norm):
    """Keras's joint clipping; a non-finite global norm makes every gradient NaN."""
    use_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    scale = clip_norm * torch.clamp(1.0 / use_norm, max=1.0 / clip_norm)
    scale = scale + (use_norm - use_norm)
    return torch._foreach_mul(grads, scale)
