"""`keras.ops`: Keras 3's backend-agnostic ops, on torch tensors.

Each op runs its torch code directly on tensors and builds a graph node (an `Operation` of
Keras's class name and config) on `KerasTensor`s, so functional models that use ops serialize as
Keras writes them. Submodules mirror Keras: `tkeras.ops.numpy`, `.nn`, `.linalg`, `.image`; the
core ops (`cond`, `scan`, `convert_to_tensor`, ...) and math ops (`top_k`, `segment_sum`, ...)
are at the top level, as in Keras.
"""

from tkeras.ops import image  # noqa: F401
from tkeras.ops import linalg  # noqa: F401
from tkeras.ops import nn  # noqa: F401
from tkeras.ops import numpy  # noqa: F401
from tkeras.ops.core import *  # noqa: F401,F403
from tkeras.ops.einops import *  # noqa: F401,F403
from tkeras.ops.linalg import *  # noqa: F401,F403
from tkeras.ops.math import *  # noqa: F401,F403
from tkeras.ops.nn import *  # noqa: F401,F403
from tkeras.ops.numpy import *  # noqa: F401,F403
from tkeras.ops.operation import Operation  # noqa: F401
