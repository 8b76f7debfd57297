"""`PyDataset` (`keras.utils.PyDataset`): batches produced by Python code, indexed by batch.

Keras behaviour kept: subclasses implement `__getitem__(index)` returning a batch and
`__len__` (or the `num_batches` property; `None` means infinite); `on_epoch_begin`/
`on_epoch_end` hooks; `fit(shuffle=True)` shuffles the batch order each epoch. With
`workers > 1` batches are prefetched, in order, by a thread pool of that size (at most
`max_queue_size` ahead). Deliberate difference: `use_multiprocessing=True` also uses threads
(no process pool, so nothing is pickled).
"""

import concurrent.futures
import itertools
import random
import warnings

from tkeras.core.registry import keras_export


@keras_export("keras.utils.PyDataset", "keras.utils.Sequence")
class PyDataset:
    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        if not hasattr(self, "_workers"):
            self._workers, self._use_multiprocessing, self._max_queue_size = 1, False, 10
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                "`max_queue_size`. Do not pass these arguments to `fit()`, as they will be "
                "ignored.", stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        raise NotImplementedError

    @property
    def num_batches(self):
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            "You need to implement the `num_batches` property:\n\n"
            "@property\ndef num_batches(self):\n  return ..."
        )

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass

    def __iter__(self):
        return self.iter_batches(shuffle=False)

    def iter_batches(self, shuffle=False):
        """One epoch of batches (calls `on_epoch_begin` first)."""
        self.on_epoch_begin()
        num = self.num_batches
        indices = itertools.count() if num is None else list(range(num))
        if shuffle and num is not None:
            random.shuffle(indices)
        workers = self.workers or 1
        if workers <= 1:
            for i in indices:
                yield self[i]
            return
        ahead = max(self.max_queue_size, workers)
        indices = iter(indices)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            pending = [pool.submit(self.__getitem__, i) for i in itertools.islice(indices, ahead)]
            while pending:
                future = pending.pop(0)
                nxt = next(indices, None)
                if nxt is not None:
                    pending.append(pool.submit(self.__getitem__, nxt))
                yield future.result()
