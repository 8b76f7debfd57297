"""Small Keras callbacks: `LearningRateScheduler`, `CSVLogger`, `TerminateOnNaN`,
`LambdaCallback`, `SwapEMAWeights`."""

import collections
import csv
import os

import numpy as np
import torch

from tkeras.core.registry import keras_export
from tkeras.fit.callbacks.callback import Callback
from tkeras.fit.callbacks.monitor import _lr_logs, _optimizers


@keras_export("keras.callbacks.LearningRateScheduler")
class LearningRateScheduler(Callback):
    """At each epoch start, set the learning rate to `schedule(epoch, lr)` (or `schedule(epoch)`)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _update_optimizer_lr(self, optimizer, epoch):
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError("The output of the `schedule` function should be a float. "
                             f"Got: {learning_rate}")
        optimizer.learning_rate = learning_rate
        return learning_rate

    def on_epoch_begin(self, epoch, logs=None):
        multi = hasattr(self.model.optimizer, "optimizers")
        for opt in _optimizers(self.model):
            learning_rate = self._update_optimizer_lr(opt, epoch)
            if self.verbose > 0:
                which = f" {opt.name}" if multi else ""
                print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting{which} learning rate "
                      f"to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            _lr_logs(self.model, logs)


@keras_export("keras.callbacks.CSVLogger")
class CSVLogger(Callback):
    """Stream epoch results to a CSV file (columns: `epoch`, then the sorted log keys)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(k):
            is_zero_dim_ndarray = isinstance(k, np.ndarray) and k.ndim == 0
            if isinstance(k, str):
                return k
            if isinstance(k, collections.abc.Iterable) and not is_zero_dim_ndarray:
                return f"\"[{', '.join(map(str, k))}]\""
            return k

        if self.keys is None:
            self.keys = sorted(logs.keys())
            if not any(k.startswith("val_") for k in self.keys) and self.keys:
                self.keys.extend([f"val_{k}" for k in self.keys])
        if not self.writer:
            sep = self.sep

            class CustomDialect(csv.excel):
                delimiter = sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=CustomDialect)
            if self.append_header:
                self.writer.writeheader()
        row = collections.OrderedDict({"epoch": epoch})
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


@keras_export("keras.callbacks.TerminateOnNaN")
class TerminateOnNaN(Callback):
    """Stop training (or raise, with `raise_error=True`) when the loss becomes NaN or inf.

    It reads the loss after every batch, which costs one device read per step.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: "
                                   f"{loss}. Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


@keras_export("keras.callbacks.LambdaCallback")
class LambdaCallback(Callback):
    """A callback built from functions: `on_epoch_begin(epoch, logs)`, ..., plus any other
    hook passed by keyword (e.g. `on_test_end=`)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_train_batch_begin", on_train_batch_begin),
                         ("on_train_batch_end", on_train_batch_end)):
            if fn is not None:
                setattr(self, name, fn)


@keras_export("keras.callbacks.SwapEMAWeights")
class SwapEMAWeights(Callback):
    """Evaluate/predict (and, with `swap_on_epoch=True`, checkpoint at epoch end) with the
    optimizer's EMA weights (`use_ema=True`), swapping the training weights back afterwards.

    Deliberate difference: Keras 3 forgets to swap back at the end of `predict`; here the
    training weights are restored after `predict` as after `evaluate`.
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _ema_optimizers(self):
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        opts = list(optimizer.optimizers) if hasattr(optimizer, "optimizers") else [optimizer]
        opts = [o for o in opts if getattr(o, "use_ema", False)] if len(opts) > 1 else opts
        for opt in opts:
            if not hasattr(opt, "_model_variables_moving_average"):
                raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the "
                                 f"optimizer. Received: use_ema={getattr(opt, 'use_ema', None)}")
        return opts

    def _swap_variables(self):
        with torch.no_grad():
            for opt in self._ema_optimizers():
                for var, avg in zip(opt._trainable_variables,
                                    opt._model_variables_moving_average):
                    if avg is None:
                        continue
                    tmp = var.detach().clone()
                    var.copy_(avg)
                    avg.copy_(tmp)

    def _finalize_ema_values(self):
        with torch.no_grad():
            for opt in self._ema_optimizers():
                for var, avg in zip(opt._trainable_variables,
                                    opt._model_variables_moving_average):
                    if avg is not None:
                        avg.copy_(var)

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            if epoch == self.params["epochs"] - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    on_predict_begin = on_test_begin
    on_predict_end = on_test_end
