"""How `fit`/`evaluate`/`predict` and saving run under a distribution.

`install()` (called by `set_distribution`) gives the fit loop its Fabric through
`tkeras.fit.trainer.set_fabric_factory` and wraps `Trainer.fit/evaluate/predict` and
`Model.save/save_weights/load_weights` so that, while a multi-process distribution is set:
- the model is moved to this process's device, built, and distributed (`distribute_model`);
- the data is this process's share (`tkeras.parallel.data`), `batch_size` is global;
- callbacks follow `tkeras.parallel.callbacks` (progress, logs and files on rank 0);
- `predict` returns every process's results, gathered in order, on every process;
- `save`/`save_weights` write whole values from rank 0 (every process takes part in the
  gather), `load_weights` loads on every process and re-shards.
Outside a multi-process distribution every wrapped method is the original one.

The fit loop may take this over natively: a `Trainer` class with
`_tkeras_distribution_aware = True` is left unwrapped (see `docs/distributed.md`).
"""

import functools

import torch
import torch.distributed as dist

from tkeras.fit import data as data_utils
from tkeras.parallel import callbacks as dist_callbacks
from tkeras.parallel import data as dist_data
from tkeras.parallel import runtime, sharding, spec

_INSTALLED = {"done": False}


def active():
    """The distribution when it spans several processes, else None."""
    d = spec.distribution()
    if d is None or runtime.fabric() is None:
        return None
    return d


def fabric_factory(model, precision):
    """`set_fabric_factory` hook: this run's Fabric, all-reducing over the data-parallel group."""
    fabric = runtime.fabric()
    if _SETUP["single"]:
        return runtime.FabricView(fabric, data_world_size=1)
    dm = sharding._distributed(model)
    if model.built and dm is None and active() is not None:
        dm = sharding.distribute_model(model, active())
    if dm is None:
        return runtime.FabricView(fabric, data_world_size=1)
    return runtime.FabricView(fabric, dm.data_group, dm.data_size)


_SETUP = {"single": False}


def xla_active():
    """The distribution when it runs on torch-xla (device type "tpu"), else None."""
    d = spec.distribution()
    return d if d is not None and d.device_mesh.device_type == "tpu" else None


def _setup_device(original, self):
    if xla_active() is not None:
        from tkeras.parallel import xla

        xla.route_metric_moves()
        xla.distribute_model(self, xla_active())
        self._fabric = xla.DeviceView(xla.device())
        for metric in (self._loss_tracker, self._compile_metrics):
            if metric is not None and getattr(metric, "built", True):
                for m in getattr(metric, "metrics", None) or [metric]:
                    xla.move_metric(m, self._fabric.device)
        return self._fabric.device
    return _setup_device_multiprocess(original, self)


def _setup_device_multiprocess(original, self):
    """The fit loop's own device setup (moving the model to this process's device), then the
    model's distribution and the multi-process Fabric view used for metric syncing.

    (The fit loop refuses a Fabric with `world_size > 1` when it is not distribution-aware, so
    its setup runs with a one-process view.)"""
    _SETUP["single"] = True
    try:
        device = original(self)
    finally:
        _SETUP["single"] = False
    self._fabric = fabric_factory(self, None)
    return device


def prepare_model(model, x=None):
    """Move `model` to this process's device, build it on a first sample of `x`, distribute it."""
    distribution = active()
    model._setup_device()
    if not model.built and x is not None:
        sample = _first_sample(x)
        if sample is not None:
            model._symbolic_build(data_batch=(sample,))
    return sharding.distribute_model(model, distribution)


def _first_sample(x):
    if data_utils.is_array_data(x):
        return data_utils.to_device(data_utils.map_structure(
            lambda a: None if a is None else data_utils.to_tensor(a[:1]), x), runtime.device())
    return None


def _split(dm):
    """`(shard, shards)` the data is split into (`(0, 1)` with `auto_shard_dataset=False`)."""
    if not dm.distribution.auto_shard_dataset:
        return 0, 1
    return dm.data_rank, dm.data_size


def _needs_equal_steps(dm):
    return any(p.batch_dim is not None for p in dm.plans.values())


# ----------------------------------------------------------------------------- wrappers
def _fit(original, self, x=None, y=None, batch_size=None, epochs=1, verbose="auto",
         callbacks=None, validation_split=0.0, validation_data=None, shuffle=True,
         class_weight=None, sample_weight=None, initial_epoch=0, steps_per_epoch=None,
         validation_steps=None, validation_batch_size=None, validation_freq=1):
    dm = prepare_model(self, x)
    if validation_split and validation_data is None and data_utils.is_array_data(x):
        (x, y, sample_weight), validation_data = data_utils.train_validation_split(
            (x, y, sample_weight), validation_split=validation_split)
        validation_split = 0.0
    shard, shards = _split(dm)
    arrays = data_utils.is_array_data(x) or isinstance(x, torch.utils.data.Dataset)
    x, y, sample_weight = dist_data.shard_inputs(x, y, sample_weight, shard, shards, pad=True)
    if arrays:
        batch_size = dist_data.local_batch_size(batch_size, shards)
    if validation_data is not None:
        vx, vy, vsw = data_utils.unpack_x_y_sample_weight(validation_data)
        varrays = data_utils.is_array_data(vx) or isinstance(vx, torch.utils.data.Dataset)
        validation_data = dist_data.shard_inputs(vx, vy, vsw, shard, shards,
                                                 pad=_needs_equal_steps(dm))
        if varrays:
            validation_batch_size = dist_data.local_batch_size(
                validation_batch_size or batch_size * shards, shards)
    callbacks = dist_callbacks.wrap_callbacks(callbacks, self, verbose)
    return original(self, x, y, batch_size=batch_size, epochs=epochs,
                    verbose=verbose if runtime.is_chief() else 0, callbacks=callbacks,
                    validation_split=validation_split, validation_data=validation_data,
                    shuffle=shuffle, class_weight=class_weight, sample_weight=sample_weight,
                    initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                    validation_steps=validation_steps,
                    validation_batch_size=validation_batch_size,
                    validation_freq=validation_freq)


def _evaluate(original, self, x=None, y=None, batch_size=None, verbose="auto",
              sample_weight=None, steps=None, callbacks=None, return_dict=False, **kwargs):
    dm = prepare_model(self, x)
    shard, shards = _split(dm)
    arrays = data_utils.is_array_data(x) or isinstance(x, torch.utils.data.Dataset)
    x, y, sample_weight = dist_data.shard_inputs(x, y, sample_weight, shard, shards,
                                                 pad=_needs_equal_steps(dm))
    if arrays:
        batch_size = dist_data.local_batch_size(batch_size, shards)
    callbacks = dist_callbacks.wrap_callbacks(callbacks, self, verbose)
    return original(self, x, y, batch_size=batch_size,
                    verbose=verbose if runtime.is_chief() else 0, sample_weight=sample_weight,
                    steps=steps, callbacks=callbacks, return_dict=return_dict, **kwargs)


def _predict(original, self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
    dm = prepare_model(self, x)
    callbacks = dist_callbacks.wrap_callbacks(callbacks, self, verbose)
    verbose = verbose if runtime.is_chief() else 0
    if not data_utils.is_array_data(x):
        if _needs_equal_steps(dm) or not dist_data.is_map_dataset(x):
            # FSDP layers need equal steps; other sources can't be split in order: all of it.
            return original(self, x, batch_size=batch_size, verbose=verbose, steps=steps,
                            callbacks=callbacks)
        local, n = dist_data.contiguous_subset(x, dm.data_rank, dm.data_size)
        out = original(self, local, batch_size=batch_size, verbose=verbose, steps=steps,
                       callbacks=callbacks)
        return dist_data.gather_blocks(out, n, dm.data_group) if dm.data_size > 1 else out
    local, n = dist_data.contiguous_block(x, dm.data_rank, dm.data_size, pad=True)
    batch_size = dist_data.local_batch_size(batch_size, dm.data_size)
    out = original(self, local, batch_size=batch_size, verbose=verbose, steps=steps,
                   callbacks=callbacks)
    if dm.data_size == 1:
        return out
    return dist_data.gather_blocks(out, n, dm.data_group)


def _save(original, self, filepath, *args, **kwargs):
    """Every process gathers; rank 0 writes; the others wait for the file."""
    if dist_callbacks.LOCAL_SAVE.active:  # from a callback that arranged the gather itself
        return original(self, filepath, *args, **kwargs)
    with sharding.full_weights(self):
        result = original(self, filepath, *args, **kwargs) if runtime.is_chief() else None
    dist.barrier()
    return result


def _load_weights(original, self, filepath, *args, **kwargs):
    if sharding._distributed(self) is None or dist_callbacks.LOCAL_SAVE.active:
        return original(self, filepath, *args, **kwargs)
    with sharding.full_weights(self, writeback=True):
        return original(self, filepath, *args, **kwargs)


def _wrap(cls, name, handler, when=active):
    original = getattr(cls, name)

    @functools.wraps(original)
    def method(self, *args, **kwargs):
        if when() is None:
            return original(self, *args, **kwargs)
        return handler(original, self, *args, **kwargs)

    method._tkeras_original = original
    setattr(cls, name, method)


def install():
    """Route the fit loop and saving through the distribution (idempotent)."""
    if _INSTALLED["done"]:
        return
    from tkeras.fit import trainer
    from tkeras.model.model import Model

    trainer.set_fabric_factory(_factory_or_default)
    _route_gradients(trainer)
    if not getattr(trainer.Trainer, "_tkeras_distribution_aware", False):
        _wrap(trainer.Trainer, "fit", _fit)
        _wrap(trainer.Trainer, "evaluate", _evaluate)
        _wrap(trainer.Trainer, "predict", _predict)
        _wrap(trainer.Trainer, "_setup_device", _setup_device,
              when=lambda: active() or xla_active())
    _wrap(Model, "save", _save)
    _wrap(Model, "save_weights", _save)
    _wrap(Model, "load_weights", _load_weights)
    _INSTALLED["done"] = True


def _route_gradients(trainer):
    """`fit`'s step takes gradients with `torch.autograd.grad` (`trainer._gradients`), which DDP's
    reducer does not see: for the variables of a data-parallel model, take them through `.grad`
    instead (`sharding.gradients`). Until the fit loop asks the distribution for its gradients
    natively, this replaces its module-level helper; a fit loop without it is left as is."""
    original = getattr(trainer, "_gradients", None)
    if original is None or getattr(original, "_tkeras_original", None) is not None:
        return

    def gradients(loss, variables):
        if sharding.uses_reducer(variables):
            return sharding.gradients(loss, variables)
        return original(loss, variables)

    gradients._tkeras_original = original
    trainer._gradients = gradients


def _factory_or_default(model, precision):
    if active() is not None:
        return fabric_factory(model, precision)
    from tkeras.fit import trainer

    trainer.set_fabric_factory(None)
    try:
        return trainer.get_fabric(model)
    finally:
        trainer.set_fabric_factory(_factory_or_default)
    _route_gradients(trainer)
