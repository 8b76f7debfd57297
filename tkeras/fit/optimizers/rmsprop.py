"""RMSprop with Keras's rule `var -= lr * g / sqrt(v + eps)` (torch: `sqrt(v) + eps`)."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.base import Optimizer


@keras_export("keras.optimizers.RMSprop")
class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum (`m = momentum * m + step; var -= m`)."""

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
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
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")
        self._momentums = []
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._average_gradients = []
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(var_list, "average_gradient")

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        rho = self.rho
        velocities = self._gather(self._velocities, variables)
        torch._foreach_mul_(velocities, rho)
        torch._foreach_add_(velocities, torch._foreach_mul(grads, grads), alpha=1 - rho)
        denominators = torch._foreach_add(velocities, self.epsilon)
        if self.centered:
            average_grads = self._gather(self._average_gradients, variables)
            torch._foreach_mul_(average_grads, rho)
            torch._foreach_add_(average_grads, grads, alpha=1 - rho)
            torch._foreach_sub_(denominators, torch._foreach_mul(average_grads, average_grads))
        torch._foreach_sqrt_(denominators)
        increments = torch._foreach_div(torch._foreach_mul(grads, learning_rate), denominators)
        if self.momentum > 0:
            momentums = self._gather(self._momentums, variables)
            torch._foreach_mul_(momentums, self.momentum)
            torch._foreach_add_(momentums, increments)
            torch._foreach_sub_(params, momentums)
        else:
            torch._foreach_sub_(params, increments)

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                       "centered": self.centered})
        return config
