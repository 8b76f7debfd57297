"""Adagrad with Keras's rule `var -= lr * g / sqrt(acc + eps)` (torch: `sqrt(acc) + eps`)."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import SlotOptimizer, scaled_ratio
from tkeras.layers.arguments import init_args


@keras_export("keras.optimizers.Adagrad")
class Adagrad(SlotOptimizer):
    """Adagrad; the accumulator starts at `initial_accumulator_value` (default 0.1)."""

    hyperparameters = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(**init_args(locals()))

    def build_slots(self, var_list):
        self._accumulators = self.add_optimizer_variables(
            var_list, "accumulator", initializer=float(self.initial_accumulator_value)
        )

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        accumulators = self._gather(self._accumulators, variables)
        torch._foreach_add_(accumulators, torch._foreach_mul(grads, grads))
        denominators = torch._foreach_sqrt(torch._foreach_add(accumulators, self.epsilon))
        torch._foreach_sub_(params, scaled_ratio(grads, learning_rate, denominators))
