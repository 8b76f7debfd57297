"""`KerasVariable`: the torch Parameter every `add_weight` returns.

A layer's weights are real `nn.Parameter`s (so `state_dict`, `.to()`, `torch.compile` and plain torch
optimizers see them) that also carry Keras's variable API: `name`, `path` (`dense/kernel`),
`trainable`, `numpy()`, `assign()`, `value`. Non-trainable weights (BatchNormalization's moving
statistics) are Parameters with `requires_grad=False`: torch optimizers skip them, and `.to()`
keeps the same object (buffers would be replaced, losing the Keras metadata).
"""

import numpy as np
import torch
from torch import nn


class KerasVariable(nn.Parameter):
    def __new__(cls, data, trainable=True, name="variable", path=None, autocast=True):
        self = super().__new__(cls, data, requires_grad=bool(trainable) and data.is_floating_point())
        self._keras_name = name
        self.path = path or name
        self._trainable = bool(trainable)
        self.autocast = autocast
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
        with torch.no_grad():
            self.copy_(value.to(device=self.device, dtype=self.dtype))
        return self

    def assign_add(self, value):
        with torch.no_grad():
            self.add_(torch.as_tensor(value, device=self.device, dtype=self.dtype))
        return self

    def assign_sub(self, value):
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
                ("_keras_name", "path", "_trainable", "autocast", "regularizer", "constraint",
                 "overwrite_with_gradient")}

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = KerasVariable(self.data.clone(memory_format=torch.preserve_format), True)
        result.requires_grad_(self.requires_grad)
        for key, value in self._keras_meta().items():
            setattr(result, key, value)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, proto):
        # Never pickled by tkeras's own formats; kept picklable for torch.save / multiprocessing.
        return (_rebuild_keras_variable, (self.data, self.requires_grad, self._keras_meta()))


def _rebuild_keras_variable(data, requires_grad, meta):
    var = KerasVariable(data, True)
    var.requires_grad_(requires_grad)
    for key, value in meta.items():
        setattr(var, key, value)
    return var
