"""`keras.preprocessing.sequence`: `pad_sequences`."""

from tkeras.utils.sequence_utils import pad_sequences  # noqa: F401

__all__ = ["pad_sequences"]
