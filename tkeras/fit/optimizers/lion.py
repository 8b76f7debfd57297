"""Lion (Chen et al., 2023): `var -= lr * sign(b1 * m + (1 - b1) * g)`, then `m = b2 * m + (1 - b2) * g`."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import SlotOptimizer, moving_average_
from tkeras.layers.arguments import init_args


@keras_export("keras.optimizers.Lion")
class Lion(SlotOptimizer):
    """Lion optimizer (default `beta_2=0.99`)."""

    hyperparameters = ("beta_1", "beta_2")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(**init_args(locals()))
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError(
                "Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer "
                f"degenerates to SignSGD. Received: beta_1={beta_1}."
            )

    def build_slots(self, var_list):
        self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        m_list = self._gather(self._momentums, variables)
        c_t = torch._foreach_mul(m_list, self.beta_1)
        torch._foreach_add_(c_t, grads, alpha=1 - self.beta_1)
        torch._foreach_sign_(c_t)
        torch._foreach_sub_(params, torch._foreach_mul(c_t, learning_rate))
        moving_average_(m_list, grads, self.beta_2)
