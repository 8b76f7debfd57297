"""`SlotOptimizer`, the base of the built-in optimizers, and their shared multi-tensor steps.

A built-in optimizer names its own constructor arguments in `hyperparameters` (in Keras's
order): they are stored under those names and written to the config after the base's keys, as
Keras's `get_config` does. Its per-variable slots are created by `build_slots(var_list)`, after
the base's variables (Keras's variable order). The helpers below are the update pieces several
rules share, written once with the exact torch ops (hence the same numbers) each rule used.
"""

import torch

from tkeras.fit.optimizers.base import Optimizer
from tkeras.layers.arguments import init_args


class SlotOptimizer(Optimizer):
    """An `Optimizer` with named hyperparameters and per-variable slots.

    Subclasses keep Keras's explicit `__init__` signature and forward it with
    `super().__init__(**init_args(locals()))`.
    """

    hyperparameters = ()

    def __init__(self, learning_rate, **kwargs):
        own = {name: kwargs.pop(name) for name in self.hyperparameters}
        super().__init__(learning_rate, **kwargs)
        for name, value in own.items():
            setattr(self, name, value)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.build_slots(var_list)

    def build_slots(self, var_list):
        """Create the optimizer's own variables for `var_list` (the base's exist already)."""

    def _local_step(self, like):
        """`iterations + 1` in the dtype of `like` (Keras's `local_step`)."""
        return (self.iterations + 1).to(like.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in self.hyperparameters})
        return config


class MomentOptimizer(SlotOptimizer):
    """Adam's arguments and defaults (`beta_1=0.9`, `beta_2=0.999`, `epsilon=1e-7`) and its
    first/second moment slots, created interleaved per variable (Adam/AdamW, Adamax, Nadam,
    Lamb)."""

    hyperparameters = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(**init_args(locals()))

    def build_slots(self, var_list):
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )


def moving_average_(averages, values, decay):
    """`averages = decay * averages + (1 - decay) * values`, in place."""
    torch._foreach_mul_(averages, decay)
    torch._foreach_add_(averages, values, alpha=1 - decay)


def moving_square_average_(averages, values, decay):
    """`averages = decay * averages + (1 - decay) * values ** 2`, in place."""
    moving_average_(averages, torch._foreach_mul(values, values), decay)


def scaled_ratio(numerators, learning_rate, denominators):
    """`learning_rate * numerators / denominators`, per tensor."""
    return torch._foreach_div(torch._foreach_mul(numerators, learning_rate), denominators)
