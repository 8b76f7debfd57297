"""`RMSNormalization`: `x * rsqrt(mean(x^2, axis) + epsilon) * scale`.

Keras behaviour kept: one trainable `scale` weight (ones) of shape `input_shape[axis]`, `axis`
stored as a sorted list after `build`, `epsilon=1e-6`, float32 computation for half-precision
inputs. Trailing axes run the fused `F.rms_norm` (as Keras's torch backend does).

Deliberate difference: non-trailing axes normalize the requested axes with `scale` broadcast
along them (Keras's torch backend mis-handles contiguous non-trailing axes, see
LayerNormalization).
"""

import torch
import torch.nn.functional as F

from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.layers.normalization.layer_normalization import broadcast_shape
from tkeras.layers.normalization.layer_normalization import axes_tuple
from tkeras.layers.normalization.layer_normalization import check_axes_in_bounds
from tkeras.layers.normalization.layer_normalization import is_trailing


@keras_export("keras.layers.RMSNormalization")
class RMSNormalization(Layer):
    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon

    def build(self, input_shape):
        if isinstance(self.axis, (list, tuple)):
            self.axis = sorted(self.axis)
            shape = tuple(input_shape[dim] for dim in self.axis)
        else:
            shape = (input_shape[self.axis],)
            self.axis = [self.axis]
        self.scale = self.add_weight(name="scale", shape=shape, initializer="ones")
        self.built = True

    def call(self, x):
        dtype = x.dtype
        x = x if dtype in (torch.float32, torch.float64) else x.float()
        scale = self.scale.to(x.dtype)
        axes = axes_tuple(self.axis)
        if is_trailing(axes, x.dim()):
            out = F.rms_norm(x, tuple(x.shape[a] for a in axes), scale, self.epsilon)
        else:
            rrms = torch.rsqrt(x.square().mean(dim=axes, keepdim=True) + self.epsilon)
            out = x * rrms * scale.reshape(broadcast_shape(axes, x.shape))
        return out.to(dtype)

    def compute_output_shape(self, input_shape):
        check_axes_in_bounds(self.axis, input_shape)
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
