"""`LossScaleOptimizer`: dynamic loss scaling around another optimizer (Keras semantics).

Each step: if every gradient is finite, unscale by `dynamic_scale`, let the inner optimizer
apply them, and double the scale after `dynamic_growth_steps` finite steps in a row; otherwise
skip the step (the inner optimizer's `iterations` does not advance) and halve the scale.
Deciding whether to skip reads one flag back from the device per step (as
`torch.amp.GradScaler` does); the scale bookkeeping itself stays on the device.
"""

import torch

from tkeras.core.registry import deserialize_keras_object, keras_export, serialize_keras_object
from tkeras.fit.optimizers.base import Optimizer

_AMP_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def _all_finite(tensors):
    """One device flag for all tensors, read back once (the only host sync of a step)."""
    if not tensors:
        return True
    device = tensors[0].device
    if all(t.dtype in _AMP_DTYPES and t.device == device for t in tensors):
        found_inf = torch.zeros((), dtype=torch.float32, device=device)
        # Multiplying by 1 leaves the values unchanged; the kernel only flags inf/NaN.
        torch._amp_foreach_non_finite_check_and_unscale_(
            tensors, found_inf, torch.ones((), dtype=torch.float32, device=device)
        )
        return not found_inf.item()
    return bool(torch.stack([torch.isfinite(t).all().cpu() for t in tensors]).all())


_BASE_DEFAULTS = {
    "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
    "loss_scale_factor": None, "gradient_accumulation_steps": None,
}


@keras_export("keras.optimizers.LossScaleOptimizer", "keras.mixed_precision.LossScaleOptimizer")
class LossScaleOptimizer(Optimizer):
    """Wraps `inner_optimizer`; use `scale_loss(loss)` before computing gradients."""

    def __init__(self, inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps=2000,
                 name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError(
                "LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                "`loss_scale_factor` directly on the `inner_optimizer`."
            )
        # Older configs carried the (non-functional) base arguments at their defaults.
        for arg_name, default in _BASE_DEFAULTS.items():
            if arg_name in kwargs and kwargs.pop(arg_name) != default:
                raise ValueError(
                    f"LossScaleOptimizer does not support `{arg_name}`. Instead, set "
                    f"`{arg_name}` on the `inner_optimizer`."
                )
        if kwargs:
            raise ValueError(
                f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs.keys())}`."
            )
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = initial_scale
        self.dynamic_growth_steps = dynamic_growth_steps
        # Otherwise gradients would be unscaled twice.
        self.inner_optimizer.loss_scale_factor = None

    def build(self, var_list):
        var_list = list(var_list)
        if var_list:
            self._move_to(var_list[0].device)
        self.step_counter = self.add_variable((), initializer="zeros", dtype="int",
                                              name="step_counter")
        self.dynamic_scale = self.add_variable((), initializer=float(self.initial_scale),
                                               dtype="float32", name="dynamic_scale")
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    def _move_to(self, device):
        super()._move_to(device)
        self.inner_optimizer._move_to(device)

    def apply(self, grads, trainable_variables=None):
        if not self.built:
            self.build(trainable_variables)
        with torch.no_grad():
            variables = (self._trainable_variables if trainable_variables is None
                         else list(trainable_variables))
            unscaled = [
                g if g is None or self._overwrite_variable_with_gradient(v)
                else g / self.dynamic_scale.to(device=g.device, dtype=g.dtype)
                for g, v in zip(grads, variables)
            ]
            if not _all_finite([g for g in unscaled if g is not None]):
                self.step_counter.zero_()
                self.dynamic_scale.mul_(0.5)
                return
            self.inner_optimizer.apply(unscaled, trainable_variables=trainable_variables)
            grow = self.step_counter == self.dynamic_growth_steps - 1
            self.dynamic_scale.copy_(torch.where(grow, self.dynamic_scale * 2.0,
                                                 self.dynamic_scale))
            self.step_counter.copy_(torch.where(grow, 0, self.step_counter + 1))

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def scale_loss(self, loss):
        scale = self.dynamic_scale if self.built else self.initial_scale
        return loss * scale

    def finalize_variable_values(self, var_list=None):
        self.inner_optimizer.finalize_variable_values(var_list)

    def _sync_host_state(self):
        super()._sync_host_state()
        self.inner_optimizer._sync_host_state()

    def get_config(self):
        return {
            "name": self.name,
            "inner_optimizer": serialize_keras_object(self.inner_optimizer),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner_optimizer = deserialize_keras_object(
            config.pop("inner_optimizer"), custom_objects=custom_objects,
            printable_module_name="optimizers",
        )
        return cls(inner_optimizer, **config)
