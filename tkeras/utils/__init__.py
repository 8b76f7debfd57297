"""`keras.utils`: seeding, `get_file`, array helpers, `Progbar`, `clear_session`, the
serialization registry, and functional-graph helpers.

The dataset loaders (`image_dataset_from_directory`, `text_dataset_from_directory`,
`audio_dataset_from_directory`, `timeseries_dataset_from_array`) return a `PyDataset` of NumPy
batches instead of a `tf.data.Dataset` (docs/data.md); `split_dataset` returns torch `Subset`s;
`FeatureSpace.adapt` takes a dict of arrays or any iterable of dict batches.
"""

from tkeras.core.config import (  # noqa: F401
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)
from tkeras.core.dtype_policies import standardize_dtype  # noqa: F401
from tkeras.core.registry import (  # noqa: F401
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)
from tkeras.fit.data import pack_x_y_sample_weight, unpack_x_y_sample_weight  # noqa: F401
from tkeras.fit.progbar import Progbar  # noqa: F401
from tkeras.fit.pydataset import PyDataset  # noqa: F401
from tkeras.utils import bounding_boxes  # noqa: F401
from tkeras.utils import legacy  # noqa: F401
from tkeras.utils.feature_space import FeatureSpace  # noqa: F401
from tkeras.utils.audio_dataset_utils import audio_dataset_from_directory  # noqa: F401
from tkeras.utils.config import Config  # noqa: F401
from tkeras.utils.dataset_utils import split_dataset  # noqa: F401
from tkeras.utils.file_utils import get_file  # noqa: F401
from tkeras.utils.global_state import clear_session  # noqa: F401
from tkeras.utils.image_dataset_utils import image_dataset_from_directory  # noqa: F401
from tkeras.utils.image_utils import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from tkeras.utils.model_visualization import model_to_dot, plot_model  # noqa: F401
from tkeras.utils.numerical_utils import normalize, to_categorical  # noqa: F401
from tkeras.utils.rng_utils import set_random_seed  # noqa: F401
from tkeras.utils.sequence_utils import pad_sequences  # noqa: F401
from tkeras.utils.tensor_utils import get_source_inputs, is_keras_tensor  # noqa: F401
from tkeras.utils.text_dataset_utils import text_dataset_from_directory  # noqa: F401
from tkeras.utils.timeseries_dataset_utils import timeseries_dataset_from_array  # noqa: F401

Sequence = PyDataset

__all__ = [
    "FeatureSpace",
    "Config",
    "CustomObjectScope",
    "Progbar",
    "PyDataset",
    "Sequence",
    "array_to_img",
    "audio_dataset_from_directory",
    "bounding_boxes",
    "clear_session",
    "custom_object_scope",
    "deserialize_keras_object",
    "disable_interactive_logging",
    "enable_interactive_logging",
    "get_custom_objects",
    "get_file",
    "get_registered_name",
    "get_registered_object",
    "get_source_inputs",
    "image_dataset_from_directory",
    "img_to_array",
    "is_interactive_logging_enabled",
    "is_keras_tensor",
    "legacy",
    "load_img",
    "model_to_dot",
    "normalize",
    "pack_x_y_sample_weight",
    "pad_sequences",
    "plot_model",
    "register_keras_serializable",
    "save_img",
    "serialize_keras_object",
    "set_random_seed",
    "split_dataset",
    "standardize_dtype",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
    "to_categorical",
    "unpack_x_y_sample_weight",
]
