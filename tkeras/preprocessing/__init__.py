"""`keras.preprocessing`: the dataset loaders and the `image`/`sequence` helpers (the same
functions as in `keras.utils`)."""

from tkeras.preprocessing import image, sequence  # noqa: F401
from tkeras.utils.image_dataset_utils import image_dataset_from_directory  # noqa: F401
from tkeras.utils.text_dataset_utils import text_dataset_from_directory  # noqa: F401
from tkeras.utils.timeseries_dataset_utils import timeseries_dataset_from_array  # noqa: F401

__all__ = ["image", "image_dataset_from_directory", "sequence", "text_dataset_from_directory",
           "timeseries_dataset_from_array"]
