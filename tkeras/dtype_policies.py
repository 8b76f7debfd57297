"""`keras.dtype_policies`: dtype policy classes, `DTypePolicyMap`, `get`/`serialize`/`deserialize`.

The policies live in `tkeras.core.dtype_policies`; `FloatDTypePolicy` is `DTypePolicy` (Keras
keeps it as a legacy subclass that compares equal to `DTypePolicy`). `GPTQDTypePolicy` and
`AWQDTypePolicy` exist so that code and configs naming them get a clear `NotImplementedError`:
tkeras has no GPTQ/AWQ quantization.
"""

from tkeras.core.dtype_policies import DTypePolicy
from tkeras.core.dtype_policies import DTypePolicyMap
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


def serialize(dtype_policy):
    """The Keras config dict of a dtype policy."""
    return serialize_keras_object(dtype_policy)


def deserialize(config, custom_objects=None):
    """A dtype policy from its Keras config."""
    return deserialize_keras_object(config, custom_objects=custom_objects,
                                    printable_module_name="dtype_policies")
