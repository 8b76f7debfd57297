"""SGD with Keras's momentum rule: `m = momentum * m - lr * g; var += m` (lr inside the buffer)."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import SlotOptimizer
from tkeras.layers.arguments import init_args


@keras_export("keras.optimizers.SGD")
class SGD(SlotOptimizer):
    """Gradient descent, optionally with (Nesterov) momentum.

    Differs from `torch.optim.SGD` once the learning rate changes: Keras keeps `lr` inside the
    momentum buffer. Nesterov: `var += momentum * m - lr * g` with the updated `m`.
    """

    hyperparameters = ("momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(**init_args(locals()))
        if not isinstance(momentum, float) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")

    def build_slots(self, var_list):
        self.momentums = []
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(var_list, "momentum")

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        step = torch._foreach_mul(grads, learning_rate)
        if self.momentum == 0:
            torch._foreach_sub_(params, step)
            return
        momentums = self._gather(self.momentums, variables)
        torch._foreach_mul_(momentums, self.momentum)
        torch._foreach_sub_(momentums, step)
        if self.nesterov:
            torch._foreach_sub_(params, step)
            torch._foreach_add_(params, momentums, alpha=self.momentum)
        else:
            torch._foreach_add_(params, momentums)
