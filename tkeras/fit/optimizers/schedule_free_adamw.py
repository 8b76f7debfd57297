"""Schedule-Free AdamW (Defazio et al., 2024) as Keras 3 implements it.

Keras behaviour kept: `momentum` (the `z` sequence, initialized to the variable's value at
build) and `velocity` slots per variable; a linear learning-rate warmup over `warmup_steps`;
`v = b2 * v + (1 - b2) * g^2`, `z -= lr * g / (sqrt(v / (1 - b2^t)) + eps)`, then the variable
becomes `y = (1 - b1) * z + b1 * x` with `x = (1 - 1/t) * x_old + z / t`. `x_old` is recovered
from the variable and the momentum slot; as on Keras's torch backend, the slot is read after its
in-place update (Keras's `momentum.value` aliases the updated tensor), so the numbers match Keras.
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import SlotOptimizer
from tkeras.layers.arguments import init_args


@keras_export("keras.optimizers.ScheduleFreeAdamW")
class ScheduleFreeAdamW(SlotOptimizer):
    """AdamW without a learning-rate schedule (interpolation + averaging)."""

    hyperparameters = ("beta_1", "beta_2", "epsilon", "warmup_steps")

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 warmup_steps=0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(**init_args(locals()))

    def build_slots(self, var_list):
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])
        with torch.no_grad():
            for momentum, variable in zip(self._momentums, var_list):
                if momentum is not None:
                    momentum.copy_(variable)

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        variable = variable.data
        step = self._local_step(variable)
        # Keras casts the hyperparameters to the variable's dtype first (`1 - beta_1` in float32).
        beta_1, beta_2, epsilon = (torch.tensor(x, dtype=variable.dtype, device=variable.device)
                                   for x in (self.beta_1, self.beta_2, self.epsilon))
        lr = learning_rate
        if self.warmup_steps > 0:
            lr = lr * torch.clamp(step / float(self.warmup_steps), max=1.0)
        momentum = self._momentums[index].data
        velocity = self._velocities[index].data
        bias_correction_2 = 1 - torch.pow(beta_2, step)
        velocity.add_((gradient * gradient - velocity) * (1 - beta_2))
        denom = torch.sqrt(velocity / bias_correction_2) + epsilon
        momentum.sub_(lr * gradient / denom)
        weight = 1.0 / step
        x_old = (variable - (1 - beta_1) * momentum) / beta_1
        x_new = (1 - weight) * x_old + weight * momentum
        variable.copy_((1 - beta_1) * momentum + beta_1 * x_new)
