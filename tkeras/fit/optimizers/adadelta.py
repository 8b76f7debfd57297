"""Adadelta; same rule as `torch.optim.Adadelta` (but Keras's defaults: lr 0.001, rho 0.95)."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.base import Optimizer


@keras_export("keras.optimizers.Adadelta")
class Adadelta(Optimizer):
    """`delta = -sqrt(acc_delta + eps) / sqrt(acc_grad + eps) * g`; `var += lr * delta`."""

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.95,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, **kwargs,
        )
        self.rho = rho
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            var_list, ["accumulated_grad", "accumulated_delta_var"]
        )

    def _rms(self, tensors):
        return torch._foreach_sqrt(torch._foreach_add(tensors, self.epsilon))

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        rho = self.rho
        accumulated_grads = self._gather(self._accumulated_grads, variables)
        accumulated_delta_vars = self._gather(self._accumulated_delta_vars, variables)
        torch._foreach_mul_(accumulated_grads, rho)
        torch._foreach_add_(accumulated_grads, torch._foreach_mul(grads, grads), alpha=1 - rho)
        delta_vars = torch._foreach_div(
            torch._foreach_mul(self._rms(accumulated_delta_vars), grads),
            self._rms(accumulated_grads),
        )
        torch._foreach_neg_(delta_vars)
        torch._foreach_mul_(accumulated_delta_vars, rho)
        torch._foreach_add_(accumulated_delta_vars, torch._foreach_mul(delta_vars, delta_vars),
                            alpha=1 - rho)
        torch._foreach_add_(params, torch._foreach_mul(delta_vars, learning_rate))

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
