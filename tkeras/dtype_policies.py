"""`keras.dtype_policies`: dtype policy classes, `DTypePolicyMap`, `get`/`serialize`/`deserialize`.

The policies live in `tkeras.core.dtype_policies`; `FloatDTypePolicy` is `DTypePolicy` (Keras
keeps it as a legacy subclass that compares equal to `DTypePolicy`). `GPTQDTypePolicy` and
`AWQDTypePolicy` exist so that code and configs naming them get a clear `NotImplementedError`:
tkeras has no GPTQ/AWQ quantization.
"""

import re
from collections.abc import MutableMapping

from tkeras.core.dtype_policies import DTypePolicy
from tkeras.core.dtype_policies import FloatDTypePolicy
from tkeras.core.dtype_policies import Int4DTypePolicy
from tkeras.core.dtype_policies import QuantizedDTypePolicy
from tkeras.core.dtype_policies import QuantizedFloat8DTypePolicy
from tkeras.core.dtype_policies import get
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object

__all__ = [
    "AWQDTypePolicy", "DTypePolicy", "DTypePolicyMap", "FloatDTypePolicy", "GPTQDTypePolicy",
    "Int4DTypePolicy", "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy", "deserialize",
    "get", "serialize",
]


class _UnsupportedQuantizedDTypePolicy(QuantizedDTypePolicy):
    def __init__(self, mode, source_name=None):
        raise NotImplementedError(
            f"tkeras does not implement {type(self).__name__} (the '{self._algorithm}' "
            f"quantization mode; requested mode='{mode}', source_name={source_name!r}).")


@keras_export("keras.dtype_policies.GPTQDTypePolicy")
class GPTQDTypePolicy(_UnsupportedQuantizedDTypePolicy):
    """Keras's GPTQ policy (`"gptq/<weight_bits>/<group_size>_from_<source>"`): not implemented."""

    _algorithm = "gptq"


@keras_export("keras.dtype_policies.AWQDTypePolicy")
class AWQDTypePolicy(_UnsupportedQuantizedDTypePolicy):
    """Keras's AWQ policy (`"awq/<weight_bits>/<group_size>_from_<source>"`): not implemented."""

    _algorithm = "awq"


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

    Layers given a map use its default policy: tkeras's layers do not look up their own path in
    it.
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
        if key in self._policy_map:
            return self._policy_map[key]
        matching = [pattern for pattern in self._policy_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(
                f"Path '{key}' matches multiple dtype policy specification keys: {matching}. "
                "Please make sure each path only matches at most one dtype policy specification "
                "key in the DTypePolicyMap.")
        if matching:
            return self._policy_map[matching[0]]
        return self._default_policy

    def __setitem__(self, key, policy):
        if key in self._policy_map:
            raise ValueError(
                f"{key} already exist in the DTypePolicyMap with value "
                f"{self._policy_map[key]}. Please make sure to not use duplicated keys.")
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


def serialize(dtype_policy):
    """The Keras config dict of a dtype policy."""
    return serialize_keras_object(dtype_policy)


def deserialize(config, custom_objects=None):
    """A dtype policy from its Keras config."""
    return deserialize_keras_object(config, custom_objects=custom_objects,
                                    printable_module_name="dtype_policies")
