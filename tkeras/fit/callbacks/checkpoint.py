"""`ModelCheckpoint` and `BackupAndRestore`.

`ModelCheckpoint` follows Keras 3 (`.keras` / `.weights.h5` paths, `{epoch:02d}`-style
formatting with the logs, `save_best_only`, `save_freq`, `initial_value_threshold`) and writes
atomically: to a temporary file in the same folder, then `os.replace`.

`BackupAndRestore` keeps its own state file, `latest.safetensors` in `backup_dir` (no pickle):
the model's weights, the optimizer's variables, torch/NumPy/Python RNG states, the epoch's
sample order and where training stopped. A rerun of `fit` with the same callback resumes at the
epoch (or, with an integer `save_freq`, the batch) after the last backup, with the same data
order and random streams, so an interrupted-and-resumed run ends with the weights an
uninterrupted run would have had. The backup is deleted when `fit` finishes
(`delete_checkpoint=True`). A run resumed mid-epoch reports that epoch's metrics over the
batches run after resuming.
"""

import json
import os
import random
import shutil
import warnings

import numpy as np
import torch

from tkeras.core.registry import keras_export
from tkeras.fit.callbacks.callback import Callback
from tkeras.fit.callbacks.monitor import MonitorCallback


def _tmp_path(filepath):
    """A sibling path keeping the extension (so the saver picks the same format)."""
    directory, base = os.path.split(filepath)
    return os.path.join(directory, f".tmp-{os.getpid()}-{base}")


@keras_export("keras.callbacks.ModelCheckpoint")
class ModelCheckpoint(MonitorCallback):
    """Save the model (or its weights) at some frequency, optionally only when `monitor`
    improves."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._current_epoch = 0
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are "
                             "'epoch' or integer values")
        if save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError(
                    "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath "
                    "provided must end in `.weights.h5` (Keras weights format). Received: "
                    f"filepath={self.filepath}")
        elif not self.filepath.endswith((".keras", ".h5")):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format). "
                             f"Received: filepath={self.filepath}")

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch=epoch, batch=None, logs=logs)

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            add_batches = batch + 1
        else:
            add_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add_batches
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _should_save_model(self, epoch, batch, logs, filepath):
        logs = logs or {}
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.",
                          stacklevel=2)
            return True
        if isinstance(current, np.ndarray) and current.ndim > 0:
            warnings.warn("Can save best model only when `monitor` is a scalar value. Received: "
                          f"{current}. Falling back to `save_best_only=False`.")
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save_model(self, epoch, batch, logs):
        logs = dict(logs or {})
        filepath = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise IOError("Please specify a non-directory filepath for ModelCheckpoint. "
                          f"Filepath used is an existing directory: {filepath}")
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        tmp = _tmp_path(filepath)
        try:
            if self.save_weights_only:
                self.model.save_weights(tmp, overwrite=True)
            else:
                self.model.save(tmp, overwrite=True)
            os.replace(tmp, filepath)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {e}")


def _rng_tensors():
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda_{i}"] = state
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng/numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    py_version, py_state, py_gauss = random.getstate()
    tensors["rng/python"] = torch.tensor(py_state, dtype=torch.int64)
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)],
            "python": [py_version, py_gauss]}
    return tensors, meta


def _restore_rng(tensors, meta):
    torch.set_rng_state(tensors["rng/torch"])
    cuda = sorted(k for k in tensors if k.startswith("rng/cuda_"))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, tensors["rng/numpy_keys"].numpy().astype(np.uint32), pos,
                         has_gauss, gauss))
    py_version, py_gauss = meta["python"]
    random.setstate((py_version, tuple(tensors["rng/python"].tolist()), py_gauss))


@keras_export("keras.callbacks.BackupAndRestore", "keras.callbacks.experimental.BackupAndRestore")
class BackupAndRestore(Callback):
    """Back up the training state to `backup_dir` and resume an interrupted `fit` from it."""

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(f"Invalid value for argument `save_freq`. Received: save_freq="
                             f"{save_freq}. Expected either 'epoch' or an integer value.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._state_path = os.path.join(self.backup_dir, "latest.safetensors")
        self._prev_state_path = self._state_path + ".bkp"
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = -1
        self._current_epoch = 0

    # -------------------------------------------------------------- state
    def _optimizer_variables(self):
        opt = self.model.optimizer
        return list(getattr(opt, "variables", []) or [])

    def _save_state(self, epoch, batch):
        from safetensors.torch import save_file

        os.makedirs(self.backup_dir, exist_ok=True)
        tensors = {f"model/{i}": w.detach().cpu().contiguous()
                   for i, w in enumerate(self.model.weights)}
        for i, v in enumerate(self._optimizer_variables()):
            tensors[f"optimizer/{i}"] = v.detach().cpu().contiguous()
        rng, rng_meta = _rng_tensors()
        tensors.update(rng)
        order = self._iterator_order()
        if order is not None and batch is not None:
            tensors["data/order"] = order
        meta = {"epoch": epoch, "batch": -1 if batch is None else batch,
                "rng": rng_meta}
        if self.double_checkpoint and os.path.exists(self._state_path):
            shutil.copyfile(self._state_path, self._prev_state_path)
        tmp = _tmp_path(self._state_path)
        save_file(tensors, tmp, metadata={"tkeras_backup": json.dumps(meta)})
        os.replace(tmp, self._state_path)

    def _iterator_order(self):
        adapter = getattr(self.model, "_train_adapter", None)
        return adapter.order_state() if adapter is not None else None

    def _load_state(self, path):
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            meta = json.loads(f.metadata()["tkeras_backup"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        weights = self.model.weights
        n_saved = sum(1 for k in tensors if k.startswith("model/"))
        if n_saved != len(weights):
            raise ValueError(f"The backup in {self.backup_dir} holds {n_saved} weights, the "
                             f"model has {len(weights)}.")
        with torch.no_grad():
            for i, w in enumerate(weights):
                w.copy_(tensors[f"model/{i}"].to(w.device))
            opt_vars = self._optimizer_variables()
            saved = [tensors[f"optimizer/{i}"] for i in range(len(opt_vars))
                     if f"optimizer/{i}" in tensors]
            if len(saved) == len(opt_vars):
                for v, t in zip(opt_vars, saved):
                    v.copy_(t.to(v.device))
                sync = getattr(self.model.optimizer, "_sync_host_state", None)
                if sync is not None:
                    sync()
        _restore_rng(tensors, meta["rng"])
        return meta, tensors.get("data/order")

    # -------------------------------------------------------------- hooks
    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, you model must be built before you call "
                f"`fit()`. Model {self.model} is unbuilt. You can build it beforehand by calling "
                "it on a batch of data.")
        path = self._state_path
        if not os.path.exists(path) and os.path.exists(self._prev_state_path):
            path = self._prev_state_path
        if not os.path.exists(path):
            return
        try:
            meta, order = self._load_state(path)
        except Exception:
            if path == self._prev_state_path or not os.path.exists(self._prev_state_path):
                raise
            meta, order = self._load_state(self._prev_state_path)
        epoch, batch = meta["epoch"], meta["batch"]
        self._current_epoch = epoch
        self.model._initial_epoch = epoch
        if batch >= 0:
            adapter = getattr(self.model, "_train_adapter", None)
            if adapter is not None:
                adapter.set_order_state(order)
            self.model._initial_step = batch + 1

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = -1
        if self.save_freq == "epoch":
            self._save_state(epoch + 1, None)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        if batch <= self._last_batch_seen:
            add = batch + 1
        else:
            add = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            steps = (self.params or {}).get("steps")
            if steps and batch + 1 >= steps:
                self._save_state(self._current_epoch + 1, None)
            else:
                self._save_state(self._current_epoch, batch)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)
