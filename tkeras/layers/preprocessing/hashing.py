"""`Hashing`: strings or integers to hash bins, without TensorFlow.

Keras computes the bins with TensorFlow's string ops even on the torch backend; tkeras computes
the same numbers with `string_hashing` (NumPy): unsalted values go through FarmHash
`Fingerprint64` (`tf.strings.to_hash_bucket_fast`), salted ones through SipHash-2-4 keyed by the
two salt words (`tf.strings.to_hash_bucket_strong`); the bin is the unsigned hash modulo the
number of bins.

Keras behaviour kept: inputs are a string, (nested) lists or arrays of `str`/`bytes`, or integer,
float or bool arrays/tensors; numbers are hashed as TensorFlow prints them (`tf.as_string`:
integers in decimal, floats truncated to int64 first, bools as `true`/`false`); with
`mask_value` (and `num_bins > 1`) values equal to it go to bin 0 and the others to bins
`1 ... num_bins - 1`; `salt` is one int (used twice) or a pair; `output_mode` `int` (dtype
`int64` by default, `int32` allowed), `one_hot` (a trailing axis of size 1 is squeezed first),
`multi_hot` or `count` (floatx by default); the config and its errors are Keras's.

Deliberate differences: `sparse=True` raises (as Keras off TensorFlow); the symbolic shape of
`one_hot` outputs for inputs whose last axis is not 1 is the shape `call` returns
(`input_shape + (num_bins,)`; Keras's `compute_output_shape` drops the last input axis).
Like Keras, the layer works eagerly and cannot be traced by `torch.compile` (it hashes in NumPy).
"""

import numpy as np
import torch

from tkeras.core import config as _config
from tkeras.core import dtype_policies
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.layers.preprocessing.category_encoding import _check_sparse
from tkeras.layers.preprocessing.category_encoding import encode_categorical_inputs
from tkeras.layers.preprocessing.string_hashing import fingerprint64
from tkeras.layers.preprocessing.string_hashing import siphash24
from tkeras.model.keras_tensor import KerasTensor

_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


def _as_numpy(inputs):
    if isinstance(inputs, torch.Tensor):
        return inputs.detach().cpu().numpy()
    return np.asarray(inputs)


def _to_bytes(values, encoding="utf-8"):
    """A flat list of the `bytes` TensorFlow hashes for each value of a NumPy array."""
    if values.dtype.kind == "b":
        return [b"true" if v else b"false" for v in values.reshape(-1).tolist()]
    if values.dtype.kind == "f":
        values = values.astype(np.int64)
    if values.dtype.kind in "iu":
        return [str(v).encode("ascii") for v in values.reshape(-1).tolist()]
    return [v if isinstance(v, bytes) else str(v).encode(encoding)
            for v in values.reshape(-1).tolist()]


@keras_export("keras.layers.Hashing")
class Hashing(Layer):

    _convert_input_args = False  # as Keras: inputs reach `call` unconverted
    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else _config.floatx()
        super().__init__(**kwargs)
        if num_bins is None or num_bins <= 0:
            raise ValueError("The `num_bins` for `Hashing` cannot be `None` or non-positive "
                             f"values. Received: num_bins={num_bins}.")
        if output_mode == "int" and self.dtype_policy.name not in ("int32", "int64"):
            raise ValueError("When `output_mode=\"int\"`, `dtype` should be an integer type, "
                             f"'int32' or 'in64'. Received: dtype={kwargs['dtype']}")
        if output_mode not in _OUTPUT_MODES:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of "
                             f"{_OUTPUT_MODES}. Received: output_mode={output_mode}")
        if sparse and output_mode == "int":
            raise ValueError("`sparse` may only be true if `output_mode` is `\"one_hot\"`, "
                             f"`\"multi_hot\"`, or `\"count\"`. Received: sparse={sparse} and "
                             f"output_mode={output_mode}")
        _check_sparse(sparse)
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                salt = list(salt)
            elif isinstance(salt, int):
                salt = [salt, salt]
            else:
                raise ValueError("The `salt` argument for `Hashing` can only be a tuple of size "
                                 f"2 integers, or a single integer. Received: salt={salt}.")
        self.num_bins = num_bins
        self.mask_value = mask_value
        self.strong_hash = salt is not None
        self.output_mode = output_mode
        self.sparse = sparse
        self.salt = salt
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if self._build_shapes is None:  # as Keras's first call: the shape of a tensor input
            shape = (tuple(inputs.shape) if isinstance(inputs, (torch.Tensor, KerasTensor))
                     else None)
            self._build_shapes = {"input_shape": shape}
        if isinstance(inputs, (torch.Tensor, KerasTensor)):
            return super().__call__(inputs, *args, **kwargs)
        return self.call(inputs)  # strings cannot be tensors: bypass tensor conversion

    def _hash_values_to_bins(self, values):
        """NumPy array of values -> int64 array of bins (mask value -> bin 0 when set)."""
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask_value = self.mask_value
            if values.dtype.kind in "SO" and isinstance(mask_value, str):
                mask_value = mask_value.encode("utf-8")
            elif values.dtype.kind == "U" and isinstance(mask_value, bytes):
                mask_value = mask_value.decode("utf-8")
            mask = values == mask_value
        strings = _to_bytes(values)
        if self.strong_hash:
            hashes = siphash24(strings, *self.salt)
        else:
            hashes = fingerprint64(strings)
        out = (hashes % np.uint64(bins)).astype(np.int64).reshape(values.shape)
        if mask is not None:
            out = np.where(mask, 0, out + 1)
        return out

    def call(self, inputs):
        values = _as_numpy(inputs)
        if self.output_mode == "one_hot" and values.ndim and values.shape[-1] == 1:
            values = values.squeeze(-1)
        indices = torch.from_numpy(np.ascontiguousarray(self._hash_values_to_bins(values)))
        if isinstance(inputs, torch.Tensor):
            indices = indices.to(inputs.device)
        return encode_categorical_inputs(indices, self.output_mode, self.num_bins,
                                         dtype_policies.torch_dtype(self.dtype))

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        input_shape = tuple(input_shape)
        if self.output_mode == "one_hot" and input_shape and input_shape[-1] != 1:
            # The shape `call` returns (Keras's `compute_output_shape` drops the last axis).
            return input_shape + (self.num_bins,)
        if len(input_shape) == 0:
            return (self.num_bins,)
        return input_shape[:-1] + (self.num_bins,)

    def compute_output_spec(self, inputs):
        return KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.dtype)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt,
                "mask_value": self.mask_value, "output_mode": self.output_mode,
                "sparse": self.sparse}
