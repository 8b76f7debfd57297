"""`HashedCrossing`: crosses of categorical features with the hashing trick, without TensorFlow.

Keras runs `tf.sparse.cross_hashed` even on the torch backend; tkeras computes the same numbers
with `string_hashing` (NumPy): each feature value becomes a `uint64` (strings: FarmHash
`Fingerprint64` of their bytes; integers: their int64 value as is), the values of one row are
folded left to right into TensorFlow's default key `0xDECAFCAFFE` with `FingerprintCat64`, and
the bin is that hash modulo `num_bins` (modulo `2**63 - 1` when `num_bins` is 0, as TensorFlow).

Keras behaviour kept: the layer is called on a list/tuple of at least two inputs of equal shape
`()`, `(batch,)` or `(batch, 1)` (arrays, tensors, (nested) lists of `str`/`bytes`/int, or
scalars), each integer- or string-typed (floats and bools raise); the output has the input
shape; `output_mode="int"` (dtype `int64` by default) or `"one_hot"` (floatx by default; a
trailing axis of size 1 is squeezed, a scalar becomes one row); the config has exactly Keras's
keys (`num_bins`, `output_mode`, `sparse`, `name`, `dtype`).

Deliberate differences: no TensorFlow is needed (Keras raises `ImportError` without it);
`sparse=True` raises (as Keras off TensorFlow); symbolic calls accept more than two inputs
(Keras's `compute_output_shape` refuses them). The layer hashes in NumPy, so it runs eagerly and
cannot be traced by `torch.compile` (nor can Keras's off TensorFlow).
"""

import numpy as np
import torch

from tkeras.core import dtype_policies
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.layers.preprocessing.category_encoding import _check_sparse
from tkeras.layers.preprocessing.category_encoding import encode_categorical_inputs
from tkeras.layers.preprocessing.hashing import _to_bytes
from tkeras.layers.preprocessing.string_hashing import fingerprint64
from tkeras.layers.preprocessing.string_hashing import fingerprint_cat64
from tkeras.model.keras_tensor import KerasTensor

_OUTPUT_MODES = ("int", "one_hot")
_DEFAULT_HASH_KEY = np.uint64(0xDECAFCAFFE)  # `tf.sparse.cross_hashed`'s `hash_key=None`
_INT64_MAX = np.uint64(2**63 - 1)


def _as_array(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _feature_hashes(values):
    """The `uint64` TensorFlow crosses for each value: a string's Fingerprint64, an int as is."""
    if values.dtype.kind in "USO":
        return fingerprint64(_to_bytes(values))
    return values.astype(np.int64).reshape(-1).view(np.uint64)


@keras_export("keras.layers.HashedCrossing")
class HashedCrossing(Layer):

    _convert_input_args = False  # as Keras: inputs reach `call` unconverted
    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None,
                 **kwargs):
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        super().__init__(name=name, dtype=dtype)  # Keras drops the other keyword arguments
        _check_sparse(sparse)
        if output_mode not in _OUTPUT_MODES:
            raise ValueError("Unknown value for `output_mode` argument of HashedCrossing. "
                             f"Allowed values are: {_OUTPUT_MODES}. Received: "
                             f"output_mode={output_mode}")
        self.num_bins = num_bins
        self.output_mode = output_mode
        self.sparse = sparse
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and any(isinstance(x, KerasTensor) for x in inputs):
            return super().__call__(inputs, *args, **kwargs)
        return self.call(inputs)  # strings cannot be tensors: bypass tensor conversion

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError("`HashedCrossing` should be called on a list or tuple of inputs. "
                             f"Received: inputs={inputs}")
        if len(inputs) < 2:
            raise ValueError("`HashedCrossing` should be called on at least two inputs. "
                             f"Received: inputs={inputs}")
        arrays = [_as_array(x) for x in inputs]
        shape = arrays[0].shape
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError("All `HashedCrossing` inputs should have shape `()`, "
                             f"`(batch_size)` or `(batch_size, 1)`. Received: inputs={inputs}")
        if any(a.shape != shape for a in arrays[1:]):
            raise ValueError("All `HashedCrossing` inputs should have equal shape. "
                             f"Received: inputs={inputs}")
        if any(a.dtype.kind not in "iuUSO" for a in arrays):
            raise ValueError("All `HashedCrossing` inputs should have an integer or string "
                             f"dtype. Received: inputs={inputs}")
        if self.num_bins < 0:
            raise ValueError(f"`num_bins` should be >= 0. Received: num_bins={self.num_bins}")
        crossed = np.full(arrays[0].size, _DEFAULT_HASH_KEY, dtype=np.uint64)
        for values in arrays:
            crossed = fingerprint_cat64(crossed, _feature_hashes(values))
        bins = crossed % (np.uint64(self.num_bins) if self.num_bins else _INT64_MAX)
        indices = torch.from_numpy(bins.astype(np.int64).reshape(shape))
        device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), None)
        if device is not None:
            indices = indices.to(device)
        return encode_categorical_inputs(indices, self.output_mode, self.num_bins,
                                         dtype_policies.torch_dtype(self.compute_dtype))

    def compute_output_shape(self, input_shape):
        if (not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2
                or not all(isinstance(s, (list, tuple)) for s in input_shape)):
            raise ValueError("Expected as input a list/tuple of at least 2 tensors. "
                             f"Received input_shape={input_shape}")
        first = tuple(input_shape[0])
        if any(tuple(s)[-1:] != first[-1:] for s in input_shape[1:]):
            raise ValueError("Expected the input tensors to have identical shapes. "
                             f"Received input_shape={input_shape}")
        if self.output_mode == "int":
            return first
        if not first or first[-1] != 1:
            return first + (self.num_bins,)
        return first[:-1] + (self.num_bins,)

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape([tuple(x.shape) for x in inputs])
        return KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        return {"num_bins": self.num_bins, "output_mode": self.output_mode,
                "sparse": self.sparse, "name": self.name, "dtype": self.dtype}
