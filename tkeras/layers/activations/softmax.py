"""`Softmax` over `axis` (an int or a tuple of axes), with Keras's mask handling.

With a mask (bool, or numbers where `> 0.5` keeps a position), masked inputs are replaced by a
large negative number (-1e9; -3e4 in float16) before the softmax, and masked outputs are set
to 0 afterwards (so a fully masked row gives zeros, not a uniform distribution).
"""

import torch

from tkeras.core import activations
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer


def large_negative_number(dtype):
    """The fill value Keras uses for masked logits."""
    return -3e4 if dtype == torch.float16 else -1e9


@keras_export("keras.layers.Softmax")
class Softmax(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = True
        self.built = True

    def call(self, inputs, mask=None):
        if mask is not None:
            if mask.ndim > inputs.ndim:
                raise ValueError(
                    "The `mask` must be broadcastable to `inputs` and must not have more "
                    f"dimensions. Received: inputs.shape={tuple(inputs.shape)}, "
                    f"mask.shape={tuple(mask.shape)}")
            for m_dim, i_dim in zip(mask.shape[::-1], inputs.shape[::-1]):
                if m_dim != 1 and m_dim != i_dim:
                    raise ValueError(
                        "The `mask` must be broadcastable to `inputs`. Each mask dimension must "
                        "be 1 or match the corresponding input dimension. Received: "
                        f"inputs.shape={tuple(inputs.shape)}, mask.shape={tuple(mask.shape)}")
            if mask.dtype != torch.bool:
                mask = mask > 0.5
            inputs = torch.where(mask, inputs, large_negative_number(inputs.dtype))
        axis = self.axis
        if isinstance(axis, (tuple, list)) and len(axis) == 1:
            axis = axis[0]
        outputs = activations.softmax(inputs, axis=axis)
        if mask is not None:
            outputs = torch.where(mask, outputs, 0.0)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
