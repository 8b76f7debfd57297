"""Adafactor (Shazeer & Stern, 2018) with Keras's formulation.

Second moments of variables with rank >= 2 are factored over the last two axes (row and column
slots named after the variable); rank < 2 variables get two int32 placeholder scalars instead,
exactly as Keras creates them, so saved optimizer files line up. The update needs per-variable
row/column reductions, so it runs one variable at a time (as in Keras).
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.fit.optimizers.slots import SlotOptimizer
from tkeras.layers.arguments import init_args


def _rms(x):
    return torch.sqrt(torch.mean(torch.square(x)))


@keras_export("keras.optimizers.Adafactor")
class Adafactor(SlotOptimizer):
    """Memory-efficient adaptive optimizer with relative step sizes."""

    hyperparameters = ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold",
                       "relative_step")

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(**init_args(locals()))

    def build_slots(self, var_list):
        self._r, self._c, self._v = [], [], []
        for var in var_list:
            var_name = str(getattr(var, "name", None) or "variable")
            overwrite = self._overwrite_variable_with_gradient(var)
            if var.dim() < 2:
                self._r.append(self.add_variable((), dtype="int32", name=var_name))
                self._c.append(self.add_variable((), dtype="int32", name=var_name))
            elif overwrite:
                self._r.append(None)
                self._c.append(None)
            else:
                shape = tuple(var.shape)
                self._r.append(self.add_variable(shape[:-1], dtype=var.dtype, name=var_name))
                self._c.append(self.add_variable(shape[:-2] + shape[-1:], dtype=var.dtype,
                                                 name=var_name))
            self._v.append(None if overwrite else
                           self.add_variable_from_reference(var, name="velocity"))

    def update_step(self, gradient, variable, learning_rate):
        lr = learning_rate
        local_step = self._local_step(variable)
        if not callable(self._learning_rate) and self.relative_step:
            lr = torch.minimum(lr, 1 / torch.sqrt(local_step))
        index = self._get_variable_index(variable)
        r, c, v = self._r[index], self._c[index], self._v[index]

        rho_t = torch.minimum(lr, 1 / torch.sqrt(local_step))
        alpha_t = torch.clamp(_rms(variable), min=self.epsilon_2) * rho_t
        regulated_grad_square = torch.square(gradient) + self.epsilon_1
        beta_2_t = 1 - torch.pow(local_step, self.beta_2_decay)
        if variable.dim() >= 2:
            r.copy_(beta_2_t * r + (1 - beta_2_t) * torch.mean(regulated_grad_square, dim=-1))
            c.copy_(beta_2_t * c + (1 - beta_2_t) * torch.mean(regulated_grad_square, dim=-2))
            v.copy_((r / torch.mean(r, dim=-1, keepdim=True)).unsqueeze(-1) * c.unsqueeze(-2))
        else:
            v.copy_(beta_2_t * v + (1 - beta_2_t) * regulated_grad_square)
        u_t = gradient / torch.sqrt(v)
        u_t_hat = u_t / torch.clamp(_rms(u_t) / self.clip_threshold, min=1.0)
        variable.sub_(alpha_t * u_t_hat)
