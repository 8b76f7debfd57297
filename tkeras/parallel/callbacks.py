"""Callbacks under distribution: logs, progress and files on rank 0, decisions on every process.

- `ProgbarLogger`, `CSVLogger`, `TensorBoard` run on rank 0 only.
- `ModelCheckpoint` writes on rank 0; `BackupAndRestore` restores on every process and writes on
  rank 0. With sharded variables, every process enters `full_weights` around the hooks that may
  save (a collective), so the file holds whole values, as a single process would write it.
- Every other callback (EarlyStopping, ReduceLROnPlateau, ...) runs on every process: the epoch
  logs are synced, so the processes take the same decisions.
- Per-batch logs are this process's own (syncing them would need every process to read them at
  the same time); epoch and evaluation logs are synced over the data-parallel processes (by the
  fit loop's strategy, `tkeras.parallel.strategy`).
"""

import threading

from tkeras.fit.callbacks import callback as callback_module
from tkeras.fit.callbacks.checkpoint import BackupAndRestore, ModelCheckpoint
from tkeras.fit.callbacks.misc import CSVLogger
from tkeras.fit.callbacks.progbar_logger import ProgbarLogger
from tkeras.fit.callbacks.tensorboard import TensorBoard
from tkeras.parallel import runtime, sharding

class _LocalSave(threading.local):
    active = False


LOCAL_SAVE = _LocalSave()

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
          "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
          "on_predict_batch_begin", "on_predict_batch_end")


class DistributedCallback(callback_module.Callback):
    """Runs `inner`'s hooks on rank 0 only, except `everywhere`; enters `full_weights` on every
    process around `save_hooks` (writing back on `on_train_begin`, where restores happen)."""

    def __init__(self, inner, everywhere=(), save_hooks=()):
        super().__init__()
        self.inner = inner
        self.everywhere = set(everywhere)
        self.save_hooks = set(save_hooks)

    def set_params(self, params):
        super().set_params(params)
        self.inner.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(model)

    def _dispatch(self, hook, *args):
        run = runtime.is_chief() or hook in self.everywhere
        if hook in self.save_hooks:
            with sharding.full_weights(self.model, writeback=hook == "on_train_begin"):
                if run:
                    self._call(hook, *args)
        elif run:
            self._call(hook, *args)

    def _call(self, hook, *args):
        LOCAL_SAVE.active = True  # the gather (if any) is done: save/load act on this process
        try:
            getattr(self.inner, hook)(*args)
        finally:
            LOCAL_SAVE.active = False

    def __getattr__(self, name):
        return getattr(self.__dict__["inner"], name)


def _make_hook(name):
    def hook(self, *args, **kwargs):
        self._dispatch(name, *args, *kwargs.values())

    hook.__name__ = name
    return hook


for _name in _HOOKS:
    setattr(DistributedCallback, _name, _make_hook(_name))


def _save_hooks(cb, sharded):
    if not sharded:
        return ()
    if cb.save_freq == "epoch":
        return ("on_epoch_end",)
    return ("on_train_batch_end", "on_epoch_end")


def wrap_callbacks(callbacks, model, verbose):
    """The callback list for a distributed `fit`/`evaluate`/`predict` on this process."""
    dm = sharding._distributed(model)
    sharded = dm is not None and any(p.sharded for p in dm.plans.values())
    out = []
    progbar = False
    for cb in callback_module._flatten_callbacks(callbacks):
        if isinstance(cb, ProgbarLogger):
            if runtime.is_chief():
                out.append(cb)
                progbar = True
        elif isinstance(cb, (CSVLogger, TensorBoard)):
            out.append(DistributedCallback(cb))
        elif isinstance(cb, ModelCheckpoint):
            out.append(DistributedCallback(cb, save_hooks=_save_hooks(cb, sharded)))
        elif isinstance(cb, BackupAndRestore):
            hooks = _save_hooks(cb, sharded)
            out.append(DistributedCallback(
                cb, everywhere=("on_train_begin", "on_epoch_begin"),
                save_hooks=hooks + ("on_train_begin",) if sharded else ()))
        else:
            out.append(cb)
    if verbose != 0 and runtime.is_chief() and not progbar:
        out.append(ProgbarLogger())
    return out
