"""`Layer`: a `torch.nn.Module` with Keras 3 semantics.

Kept from Keras: constructor keywords (`name`, `dtype`, `trainable`, `activity_regularizer`,
plus Keras 2's `input_shape`/`batch_size`/`input_dim` on a first layer), unique names (`dense`,
`dense_1`), lazy `build(input_shape)` on first call, `add_weight` creating variables in Keras's
order, `weights`/`trainable_weights`/`non_trainable_weights` (own variables first, then
sub-layers in tracking order), `trainable` recursing into sub-layers, the `training` call
argument propagated from an outer call, masks carried on tensors as `_keras_mask`, `losses`
(activity and weight regularizers), `get_config`/`from_config`, symbolic calls on `KerasTensor`s
for the functional API.

torch's `.train()/.eval()`: layers are created in eval mode. `training` resolves as:
an explicit `training=` argument, else the value an outer layer call was given, else True when
the module is in torch train mode, else the `call` signature's default (else False). So
`model(x)` infers (as in Keras), `model.train()` before a hand-written torch loop turns
Dropout/BatchNormalization training on, and `fit` passes `training=True` explicitly.
"""

import inspect

import numpy as np
import torch
from torch import nn
from torch.nn.modules.module import _global_backward_hooks
from torch.nn.modules.module import _global_backward_pre_hooks
from torch.nn.modules.module import _global_forward_hooks
from torch.nn.modules.module import _global_forward_pre_hooks

from tkeras.core import dtype_policies
from tkeras.core import naming
from tkeras.core import scopes
from tkeras.core.registry import keras_export
from tkeras.core.variables import KerasVariable
from tkeras.core.variables import move_variables
from tkeras.model.keras_tensor import KerasTensor
from tkeras.model.keras_tensor import any_symbolic


class _CallState:
    """Per-process call state: the `training` flag an outer call was given (seen by nested
    calls), the call depth (losses are cleared at each outermost call, as in Keras), and whether
    any mask has been produced yet (mask bookkeeping is skipped until then)."""

    training = None
    depth = 0
    name_scope = []  # names of the layers being built, outermost first (Keras's name scopes)
    losses_dirty = False


CALL_STATE = _CallState()

# What torch's `Module.__call__` consults before calling `forward` (the hook dicts are only
# ever mutated in place): `Layer.__call__` calls `call` directly when none of them is set.
_get_tracing_state = torch._C._get_tracing_state


@keras_export("keras.InputSpec", "keras.layers.InputSpec")
class InputSpec:
    """Constraints on a layer's input: `ndim`, `min_ndim`, `max_ndim`, `shape`, `axes`, `dtype`."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = dtype
        self.shape = tuple(shape) if shape is not None else None
        self.ndim = len(shape) if shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        self.name = name
        self.optional = optional

    def get_config(self):
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim,
                "max_ndim": self.max_ndim, "min_ndim": self.min_ndim, "axes": self.axes}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def assert_input_compatibility(input_spec, shape, layer_name):
    """Raise a ValueError naming the layer when `shape` breaks `input_spec`."""
    if input_spec is None or shape is None:
        return
    specs = input_spec if isinstance(input_spec, (list, tuple)) else [input_spec]
    shapes = shape if (shape and isinstance(shape[0], (list, tuple))) else [shape]
    for spec, s in zip(specs, shapes):
        if spec is None or s is None:
            continue
        ndim = len(s)
        if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
            raise ValueError(
                f'Input 0 of layer "{layer_name}" is incompatible with the layer: '
                f"expected ndim={spec.ndim}, found ndim={ndim}. Full shape received: {tuple(s)}"
            )
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ValueError(
                f'Input 0 of layer "{layer_name}" is incompatible with the layer: '
                f"expected max_ndim={spec.max_ndim}, found ndim={ndim}"
            )
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ValueError(
                f'Input 0 of layer "{layer_name}" is incompatible with the layer: '
                f"expected min_ndim={spec.min_ndim}, found ndim={ndim}. "
                f"Full shape received: {tuple(s)}"
            )
        for axis, value in spec.axes.items():
            if value is not None and s[axis] is not None and s[axis] != value:
                raise ValueError(
                    f'Input 0 of layer "{layer_name}" is incompatible with the layer: '
                    f"expected axis {axis} of input shape to have value {value}, "
                    f"but received input with shape {tuple(s)}"
                )
        if spec.shape is not None:
            for expected, got in zip(spec.shape, s):
                if expected is not None and got is not None and expected != got:
                    raise ValueError(
                        f'Input 0 of layer "{layer_name}" is incompatible with the layer: '
                        f"expected shape={spec.shape}, found shape={tuple(s)}"
                    )


class _TrackedList(list):
    """A list attribute of a layer whose modules are also registered with torch.

    Keras tracks layers kept in list attributes; torch only sees modules in `_modules`. The
    mirror `nn.ModuleList` under the same attribute name keeps `parameters()`/`state_dict()`
    complete (keys like `blocks.0.kernel`).
    """

    def __init__(self, items, mirror):
        super().__init__(items)
        self._mirror = mirror

    def _sync(self):
        modules = [m for m in self if isinstance(m, nn.Module)]
        if list(self._mirror) != modules:
            self._mirror.__init__(modules)

    def append(self, item):
        super().append(item)
        self._sync()

    def extend(self, items):
        super().extend(items)
        self._sync()

    def insert(self, index, item):
        super().insert(index, item)
        self._sync()

    def __setitem__(self, index, item):
        super().__setitem__(index, item)
        self._sync()

    def __delitem__(self, index):
        super().__delitem__(index)
        self._sync()

    def pop(self, index=-1):
        item = super().pop(index)
        self._sync()
        return item

    def remove(self, item):
        super().remove(item)
        self._sync()


def _signature_info(fn):
    params = inspect.signature(fn).parameters
    names = [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    has_var_kw = any(p.kind == p.VAR_KEYWORD for p in params.values())
    training_default = params["training"].default if "training" in params else None
    if training_default is inspect.Parameter.empty:
        training_default = None
    return {
        "names": names,
        "training": "training" in params or has_var_kw,
        "mask": "mask" in params,
        "training_default": training_default,
        "params": params,
    }


_CALL_SIGNATURES = {}
_PLAIN_TRAINING = (bool, type(None))  # `training=` values the fast call path takes as they are


def _call_info(cls):
    info = _CALL_SIGNATURES.get(cls)
    if info is None:
        info = _signature_info(cls.call)
        info["names"] = info["names"][1:]  # drop self
        build_params = [n for n in inspect.signature(cls.build).parameters if n != "self"]
        info["build_params"] = build_params
        info["computes_mask"] = cls.compute_mask is not Layer.compute_mask
        info["own_output_shape"] = cls.compute_output_shape is not Layer.compute_output_shape
        info["plain_forward"] = cls.forward is Layer.forward
        # Calls on one tensor may skip the general bookkeeping (see `Layer.__call__`).
        info["plain"] = info["plain_forward"] and not info["computes_mask"]
        _CALL_SIGNATURES[cls] = info
    return info


def _is_symbolic(args, kwargs):
    for a in args:
        if isinstance(a, KerasTensor):
            return True
        if isinstance(a, (list, tuple, dict)) and any_symbolic(a):
            return True
    for a in kwargs.values():
        if isinstance(a, KerasTensor) or (isinstance(a, (list, tuple, dict)) and any_symbolic(a)):
            return True
    return False


def map_structure(fn, obj):
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_structure(fn, o) for o in obj) if isinstance(obj, list) else tuple(
            map_structure(fn, o) for o in obj)
    if isinstance(obj, dict):
        return {k: map_structure(fn, v) for k, v in obj.items()}
    return fn(obj)


def flatten(obj):
    if isinstance(obj, (list, tuple)):
        return [x for o in obj for x in flatten(o)]
    if isinstance(obj, dict):
        return [x for k in sorted(obj) for x in flatten(obj[k])]
    return [obj]


def shape_of(x):
    """Keras-style shape tuple of a tensor/KerasTensor/array (nested structures mapped)."""
    if isinstance(x, (list, tuple)):
        return [shape_of(v) for v in x]
    if isinstance(x, dict):
        return {k: shape_of(v) for k, v in x.items()}
    shape = getattr(x, "shape", None)
    if shape is None:
        return None
    return tuple(shape)


def _to_tensor(x, dtype):
    """Numpy arrays become tensors; floating inputs are cast to the compute dtype (as Keras)."""
    if isinstance(x, torch.Tensor):
        if x.is_floating_point() and x.dtype != dtype and dtype.is_floating_point:
            mask = getattr(x, "_keras_mask", None)
            x = x.to(dtype)
            if mask is not None:
                x._keras_mask = mask
        return x
    if isinstance(x, np.ndarray) and x.dtype.kind not in "USO":
        t = torch.from_numpy(x)
        if t.is_floating_point() and dtype.is_floating_point:
            t = t.to(dtype)
        return t
    return x


@keras_export("keras.Layer", "keras.layers.Layer")
class Layer(nn.Module):
    """Base class of every tkeras layer (and model)."""

    # Keras's flag: `__call__` converts (and casts) the call's inputs. Layers that take their
    # inputs as they are set it to False; it decides what a functional node records (see
    # `_node_call_kwargs`).
    _convert_input_args = True

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        nn.Module.__init__(self)
        self.training = False
        object.__setattr__(self, "_auto_config", _capture_auto_config(cls, args, kwargs))
        mode = scopes.get_current_remat_mode()  # a `keras.RematScope` applies at creation
        self._remat_mode = mode if mode is not None and mode.mode is not None else None
        return self

    def __init__(self, *, activity_regularizer=None, trainable=True, dtype=None, autocast=True,
                 name=None, **kwargs):
        input_shape = kwargs.pop("input_shape", None)
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        batch_size = kwargs.pop("batch_size", None)
        input_dim = kwargs.pop("input_dim", None)
        input_length = kwargs.pop("input_length", None)
        if kwargs:
            raise ValueError(
                f"Unrecognized keyword arguments passed to {self.__class__.__name__}: {kwargs}"
            )
        if input_shape is None and input_dim is not None:
            input_shape = (input_length, input_dim) if input_length is not None else (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._batch_input_shape = (batch_size,) + tuple(input_shape)
        else:
            self._batch_input_shape = None
        self.name = name or naming.auto_name(self.__class__.__name__)
        self._path = None
        self._dtype_policy_map = None
        self._set_dtype_policy(dtype_policies.get(dtype))
        self._trainable = bool(trainable)
        self.autocast = autocast
        self.built = False
        self.input_spec = None
        self.supports_masking = getattr(self, "supports_masking", False)
        self._trainable_variables = []
        self._non_trainable_variables = []
        self._losses = []
        self._inbound_nodes = []
        self._outbound_nodes = []
        self._build_shapes = None
        self._activity_regularizer = None
        if activity_regularizer is not None:
            from tkeras.core import regularizers

            self._activity_regularizer = regularizers.get(activity_regularizer)

    # ------------------------------------------------------------------------------ tracking
    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, KerasVariable) and params is not None:
            owned_key = next((k for k, v in params.items() if v is value), None)
            if owned_key is not None and owned_key != name:
                # add_weight registered it under its Keras name; keep the attribute name instead.
                self._parameters = type(params)(
                    (name if k == owned_key else k, v) for k, v in params.items()
                )
                self.__dict__.pop(name, None)  # e.g. `self.gamma = None` set in __init__
                return
        if (type(value) is list and self.__dict__.get("_modules") is not None
                and not name.startswith("_")
                and (not value or any(isinstance(v, nn.Module) for v in value))):
            mirror = nn.ModuleList([m for m in value if isinstance(m, nn.Module)])
            self._modules[name] = mirror
            object.__setattr__(self, name, _TrackedList(value, mirror))
            return
        super().__setattr__(name, value)

    def __delattr__(self, name):
        if name in self.__dict__ and isinstance(self.__dict__[name], _TrackedList):
            del self._modules[name]
            object.__delattr__(self, name)
            return
        super().__delattr__(name)

    @property
    def _layers(self):
        """Direct sub-layers, in the order they were assigned (Keras's tracking order)."""
        layers = []
        for module in self._modules.values():
            if isinstance(module, Layer):
                layers.append(module)
            elif isinstance(module, (nn.ModuleList, nn.ModuleDict)):
                items = module.values() if isinstance(module, nn.ModuleDict) else module
                layers.extend(m for m in items if isinstance(m, Layer))
        return layers

    # ------------------------------------------------------------------------------ weights
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
                   regularizer=None, constraint=None, aggregation="none",
                   overwrite_with_gradient=False, name=None):
        """Create a `KerasVariable`, registered as a torch parameter, in Keras's order."""
        from tkeras.core import constraints, initializers, regularizers

        shape = () if shape is None else tuple(int(s) for s in shape)
        if self._path is None:  # `build` called directly
            self._set_path()
        dtype = dtype_policies.standardize_dtype(dtype or self.variable_dtype)
        if initializer is None:
            initializer = "glorot_uniform" if "float" in dtype else "zeros"
        initializer = initializers.get(initializer)
        with torch.no_grad():
            value = initializer(shape, dtype=dtype) if callable(initializer) else initializer
            value = torch.as_tensor(value, dtype=dtype_policies.torch_dtype(dtype))
            if tuple(value.shape) != shape:
                value = value.reshape(shape)
        var_name = name or naming.auto_name("variable")
        scopes = CALL_STATE.name_scope
        prefix = scopes if scopes and scopes[-1] == self.name else scopes + [self.name]
        variable = KerasVariable(value.contiguous(), trainable=trainable, name=var_name,
                                 path="/".join(prefix + [var_name]), autocast=autocast)
        variable.regularizer = regularizers.get(regularizer)
        variable.constraint = constraints.get(constraint)
        variable.overwrite_with_gradient = overwrite_with_gradient
        key = var_name
        while (key in self._parameters or key in self.__dict__ or key in self._modules
               or hasattr(type(self), key)):
            key = key + "_"
        self.register_parameter(key, variable)
        if trainable:
            self._trainable_variables.append(variable)
        else:
            self._non_trainable_variables.append(variable)
        if not self._trainable:
            variable.trainable = False
        return variable

    def add_variable(self, shape, initializer, dtype=None, trainable=True, autocast=True,
                     regularizer=None, constraint=None, name=None):
        return self.add_weight(shape=shape, initializer=initializer, dtype=dtype,
                               trainable=trainable, autocast=autocast, regularizer=regularizer,
                               constraint=constraint, name=name)

    def _own_variables(self):
        return self._trainable_variables + self._non_trainable_variables

    @property
    def weights(self):
        weights, seen = [], set()
        for w in self._own_variables():
            if id(w) not in seen:
                weights.append(w)
                seen.add(id(w))
        for layer in self._layers:
            for w in layer.weights:
                if id(w) not in seen:
                    weights.append(w)
                    seen.add(id(w))
        return weights

    variables = weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for w in self.weights if w.trainable]

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for w in self.weights if not w.trainable]

    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        """NumPy copies of `weights`, in Keras's layout and order."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        layer_weights = self.weights
        if len(layer_weights) != len(weights):
            raise ValueError(
                f"You called `set_weights(weights)` on layer '{self.name}' with a weight list of "
                f"length {len(weights)}, but the layer was expecting {len(layer_weights)} weights."
            )
        for variable, value in zip(layer_weights, weights):
            if tuple(variable.shape) != tuple(np.shape(value)):
                raise ValueError(
                    f"Layer {self.name} weight shape {tuple(variable.shape)} is not compatible "
                    f"with provided weight shape {tuple(np.shape(value))} (variable "
                    f"'{variable.path}')."
                )
        for variable, value in zip(layer_weights, weights):
            variable.assign(value)

    def count_params(self):
        if not self.built:
            raise ValueError(
                "You tried to call `count_params` on layer "
                f"'{self.name}', but the layer isn't built. "
                "You can build it manually via: `layer.build(input_shape)`."
            )
        return int(sum(np.prod(w.shape) for w in self.weights))

    # ------------------------------------------------------------------------------ trainable
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        self._trainable = value
        for v in self._trainable_variables:
            v.trainable = value
        for layer in self._layers:
            layer.trainable = value

    # ------------------------------------------------------------------------------ dtype
    @property
    def dtype_policy(self):
        return self._dtype_policy if self._dtype_policy_map is None else self._dtype_policy_map

    @dtype_policy.setter
    def dtype_policy(self, value):
        policy = dtype_policies.get(value)
        if self._dtype_policy_map is not None and self._path:
            # As Keras: the layer's own entry of its map is replaced.
            if self._path in self._dtype_policy_map:
                del self._dtype_policy_map[self._path]
            self._dtype_policy_map[self._path] = policy
            self._dtype_policy = self._dtype_policy_map[self._path]
        else:
            self._dtype_policy_map = None
            self._set_dtype_policy(policy)

    def _set_dtype_policy(self, policy):
        """`_dtype_policy` is the policy the layer computes with. Given a `DTypePolicyMap` (kept
        as `dtype_policy`, and serialized), that is `map[self.path]` once the layer has a path,
        the map's default policy before (Keras's lookups)."""
        if isinstance(policy, dtype_policies.DTypePolicyMap):
            self._dtype_policy_map = policy
            policy = policy[self._path] if self._path else policy.default_policy
        self._dtype_policy = policy

    @property
    def path(self):
        """The layer's name-scope path (`"model/dense"`), set when it is built (None before),
        as in Keras; its variables' paths start with it."""
        return self._path

    def _set_path(self):
        scopes = CALL_STATE.name_scope
        prefix = scopes if scopes and scopes[-1] == self.name else scopes + [self.name]
        self._path = "/".join(prefix)
        if self._dtype_policy_map is not None:
            self._dtype_policy = self._dtype_policy_map[self._path]

    @property
    def dtype(self):
        return self._dtype_policy.variable_dtype

    @property
    def compute_dtype(self):
        return self._dtype_policy.compute_dtype

    @property
    def variable_dtype(self):
        return self._dtype_policy.variable_dtype

    @property
    def input_dtype(self):
        """The dtype floating inputs are cast to (the compute dtype), as Keras."""
        return self._dtype_policy.compute_dtype

    # ------------------------------------------------------------------------------ build
    def build(self, input_shape):
        self.built = True

    def _build_from_call(self, args, kwargs):
        self._set_path()
        info = _call_info(type(self))
        build_params = info["build_params"]
        if len(build_params) <= 1 or not all(p.endswith("_shape") for p in build_params):
            # As Keras: the first tensor argument's shape; None when the call has none (a
            # layer called with Python values only, or with no arguments at all).
            shapes = next((shape_of(v) for k, v in list(enumerate(args)) + list(kwargs.items())
                           if k != "mask" and _is_tensor_argument(v)), None)
            self._build_shapes = {"input_shape": shapes}
            self.build(shapes)
        else:
            bound = dict(zip(info["names"], args))
            bound.update(kwargs)
            shapes = {}
            for param in build_params:
                arg = bound.get(param[: -len("_shape")])
                shapes[param] = shape_of(arg) if arg is not None else None
            self.build(**shapes)
            # As Keras: arguments that were not passed are dropped from the build config, and a
            # single remaining shape is recorded as `input_shape`.
            passed = {k: v for k, v in shapes.items() if v is not None}
            if len(passed) == 1:
                self._build_shapes = {"input_shape": next(iter(passed.values()))}
            else:
                self._build_shapes = {"shapes_dict": passed}
        self.built = True

    def build_from_config(self, config):
        if not config:
            return
        if "input_shape" in config:
            shape = config["input_shape"]
            if shape is not None:
                self.build(_to_shape_tuple(shape))
                self._build_shapes = {"input_shape": _to_shape_tuple(shape)}
        elif "shapes_dict" in config:
            shapes = {k: _to_shape_tuple(v) for k, v in config["shapes_dict"].items()}
            self.build(**shapes)
            self._build_shapes = {"shapes_dict": shapes}
        self.built = True

    def get_build_config(self):
        if self._build_shapes is None:
            return None
        return {k: _shape_to_list(v) if k == "input_shape" else
                {n: _shape_to_list(s) for n, s in v.items()}
                for k, v in self._build_shapes.items()}

    # ------------------------------------------------------------------------------ call
    def forward(self, *args, **kwargs):
        if self._remat_mode is not None:
            return self.rematerialized_call(self.call, *args, **kwargs)(*args, **kwargs)
        return self.call(*args, **kwargs)

    def rematerialized_call(self, layer_call, *args, **kwargs):
        """`layer_call` wrapped for recomputation in backward as this layer's `RematScope`
        mode asks (unchanged outside any scope)."""
        return scopes.rematerialized_call(self, layer_call, *args, **kwargs)

    def stateless_call(self, trainable_variables, non_trainable_variables, *args,
                       return_losses=False, **kwargs):
        """Call with the given variable values, changing no variable (Keras's API); returns
        `(outputs, non_trainable_variables)` (plus `losses` with `return_losses=True`).
        Gradients flow to the tensors passed in (see `tkeras.core.stateless_scope`)."""
        from tkeras.core.stateless_scope import stateless_call

        return stateless_call(self, trainable_variables, non_trainable_variables, args, kwargs,
                              return_losses=return_losses)

    def call(self, *args, **kwargs):
        raise NotImplementedError(f"Layer {self.__class__.__name__} does not implement call().")

    def __call__(self, *args, **kwargs):
        state = CALL_STATE
        n_kwargs = len(kwargs)
        if len(args) == 1 and self.built and (not n_kwargs or (
                n_kwargs == 1 and type(kwargs.get("training", 0)) in _PLAIN_TRAINING)):
            # Fast path, taken by every layer call inside a model and by the trainer's
            # `model(x, training=...)`: one tensor of the compute dtype, no mask on it, no hook,
            # no autocast, no activity regularizer, and an input already checked against
            # `input_spec` at this shape. It is the general path below without the branches
            # that do nothing in that case; `training` is resolved the same way.
            first = args[0]
            info = _CALL_SIGNATURES.get(type(self))
            policy = self._dtype_policy
            spec = self.input_spec
            if (info is not None and info["plain"] and self._remat_mode is None
                    and isinstance(first, torch.Tensor)
                    and (first.dtype is policy.compute_torch_dtype
                         or not first.is_floating_point())
                    and not policy.autocasts
                    and self._activity_regularizer is None
                    and (not state.losses_dirty or state.depth)
                    and not (self._forward_hooks or self._forward_pre_hooks
                             or self._backward_hooks or self._backward_pre_hooks
                             or _global_forward_hooks or _global_forward_pre_hooks
                             or _global_backward_hooks or _global_backward_pre_hooks
                             or self._compiled_call_impl is not None or _get_tracing_state())
                    and (spec is None or (spec is self.__dict__.get("_checked_spec")
                                          and first.shape == self.__dict__.get("_checked_shape")))
                    and not ((info["mask"] or self.supports_masking)
                             and getattr(first, "_keras_mask", None) is not None)):
                previous_training = state.training
                training = kwargs["training"] if n_kwargs else None
                if training is not None:
                    state.training = training  # an explicit value reaches nested calls
                else:
                    training = previous_training
                    if training is None:
                        training = True if self.training else info["training_default"]
                        if training is None:
                            training = False
                state.depth += 1
                try:
                    if info["training"]:
                        return self.call(first, training=training)
                    return self.call(first)
                finally:
                    state.depth -= 1
                    state.training = previous_training
        first = args[0] if args else None
        # One tensor and no keyword arguments (every call inside a model) cannot be symbolic.
        if (kwargs or len(args) != 1 or not isinstance(first, torch.Tensor)) and _is_symbolic(
                args, kwargs):
            return self._symbolic_call(args, kwargs)
        info = _CALL_SIGNATURES.get(type(self)) or _call_info(type(self))
        policy = self._dtype_policy
        compute_dtype = policy.compute_torch_dtype
        if isinstance(first, torch.Tensor):
            if first.dtype is not compute_dtype and first.is_floating_point():
                first = _to_tensor(first, compute_dtype)
                args = (first,) + args[1:]
        elif isinstance(first, np.ndarray):
            first = _to_tensor(first, compute_dtype)
            args = (first,) + args[1:]
        elif isinstance(first, (list, tuple)):
            first = type(first)(_to_tensor(x, compute_dtype) for x in first)
            args = (first,) + args[1:]
        scoped = not self.built
        if scoped:
            # The first call builds this layer and, lazily, its sub-layers: their variables'
            # paths are nested under this layer's name, as in Keras (`net/dense/kernel`).
            CALL_STATE.name_scope.append(self.name)
            try:
                self._maybe_build_eager(args, kwargs)
            except BaseException:
                CALL_STATE.name_scope.pop()
                raise
        elif self.input_spec is not None:
            cache = self.__dict__  # the last shape that passed the check (not under jit tracing)
            if (self.input_spec is not cache.get("_checked_spec") or _get_tracing_state()
                    or getattr(first, "shape", None) != cache.get("_checked_shape")):
                self._check_input_spec(args, kwargs)

        if state.losses_dirty and state.depth == 0:
            self._clear_losses()
            state.losses_dirty = False

        # Resolve `training`.
        previous_training = state.training
        training = kwargs.pop("training", None) if kwargs else None
        if not info["mask"] and "mask" in kwargs:
            kwargs.pop("mask")
        propagate = training is not None or previous_training is not None
        if training is None:
            training = previous_training
        if training is None:
            # torch's train mode, else the call signature's default (Keras's priority 3).
            training = True if self.training else info["training_default"]
        if training is None:
            training = False
        if info["training"]:
            kwargs["training"] = training

        # Resolve `mask` from the inputs' `_keras_mask`.
        previous_mask = None
        if args and (info["mask"] or info["computes_mask"] or self.supports_masking):
            previous_mask = kwargs.get("mask") if info["mask"] else None
            if previous_mask is None:
                previous_mask = _collect_mask(first)
                if previous_mask is not None and info["mask"]:
                    kwargs["mask"] = previous_mask

        if propagate:
            state.training = training
        state.depth += 1
        try:
            if policy.autocasts and self.autocast:
                device_type = _first_device_type(args)
                with torch.autocast(device_type, dtype=compute_dtype):
                    outputs = super().__call__(*args, **kwargs)
            elif (self._forward_hooks or self._forward_pre_hooks or self._backward_hooks
                  or self._backward_pre_hooks or _global_forward_hooks
                  or _global_forward_pre_hooks or _global_backward_hooks
                  or _global_backward_pre_hooks or self._compiled_call_impl is not None
                  or _get_tracing_state()):
                outputs = super().__call__(*args, **kwargs)
            elif info["plain_forward"] and self._remat_mode is None:
                # What torch's `Module.__call__` does when no hook is registered, frames fewer.
                outputs = self.call(*args, **kwargs)
            else:
                outputs = self.forward(*args, **kwargs)
        finally:
            state.depth -= 1
            state.training = previous_training
            if scoped:
                state.name_scope.pop()

        if self._activity_regularizer is not None:
            for out in flatten(outputs):
                if isinstance(out, torch.Tensor):
                    self.add_loss(self._activity_regularizer(out) / out.shape[0])

        if args and (info["computes_mask"] or (self.supports_masking and previous_mask is not None)):
            out_mask = self.compute_mask(first, previous_mask)
            if out_mask is not None:
                _attach_mask(outputs, out_mask)
        return outputs

    def _maybe_build_eager(self, args, kwargs):
        self._check_input_spec(args, kwargs)
        before = {id(p) for p in self.parameters()}
        self._build_from_call(args, kwargs)
        device = _first_device(args)
        if device is not None and device.type != "cpu":
            move_variables([p for p in self.parameters() if id(p) not in before], device)

    def _check_input_spec(self, args, kwargs):
        if self.input_spec is None or not args:
            return
        shape = shape_of(args[0])
        if shape == self.__dict__.get("_checked_shape") and self.input_spec is self.__dict__.get(
                "_checked_spec"):
            return
        assert_input_compatibility(self.input_spec, shape, self.name)
        self.__dict__["_checked_shape"] = shape
        self.__dict__["_checked_spec"] = self.input_spec

    def _symbolic_call(self, args, kwargs):
        from tkeras.model.node import Node

        self._check_input_spec(args, kwargs)
        if self.built:
            outputs = self.compute_output_spec(*args, **kwargs)
        else:
            CALL_STATE.name_scope.append(self.name)
            try:
                self._build_from_call(args, kwargs)
                outputs = self.compute_output_spec(*args, **kwargs)
            finally:
                CALL_STATE.name_scope.pop()
        Node(self, call_args=args, call_kwargs=self._node_call_kwargs(args, kwargs),
             outputs=outputs)
        return outputs

    def _node_call_kwargs(self, args, kwargs):
        """The call's keyword arguments as Keras records them in the node (and the functional
        config): the ones given, plus what Keras's `__call__` fills into that same dict --
        `training` (when `call` declares it and its resolved value is not None: the value given,
        else an outer call's, else the signature's default) and an absent mask (`mask` for a
        single tensor argument, else `<arg>_mask` for each tensor argument). Keras rebuilds the
        dict to convert inputs first (so records the given kwargs only) unless the call is one
        `KerasTensor` of `input_dtype` without keyword arguments, or the layer does not convert
        its inputs (`_convert_input_args` False: functional models, some preprocessing)."""
        first = args[0] if args else None
        if self._convert_input_args and (kwargs or len(args) != 1 or not isinstance(
                first, KerasTensor) or first.dtype != self.input_dtype):
            return kwargs
        try:
            bound = inspect.signature(self.call).bind(*args, **kwargs)
        except TypeError:
            return kwargs
        params = bound.signature.parameters
        recorded = dict(kwargs)
        if "training" in params:
            if "training" in kwargs:
                training = kwargs["training"]
            elif CALL_STATE.training is not None:
                training = CALL_STATE.training
            else:
                default = params["training"].default
                training = None if default is inspect.Parameter.empty else default
            if training is not None:
                recorded["training"] = training
        bound.apply_defaults()
        arguments = bound.arguments
        tensors = {k: v for k, v in arguments.items() if _is_tensor_argument(v)}
        names = ["mask"] if len(tensors) == 1 else [f"{k}_mask" for k in tensors]
        for name, value in zip(names, tensors.values()):
            if name in arguments and arguments[name] is None:
                recorded[name] = map_structure(lambda t: getattr(t, "_keras_mask", None), value)
        return recorded

    def compute_output_spec(self, *args, **kwargs):
        """Output `KerasTensor`s for symbolic inputs.

        Uses `compute_output_shape` when the layer defines it; otherwise runs `call` on small
        concrete tensors (twice, with different sizes for unknown dimensions, to tell which
        output dimensions are dynamic).
        """
        from tkeras.model.keras_tensor import KerasTensor, spec_call

        info = _call_info(type(self))
        if info["own_output_shape"] and args:
            first = args[0]
            out_shape = self.compute_output_shape(shape_of(first))
            dtype = self.compute_dtype
            if isinstance(first, KerasTensor) and not first.dtype.startswith("float") and not (
                    self.weights):
                dtype = first.dtype  # weightless layers (Reshape, Flatten) keep int inputs int
            return map_shapes_to_tensors(out_shape, dtype)
        return spec_call(self, args, kwargs)

    def compute_output_shape(self, *args, **kwargs):
        raise NotImplementedError(
            f"Layer {self.__class__.__name__} should implement `compute_output_shape()`."
        )

    def compute_mask(self, inputs, previous_mask):
        if not self.supports_masking:
            return None
        return previous_mask

    # ------------------------------------------------------------------------------ losses
    @property
    def losses(self):
        """Activity-regularization losses of the last call, plus weight-regularization losses."""
        losses = list(self._losses)
        for w in self._own_variables():
            if w.regularizer is not None and w.trainable:
                losses.append(w.regularizer(w))
        for layer in self._layers:
            losses.extend(layer.losses)
        return losses

    def add_loss(self, loss):
        self._losses.append(loss)
        CALL_STATE.losses_dirty = True

    def _clear_losses(self):
        self._losses.clear()
        for layer in self._layers:
            layer._clear_losses()

    # ------------------------------------------------------------------------------ nodes
    @property
    def input(self):
        """Input tensor(s) of the first call (as Keras 3)."""
        return self._get_node_attribute_at(0, "input_tensors", "input")

    @property
    def output(self):
        """Output tensor(s) of the first call (as Keras 3)."""
        return self._get_node_attribute_at(0, "outputs", "output")

    def _get_node_attribute_at(self, index, attr, what):
        if not self._inbound_nodes:
            raise AttributeError(
                f"The layer {self.name} has never been called and thus has no defined {what}."
            )
        if index >= len(self._inbound_nodes):
            raise ValueError(
                f"Asked to get {what} at node {index}, but the layer has only "
                f"{len(self._inbound_nodes)} inbound nodes."
            )
        values = getattr(self._inbound_nodes[index], attr)
        return values[0] if len(values) == 1 else values

    def get_input_at(self, node_index):
        return self._get_node_attribute_at(node_index, "input_tensors", "input")

    def get_output_at(self, node_index):
        return self._get_node_attribute_at(node_index, "outputs", "output")

    # ------------------------------------------------------------------------------ config
    def get_config(self):
        """Keras's base config: `name`, `trainable`, `dtype` (and `activity_regularizer` when
        set). A layer class that defines no `get_config` gets Keras's automatic config: `name`
        (dropped when `__init__` takes neither `name` nor `**kwargs`), then every constructor
        argument with its default (for `Layer.__init__` itself: `activity_regularizer` and
        `autocast` too), `trainable`/`dtype`/`activity_regularizer` serialized as above. Keras
        also raises for non-plain values of those three; tkeras serializes them."""
        config = {"name": self.name}
        cls = type(self)
        if cls.get_config is Layer.get_config:
            if self._auto_config is None:
                raise NotImplementedError(
                    f"Layer {cls.__name__} has arguments in `__init__()` that cannot be "
                    "serialized automatically: implement `get_config()`."
                )
            config.update(self._auto_config)
            params = inspect.signature(cls.__init__).parameters
            if "name" not in params and not (
                    "kwargs" in params and params["kwargs"].kind == inspect.Parameter.VAR_KEYWORD):
                del config["name"]  # `cls(**config)` could not take it back
        config["trainable"] = self.trainable
        config["dtype"] = self._serialized_dtype()
        if self._activity_regularizer is not None:
            from tkeras.core import regularizers

            config["activity_regularizer"] = regularizers.serialize(self._activity_regularizer)
        return config

    def _serialized_dtype(self):
        from tkeras.core.registry import serialize_keras_object

        return serialize_keras_object(self.dtype_policy)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "dtype" in config and isinstance(config["dtype"], dict):
            config["dtype"] = dtype_policies.get(config["dtype"])
        try:
            return cls(**config)
        except Exception as e:
            raise TypeError(
                f"Error when deserializing class '{cls.__name__}' using config={config}.\n\n"
                f"Exception encountered: {e}"
            ) from e

    # ------------------------------------------------------------------------------ torch
    def _apply(self, fn, recurse=True):
        """`.double()`/`.half()`/`.to(dtype)` also move the dtype policy, so inputs are cast to
        the new dtype instead of back to the old one."""
        result = super()._apply(fn, recurse)
        probe = fn(torch.empty(0, dtype=torch.float32))
        if probe.dtype != torch.float32 and probe.dtype.is_floating_point and not (
                self._dtype_policy.name.startswith("mixed")):
            self._dtype_policy = dtype_policies.DTypePolicy(
                dtype_policies.standardize_dtype(probe.dtype))
        return result

    def __repr__(self):
        return f"<{self.__class__.__name__} name={self.name}, built={self.built}>"

    def extra_repr(self):
        return f"name={self.name}"



def _is_tensor_argument(value):
    """Keras's tensor call argument: a tensor, or a non-empty nest of tensors (and Nones)."""
    if isinstance(value, (torch.Tensor, KerasTensor, np.ndarray)):
        return True
    if isinstance(value, (list, tuple, dict)) and value:
        leaves = flatten(value)
        return all(v is None or isinstance(v, (torch.Tensor, KerasTensor, np.ndarray))
                   for v in leaves)
    return False


def _first_device(args):
    for a in flatten(list(args)):
        if isinstance(a, torch.Tensor):
            return a.device
    return None


def _first_device_type(args):
    device = _first_device(args)
    return device.type if device is not None else "cpu"


def _collect_mask(x):
    if isinstance(x, torch.Tensor):
        return getattr(x, "_keras_mask", None)
    if isinstance(x, (list, tuple)):
        masks = [getattr(v, "_keras_mask", None) for v in x]
        return None if all(m is None for m in masks) else masks
    return None


def _attach_mask(outputs, mask):
    if isinstance(outputs, torch.Tensor):
        outputs._keras_mask = mask
    elif isinstance(outputs, (list, tuple)):
        # A single mask belongs to the first output (e.g. not to attention scores or states).
        masks = mask if isinstance(mask, (list, tuple)) else [mask]
        for out, m in zip(outputs, masks):
            if isinstance(out, torch.Tensor) and m is not None:
                out._keras_mask = m


def map_shapes_to_tensors(shape, dtype):
    from tkeras.model.keras_tensor import KerasTensor

    if isinstance(shape, dict):
        return {k: map_shapes_to_tensors(v, dtype) for k, v in shape.items()}
    if isinstance(shape, list) or (isinstance(shape, tuple) and shape and
                                   isinstance(shape[0], (list, tuple))):
        return [map_shapes_to_tensors(s, dtype) for s in shape]
    return KerasTensor(tuple(shape), dtype=dtype)


def _to_shape_tuple(shape):
    if shape is None:
        return None
    if isinstance(shape, dict):
        return {k: _to_shape_tuple(v) for k, v in shape.items()}
    if shape and isinstance(shape[0], (list, tuple)):
        return [_to_shape_tuple(s) for s in shape]
    return tuple(shape)


def _shape_to_list(shape):
    if shape is None:
        return None
    if isinstance(shape, dict):
        return {k: _shape_to_list(v) for k, v in shape.items()}
    if shape and isinstance(shape[0], (list, tuple)):
        return [_shape_to_list(s) for s in shape]
    return list(shape)


_AUTO_CONFIG_TYPES = (str, int, float, bool, type(None))


# Arguments `Layer.get_config` serializes itself: only their place in the config comes from
# the automatic config.
_BASE_CONFIG_KEYS = ("trainable", "dtype", "activity_regularizer")


def _capture_auto_config(cls, args, kwargs):
    """Bind constructor arguments (defaults included, `**kwargs` expanded, as Keras 3) for
    `get_config` of layer classes that don't define one; None when some value is not plain."""
    if cls.get_config is not Layer.get_config:
        return None
    signature = inspect.signature(cls.__init__)
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    config = {}
    for name, value in list(bound.arguments.items())[1:]:
        kind = signature.parameters[name].kind
        if kind == inspect.Parameter.VAR_POSITIONAL:
            if value:
                return None
            continue
        items = value.items() if kind == inspect.Parameter.VAR_KEYWORD else [(name, value)]
        for k, v in items:
            if k == "name":
                continue
            if k in _BASE_CONFIG_KEYS:
                v = None  # placeholder, set by `get_config`
            elif not _auto_serializable(v):
                return None
            config[k] = v
    return config


def _auto_serializable(value):
    if isinstance(value, _AUTO_CONFIG_TYPES):
        return True
    if isinstance(value, (list, tuple)):
        return all(_auto_serializable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _auto_serializable(v) for k, v in value.items())
    return False
