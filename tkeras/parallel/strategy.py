"""The fit loop's strategies under a distribution (see `tkeras.fit.strategy`).

`install()` (called by `set_distribution`) registers `current()` as the fit loop's strategy
provider. While a multi-process distribution is set, `Distributed`:
- moves the model to this process's device, builds it on a first sample, distributes it
  (`distribute_model`);
- gives each process its share of the data (`tkeras.parallel.data`); `batch_size` is global;
- runs callbacks as `tkeras.parallel.callbacks` says (progress, logs and files on rank 0);
- takes the default step's gradients through `.grad` for DDP-reduced variables;
- syncs metric results over the data-parallel processes (epoch and evaluation ends);
- has `predict` return every process's results, gathered in order, on every process;
- has `save`/`save_weights` write whole values from rank 0 (every process takes part in the
  gather) and `load_weights` load on every process and re-shard.
With a `"tpu"` device mesh, `XLA` runs the one-process torch-xla (GSPMD) path.
"""

import contextlib

import torch.distributed as dist

from tkeras.core.variables import move_model
from tkeras.fit import data as data_utils
from tkeras.fit import strategy as fit_strategy
from tkeras.parallel import callbacks as dist_callbacks
from tkeras.parallel import data as dist_data
from tkeras.parallel import runtime, sharding, spec


def _first_sample(x):
    if data_utils.is_array_data(x):
        return data_utils.to_device(data_utils.map_structure(
            lambda a: None if a is None else data_utils.to_tensor(a[:1]), x), runtime.device())
    return None


def _is_indexable(x):
    return data_utils.is_array_data(x) or dist_data.is_map_dataset(x)


class Distributed(fit_strategy.SingleDevice):
    """One process of a multi-process distribution (DDP / FSDP / tensor parallel)."""

    def __init__(self, distribution):
        self.distribution = distribution

    # ------------------------------------------------------------------ setup
    def setup(self, model, x=None):
        fabric = runtime.fabric()
        device = fabric.device
        tracker = model._loss_tracker
        if tracker is not None and tracker._device != device:
            tracker.to(device)
        first = next(iter(model.parameters()), None)
        if first is not None and first.device != device and sharding._distributed(model) is None:
            move_model(model, device)
        if not model.built and x is not None:
            sample = _first_sample(x)
            if sample is not None:
                model._symbolic_build(data_batch=(sample,))
        sharding.distribute_model(model, self.distribution)
        return fabric, device

    @staticmethod
    def _split(model):
        """`(shard, shards)` the data is split into (`(0, 1)` with `auto_shard_dataset=False`)."""
        dm = sharding._distributed(model)
        if not dm.distribution.auto_shard_dataset:
            return 0, 1
        return dm.data_rank, dm.data_size

    @staticmethod
    def _needs_equal_steps(model):
        """FSDP layers' forward passes are collectives: every process runs as many steps."""
        return any(p.batch_dim is not None for p in sharding._distributed(model).plans.values())

    def shard(self, model, x, y, sample_weight, batch_size, training):
        shard, shards = self._split(model)
        pad = training or self._needs_equal_steps(model)
        indexable = _is_indexable(x)
        x, y, sample_weight = dist_data.shard_inputs(x, y, sample_weight, shard, shards, pad=pad)
        if indexable:
            batch_size = dist_data.local_batch_size(batch_size, shards)
        return x, y, sample_weight, batch_size

    def callbacks(self, model, callbacks, verbose):
        return (dist_callbacks.wrap_callbacks(callbacks, model, verbose),
                verbose if runtime.is_chief() else 0)

    # ------------------------------------------------------------------ steps
    @staticmethod
    def gradients(loss, variables):
        """DDP averages gradients accumulated into `.grad`: the model's variables take them
        from there (`sharding.gradients`); others straight from autograd."""
        if sharding.uses_reducer(variables):
            return sharding.gradients(loss, variables)
        return fit_strategy.autograd_gradients(loss, variables)

    def synced_result(self, model, metric):
        dm = sharding._distributed(model)
        if dm is None or dm.data_size == 1:
            return metric.result()
        return metric.synced_result(lambda t: dist.all_reduce(t, group=dm.data_group))

    def predict_inputs(self, model, x, batch_size):
        dm = sharding._distributed(model)
        if not data_utils.is_array_data(x):
            if self._needs_equal_steps(model) or not dist_data.is_map_dataset(x):
                # FSDP layers need equal steps; other sources can't be split in order: all of it.
                return x, batch_size, fit_strategy._identity
            x, n = dist_data.contiguous_subset(x, dm.data_rank, dm.data_size)
        else:
            x, n = dist_data.contiguous_block(x, dm.data_rank, dm.data_size, pad=True)
            batch_size = dist_data.local_batch_size(batch_size, dm.data_size)
        if dm.data_size == 1:
            return x, batch_size, fit_strategy._identity
        return x, batch_size, lambda out: dist_data.gather_blocks(out, n, dm.data_group)

    # ------------------------------------------------------------------ saving
    @contextlib.contextmanager
    def save_context(self, model):
        """Every process gathers the whole weights; rank 0 writes; the others wait for it."""
        if dist_callbacks.LOCAL_SAVE.active:  # from a callback that arranged the gather itself
            yield True
            return
        with sharding.full_weights(model):
            yield runtime.is_chief()
        dist.barrier()

    def load_context(self, model):
        """Every process loads whole values, re-sharded on exit."""
        if sharding._distributed(model) is None or dist_callbacks.LOCAL_SAVE.active:
            return contextlib.nullcontext()
        return sharding.full_weights(model, writeback=True)


class XLA(fit_strategy.SingleDevice):
    """torch-xla in one process: the model sharded by GSPMD (`tkeras.parallel.xla`)."""

    def __init__(self, distribution):
        self.distribution = distribution

    def setup(self, model, x=None):
        from tkeras.parallel import xla

        xla.distribute_model(model, self.distribution)
        view = xla.DeviceView(xla.device())
        for metric in (model._loss_tracker, model._compile_metrics):
            if metric is not None and getattr(metric, "built", True):
                for m in getattr(metric, "metrics", None) or [metric]:
                    m.to(view.device)
        return view, view.device


def current():
    """The strategy of the current distribution (None: one device)."""
    d = spec.distribution()
    if d is None:
        return None
    if d.device_mesh.device_type == "tpu":
        return XLA(d)
    if runtime.fabric() is None:
        return None
    return Distributed(d)


def install():
    """Make the fit loop and saving ask the distribution (idempotent)."""
    fit_strategy.set_provider(current)
