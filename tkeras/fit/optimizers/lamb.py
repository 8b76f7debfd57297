"""LAMB (You et al., 2019): the Adam step rescaled per variable by `||var|| / ||step||`."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import MomentOptimizer, moving_average_, moving_square_average_


@keras_export("keras.optimizers.Lamb")
class Lamb(MomentOptimizer):
    """Layer-wise adaptive Adam; the trust ratio is 1 when either norm is 0."""

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        local_step = self._local_step(params[0])
        beta_1_power = torch.pow(self.beta_1, local_step)
        beta_2_power = torch.pow(self.beta_2, local_step)
        m_list = self._gather(self._momentums, variables)
        v_list = self._gather(self._velocities, variables)
        moving_average_(m_list, grads, self.beta_1)
        moving_square_average_(v_list, grads, self.beta_2)
        m_hat = torch._foreach_div(m_list, 1.0 - beta_1_power)
        v_sqrt = torch._foreach_sqrt(torch._foreach_div(v_list, 1.0 - beta_2_power))
        torch._foreach_add_(v_sqrt, self.epsilon)
        updates = torch._foreach_div(m_hat, v_sqrt)
        w_norm = torch.stack(torch._foreach_norm(params))
        g_norm = torch.stack(torch._foreach_norm(updates))
        ratio = torch.where((w_norm > 0) & (g_norm > 0), w_norm / g_norm, 1.0)
        torch._foreach_mul_(updates, (ratio * learning_rate).unbind())
        torch._foreach_sub_(params, updates)
