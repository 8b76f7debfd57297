"""Adamax (Adam with the infinity norm); same rule as `torch.optim.Adamax`."""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import MomentOptimizer, moving_average_, scaled_ratio


@keras_export("keras.optimizers.Adamax")
class Adamax(MomentOptimizer):
    """`u = max(b2 * u, |g|)`, `var -= lr * m / ((1 - b1^t) * (u + eps))`."""

    def build_slots(self, var_list):
        self._m, self._u = self.add_optimizer_variables(var_list, ["momentum", "norm"])

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        m_list = self._gather(self._m, variables)
        u_list = self._gather(self._u, variables)
        beta_1_power = torch.pow(self.beta_1, self._local_step(params[0]))
        moving_average_(m_list, grads, self.beta_1)
        torch._foreach_mul_(u_list, self.beta_2)
        torch._foreach_maximum_(u_list, torch._foreach_abs(grads))
        denominators = torch._foreach_add(u_list, self.epsilon)
        torch._foreach_mul_(denominators, 1 - beta_1_power)
        torch._foreach_sub_(params, scaled_ratio(m_list, learning_rate, denominators))
