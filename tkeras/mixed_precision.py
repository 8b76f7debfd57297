"""`keras.mixed_precision`: Keras 3's legacy mixed-precision names.

`Policy` is `DTypePolicy`; `global_policy`/`dtype_policy` return the global policy and
`set_global_policy`/`set_dtype_policy` set it (the same functions as `keras.config`).
"""

from tkeras.core.dtype_policies import DTypePolicy
from tkeras.core.dtype_policies import dtype_policy
from tkeras.core.dtype_policies import set_dtype_policy
from tkeras.fit.optimizers import LossScaleOptimizer  # noqa: F401

Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy

__all__ = [
    "DTypePolicy", "LossScaleOptimizer", "Policy", "dtype_policy", "global_policy",
    "set_dtype_policy", "set_global_policy",
]
