"""`keras.backend`: the backend-level utilities Keras 3 exports (dtype helpers, config, uids).

`backend()` is always `"torch"`. `standardize_dtype`, `is_float_dtype`, `is_int_dtype` and
`result_type` are Keras's (dtype names, Keras's promotion lattice, 64-bit results narrowed to
32-bit as on Keras's torch backend; see `tkeras.ops.dtypes`). `get_uid(prefix)` shares its
per-prefix counters with automatic layer names, as in Keras (after one `Dense` layer,
`get_uid("dense")` is 2), and `clear_session()` resets them.
"""

from tkeras.core import naming
from tkeras.core.config import (  # noqa: F401
    backend,
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from tkeras.ops.dtypes import (  # noqa: F401
    is_float_dtype,
    is_int_dtype,
    result_type,
    standardize_dtype,
)
from tkeras.utils.global_state import clear_session  # noqa: F401
from tkeras.utils.tensor_utils import is_keras_tensor  # noqa: F401

__all__ = [
    "backend", "clear_session", "epsilon", "floatx", "get_uid", "image_data_format",
    "is_float_dtype", "is_int_dtype", "is_keras_tensor", "result_type", "set_epsilon",
    "set_floatx", "set_image_data_format", "standardize_dtype",
]


def get_uid(prefix=""):
    """The next integer id for `prefix`: 1, 2, ... (counters reset by `clear_session()`)."""
    naming._NAME_COUNTS[prefix] += 1
    return naming._NAME_COUNTS[prefix]
