"""Adadelta; same rule as `torch.optim.Adadelta` (but Keras's defaults: lr 0.001, rho 0.95)."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import SlotOptimizer, moving_square_average_
from tkeras.layers.arguments import init_args


@keras_export("keras.optimizers.Adadelta")
class Adadelta(SlotOptimizer):
    """`delta = -sqrt(acc_delta + eps) / sqrt(acc_grad + eps) * g`; `var += lr * delta`."""

    hyperparameters = ("rho", "epsilon")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(**init_args(locals()))

    def build_slots(self, var_list):
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            var_list, ["accumulated_grad", "accumulated_delta_var"]
        )

    def _rms(self, tensors):
        return torch._foreach_sqrt(torch._foreach_add(tensors, self.epsilon))

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        accumulated_grads = self._gather(self._accumulated_grads, variables)
        accumulated_delta_vars = self._gather(self._accumulated_delta_vars, variables)
        moving_square_average_(accumulated_grads, grads, self.rho)
        delta_vars = torch._foreach_div(
            torch._foreach_mul(self._rms(accumulated_delta_vars), grads),
            self._rms(accumulated_grads),
        )
        torch._foreach_neg_(delta_vars)
        moving_square_average_(accumulated_delta_vars, delta_vars, self.rho)
        torch._foreach_add_(params, torch._foreach_mul(delta_vars, learning_rate))
