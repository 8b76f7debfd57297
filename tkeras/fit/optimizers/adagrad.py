"""Adagrad with Keras's rule `var -= lr * g / sqrt(acc + eps)` (torch: `sqrt(acc) + eps`)."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.base import Optimizer


@keras_export("keras.optimizers.Adagrad")
class Adagrad(Optimizer):
    """Adagrad; the accumulator starts at `initial_accumulator_value` (default 0.1)."""

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
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
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(
            var_list, "accumulator", initializer=float(self.initial_accumulator_value)
        )

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        accumulators = self._gather(self._accumulators, variables)
        torch._foreach_add_(accumulators, torch._foreach_mul(grads, grads))
        denominators = torch._foreach_sqrt(torch._foreach_add(accumulators, self.epsilon))
        torch._foreach_sub_(params, torch._foreach_div(torch._foreach_mul(grads, learning_rate),
                                                          denominators))

    def get_config(self):
        config = super().get_config()
        config.update({"initial_accumulator_value": self.initial_accumulator_value,
                       "epsilon": self.epsilon})
        return config
