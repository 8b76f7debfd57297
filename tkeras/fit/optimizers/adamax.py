"""Adamax (Adam with the infinity norm); same rule as `torch.optim.Adamax`."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.base import Optimizer


@keras_export("keras.optimizers.Adamax")
class Adamax(Optimizer):
    """`u = max(b2 * u, |g|)`, `var -= lr * m / ((1 - b1^t) * (u + eps))`."""

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
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
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m, self._u = self.add_optimizer_variables(var_list, ["momentum", "norm"])

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        m_list = self._gather(self._m, variables)
        u_list = self._gather(self._u, variables)
        step = (self.iterations + 1).to(params[0].dtype)
        beta_1_power = torch.pow(self.beta_1, step)
        torch._foreach_mul_(m_list, self.beta_1)
        torch._foreach_add_(m_list, grads, alpha=1 - self.beta_1)
        torch._foreach_mul_(u_list, self.beta_2)
        torch._foreach_maximum_(u_list, torch._foreach_abs(grads))
        denominators = torch._foreach_add(u_list, self.epsilon)
        torch._foreach_mul_(denominators, 1 - beta_1_power)
        torch._foreach_sub_(params, torch._foreach_div(torch._foreach_mul(m_list, learning_rate),
                                                          denominators))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
