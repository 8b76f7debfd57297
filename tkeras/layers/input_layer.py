"""`InputLayer` and `Input`: the entry points of a functional graph."""

from tkeras.core import dtype_policies
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.model.keras_tensor import KerasTensor
from tkeras.model.node import Node


@keras_export("keras.layers.InputLayer")
class InputLayer(Layer):
    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, ragged=None,
                 batch_shape=None, input_tensor=None, optional=False, name=None, **kwargs):
        # Keras 2 configs spell it `batch_input_shape`; `input_shape` was Keras 2's `shape`.
        batch_shape = kwargs.pop("batch_input_shape", batch_shape)
        if shape is None and "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if shape is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `shape` and `batch_shape` at the same time.")
        if batch_size is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `batch_size` and `batch_shape` at the same time.")
        if shape is None and batch_shape is None and input_tensor is None:
            raise ValueError("You must pass a `shape` argument.")
        if isinstance(dtype, dict):
            dtype = dtype_policies.get(dtype).name
        dtype = dtype_policies.standardize_dtype(
            dtype.name if isinstance(dtype, dtype_policies.DTypePolicy) else dtype)
        super().__init__(name=name, dtype=dtype if dtype.startswith(("float", "bfloat")) else None,
                         **kwargs)
        if input_tensor is not None:
            batch_shape = input_tensor.shape
            dtype = input_tensor.dtype
        elif batch_shape is None:
            batch_shape = (batch_size,) + tuple(shape)
        self._batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self._input_dtype = dtype
        self.sparse = bool(sparse)
        self.ragged = bool(ragged)
        self.optional = optional
        self.built = True
        if input_tensor is None:
            input_tensor = KerasTensor(self._batch_shape, dtype=dtype, name=self.name)
        Node(self, outputs=input_tensor)
        self._input_tensor = input_tensor

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def dtype(self):
        return self._input_dtype

    def call(self):
        return

    def get_config(self):
        return {
            "batch_shape": list(self._batch_shape),
            "dtype": self._input_dtype,
            "sparse": self.sparse,
            "ragged": self.ragged,
            "name": self.name,
            "optional": self.optional,
        }


@keras_export("keras.Input", "keras.layers.Input")
def Input(shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,
          name=None, tensor=None, optional=False):
    """A symbolic input: `keras.Input(shape=(32,))` -> KerasTensor of shape (None, 32)."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       ragged=ragged, batch_shape=batch_shape, name=name, input_tensor=tensor,
                       optional=optional)
    return layer.output
