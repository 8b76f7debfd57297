"""Dtype policies: `float32`, `mixed_float16`, `mixed_bfloat16`, ... as in Keras 3.

A policy names a variable dtype (what weights are stored in) and a compute dtype (what the layer
computes in). Mixed policies keep float32 weights and run the layer under `torch.autocast`.
"""

import torch

from tkeras.core import config
from tkeras.core.registry import keras_export

_TORCH_DTYPES = {
    "float16": torch.float16,
    "float32": torch.float32,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}


def standardize_dtype(dtype):
    """Keras dtype string for a str / torch.dtype / numpy dtype / None (-> floatx)."""
    if dtype is None:
        return config.floatx()
    if dtype is str or (isinstance(dtype, str) and dtype == "string"):
        return "string"  # symbolic inputs only (`keras.Input(dtype="string")`): no torch dtype
    if isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", "")
    if hasattr(dtype, "name") and not isinstance(dtype, str):
        dtype = dtype.name
    dtype = str(dtype)
    aliases = {"float": "float32", "double": "float64", "half": "float16", "int": "int64"}
    dtype = aliases.get(dtype, dtype)
    if dtype not in _TORCH_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype


def torch_dtype(dtype):
    dtype = standardize_dtype(dtype)
    if dtype == "string":
        raise ValueError("Strings have no torch dtype: string data stays a NumPy array or a list.")
    return _TORCH_DTYPES[dtype]


@keras_export("keras.DTypePolicy", "keras.dtype_policies.DTypePolicy",
              "keras.dtype_policies.FloatDTypePolicy", "keras.mixed_precision.DTypePolicy",
              "keras.mixed_precision.Policy")
class DTypePolicy:
    def __init__(self, name=None):
        name = name or config.floatx()
        if not isinstance(name, str):
            raise TypeError(f"'name' must be a string, such as 'mixed_float16'. Received: {name}")
        if name in ("mixed_float16", "mixed_bfloat16"):
            self._compute_dtype = name.split("_")[1]
            self._variable_dtype = "float32"
        else:
            self._compute_dtype = self._variable_dtype = standardize_dtype(name)
        self._name = name
        self.compute_torch_dtype = _TORCH_DTYPES[self._compute_dtype]
        self.variable_torch_dtype = _TORCH_DTYPES[self._variable_dtype]
        # Mixed policies run layers under torch.autocast in the compute dtype.
        self.autocasts = self._compute_dtype != self._variable_dtype

    @property
    def name(self):
        return self._name

    @property
    def compute_dtype(self):
        return self._compute_dtype

    @property
    def variable_dtype(self):
        return self._variable_dtype

    @property
    def quantization_mode(self):
        return None

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self._name)


FloatDTypePolicy = DTypePolicy
_GLOBAL_POLICY = None


def dtype_policy():
    """The global policy (`keras.config.dtype_policy()`)."""
    return _GLOBAL_POLICY or DTypePolicy(config.floatx())


def set_dtype_policy(policy):
    global _GLOBAL_POLICY
    if isinstance(policy, str):
        policy = DTypePolicy(policy)
    if policy is not None and not isinstance(policy, DTypePolicy):
        raise ValueError(f"Invalid `policy` argument. Expected a string or DTypePolicy, got {policy}")
    _GLOBAL_POLICY = policy


def get(identifier):
    """A DTypePolicy from None, a name, a torch dtype, a config dict or a policy."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        if identifier.get("class_name") not in (None, "DTypePolicy", "FloatDTypePolicy", "Policy"):
            raise ValueError(f"Unsupported dtype policy: {identifier.get('class_name')}")
        inner = identifier.get("config", identifier)
        return DTypePolicy(inner.get("name"))
    if isinstance(identifier, torch.dtype) or not isinstance(identifier, str):
        return DTypePolicy(standardize_dtype(identifier))
    return DTypePolicy(identifier)
