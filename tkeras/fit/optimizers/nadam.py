"""Nadam with Keras's momentum schedule `u_t = b1 * (1 - 0.5 * 0.96^t)`.

torch's NAdam uses `0.96^(0.004 t)`, so the two differ. The running product of `u_t` is a
variable created after the slots (Keras's `nadam/variable`).
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import (
    MomentOptimizer,
    moving_average_,
    moving_square_average_,
    scaled_ratio,
)


@keras_export("keras.optimizers.Nadam")
class Nadam(MomentOptimizer):
    """Adam with Nesterov momentum (Dozat, 2015)."""

    def build_slots(self, var_list):
        super().build_slots(var_list)
        dtype = var_list[0].dtype if var_list else None
        self._u_product = self.add_variable((), initializer="ones", dtype=dtype)

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        local_step = self._local_step(params[0])
        u_t = self.beta_1 * (1.0 - 0.5 * torch.pow(0.96, local_step))
        u_t_1 = self.beta_1 * (1.0 - 0.5 * torch.pow(0.96, local_step + 1))
        u_product_t = self._u_product * u_t
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = torch.pow(self.beta_2, local_step)
        self._u_product.copy_(u_product_t)

        m_list = self._gather(self._momentums, variables)
        v_list = self._gather(self._velocities, variables)
        moving_average_(m_list, grads, self.beta_1)
        moving_square_average_(v_list, grads, self.beta_2)
        m_hat = torch._foreach_div(torch._foreach_mul(m_list, u_t_1), 1 - u_product_t_1)
        torch._foreach_add_(m_hat, torch._foreach_div(torch._foreach_mul(grads, 1 - u_t),
                                                      1 - u_product_t))
        denominators = torch._foreach_sqrt(torch._foreach_div(v_list, 1 - beta_2_power))
        torch._foreach_add_(denominators, self.epsilon)
        torch._foreach_sub_(params, scaled_ratio(m_hat, learning_rate, denominators))
