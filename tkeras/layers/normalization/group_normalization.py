"""`GroupNormalization`: normalize over groups of channels (and all non-batch axes).

Keras behaviour kept: `groups` contiguous channel groups of the `axis` dimension (`groups=-1`
means one group per channel, i.e. instance normalization, and the config then shows the channel
count), per-channel `gamma`/`beta`, `epsilon` added to the biased variance, float32 computation
for half-precision inputs. Runs the fused `F.group_norm` on a channels-first view of the input.
"""

import torch
import torch.nn.functional as F

from tkeras.core.registry import keras_export
from tkeras.layers.layer import InputSpec
from tkeras.layers.normalization.layer_normalization import AffineNormalization


@keras_export("keras.layers.GroupNormalization")
class GroupNormalization(AffineNormalization):
    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        if not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError(
                "Received an invalid value for argument `groups`, expected a positive integer "
                f"(or `-1` for instance normalization). Received: groups={groups}")
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint,
                         **kwargs)
        self.groups = groups
        self.axis = axis

    def build(self, input_shape):
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(
                f"Axis {self.axis} of input tensor should have a defined dimension but the "
                f"layer received an input with shape {input_shape}.")
        if self.groups == -1:
            self.groups = dim
        if dim < self.groups:
            raise ValueError(
                f"Number of groups ({self.groups}) cannot be more than the number of channels "
                f"({dim}).")
        if dim % self.groups != 0:
            raise ValueError(
                f"Number of groups ({self.groups}) must be a multiple of the number of "
                f"channels ({dim}).")
        self.input_spec = InputSpec(ndim=len(input_shape), axes={self.axis: dim})
        self._add_gamma_beta((dim,), gamma=self.scale, beta=self.center)

    def call(self, inputs):
        dtype = inputs.dtype
        x = inputs if dtype in (torch.float32, torch.float64) else inputs.float()
        axis = self.axis % x.dim()
        xc = x if axis == 1 else x.movedim(axis, 1)
        gamma = None if self.gamma is None else self.gamma.to(x.dtype)
        beta = None if self.beta is None else self.beta.to(x.dtype)
        if gamma is None and beta is not None:
            # torch's group_norm backward fails on a bias without a weight.
            gamma = torch.ones_like(beta)
        out = F.group_norm(xc, self.groups, gamma, beta, self.epsilon)
        out = out if axis == 1 else out.movedim(1, axis)
        return out.to(dtype)

    def get_config(self):
        config = {
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **self._gamma_beta_config(),
        }
        return {**super().get_config(), **config}
