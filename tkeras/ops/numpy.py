"""`keras.ops.numpy`: NumPy-style ops (math and reductions in `numpy_math`, array creation,
shapes and indexing in `numpy_array`)."""

from tkeras.ops.numpy_array import *  # noqa: F401,F403
from tkeras.ops.numpy_math import *  # noqa: F401,F403
