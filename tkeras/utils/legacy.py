"""`keras.utils.legacy`: the Keras 2 style serializers of `tkeras.legacy.saving`."""

from tkeras.legacy.saving import deserialize_keras_object
from tkeras.legacy.saving import serialize_keras_object

__all__ = ["deserialize_keras_object", "serialize_keras_object"]
