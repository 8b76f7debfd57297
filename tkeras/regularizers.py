"""`keras.regularizers`: regularizer classes, their aliases, `get`, `serialize`, `deserialize`."""

from tkeras.core.regularizers import (  # noqa: F401
    L1,
    L1L2,
    L2,
    OrthogonalRegularizer,
    Regularizer,
    deserialize,
    get,
    serialize,
)

l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer
