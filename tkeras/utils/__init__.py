"""`keras.utils`: seeding, `get_file`, array helpers, `Progbar`, `clear_session`, the
serialization registry, and functional-graph helpers.

Missing from Keras's namespace (not implemented yet): image/audio/text dataset loaders and
image helpers (`load_img`, `img_to_array`, ...), `FeatureSpace`, `split_dataset`,
`timeseries_dataset_from_array`, `plot_model`/`model_to_dot`.
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
from tkeras.utils.config import Config  # noqa: F401
from tkeras.utils.file_utils import get_file  # noqa: F401
from tkeras.utils.global_state import clear_session  # noqa: F401
from tkeras.utils.numerical_utils import normalize, to_categorical  # noqa: F401
from tkeras.utils.rng_utils import set_random_seed  # noqa: F401
from tkeras.utils.sequence_utils import pad_sequences  # noqa: F401
from tkeras.utils.tensor_utils import get_source_inputs, is_keras_tensor  # noqa: F401

Sequence = PyDataset

__all__ = [
    "Config",
    "CustomObjectScope",
    "Progbar",
    "PyDataset",
    "Sequence",
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
    "is_interactive_logging_enabled",
    "is_keras_tensor",
    "normalize",
    "pack_x_y_sample_weight",
    "pad_sequences",
    "register_keras_serializable",
    "serialize_keras_object",
    "set_random_seed",
    "standardize_dtype",
    "to_categorical",
    "unpack_x_y_sample_weight",
]
