"""RMSprop with Keras's rule `var -= lr * g / sqrt(v + eps)` (torch: `sqrt(v) + eps`)."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import (
    SlotOptimizer,
    moving_average_,
    moving_square_average_,
    scaled_ratio,
)
from tkeras.layers.arguments import init_args


@keras_export("keras.optimizers.RMSprop")
class RMSprop(SlotOptimizer):
    """RMSprop, optionally centered and with momentum (`m = momentum * m + step; var -= m`)."""

    hyperparameters = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(**init_args(locals()))

    def build_slots(self, var_list):
        self._velocities = self.add_optimizer_variables(var_list, "velocity")
        self._momentums = []
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._average_gradients = []
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(var_list, "average_gradient")

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        velocities = self._gather(self._velocities, variables)
        moving_square_average_(velocities, grads, self.rho)
        denominators = torch._foreach_add(velocities, self.epsilon)
        if self.centered:
            average_grads = self._gather(self._average_gradients, variables)
            moving_average_(average_grads, grads, self.rho)
            torch._foreach_sub_(denominators, torch._foreach_mul(average_grads, average_grads))
        torch._foreach_sqrt_(denominators)
        increments = scaled_ratio(grads, learning_rate, denominators)
        if self.momentum > 0:
            momentums = self._gather(self._momentums, variables)
            torch._foreach_mul_(momentums, self.momentum)
            torch._foreach_add_(momentums, increments)
            torch._foreach_sub_(params, momentums)
        else:
            torch._foreach_sub_(params, increments)
