"""Where and how the fit loop runs: a small strategy object, Lightning Fabric style.

`Trainer.fit/evaluate/predict` (and the `*_on_batch` methods) ask `current()` for the strategy
at their start and let it:
- `setup(model, sample)`: create the device/precision (a Fabric), move the model there (and
  build/distribute it where the strategy needs to);
- `shard(model, x, y, sample_weight, batch_size, training)`: this process's share of the data
  and its batch size;
- `callbacks(model, callbacks, verbose)`: the callbacks (and verbosity) this process runs;
- `gradients(loss, variables)`: the gradients of the default training step;
- `synced_result(model, metric)`: a metric's result over the processes (read only at the end of
  an epoch, of `evaluate`, or of an on-batch call; per-batch logs stay this process's own);
- `predict_inputs(model, x, batch_size)`: what this process predicts, and how to assemble the
  whole result;
- `save_context(model)` / `load_context(model)`: around `Model.save*` / `load_weights`.

`SingleDevice` (the default) is one device: Fabric for the device and precision, everything
else as given. The distribution layer (`tkeras.parallel.strategy`) registers its strategies
with `set_provider` when `keras.distribution.set_distribution` is called.
"""

import contextlib
import warnings

import torch

from tkeras.core.variables import move_model

_FABRIC_FACTORY = None
_FABRICS = {}
_PROVIDER = None

_PRECISIONS = {"mixed_float16": "16-mixed", "mixed_bfloat16": "bf16-mixed",
               "float16": "16-true", "bfloat16": "bf16-true", "float64": "64-true"}


# ----------------------------------------------------------------------------- Fabric
def set_fabric_factory(factory):
    """Install `factory(model, precision) -> lightning.fabric.Fabric` (None: the default,
    `Fabric(accelerator="auto", devices=1, precision=...)`) for `SingleDevice`."""
    global _FABRIC_FACTORY
    _FABRIC_FACTORY = factory


def fabric_precision(model):
    """Fabric precision string for the model's dtype policy."""
    return _PRECISIONS.get(model.dtype_policy.name, "32-true")


def get_fabric(model):
    precision = fabric_precision(model)
    if _FABRIC_FACTORY is not None:
        return _FABRIC_FACTORY(model, precision)
    fabric = _FABRICS.get(precision)
    if fabric is None:
        from lightning.fabric import Fabric

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fabric = Fabric(accelerator="auto", devices=1, precision=precision)
        _FABRICS[precision] = fabric
    return fabric


# ----------------------------------------------------------------------------- gradients
try:  # what `torch.autograd.grad` calls once its arguments are checked
    from torch.autograd.graph import _engine_run_backward
except ImportError:  # pragma: no cover - other torch versions
    _engine_run_backward = None


def autograd_gradients(loss, variables):
    """`torch.autograd.grad(loss, variables, allow_unused=True)`: for a plain floating scalar
    loss, straight to the autograd engine (the same call, without the tens of microseconds of
    argument handling per step)."""
    if (_engine_run_backward is None or type(loss) is not torch.Tensor or loss.dim() != 0
            or not loss.is_floating_point()):
        return torch.autograd.grad(loss, variables, allow_unused=True)
    return _engine_run_backward((loss,), (torch.ones_like(loss),), False, False, variables,
                                True, accumulate_grad=False)


# ----------------------------------------------------------------------------- strategies
def _identity(outputs):
    return outputs


class SingleDevice:
    """One device (the default strategy): Fabric chooses the device and precision."""

    gradients = staticmethod(autograd_gradients)

    def setup(self, model, sample=None):
        """Create the Fabric and move the model (and its loss tracker) to its device; returns
        `(fabric, device)`."""
        fabric = get_fabric(model)
        if fabric.world_size > 1:
            raise NotImplementedError(
                "fit/evaluate/predict on several processes needs gradient synchronization and "
                "data sharding, which `keras.distribution.set_distribution` provides; this "
                f"Fabric has world_size={fabric.world_size}.")
        device = fabric.device
        tracker = model._loss_tracker
        if tracker is not None and tracker._device != device:
            tracker.to(device)
        first = next(iter(model.parameters()), None)
        if first is not None and first.device != device:
            move_model(model, device)
        return fabric, device

    def shard(self, model, x, y, sample_weight, batch_size, training):
        return x, y, sample_weight, batch_size

    def callbacks(self, model, callbacks, verbose):
        return callbacks, verbose

    def synced_result(self, model, metric):
        return metric.result()

    def predict_inputs(self, model, x, batch_size):
        """`(x, batch_size, finish)`: `finish(outputs)` gives the whole prediction."""
        return x, batch_size, _identity

    def save_context(self, model):
        """Yields whether this process writes the file."""
        return contextlib.nullcontext(True)

    def load_context(self, model):
        return contextlib.nullcontext()


SINGLE_DEVICE = SingleDevice()


def set_provider(provider):
    """Install `provider() -> strategy or None` (None: `SingleDevice`); the distribution layer's."""
    global _PROVIDER
    _PROVIDER = provider


def current():
    """The strategy the fit loop and saving use now."""
    if _PROVIDER is not None:
        strategy = _PROVIDER()
        if strategy is not None:
            return strategy
    return SINGLE_DEVICE
