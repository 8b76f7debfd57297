"""`tkeras.legacy`: Keras 3's `keras.legacy` namespace (Keras 2 style serialization)."""

from tkeras.legacy import saving

__all__ = ["saving"]
