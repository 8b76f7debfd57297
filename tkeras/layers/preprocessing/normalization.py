"""`Normalization`: `(inputs - mean) / max(sqrt(variance), epsilon())` (or the inverse with
`invert=True`), with the statistics kept over `axis`.

Keras behaviour kept: without `mean`/`variance` the layer builds the non-trainable weights `mean`,
`variance` (shape of the kept axes) and the int32 `count` (never updated, as in Keras) and
`adapt()` fills them from a NumPy array (`np.mean`/`np.var`), a tensor (`torch.mean`/biased
`torch.var`) or an iterable of batches (Keras's running merge of batch means and variances);
given `mean`/`variance` are broadcast over the kept axes and create no weights; config keys
`axis` (a tuple), `invert`, `mean`, `variance`; masks pass through.
"""

import itertools
import math

import numpy as np
import torch

from tkeras.core import dtype_policies
from tkeras.core.config import epsilon
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer


def _first(batch):
    return batch[0] if isinstance(batch, tuple) else batch


@keras_export("keras.layers.Normalization")
class Normalization(Layer):
    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int):
            axis = (axis,)
        else:
            axis = tuple(axis)
        self.axis = axis
        self.input_mean = mean
        self.input_variance = variance
        self.invert = invert
        self.supports_masking = True
        self._build_input_shape = None
        if (mean is not None) != (variance is not None):
            raise ValueError("When setting values directly, both `mean` and `variance` must be "
                             f"set. Received: mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(
                    "When setting values directly, `mean` and `variance` must have the same "
                    f"shape. Received: mean shape {np.shape(mean)} and variance shape "
                    f"{np.shape(variance)}")
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError(
                    "The rank of `mean` must be less than or equal to the number of axes "
                    f"({len(self.axis)}). Received: mean shape {np.shape(mean)} for axis "
                    f"{self.axis}")

    def build(self, input_shape):
        if input_shape is None:
            return
        input_shape = tuple(input_shape)
        ndim = len(input_shape)
        self._build_input_shape = input_shape
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError("All `axis` values must be in the range [-ndim, ndim). Received "
                             f"inputs with ndim={ndim}, while axis={self.axis}")
        self._keep_axis = tuple(sorted(d if d >= 0 else d + ndim for d in self.axis))
        for d in self._keep_axis:
            if input_shape[d] is None:
                raise ValueError(
                    "All `axis` values to be kept must have a known shape. Received "
                    f"axis={self.axis}, inputs.shape={input_shape}, with unknown axis at index {d}")
        self._reduce_axis = tuple(d for d in range(ndim) if d not in self._keep_axis)
        self._broadcast_shape = [input_shape[d] if d in self._keep_axis else 1
                                 for d in range(ndim)]
        self._mean_and_var_shape = tuple(input_shape[d] for d in self._keep_axis)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=self._mean_and_var_shape,
                                              initializer="zeros", trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=self._mean_and_var_shape,
                                                  initializer="ones", trainable=False)
            self.count = self.add_weight(name="count", shape=(), dtype="int32",
                                         initializer="zeros", trainable=False)
        else:
            dtype = dtype_policies.torch_dtype(self.compute_dtype)
            self.register_buffer("_mean", self._broadcast(self.input_mean, dtype), persistent=False)
            self.register_buffer("_variance", self._broadcast(self.input_variance, dtype),
                                 persistent=False)
        self.built = True

    def _broadcast(self, value, dtype):
        value = torch.as_tensor(np.asarray(value), dtype=dtype)
        if value.ndim > 0:
            expanded = [1] * len(self._broadcast_shape)
            for i in range(1, value.ndim + 1):
                expanded[self._keep_axis[-i]] = value.shape[-i]
            value = value.reshape(expanded)
        return value.broadcast_to(self._broadcast_shape)

    def __getattr__(self, name):
        # `mean` / `variance`: the broadcastable statistics used by `call`, as in Keras. Not
        # properties, so that `add_weight(name="mean")` can register the weight of that name.
        if name in ("mean", "variance"):
            if "_mean" in self._buffers:
                return self._buffers["_" + name]
            weight = self._parameters.get("adapt_" + name)
            if weight is not None:
                return weight.reshape(self._broadcast_shape).to(
                    dtype_policies.torch_dtype(self.compute_dtype))
        return super().__getattr__(name)

    def adapt(self, data):
        """Compute `mean` and `variance` over the reduced axes of `data`."""
        is_iterable = False
        if isinstance(data, (np.ndarray, torch.Tensor)):
            input_shape = tuple(data.shape)
        elif hasattr(data, "__iter__"):
            is_iterable = True
            data_iter = iter(data)
            first = next(data_iter, None)
            if first is None:
                raise ValueError("adapt() received an empty iterable (no batches). Expected at "
                                 "least one batch.")
            first = _first(first)
            if getattr(first, "shape", None) is None:
                raise TypeError("adapt() expects an iterable that yields arrays or tensors with "
                                f"a `.shape` attribute. Got {type(first).__name__}.")
            input_shape = tuple(first.shape)
            data = itertools.chain([first], data_iter)
        else:
            raise TypeError(f"Unsupported data type: {type(data)}. `adapt` supports "
                            "`np.ndarray`, tensors and iterables of batches.")
        if not self.built:
            self.build(input_shape)
        else:
            for d in self._keep_axis:
                if input_shape[d] != self._build_input_shape[d]:
                    raise ValueError(
                        f"The layer was built with input_shape={self._build_input_shape}, but "
                        "adapt() is being called with data with an incompatible shape, "
                        f"data.shape={input_shape}")
        if isinstance(data, np.ndarray):
            total_mean = np.mean(data, axis=self._reduce_axis)
            total_var = np.var(data, axis=self._reduce_axis)
        elif isinstance(data, torch.Tensor):
            data = data.detach()
            if not data.is_floating_point():
                data = data.to(torch.float32)
            total_mean, total_var = self._moments(data)
        else:
            dtype = dtype_policies.torch_dtype(self.compute_dtype)
            total_mean = torch.zeros(self._mean_and_var_shape)
            total_var = torch.zeros(self._mean_and_var_shape)
            total_count = 0
            for batch in data:
                batch = torch.as_tensor(np.asarray(_first(batch)) if not isinstance(
                    _first(batch), torch.Tensor) else _first(batch).detach(), dtype=dtype)
                batch = batch.cpu()
                for d in self._keep_axis:
                    if batch.shape[d] != self._build_input_shape[d]:
                        raise ValueError("adapt() yielded a batch with incompatible shape. "
                                         f"Expected {self._build_input_shape}, got "
                                         f"{tuple(batch.shape)}.")
                batch_mean, batch_var = self._moments(batch)
                batch_count = (math.prod(batch.shape[d] for d in self._reduce_axis)
                               if self._reduce_axis else 1)
                total_count += batch_count
                batch_weight = float(batch_count) / total_count
                existing_weight = 1.0 - batch_weight
                new_total_mean = total_mean * existing_weight + batch_mean * batch_weight
                total_var = ((total_var + (total_mean - new_total_mean) ** 2) * existing_weight
                             + (batch_var + (batch_mean - new_total_mean) ** 2) * batch_weight)
                total_mean = new_total_mean
        self.adapt_mean.assign(total_mean)
        self.adapt_variance.assign(total_var)

    def _moments(self, x):
        if not self._reduce_axis:  # every axis kept: Keras's ops.mean/ops.var return x and 0
            return x, torch.zeros_like(x)
        return torch.mean(x, dim=self._reduce_axis), torch.var(x, dim=self._reduce_axis,
                                                               correction=0)

    def call(self, inputs):
        if not self.built:
            raise ValueError("You must call `.build(input_shape)` on the layer before using it.")
        inputs = inputs.to(dtype_policies.torch_dtype(self.compute_dtype))
        scale = torch.clamp(torch.sqrt(self.variance), min=epsilon())
        if self.invert:
            return self.mean + inputs * scale
        return (inputs - self.mean) / scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": np.array(self.input_mean).tolist(),
                "variance": np.array(self.input_variance).tolist()}

    def get_build_config(self):
        if self._build_input_shape:
            return {"input_shape": list(self._build_input_shape)}
        return None
