"""Dtype policies: `float32`, `mixed_float16`, `mixed_bfloat16`, ... as in Keras 3.

A policy names a variable dtype (what weights are stored in) and a compute dtype (what the layer
computes in). Mixed policies keep float32 weights and run the layer under `torch.autocast`.

Quantized policies (`QuantizedDTypePolicy`, `Int4DTypePolicy`, `QuantizedFloat8DTypePolicy`) are
named `"<mode>_from_<source policy>"` (`"int8_from_float32"`, `"int4/128_from_mixed_bfloat16"`)
and compute like their source policy; `layer.quantize(mode)` sets them. The GPTQ and AWQ policies
are not implemented (asking for one raises `NotImplementedError`).
"""

from collections.abc import MutableMapping

import torch

from tkeras.core import config
from tkeras.core import path_map
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object

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


_AMBIGUOUS_PATH = (
    "Path '{key}' matches multiple dtype policy specification keys: {matching}. Please make "
    "sure each path only matches at most one dtype policy specification key in the "
    "DTypePolicyMap.")


@keras_export("keras.dtype_policies.DTypePolicyMap")
class DTypePolicyMap(DTypePolicy, MutableMapping):
    """A dict-like map from layer paths (or regex patterns over them) to `DTypePolicy`s.

    As Keras: `map[path]` is the exact entry for `path`, else the one entry whose key
    `re.fullmatch`es it (ValueError if several do), else `default_policy` (the global policy at
    construction when not given). Assigning an existing key is a ValueError; values go through
    `dtype_policies.get`. The map's own `name`/`compute_dtype`/`variable_dtype`/
    `quantization_mode` are its default policy's (`name` is `"map_<default name>"`).
    `get_config` gives Keras's config (with no `default_policy`, the entries are written without
    their names / source names, so that they follow the policy of whatever reloads them); unlike
    Keras it does not clear the names of the policies it holds.

    A layer given a map (`dtype=map`) serializes the map; it computes with its default policy
    until the layer has a path (see `Layer.path`), then with `map[layer.path]`.
    """

    def __init__(self, default_policy=None, policy_map=None):
        if isinstance(default_policy, DTypePolicyMap):
            raise ValueError("`default_policy` cannot be a `DTypePolicyMap`.")
        if policy_map is not None and not isinstance(policy_map, dict):
            raise TypeError("If specified, `policy_map` must be a dict. "
                            f"Received: policy_map={policy_map} of type {type(policy_map)}")
        self._default_policy_arg = default_policy
        self._default_policy = get(default_policy)
        self._policy_map = policy_map or {}

    @property
    def default_policy(self):
        return self._default_policy

    @property
    def name(self):
        return f"map_{self._default_policy.name}"

    @property
    def compute_dtype(self):
        return self._default_policy.compute_dtype

    @property
    def variable_dtype(self):
        return self._default_policy.variable_dtype

    @property
    def quantization_mode(self):
        return self._default_policy.quantization_mode

    @property
    def compute_torch_dtype(self):
        return self._default_policy.compute_torch_dtype

    @property
    def variable_torch_dtype(self):
        return self._default_policy.variable_torch_dtype

    @property
    def autocasts(self):
        return self._default_policy.autocasts

    def __getitem__(self, key):
        return path_map.match_path(key, self._policy_map, _AMBIGUOUS_PATH,
                                   default=self._default_policy)

    def __setitem__(self, key, policy):
        path_map.check_new_key(key, self._policy_map, "DTypePolicyMap")
        try:
            policy = get(policy)
        except Exception:
            raise ValueError("Cannot interpret the assigned value by `keras.dtype_policies.get`. "
                             f"Received: {policy} of type {type(policy)}") from None
        self._policy_map[key] = policy

    def __delitem__(self, key):
        return self._policy_map.pop(key)

    def __contains__(self, key):
        return key in self._policy_map

    def __len__(self):
        return len(self._policy_map)

    def __iter__(self):
        return iter(self._policy_map)

    def __eq__(self, other):
        return (type(other) is type(self) and other._default_policy == self._default_policy
                and other._policy_map == self._policy_map)

    __hash__ = None  # mutable

    def get_config(self):
        policy_map = serialize_keras_object(self._policy_map)
        if self._default_policy_arg is None:
            for entry in policy_map.values():
                key = "source_name" if "source_name" in entry["config"] else "name"
                entry["config"][key] = None
        default = self._default_policy_arg
        return {"default_policy": serialize_keras_object(default) if isinstance(
                    default, DTypePolicy) else default,
                "policy_map": policy_map}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["policy_map"] = deserialize_keras_object(config["policy_map"],
                                                        custom_objects=custom_objects)
        return cls(**config)

    def __repr__(self):
        mapping = [(k, v.name) for k, v in self._policy_map.items()]
        return (f"<DTypePolicyMap at {hex(id(self))} default_policy="
                f"{self._default_policy.name}, mapping={mapping}>")


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
        if class_name == "DTypePolicyMap":
            return DTypePolicyMap.from_config(inner)
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
