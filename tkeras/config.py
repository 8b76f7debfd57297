"""`keras.config`: global settings (floatx, epsilon, image data format, dtype policy, ...).

The values start from `keras.json` (read once, at import; see `tkeras.core.config`). `backend()`
is always `"torch"` and `set_backend` accepts only `"torch"`. Deliberate additions:
`enable_deterministic_ops()` / `disable_deterministic_ops()` / `is_deterministic_ops_enabled()`
switch torch to deterministic kernels (see `tkeras.utils.rng_utils`).
"""

from tkeras.core.config import (  # noqa: F401
    backend,
    disable_flash_attention,
    disable_interactive_logging,
    disable_traceback_filtering,
    enable_flash_attention,
    enable_interactive_logging,
    enable_traceback_filtering,
    epsilon,
    floatx,
    image_data_format,
    is_flash_attention_enabled,
    is_interactive_logging_enabled,
    is_nnx_enabled,
    is_traceback_filtering_enabled,
    max_epochs,
    max_steps_per_epoch,
    set_backend,
    set_epsilon,
    set_floatx,
    set_image_data_format,
    set_max_epochs,
    set_max_steps_per_epoch,
)
from tkeras.core.dtype_policies import dtype_policy, set_dtype_policy  # noqa: F401
from tkeras.core.registry import enable_unsafe_deserialization  # noqa: F401
from tkeras.utils.rng_utils import (  # noqa: F401
    disable_deterministic_ops,
    enable_deterministic_ops,
    is_deterministic_ops_enabled,
)

__all__ = [
    "backend",
    "disable_deterministic_ops",
    "disable_flash_attention",
    "disable_interactive_logging",
    "disable_traceback_filtering",
    "dtype_policy",
    "enable_deterministic_ops",
    "enable_flash_attention",
    "enable_interactive_logging",
    "enable_traceback_filtering",
    "enable_unsafe_deserialization",
    "epsilon",
    "floatx",
    "image_data_format",
    "is_deterministic_ops_enabled",
    "is_flash_attention_enabled",
    "is_interactive_logging_enabled",
    "is_nnx_enabled",
    "is_traceback_filtering_enabled",
    "max_epochs",
    "max_steps_per_epoch",
    "set_backend",
    "set_dtype_policy",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "set_max_epochs",
    "set_max_steps_per_epoch",
]
