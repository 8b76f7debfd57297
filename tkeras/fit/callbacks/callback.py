"""`Callback`, `CallbackList` and `History`, with Keras 3's hooks and arguments.

`CallbackList` also tells the training loop which per-batch hooks are worth calling
(`_batch_hooks`): hooks nobody overrides are skipped, so a `fit` without batch-level callbacks
runs no per-step Python for them. Batch logs are handed over as a lazy mapping, computed (one
device read) only when a callback reads them.
"""

from tkeras.core.registry import keras_export


@keras_export("keras.callbacks.Callback")
class Callback:
    """Base class of callbacks: override any `on_*` hook.

    Attributes: `params` (`verbose`, `epochs`, `steps`), `model`.
    """

    def __init__(self):
        self.params = None
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """A backwards compatibility alias for `on_train_batch_begin`."""

    def on_batch_end(self, batch, logs=None):
        """A backwards compatibility alias for `on_train_batch_end`."""

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


def _overrides(callback, name):
    """Whether `callback` implements hook `name` (in its class or, like LambdaCallback, on the
    instance)."""
    return name in vars(callback) or getattr(type(callback), name, None) is not getattr(
        Callback, name)


_BATCH_HOOKS = {
    "train": (("on_train_batch_begin", "on_batch_begin"), ("on_train_batch_end", "on_batch_end")),
    "test": (("on_test_batch_begin",), ("on_test_batch_end",)),
    "predict": (("on_predict_batch_begin",), ("on_predict_batch_end",)),
}


@keras_export("keras.callbacks.CallbackList")
class CallbackList(Callback):
    """A container running a list of callbacks; adds `History` and `ProgbarLogger` on request."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        super().__init__()
        self.callbacks = _flatten_callbacks(callbacks)
        self._add_default_callbacks(add_history, add_progbar)
        self.set_model(model)
        self.set_params(params)

    def _add_default_callbacks(self, add_history, add_progbar):
        from tkeras.fit.callbacks.progbar_logger import ProgbarLogger

        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model):
        if not model:
            return
        super().set_model(model)
        if self._history:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _batch_hooks(self, mode):
        """`(any begin hook, any end hook)` that some callback implements for `mode`."""
        from tkeras.fit.callbacks.progbar_logger import ProgbarLogger

        begin_names, end_names = _BATCH_HOOKS[mode]
        active = [cb for cb in self.callbacks
                  if not (isinstance(cb, ProgbarLogger) and cb.verbose != 1)]
        begin = any(_overrides(cb, n) for cb in active for n in begin_names)
        end = any(_overrides(cb, n) for cb in active for n in end_names)
        return begin, end

    def _call(self, hook, *args):
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, _plain(logs))

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, _plain(logs))

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", _plain(logs))

    def on_train_end(self, logs=None):
        self._call("on_train_end", _plain(logs))

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", _plain(logs))

    def on_test_end(self, logs=None):
        self._call("on_test_end", _plain(logs))

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", _plain(logs))

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", _plain(logs))

    def __iter__(self):
        return iter(self.callbacks)


def _plain(logs):
    if logs is None:
        return None
    from tkeras.fit.trainer import pythonify_logs

    return pythonify_logs(logs)


def _flatten_callbacks(callbacks):
    if not callbacks:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    out = []
    for cb in callbacks:
        out.extend(_flatten_callbacks(cb) if isinstance(cb, (list, tuple)) else [cb])
    return out


@keras_export("keras.callbacks.History")
class History(Callback):
    """Records the epoch logs in `history` (a dict of lists) and the epochs in `epoch`."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)
        self.model.history = self
