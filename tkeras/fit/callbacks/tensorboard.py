"""`TensorBoard`: scalars and weight histograms through torch's `SummaryWriter` (no TensorFlow).

Layout kept from Keras: `log_dir/train` and `log_dir/validation`; epoch scalars tagged
`epoch_<metric>` (plus `epoch_learning_rate`, and `epoch_steps_per_second` when asked), batch
scalars `batch_<metric>` every `update_freq` batches, weight histograms every `histogram_freq`
epochs tagged `<layer>/<weight>` (`/histogram` suffix omitted). Not supported: `write_graph`,
`write_images`, `profile_batch`, `embeddings_*` (accepted and ignored).
"""

import os
import time

from tkeras.core.registry import keras_export
from tkeras.fit.callbacks.callback import Callback


@keras_export("keras.callbacks.TensorBoard")
class TensorBoard(Callback):
    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.profile_batch = profile_batch
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers = {}
        self._global_train_batch = 0
        self._epoch_start = None
        self._epoch_batches = 0

    def _writer(self, kind):
        if kind not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            self._writers[kind] = SummaryWriter(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()
        self._epoch_batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._global_train_batch += 1
        self._epoch_batches += 1
        if isinstance(self.update_freq, int) and self._global_train_batch % self.update_freq == 0:
            writer = self._writer("train")
            for name, value in (logs or {}).items():
                if isinstance(value, float):
                    writer.add_scalar(f"batch_{name}", value, self._global_train_batch)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "learning_rate"):
            train["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second and self._epoch_start is not None:
            elapsed = max(time.time() - self._epoch_start, 1e-9)
            train["steps_per_second"] = self._epoch_batches / elapsed
        for kind, values in (("train", train), ("validation", val)):
            if values:
                writer = self._writer(kind)
                for name, value in values.items():
                    if isinstance(value, (int, float)):
                        writer.add_scalar(f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            writer = self._writer("train")
            for layer in _all_layers(self.model):
                for weight in layer._own_variables():
                    writer.add_histogram(f"{layer.name}/{weight.name}",
                                         weight.detach().cpu().float().numpy(), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _all_layers(model):
    seen, out, stack = set(), [], list(model._layers)
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        stack.extend(layer._layers)
    return out
