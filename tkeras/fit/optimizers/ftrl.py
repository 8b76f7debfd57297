"""FTRL-Proximal (McMahan et al., 2013) with Keras's formulation and argument checks."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import SlotOptimizer
from tkeras.layers.arguments import init_args


@keras_export("keras.optimizers.Ftrl")
class Ftrl(SlotOptimizer):
    """Follow The Regularized Leader, with L1/L2 and L2-shrinkage regularization."""

    hyperparameters = ("learning_rate_power", "initial_accumulator_value",
                       "l1_regularization_strength", "l2_regularization_strength",
                       "l2_shrinkage_regularization_strength", "beta")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(**init_args(locals()))
        if learning_rate_power > 0.0:
            raise ValueError(
                "`learning_rate_power` needs to be negative or zero. Received: "
                f"learning_rate_power={learning_rate_power}."
            )
        for arg in ("initial_accumulator_value", "l1_regularization_strength",
                    "l2_regularization_strength", "l2_shrinkage_regularization_strength"):
            value = getattr(self, arg)
            if value < 0.0:
                raise ValueError(f"`{arg}` needs to be positive or zero. Received: {arg}={value}.")

    def build_slots(self, var_list):
        self._accumulators, self._linears = self.add_optimizer_variables(
            var_list, ["accumulator", "linear"],
            initializer=[float(self.initial_accumulator_value), "zeros"],
        )

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        lr = learning_rate
        power = -self.learning_rate_power
        l1 = float(self.l1_regularization_strength)
        l2_reg = self.l2_regularization_strength + self.beta / (2.0 * lr)
        accumulators = self._gather(self._accumulators, variables)
        linears = self._gather(self._linears, variables)

        grad_to_use = torch._foreach_add(
            grads, params, alpha=2 * self.l2_shrinkage_regularization_strength
        )
        new_accum = torch._foreach_add(accumulators, torch._foreach_mul(grads, grads))
        new_accum_power = torch._foreach_pow(new_accum, power)
        sigma = torch._foreach_sub(new_accum_power, torch._foreach_pow(accumulators, power))
        torch._foreach_div_(sigma, lr)
        torch._foreach_mul_(sigma, params)
        torch._foreach_add_(linears, torch._foreach_sub(grad_to_use, sigma))
        quadratic = torch._foreach_div(new_accum_power, lr)
        torch._foreach_add_(quadratic, 2 * l2_reg)
        linear_clipped = torch._foreach_clamp_max(torch._foreach_clamp_min(linears, -l1), l1)
        torch._foreach_copy_(
            params, torch._foreach_div(torch._foreach_sub(linear_clipped, linears), quadratic)
        )
        torch._foreach_copy_(accumulators, new_accum)
