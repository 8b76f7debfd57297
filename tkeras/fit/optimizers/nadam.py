"""Nadam with Keras's momentum schedule `u_t = b1 * (1 - 0.5 * 0.96^t)`.

torch's NAdam uses `0.96^(0.004 t)`, so the two differ. The running product of `u_t` is a
variable created after the slots (Keras's `nadam/variable`).
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.base import Optimizer


@keras_export("keras.optimizers.Nadam")
class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat, 2015)."""

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
        dtype = var_list[0].dtype if var_list else None
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        self._u_product = self.add_variable((), initializer="ones", dtype=dtype)

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        dtype = params[0].dtype
        local_step = (self.iterations + 1).to(dtype)
        u_t = self.beta_1 * (1.0 - 0.5 * torch.pow(0.96, local_step))
        u_t_1 = self.beta_1 * (1.0 - 0.5 * torch.pow(0.96, local_step + 1))
        u_product_t = self._u_product * u_t
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = torch.pow(self.beta_2, local_step)
        self._u_product.copy_(u_product_t)

        m_list = self._gather(self._momentums, variables)
        v_list = self._gather(self._velocities, variables)
        torch._foreach_mul_(m_list, self.beta_1)
        torch._foreach_add_(m_list, grads, alpha=1 - self.beta_1)
        torch._foreach_mul_(v_list, self.beta_2)
        torch._foreach_add_(v_list, torch._foreach_mul(grads, grads), alpha=1 - self.beta_2)
        m_hat = torch._foreach_div(torch._foreach_mul(m_list, u_t_1), 1 - u_product_t_1)
        torch._foreach_add_(m_hat, torch._foreach_div(torch._foreach_mul(grads, 1 - u_t),
                                                      1 - u_product_t))
        denominators = torch._foreach_sqrt(torch._foreach_div(v_list, 1 - beta_2_power))
        torch._foreach_add_(denominators, self.epsilon)
        torch._foreach_sub_(params, torch._foreach_div(torch._foreach_mul(m_hat, learning_rate),
                                                          denominators))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
