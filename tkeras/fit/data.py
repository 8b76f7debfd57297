"""Data adapters for `fit`/`evaluate`/`predict`: what Keras 3's `trainers/data_adapters` do.

Accepted inputs: NumPy arrays and torch tensors (or lists/tuples/dicts of them), torch
`Dataset`/`DataLoader`, Python generators/iterators and `PyDataset`. In-memory arrays take the
fast path: they are converted to tensors once (float64 -> `floatx()`, as Keras), moved to the
device once when they fit in its memory (else pinned and copied per batch with
`non_blocking=True`), and each batch is a slice (`shuffle=False`) or an `index_select` of a
permuted index: no per-sample collation.

Kept from Keras: `batch_size` defaults to 32; the last batch is partial; `shuffle=True` permutes
all samples every epoch, `shuffle="batch"` shuffles within batches; `class_weight` becomes
per-sample weights (argmax of one-hot targets); `validation_split` takes the last fraction of
the samples before shuffling; with `steps_per_epoch`, an iterator carries on across epochs and
the epoch stops early (with Keras's warning) when the data runs out.
"""

import itertools
import math
import warnings

import numpy as np
import torch

from tkeras.core import config

# Device-resident copies are used for arrays up to this size (bytes) on accelerators.
DEVICE_RESIDENT_LIMIT = 2 << 30


# ----------------------------------------------------------------------------- structures
def unpack_x_y_sample_weight(data):
    """`(x,)`, `(x, y)` or `(x, y, sample_weight)` -> `(x, y, sample_weight)`."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError(
        "Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
        f"found: {data}"
    )


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    if y is None:
        if not isinstance(x, (tuple, list)):
            return x
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def map_structure(fn, obj):
    if isinstance(obj, dict):
        return {k: map_structure(fn, v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_structure(fn, v) for v in obj)
    return fn(obj)


def flatten(obj):
    if isinstance(obj, dict):
        return [leaf for v in obj.values() for leaf in flatten(v)]
    if isinstance(obj, (list, tuple)):
        return [leaf for v in obj for leaf in flatten(v)]
    return [obj]


def _is_array(x):
    return isinstance(x, (np.ndarray, torch.Tensor)) or (
        hasattr(x, "__array__") and hasattr(x, "shape") and not isinstance(x, (str, bytes)))


def is_array_data(x):
    """True when every leaf of `x` is an array/tensor (or None): the fast in-memory path."""
    leaves = flatten(x)
    return bool(leaves) and all(leaf is None or _is_array(leaf) for leaf in leaves) and any(
        leaf is not None for leaf in leaves)


def to_tensor(x):
    """A CPU/GPU tensor from an array; float64 becomes `floatx()` as in Keras."""
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        arr = np.asarray(x)
        if arr.dtype == object or arr.dtype.kind in "USO":
            raise ValueError(f"Unsupported array dtype for training data: {arr.dtype}")
        arr = np.ascontiguousarray(arr)
        if arr.flags.writeable:
            t = torch.from_numpy(arr)
        else:
            # Read-only arrays (np.load(mmap_mode="r"), scikit-learn's checks) are shared, not
            # copied: tkeras only reads batches, so torch's "not writable" warning is moot.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                t = torch.from_numpy(arr)
    if t.dtype == torch.float64 and config.floatx() != "float64":
        t = t.to(getattr(torch, config.floatx()))
    return t


def to_device(data, device, non_blocking=False):
    def move(x):
        if isinstance(x, torch.Tensor):
            return x.to(device, non_blocking=non_blocking) if x.device != device else x
        if isinstance(x, np.ndarray) or (hasattr(x, "__array__") and hasattr(x, "shape")):
            return to_tensor(x).to(device, non_blocking=non_blocking)
        return x

    return map_structure(move, data)


def class_weight_to_sample_weights(y, class_weight):
    """Per-sample weights from `{class: weight}` (Keras: argmax of one-hot, rounded labels)."""
    y = y.cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    labels = np.round(y).astype("int64")
    weights = np.ones(labels.shape[0], dtype=config.floatx())
    for cls, w in class_weight.items():
        weights[labels == int(cls)] = w
    return weights


def train_validation_split(arrays, validation_split):
    """Split `(x, y, sample_weight)` so the last `validation_split` fraction is validation."""
    leaves = flatten(arrays)
    unsplittable = [type(t) for t in leaves if t is not None and not _is_array(t)]
    if unsplittable:
        raise ValueError(
            "Argument `validation_split` is only supported for tensors or NumPy arrays. "
            f"Found incompatible type in the input: {unsplittable}"
        )
    first = next((t for t in leaves if t is not None), None)
    if first is None:
        return arrays, arrays
    n = int(first.shape[0])
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"Training data contains {n} samples, which is not sufficient to split it into a "
            f"validation and training set as specified by `validation_split={validation_split}`. "
            "Either provide more data, or a different value for the `validation_split` argument."
        )
    train = map_structure(lambda t: None if t is None else t[:split_at], arrays)
    val = map_structure(lambda t: None if t is None else t[split_at:], arrays)
    return train, val


# ----------------------------------------------------------------------------- adapters
class ArrayAdapter:
    """Batches of in-memory arrays, sliced from tensors converted once."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, steps=None, shuffle=False,
                 class_weight=None, device=None):
        if sample_weight is not None and class_weight is not None:
            raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
        if class_weight is not None:
            if isinstance(y, (list, tuple, dict)):
                raise ValueError("`class_weight` is only supported for Models with a single "
                                 "output.")
            sample_weight = class_weight_to_sample_weights(y, class_weight)
        if sample_weight is not None and isinstance(y, (list, tuple, dict)) and not isinstance(
                sample_weight, (list, tuple, dict)):
            sw = sample_weight
            sample_weight = map_structure(lambda _: sw, y)
        data = pack_x_y_sample_weight(x, y, sample_weight)
        data = map_structure(to_tensor, data)
        sizes = {int(t.shape[0]) for t in flatten(data) if t is not None}
        if len(sizes) != 1:
            raise ValueError(
                "Data cardinality is ambiguous. Make sure all arrays contain the same number of "
                f"samples. Received sizes: {sorted(sizes)}"
            )
        self.num_samples = sizes.pop()
        if not batch_size:
            batch_size = int(math.ceil(self.num_samples / steps)) if steps else 32
        self.batch_size = int(batch_size)
        self.num_batches = int(math.ceil(self.num_samples / self.batch_size))
        self.shuffle = shuffle
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._pinned = False
        nbytes = sum(t.numel() * t.element_size() for t in flatten(data) if t is not None)
        if self.device.type != "cpu":
            if nbytes <= DEVICE_RESIDENT_LIMIT:
                data = to_device(data, self.device)
            else:
                data = map_structure(lambda t: None if t is None else t.pin_memory(), data)
                self._pinned = True
        self.data = data
        # The common case (single x, single y, optional sw) avoids rebuilding structures.
        self._simple = isinstance(data, torch.Tensor) or (
            isinstance(data, tuple) and all(isinstance(t, torch.Tensor) for t in data))
        self._perm = None

    # Batch `i` of the current epoch order.
    def _take(self, start, stop):
        if self._perm is None:
            if self._simple:
                if isinstance(self.data, torch.Tensor):
                    batch = (self.data[start:stop],)
                else:
                    batch = tuple(t[start:stop] for t in self.data)
            else:
                batch = map_structure(lambda t: None if t is None else t[start:stop], self.data)
        else:
            idx = self._perm[start:stop]
            if self._simple:
                if isinstance(self.data, torch.Tensor):
                    batch = (self.data.index_select(0, idx),)
                else:
                    batch = tuple(t.index_select(0, idx) for t in self.data)
            else:
                batch = map_structure(lambda t: None if t is None else t.index_select(0, idx),
                                      self.data)
        if self._pinned:
            batch = map_structure(
                lambda t: None if t is None else t.pin_memory().to(self.device, non_blocking=True),
                batch)
        return batch

    def new_epoch_order(self):
        if self.shuffle == "batch":
            perm = torch.arange(self.num_samples)
            for b in range(self.num_batches):
                s, e = b * self.batch_size, min((b + 1) * self.batch_size, self.num_samples)
                perm[s:e] = perm[s:e][torch.randperm(e - s)]
            self._perm = perm
        elif self.shuffle:
            self._perm = torch.randperm(self.num_samples)
        else:
            self._perm = None
        if self._perm is not None and not self._pinned:
            self._perm = self._perm.to(self.device)

    def iter_batches(self, start_batch=0):
        """Batches of one pass over the data (in a new order), from `start_batch`."""
        if start_batch == 0:
            self.new_epoch_order()
        bs, n = self.batch_size, self.num_samples
        if self._perm is None and isinstance(self.data, torch.Tensor) and not self._pinned:
            # One unshuffled tensor (`predict`'s usual input): plain slices, as `_take` makes.
            data = self.data
            for start in range(start_batch * bs, n, bs):
                yield (data[start:start + bs],)
            return
        for b in range(start_batch, self.num_batches):
            yield self._take(b * bs, min((b + 1) * bs, n))

    def order_state(self):
        """The current epoch's sample order (for BackupAndRestore), or None when unshuffled."""
        return None if self._perm is None else self._perm.cpu()

    def set_order_state(self, perm):
        self._perm = None if perm is None else perm.to(
            self.device if not self._pinned else "cpu")

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


class IterableAdapter:
    """Batches from a torch DataLoader/Dataset, a generator/iterator or a PyDataset."""

    def __init__(self, x, batch_size=None, shuffle=False, device=None):
        from tkeras.fit.pydataset import PyDataset

        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._pydataset = None
        self._loader = None
        self._generator = None
        self.shuffle = shuffle
        self.batch_size = batch_size
        self._non_blocking = self.device.type == "cuda"
        if isinstance(x, PyDataset):
            self._pydataset = x
            self.num_batches = x.num_batches
        elif isinstance(x, torch.utils.data.DataLoader):
            self._loader = x
            self.num_batches = _safe_len(x)
        elif isinstance(x, torch.utils.data.Dataset):
            is_map = hasattr(x, "__getitem__") and not isinstance(
                x, torch.utils.data.IterableDataset)
            self._loader = torch.utils.data.DataLoader(
                x, batch_size=batch_size or 32, shuffle=bool(shuffle) and is_map,
                pin_memory=self.device.type == "cuda")
            self.num_batches = _safe_len(self._loader)
        else:
            self._generator = x
            self.num_batches = None

    def iter_batches(self, start_batch=0):
        if self._pydataset is not None:
            source = self._pydataset.iter_batches(shuffle=bool(self.shuffle))
        elif self._loader is not None:
            source = iter(self._loader)
        else:
            source = self._generator
        for i, batch in enumerate(source):
            if i < start_batch:
                continue
            if isinstance(batch, list):
                batch = tuple(batch)
            if not isinstance(batch, tuple):
                batch = (batch,)
            yield to_device(batch, self.device, self._non_blocking)

    def peek(self):
        """A first batch (to build the model), leaving the data stream as it was."""
        if self._pydataset is not None:
            batch = self._pydataset[0]
        elif self._loader is not None:
            batch = next(iter(self._loader))
        else:
            self._generator = iter(self._generator)
            batch = next(self._generator)
            self._generator = itertools.chain([batch], self._generator)
        batch = tuple(batch) if isinstance(batch, (list, tuple)) else (batch,)
        return to_device(batch, self.device)

    def order_state(self):
        return None

    def set_order_state(self, perm):
        pass

    def on_epoch_begin(self):
        if self._pydataset is not None:
            self._pydataset.on_epoch_begin()

    def on_epoch_end(self):
        if self._pydataset is not None:
            self._pydataset.on_epoch_end()


def _safe_len(obj):
    try:
        return len(obj)
    except TypeError:
        return None


def get_adapter(x, y=None, sample_weight=None, batch_size=None, steps=None, shuffle=False,
                class_weight=None, device=None):
    if is_array_data(x):
        return ArrayAdapter(x, y, sample_weight, batch_size=batch_size, steps=steps,
                            shuffle=shuffle, class_weight=class_weight, device=device)
    if y is not None:
        raise ValueError(
            "When providing `x` as a torch DataLoader/Dataset, a generator or a PyDataset, `y` "
            f"should not be passed. Instead, the targets should be included as part of `x`. "
            f"Received: y={type(y).__name__}"
        )
    if sample_weight is not None:
        raise ValueError(
            "`sample_weight` argument is not supported when using a DataLoader, a generator or "
            "a PyDataset. Instead, provide the sample weights as the third element of `x`."
        )
    if class_weight is not None:
        raise ValueError("`class_weight` is only supported for in-memory array inputs.")
    from tkeras.fit.pydataset import PyDataset

    if not (isinstance(x, (torch.utils.data.Dataset, PyDataset)) or hasattr(x, "__iter__")
            or hasattr(x, "__next__")):
        raise ValueError(f"Unrecognized data type: x={x!r} (of type {type(x).__name__})")
    return IterableAdapter(x, batch_size=batch_size, shuffle=shuffle, device=device)


class EpochIterator:
    """Yields `(step, batch)` for one epoch, following Keras's `steps_per_epoch` rules."""

    def __init__(self, adapter, steps_per_epoch=None):
        self.adapter = adapter
        self.steps_per_epoch = steps_per_epoch
        self._iterator = None
        self._steps_seen = 0
        self._start_batch = 0

    @property
    def num_batches(self):
        return self.steps_per_epoch or self.adapter.num_batches

    def reset(self):
        """Start the data over and end the current epoch of the source (Keras's
        `EpochIterator.reset`)."""
        self._iterator = None
        self._steps_seen = 0
        self.adapter.on_epoch_end()

    def resume_at(self, batch):
        """Start the next epoch at `batch` of the current data order (BackupAndRestore)."""
        self._start_batch = batch

    def _warn(self):
        warnings.warn(
            "Your input ran out of data; interrupting training. Make sure that your dataset or "
            "generator can generate at least `steps_per_epoch * epochs` batches. You may need "
            "to use the `.repeat()` function when building your dataset.", stacklevel=3)

    def __iter__(self):
        start = self._start_batch
        self._start_batch = 0
        if self.steps_per_epoch is None:
            yield from enumerate(self.adapter.iter_batches(start), start)
            self.adapter.on_epoch_end()
            return
        if self._iterator is None:
            self._iterator = self.adapter.iter_batches(start)
            self._steps_seen = start
        total = self.adapter.num_batches
        for step in range(self.steps_per_epoch):
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = None
                self.adapter.on_epoch_end()
                self._warn()
                return
            self._steps_seen += 1
            yield step, batch
            if total and self._steps_seen >= total:
                self._iterator = None
                self.adapter.on_epoch_end()
                if step + 1 < self.steps_per_epoch:
                    self._warn()
                    return
