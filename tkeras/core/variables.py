"""`KerasVariable`: the torch Parameter every `add_weight` returns.

A layer's weights are real `nn.Parameter`s (so `state_dict`, `.to()`, `torch.compile` and plain torch
optimizers see them) that also carry Keras's variable API: `name`, `path` (`dense/kernel`),
`trainable`, `numpy()`, `assign()`, `value`. Non-trainable weights (BatchNormalization's moving
statistics) are Parameters with `requires_grad=False`: torch optimizers skip them, and `.to()`
keeps the same object (buffers would be replaced, losing the Keras metadata).

Device moves (`swap_value`, `move_variables`, `move_model`) swap a variable's contents with
`torch.utils.swap_tensors`, so the variable objects (and what holds them: optimizers, metrics,
distribution layouts) survive moves across device types.
"""

import numpy as np
import torch
from torch import nn

from tkeras.core import dtype_policies
from tkeras.core import naming
from tkeras.core.registry import keras_export


_AGGREGATIONS = (None, "none", "mean", "sum", "only_first_replica")
_SYNCHRONIZATIONS = (None, "none", "on_read", "on_write", "auto")


@keras_export("keras.Variable")
class KerasVariable(nn.Parameter):
    """`keras.Variable(initializer, shape=None, dtype=None, trainable=True, autocast=True,
    aggregation="none", synchronization="auto", name=None)`.

    As Keras: `initializer` is a value (array, tensor, Python number or list: its dtype kept
    unless `dtype` is given; Python floats -> floatx, ints -> int32) or an initializer (object,
    callable or name, with `shape`; dtype defaults to floatx); the default name is `variable`,
    `variable_1`, ...; the path is the name under the active `keras.name_scope`s.
    tkeras's own callers pass a ready torch tensor and `path=` (the tensor is used as is).
    `layout` and other backend keywords are accepted and ignored, as on Keras's torch backend.
    Deliberate difference: `.dtype`/`.shape` are torch's (a `torch.dtype`, a `torch.Size`), as
    for any torch Parameter; integer variables never require grad (Keras fails on a trainable one).
    """

    def __new__(cls, initializer, shape=None, dtype=None, trainable=True, autocast=True,
                aggregation="none", synchronization="auto", name=None, path=None, layout=None,
                **kwargs):
        if name is None:
            name = naming.auto_name("variable")
        elif not isinstance(name, str) or "/" in name:
            raise ValueError("Argument `name` must be a string and cannot contain character `/`. "
                             f"Received: name={name}")
        if aggregation not in _AGGREGATIONS:
            raise ValueError(
                "Invalid value for argument `aggregation`. Expected one of `None`, `'none'`, "
                f"`'mean'`, `'sum'`, `'only_first_replica'`. Received: aggregation={aggregation}")
        if synchronization not in _SYNCHRONIZATIONS:
            raise ValueError(
                "Invalid value for argument `synchronization`. Expected one of `None`, `'none'`, "
                "`'on_read'`, `'on_write'`, `'auto'`. "
                f"Received: synchronization={synchronization}")
        data = initializer
        if not isinstance(data, torch.Tensor) or dtype is not None:
            data = _initial_value(initializer, shape, dtype)
        if path is None:
            from tkeras.layers.layer import CALL_STATE

            path = "/".join(CALL_STATE.name_scope + [name])
        requires_grad = bool(trainable) and data.is_floating_point()
        self = super().__new__(cls, data, requires_grad=requires_grad)
        self._keras_name = name
        self.path = path
        self._trainable = bool(trainable)
        self.autocast = autocast
        self.aggregation = aggregation or "none"
        self.synchronization = synchronization or "none"
        self.regularizer = None
        self.constraint = None
        self.overwrite_with_gradient = False
        return self

    def __init__(self, *args, **kwargs):
        pass

    # Keras's variable API --------------------------------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        self.requires_grad_(self._trainable and self.is_floating_point())

    @property
    def name(self):
        return self._keras_name

    @name.setter
    def name(self, value):
        self._keras_name = value

    @property
    def value(self):
        return self

    def numpy(self):
        """A copy, as Keras's `np.array(variable)`: arrays kept from `get_weights()` (e.g.
        EarlyStopping's best weights) must not change when training updates the variable."""
        value = self.detach()
        return value.numpy().copy() if value.device.type == "cpu" else value.cpu().numpy()

    def assign(self, value):
        value = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
        if tuple(value.shape) != tuple(self.shape):
            raise ValueError(
                f"The shape of the target variable and the shape of the target value in "
                f"`variable.assign(value)` must match. variable.shape={tuple(self.shape)}, "
                f"Received: value.shape={tuple(value.shape)}. Target variable: {self.path}"
            )
        _stateless_copy(self)
        with torch.no_grad():
            self.copy_(value.to(device=self.device, dtype=self.dtype))
        return self

    def assign_add(self, value):
        _stateless_copy(self)
        with torch.no_grad():
            self.add_(torch.as_tensor(value, device=self.device, dtype=self.dtype))
        return self

    def assign_sub(self, value):
        _stateless_copy(self)
        with torch.no_grad():
            self.sub_(torch.as_tensor(value, device=self.device, dtype=self.dtype))
        return self

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr.astype(dtype) if dtype is not None else arr

    def __repr__(self):
        dtype = str(self.dtype).replace("torch.", "")
        return f"<KerasVariable shape={tuple(self.shape)}, dtype={dtype}, path={self.path}>"

    __str__ = __repr__

    def _keras_meta(self):
        return {k: getattr(self, k) for k in
                ("_keras_name", "path", "_trainable", "autocast", "aggregation",
                 "synchronization", "regularizer", "constraint", "overwrite_with_gradient")}

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = KerasVariable(self.data.clone(memory_format=torch.preserve_format),
                               name=self._keras_name, path=self.path)
        result.requires_grad_(self.requires_grad)
        for key, value in self._keras_meta().items():
            setattr(result, key, value)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, proto):
        # Never pickled by tkeras's own formats; kept picklable for torch.save / multiprocessing.
        return (_rebuild_keras_variable, (self.data, self.requires_grad, self._keras_meta()))


def _initial_value(initializer, shape, dtype):
    """The tensor a `keras.Variable` starts from (Keras's value/initializer rules)."""
    if isinstance(initializer, str):
        from tkeras.core import initializers

        initializer = initializers.get(initializer)
    if callable(initializer):
        if shape is None:
            raise ValueError(
                "When creating a Variable from an initializer, the `shape` argument should be "
                f"specified. Received: initializer={initializer} and shape={shape}")
        shape = tuple(shape)
        if any(d is None for d in shape):
            raise ValueError("Shapes used to initialize variables must be fully-defined (no "
                             f"`None` dimensions). Received: shape={shape}")
        dtype = dtype_policies.standardize_dtype(dtype)
        with torch.no_grad():
            value = initializer(shape, dtype=dtype)
    else:
        value = initializer
    from tkeras.ops.core import convert_to_tensor

    with torch.no_grad():
        return convert_to_tensor(value, dtype=dtype).contiguous()


def _rebuild_keras_variable(data, requires_grad, meta):
    var = KerasVariable(data, name=meta["_keras_name"], path=meta["path"])
    var.requires_grad_(requires_grad)
    for key, value in meta.items():
        setattr(var, key, value)
    return var


def _stateless_copy(variable):
    """Inside a `keras.StatelessScope`, `assign*` on a variable the scope does not map yet
    updates a scope-owned copy (read back with `scope.get_current_value`); the variable keeps
    its value after the scope, as in Keras."""
    from tkeras.core.stateless_scope import get_stateless_scope

    scope = get_stateless_scope()
    if scope is not None and id(variable) not in scope._variables:
        scope._swap_in(variable, variable.data)


# ----------------------------------------------------------------------------- device moves
@torch.no_grad()
def swap_value(variable, value):
    """Make `value` the contents of `variable`, keeping its Python object, class and
    attributes (`torch.utils.swap_tensors`; unlike `.data = `, this works across device types,
    e.g. to and from XLA). Returns the tensor now holding the old contents (swap it back with
    `swap_value(variable, returned)`)."""
    value = value.detach()
    if isinstance(variable, torch.nn.Parameter):
        new = torch.nn.Parameter.__new__(type(variable), value, variable.requires_grad)
    else:
        new = value.requires_grad_(variable.requires_grad)
    new.__dict__.update(variable.__dict__)
    torch.utils.swap_tensors(variable, new)
    return new


def move_variables(variables, device):
    """Move tensors (Keras variables, parameters, buffers) to `device` in place."""
    device = torch.device(device)
    for v in variables:
        if v.device != device:
            swap_value(v, v.data.to(device))


def move_model(model, device):
    """Move a model's parameters and buffers, and its optimizer's variables, to `device`,
    keeping every tensor object (`nn.Module.to` may replace them, and torch refuses
    `.data = ` between some device types)."""
    tensors = [t for m in model.modules() for t in list(m._parameters.values())
               + list(m._buffers.values()) if t is not None]
    move_variables(tensors, device)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "_move_to"):
        optimizer._move_to(device)
