"""Keras ops as functions on torch tensors and as graph nodes on `KerasTensor`s.

`keras_op("numpy")` turns an eager torch function into a Keras op, as Keras's own
`keras.src.ops` modules pair a function with an `Operation` class:

    @keras_op("numpy", tensors=("x",))
    def sum(x, axis=None, keepdims=False):
        ...torch code...

- Called on tensors (torch, NumPy, Python numbers) the function runs directly: no graph, no
  layer overhead.
- Called with a `KerasTensor` anywhere in its tensor arguments it builds a graph node of an
  `Operation` subclass (here `Sum`) whose config holds the non-tensor arguments
  (`{"name": "sum", "axis": ..., "keepdims": ...}`), exactly as Keras writes it, registered under
  Keras's module (`keras.src.ops.numpy`) so Keras-saved functional models that use ops load, and
  tkeras-saved ones load in Keras.
"""

import functools
import inspect

import numpy as np
import torch

from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.layers.layer import _is_symbolic

_OP_CLASSES = {}


class Operation(Layer):
    """A weightless graph node running one op; its config is `{"name", **op arguments}`."""

    _keras_module = "keras.src.ops"
    _tensor_params = ()
    _config_params = ()
    _var_positional = None

    def __init__(self, *, name=None, **config):
        super().__init__(name=name)
        unknown = set(config) - set(self._config_params)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(unknown)}")
        self._op_config = config
        self.built = True

    def __call__(self, *args, **kwargs):
        if _is_symbolic(args, kwargs):
            return self._symbolic_call(args, kwargs)
        return self.call(*args, **kwargs)

    def call(self, *args, **kwargs):
        # Tensor operands bind by parameter name: they need not come first in the signature.
        named, spread = dict(self._op_config), ()
        for i, param in enumerate(self._tensor_params[:len(args)]):
            if param == self._var_positional:  # `*operands`: every argument from here on
                spread = args[i:]
                break
            named[param] = args[i]
        return self._op_fn(*spread, **named, **kwargs)

    def compute_output_spec(self, *args, **kwargs):
        from tkeras.model.keras_tensor import spec_call

        return spec_call(self, args, kwargs)

    def get_config(self):
        return {"name": self.name, **self._op_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _camel(name):
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def keras_op(module, tensors=None, class_name=None, export=True):
    """Make `fn` a Keras op of `keras.ops.<module>`.

    `tensors`: the parameters that are tensor inputs (recorded as node arguments; default: the
    first parameter); every other parameter is configuration (recorded in the op's config).
    `class_name`: Keras's `Operation` class name (default: the function name in CamelCase).
    """

    def decorator(fn):
        signature = inspect.signature(fn)
        params = list(signature.parameters)
        tensor_params = tuple(tensors) if tensors is not None else tuple(params[:1])
        config_params = tuple(p for p in params if p not in tensor_params)
        name = class_name or _camel(fn.__name__)
        cls = type(name, (Operation,), {
            "__doc__": f"Graph node of `keras.ops.{fn.__name__}`.",
            "__module__": f"tkeras.ops.{module}",
            "_tensor_params": tensor_params,
            "_config_params": config_params,
            "_var_positional": next((p.name for p in signature.parameters.values()
                                     if p.kind is p.VAR_POSITIONAL), None),
            "_op_fn": staticmethod(fn),
            "_keras_registered_name": name,
        })
        keras_export(f"keras.src.ops.{module}.{name}")(cls)
        _OP_CLASSES[(module, name)] = cls

        @functools.wraps(fn)
        def op(*args, **kwargs):
            if not _is_symbolic(args, kwargs):
                return fn(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            config = {k: bound.arguments[k] for k in config_params}
            operands = []
            for k in tensor_params:
                if k == cls._var_positional:
                    operands.extend(bound.arguments[k])
                else:
                    operands.append(bound.arguments[k])
            return cls(**config)(*operands)

        op.operation_class = cls
        if export:
            keras_export(f"keras.ops.{fn.__name__}", f"keras.ops.{module}.{fn.__name__}")(op)
        return op

    return decorator


# ----------------------------------------------------------------------------- conversions
def to_tensor(x, dtype=None):
    """A torch tensor from a tensor, NumPy array or Python value (Keras's `convert_to_tensor`):
    Python floats become `floatx()`, Python ints int32, NumPy keeps its dtype."""
    from tkeras.core import dtype_policies

    torch_dtype = None if dtype is None else dtype_policies.torch_dtype(dtype)
    if isinstance(x, torch.Tensor):
        return x if torch_dtype is None or x.dtype == torch_dtype else x.to(torch_dtype)
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
        return t if torch_dtype is None else t.to(torch_dtype)
    if torch_dtype is None:
        torch_dtype = dtype_policies.torch_dtype(_python_dtype(x))
    return torch.as_tensor(x, dtype=torch_dtype)


def _python_dtype(x):
    """Keras's dtype for Python values: bool, int32, floatx (the widest kind in a nested list)."""
    from tkeras.core import config

    kinds = set()

    def visit(v):
        if isinstance(v, (list, tuple)):
            for item in v:
                visit(item)
        elif isinstance(v, bool):
            kinds.add("bool")
        elif isinstance(v, int):
            kinds.add("int")
        else:
            kinds.add("float")

    visit(x)
    if "float" in kinds or not kinds:
        return config.floatx()
    return "int32" if "int" in kinds else "bool"
