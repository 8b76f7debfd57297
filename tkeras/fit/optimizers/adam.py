"""Adam and AdamW with Keras's "epsilon hat" rule.

Keras: `var -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`. That is torch's Adam with
a per-step `eps_t = eps / sqrt(1 - b2^t)`, so when every variable shares one device and dtype
the update runs in torch's fused kernel (`torch._fused_adam_`) with that epsilon; otherwise it
runs Keras's own multi-tensor formula. AdamW is Adam with Keras's decoupled weight decay
(`var *= 1 - lr * wd` before the update), which the base class applies.
"""

import math

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import (
    MomentOptimizer,
    moving_average_,
    moving_square_average_,
    scaled_ratio,
)
from tkeras.layers.arguments import init_args

_FUSED_DEVICES = ("cpu", "cuda")
_FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def fusable(variables):
    """Whether torch's fused multi-tensor kernels can update `variables` in one launch."""
    if not variables:
        return False
    device, dtype = variables[0].device, variables[0].dtype
    return (device.type in _FUSED_DEVICES and dtype in _FUSED_DTYPES
            and all(v.device == device and v.dtype == dtype for v in variables))


@keras_export("keras.optimizers.Adam")
class Adam(MomentOptimizer):
    """Adam (Kingma & Ba, 2014), optionally AMSGrad; Keras defaults (`epsilon=1e-7`)."""

    hyperparameters = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
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
        super().__init__(**init_args(locals()))
        self._fused = False
        self._fused_step = None

    def build_slots(self, var_list):
        super().build_slots(var_list)
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(var_list, "velocity_hat")
        self._fused = fusable(self._trainable_variables)

    def _move_to(self, device):
        super()._move_to(device)
        self._fused = fusable(self._trainable_variables)

    def _backend_update_step(self, grads, variables, learning_rate):
        params = self._values(variables)
        m_list = self._gather(self._momentums, variables)
        v_list = self._gather(self._velocities, variables)
        v_hat_list = self._gather(self._velocity_hats, variables) if self.amsgrad else []
        if self._fused:
            # The kernel reads the step (it does not count it): one float tensor, filled from
            # the host step counter, serves every variable.
            t = self._step_count() + 1
            step = self._fused_step
            if step is None or step.device != params[0].device:
                step = self._fused_step = torch.zeros((), device=params[0].device)
            step.fill_(t)
            torch._fused_adam_(
                params, grads, m_list, v_list, v_hat_list, [step] * len(params),
                lr=learning_rate, beta1=self.beta_1, beta2=self.beta_2, weight_decay=0.0,
                eps=self.epsilon / math.sqrt(1 - self.beta_2 ** t), amsgrad=self.amsgrad,
                maximize=False,
            )
            return
        step = self._local_step(params[0])
        alpha = (learning_rate * torch.sqrt(1 - torch.pow(self.beta_2, step))
                 / (1 - torch.pow(self.beta_1, step)))
        moving_average_(m_list, grads, self.beta_1)
        moving_square_average_(v_list, grads, self.beta_2)
        if self.amsgrad:
            torch._foreach_maximum_(v_hat_list, v_list)
            v_list = v_hat_list
        denominators = torch._foreach_sqrt(v_list)
        torch._foreach_add_(denominators, self.epsilon)
        torch._foreach_sub_(params, scaled_ratio(m_list, alpha, denominators))


@keras_export("keras.optimizers.AdamW")
class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004); equals torch's AdamW rule."""

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
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
        super().__init__(**init_args(locals()))
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
