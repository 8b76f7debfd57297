"""LAMB (You et al., 2019): the Adam step rescaled per variable by `||var|| / ||step||`."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.base import Optimizer


@keras_export("keras.optimizers.Lamb")
class Lamb(Optimizer):
    """Layer-wise adaptive Adam; the trust ratio is 1 when either norm is 0."""

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
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        local_step = (self.iterations + 1).to(params[0].dtype)
        beta_1_power = torch.pow(self.beta_1, local_step)
        beta_2_power = torch.pow(self.beta_2, local_step)
        m_list = self._gather(self._momentums, variables)
        v_list = self._gather(self._velocities, variables)
        torch._foreach_mul_(m_list, self.beta_1)
        torch._foreach_add_(m_list, grads, alpha=1 - self.beta_1)
        torch._foreach_mul_(v_list, self.beta_2)
        torch._foreach_add_(v_list, torch._foreach_mul(grads, grads), alpha=1 - self.beta_2)
        m_hat = torch._foreach_div(m_list, 1.0 - beta_1_power)
        v_sqrt = torch._foreach_sqrt(torch._foreach_div(v_list, 1.0 - beta_2_power))
        torch._foreach_add_(v_sqrt, self.epsilon)
        updates = torch._foreach_div(m_hat, v_sqrt)
        w_norm = torch.stack(torch._foreach_norm(params))
        g_norm = torch.stack(torch._foreach_norm(updates))
        ratio = torch.where((w_norm > 0) & (g_norm > 0), w_norm / g_norm, 1.0)
        torch._foreach_mul_(updates, (ratio * learning_rate).unbind())
        torch._foreach_sub_(params, updates)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
