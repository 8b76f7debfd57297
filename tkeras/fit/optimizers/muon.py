"""Muon: momentum orthogonalized by Newton-Schulz iterations, with an AdamW step for the rest.

Keras behaviour kept: every non-2-D variable, every variable whose path contains `embedding`
(with `exclude_embeddings=True`) or matches a regex of `exclude_layers` takes the AdamW step
(`momentum` and `velocity` slots, learning rate `lr * adam_lr_ratio`, weight decay
`adam_weight_decay`); the others take the Muon step (`momentum` slot only, weight decay
`weight_decay`): `m = momentum * m + g`, the Nesterov direction `g + momentum * m`
orthogonalized by `ns_steps` quintic Newton-Schulz iterations, scaled by
`sqrt(max(rows, cols)) * rms_rate` (Moonlight). Slot names, order and the config match Keras.
"""

import math
import re

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.base import _reference_name
from tkeras.fit.optimizers.slots import SlotOptimizer
from tkeras.layers.arguments import init_args


@keras_export("keras.optimizers.Muon")
class Muon(SlotOptimizer):
    """Muon for 2-D weights, AdamW for the others (Keras 3's defaults and variable layout)."""

    hyperparameters = ("adam_beta_1", "adam_beta_2", "epsilon", "muon_a", "muon_b", "muon_c",
                       "adam_lr_ratio", "momentum", "ns_steps", "nesterov", "exclude_embeddings",
                       "adam_weight_decay", "rms_rate")

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999,
                 adam_weight_decay=0.004, epsilon=1e-7, weight_decay=0.004, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, exclude_layers=None,
                 exclude_embeddings=True, muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315,
                 adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2,
                 **kwargs):
        args = init_args(locals())
        self.exclude_layers = args.pop("exclude_layers") or []
        super().__init__(**args)

    def _should_use_adamw(self, variable):
        if variable.dim() != 2:
            return True
        path = getattr(variable, "path", None) or _reference_name(variable)
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def build_slots(self, var_list):
        self.momentums = [None] * len(var_list)
        self.adam_velocities = [None] * len(var_list)
        for variable in var_list:
            if self._overwrite_variable_with_gradient(variable):
                continue
            index = self._get_variable_index(variable)
            self.momentums[index] = self.add_variable_from_reference(variable, "momentum")
            if self._should_use_adamw(variable):
                self.adam_velocities[index] = self.add_variable_from_reference(variable,
                                                                               "velocity")

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self.momentums[index].data, self.adam_velocities[index]
        if v is not None:
            self._adamw_update_step(gradient, variable.data, learning_rate * self.adam_lr_ratio,
                                    m, v.data)
        else:
            self._muon_update_step(gradient, variable.data, learning_rate, m)

    def _muon_update_step(self, gradient, variable, lr, m):
        m.add_(gradient + m * (self.momentum - 1))
        g = gradient + self.momentum * m if self.nesterov else m
        update = self.zeropower_via_newtonschulz5(g, self.ns_steps)
        variable.sub_(self.lr_adjust(lr * update))

    def _adamw_update_step(self, gradient, variable, learning_rate, m, v):
        step = self._local_step(variable)
        alpha = (learning_rate * torch.sqrt(1 - torch.pow(self.adam_beta_2, step))
                 / (1 - torch.pow(self.adam_beta_1, step)))
        m.add_((gradient - m) * (1 - self.adam_beta_1))
        v.add_((gradient * gradient - v) * (1 - self.adam_beta_2))
        variable.sub_(m * alpha / (torch.sqrt(v) + self.epsilon))

    def lr_adjust(self, x):
        """`x * sqrt(max(rows, cols)) * rms_rate` (unchanged when `rms_rate` is None)."""
        if self.rms_rate is None:
            return x
        return x * math.sqrt(max(x.shape[0], x.shape[1])) * self.rms_rate

    def zeropower_via_newtonschulz5(self, x, steps):
        """Approximate orthogonalization `U S' V^T` of `x` (quintic Newton-Schulz)."""
        if x.dim() < 2:
            raise ValueError("Expected gradient or momentum to have at least 2 dimensions. "
                             f"Received: shape={tuple(x.shape)}")
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = x.transpose(-2, -1)
        x = x / (torch.linalg.matrix_norm(x, keepdim=True) + 1e-7)
        for _ in range(steps):
            temp_a = x @ x.transpose(-2, -1)
            temp_b = b * temp_a + c * temp_a @ temp_a
            x = a * x + temp_b @ x
        return x.transpose(-2, -1) if tall else x

    def _apply_weight_decay(self, variables):
        lr = None
        for variable in variables:
            if not self._use_weight_decay(variable):
                continue
            wd = self.adam_weight_decay if self._should_use_adamw(variable) else self.weight_decay
            if wd is None:
                continue
            if lr is None:
                lr = self._learning_rate_tensor(variable.dtype)
            variable.data.sub_(variable.data * wd * lr)

    def get_config(self):
        return {**super().get_config(), "exclude_layers": self.exclude_layers}
