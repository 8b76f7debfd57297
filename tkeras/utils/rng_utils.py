"""Global seeding and the switch for deterministic torch kernels.

`set_random_seed(seed)` is Keras's: it seeds Python's `random`, NumPy's global generator and
torch (`torch.manual_seed` seeds the CPU and every CUDA/XPU/MPS device). Initializers built with
`seed=None` draw their seed from Python's `random`, so they become reproducible too.

Seeding alone does not make GPU training bit-for-bit reproducible: some CUDA kernels
(atomic-add reductions, cuDNN autotuning) are nondeterministic. `enable_deterministic_ops()`
(also exported as `tkeras.config.enable_deterministic_ops`) is tkeras's switch for that; Keras 3
has no equivalent (TensorFlow has `tf.config.experimental.enable_op_determinism`).
"""

import os
import random

import numpy as np
import torch


def set_random_seed(seed):
    """Seed Python, NumPy and torch (all devices) with the integer `seed`."""
    if not isinstance(seed, int):
        raise ValueError(
            "Expected `seed` argument to be an integer. "
            f"Received: seed={seed} (of type {type(seed)})"
        )
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    from tkeras import random as keras_random

    keras_random.reset_global_seed_generator()  # unseeded keras.random draws restart, as Keras


def enable_deterministic_ops(warn_only=False):
    """Make torch use deterministic kernels only.

    Calls `torch.use_deterministic_algorithms(True, warn_only=warn_only)` (an op without a
    deterministic kernel then raises, or only warns with `warn_only=True`), sets
    `torch.backends.cudnn.deterministic = True` and `torch.backends.cudnn.benchmark = False`,
    and sets `CUBLAS_WORKSPACE_CONFIG=:4096:8` (needed by cuBLAS on CUDA >= 10.2) unless it is
    already set. Call it before the first CUDA matmul. Deterministic kernels can be slower.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def disable_deterministic_ops():
    """Undo `enable_deterministic_ops` (torch's defaults: nondeterministic kernels allowed)."""
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False


def is_deterministic_ops_enabled():
    return torch.are_deterministic_algorithms_enabled()
