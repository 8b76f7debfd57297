"""Dtype policies: `float32`, `mixed_float16`, `mixed_bfloat16`, ... as in Keras 3.

A policy names a variable dtype (what weights are stored in) and a compute dtype (what the layer
computes in). Mixed policies keep float32 weights and run the layer under `torch.autocast`.

Quantized policies (`QuantizedDTypePolicy`, `Int4DTypePolicy`, `QuantizedFloat8DTypePolicy`) are
named `"<mode>_from_<source policy>"` (`"int8_from_float32"`, `"int4/128_from_mixed_bfloat16"`)
and compute like their source policy; `layer.quantize(mode)` sets them. The GPTQ and AWQ policies
are not implemented (asking for one raises `NotImplementedError`).
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
        return f'<{type(self).__name__} "{self._name}">'

    def __eq__(self, other):
        return type(other) is type(self) and other.name == self.name

    def __hash__(self):
        return hash(self._name)


FloatDTypePolicy = DTypePolicy

QUANTIZATION_MODES = ("int8", "float8", "int4", "gptq", "awq")


@keras_export("keras.dtype_policies.QuantizedDTypePolicy")
class QuantizedDTypePolicy(DTypePolicy):
    """`"<mode>_from_<source_name>"`: weights quantized with `mode`, computing as `source_name`."""

    def __init__(self, mode, source_name=None):
        source_name = source_name if source_name is not None else dtype_policy().name
        super().__init__(source_name)
        if mode not in QUANTIZATION_MODES:
            raise ValueError(f"Invalid quantization mode. Expected one of {QUANTIZATION_MODES}. "
                             f"Received: mode={mode}")
        if self.compute_dtype == "float16" and mode == "int8":
            raise ValueError(f"Quantization mode='{mode}' doesn't work well with "
                             "compute_dtype='float16'.")
        self._name = f"{mode}_from_{source_name}"
        self._source_name = source_name
        self._quantization_mode = mode

    @property
    def quantization_mode(self):
        return self._quantization_mode

    def get_config(self):
        return {"mode": self._quantization_mode, "source_name": self._source_name}


@keras_export("keras.dtype_policies.QuantizedFloat8DTypePolicy")
class QuantizedFloat8DTypePolicy(QuantizedDTypePolicy):
    default_amax_history_length = 1024

    def __init__(self, mode, source_name=None, amax_history_length=1024):
        super().__init__(mode, source_name)
        if not isinstance(amax_history_length, int):
            raise TypeError("`amax_history_length` must be an integer. "
                            f"Received: amax_history_length={amax_history_length}")
        self.amax_history_length = amax_history_length

    def get_config(self):
        return {**super().get_config(), "amax_history_length": self.amax_history_length}


@keras_export("keras.dtype_policies.Int4DTypePolicy")
class Int4DTypePolicy(QuantizedDTypePolicy):
    """`"int4/<block_size>_from_<source_name>"`: -1 is per-channel, a positive block size is
    sub-channel (grouped, with zero points) quantization."""

    def __init__(self, mode, source_name=None):
        parts = mode.split("/")
        if len(parts) != 2 or parts[0] != "int4":
            raise ValueError("Invalid mode for Int4DTypePolicy. Expected format "
                             f"'int4/<block_size>', but got '{mode}'.")
        try:
            block_size = int(parts[1])
        except ValueError:
            raise ValueError("Invalid mode for Int4DTypePolicy. <block_size> must be an integer. "
                             f"Expected format 'int4/<block_size>', but got '{mode}'.") from None
        if block_size < -1 or block_size == 0:
            raise ValueError("Invalid block_size in mode. Supported values are -1 (per-channel) "
                             f"or a positive integer (sub-channel), but got {block_size} from "
                             f"'{mode}'.")
        super().__init__("int4", source_name)
        self._name = f"{mode}_from_{source_name}"
        self.mode = "int4"
        self.block_size = block_size

    def get_config(self):
        return {**super().get_config(), "mode": f"int4/{self.block_size}"}


_QUANTIZED_CLASSES = {cls.__name__: cls for cls in
                      (QuantizedDTypePolicy, QuantizedFloat8DTypePolicy, Int4DTypePolicy)}


def _quantized_policy_from_string(policy):
    mode, sep, source_name = policy.partition("_from_")
    if not sep or "_from_" in source_name:
        raise ValueError("Cannot convert `policy` into a valid pair (`mode`, `source_name`) to "
                         f"instantiate `QuantizedDTypePolicy`. Received: policy={policy}")
    if mode.startswith(("gptq", "awq")):
        raise NotImplementedError(f"tkeras does not implement the '{mode.split('/')[0]}' "
                                  f"quantization mode (dtype policy '{policy}').")
    if mode.startswith("float8"):
        return QuantizedFloat8DTypePolicy(mode, source_name)
    if mode.startswith("int4") and "/" in mode:
        return Int4DTypePolicy(mode, source_name)
    return QuantizedDTypePolicy(mode, source_name)


_GLOBAL_POLICY = None


def dtype_policy():
    """The global policy (`keras.config.dtype_policy()`)."""
    return _GLOBAL_POLICY or DTypePolicy(config.floatx())


def set_dtype_policy(policy):
    global _GLOBAL_POLICY
    if isinstance(policy, str):
        policy = get(policy)
    if not isinstance(policy, DTypePolicy):
        raise ValueError(f"Invalid `policy` argument. Expected a string or DTypePolicy, got {policy}")
    _GLOBAL_POLICY = policy


def get(identifier):
    """A DTypePolicy from None, a name, a torch dtype, a config dict or a policy."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        class_name = identifier.get("class_name")
        inner = identifier.get("config", identifier)
        if class_name in _QUANTIZED_CLASSES:
            return _QUANTIZED_CLASSES[class_name](**inner)
        if class_name in ("GPTQDTypePolicy", "AWQDTypePolicy"):
            raise NotImplementedError(f"tkeras does not implement {class_name} (the "
                                      f"'{class_name[:-len('DTypePolicy')].lower()}' "
                                      "quantization mode).")
        if class_name not in (None, "DTypePolicy", "FloatDTypePolicy", "Policy"):
            raise ValueError(f"Unsupported dtype policy: {class_name}")
        return DTypePolicy(inner.get("name"))
    if isinstance(identifier, torch.dtype) or not isinstance(identifier, str):
        return DTypePolicy(standardize_dtype(identifier))
    if identifier.startswith(QUANTIZATION_MODES):
        return _quantized_policy_from_string(identifier)
    return DTypePolicy(identifier)
