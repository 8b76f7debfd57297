"""`TensorOp`: the layer earlier tkeras versions built for `KerasTensor` arithmetic.

`KerasTensor` operators now build Keras's own op nodes (`Add`, `GetItem`, ...; see
`tkeras/model/keras_tensor.py`). `TensorOp` stays registered only so that models saved by earlier
tkeras versions still load.
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer

_BINARY = {
    "add": torch.add,
    "subtract": torch.sub,
    "multiply": torch.mul,
    "divide": torch.true_divide,
    "power": torch.pow,
    "matmul": torch.matmul,
}
_UNARY = {"negative": torch.neg, "absolute": torch.abs}


@keras_export("keras.layers.TensorOp")
class TensorOp(Layer):
    """`op(x, other)` with `other` a tensor (second input) or a constant kept in the config."""

    def __init__(self, op, constant=None, reverse=False, key=None, **kwargs):
        super().__init__(**kwargs)
        self.op = op
        self.constant = constant
        self.reverse = reverse
        self.key = key
        self.built = True

    def call(self, x, other=None):
        if self.op == "get_item":
            return x[_decode_key(self.key)]
        if self.op in _UNARY:
            return _UNARY[self.op](x)
        other = self.constant if other is None else other
        a, b = (other, x) if self.reverse else (x, other)
        if not isinstance(a, torch.Tensor):
            a = torch.as_tensor(a, dtype=b.dtype, device=b.device)
        return _BINARY[self.op](a, b)

    def get_config(self):
        return {**super().get_config(), "op": self.op, "constant": self.constant,
                "reverse": self.reverse, "key": self.key}


def _decode_key(key):
    if isinstance(key, list):
        return tuple(_decode_key(k) for k in key)
    if isinstance(key, dict):
        return slice(*key["slice"])
    if key == "...":
        return Ellipsis
    if key == "newaxis":
        return None
    return key
