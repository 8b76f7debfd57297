"""Each process's share of the data for `fit`/`evaluate`/`predict`, and `predict`'s gather.

Keras's rule is kept: `batch_size` is the global batch; it must divide by the number of data
shards (the size of the batch mesh axis), and each shard gets `batch_size // shards` samples of
every global batch. Processes along the model axes get the same data.
- Arrays/tensors: shard `i` takes samples `i, i + shards, ...`, so its k-th local batch is its
  part of the k-th global batch (with `shuffle=False`, training equals one process on the full
  batch). Where every process must run the same number of steps (training; FSDP layers, whose
  forward is a collective), the samples are padded by repeating the first ones, as
  `DistributedSampler` does. With `shuffle=True` each process shuffles its own samples.
- A torch map-style `Dataset`: the same split, by index.
- A `DataLoader`, generator or `PyDataset`: every process reads every batch and keeps its slice
  (the source must yield the same batches in every process).
- `predict` splits contiguously, runs locally and gathers the results in order.
"""

import numpy as np
import torch
import torch.distributed as dist

from tkeras.fit import data as data_utils
from tkeras.fit.pydataset import PyDataset


def _leaf_len(x):
    for leaf in data_utils.flatten(x):
        if leaf is not None:
            return int(leaf.shape[0])
    raise ValueError("No array in the data.")


def _take(structure, index):
    def take(a):
        if a is None:
            return None
        if isinstance(a, torch.Tensor):
            return a[torch.as_tensor(index, device=a.device)]
        return np.asarray(a)[index]

    return data_utils.map_structure(take, structure)


def interleaved_indices(n, rank, size, pad):
    """Sample indices of shard `rank` of `size`: `rank, rank + size, ...` (padded to equal length)."""
    index = np.arange(n)
    if pad and n % size:
        index = np.concatenate([index, np.arange(size - n % size) % n])
    return index[rank::size]


def local_batch_size(batch_size, shards):
    batch_size = 32 if batch_size is None else int(batch_size)
    if batch_size % shards:
        raise ValueError("Global batch size must be divisible by the number of replicas. "
                         f"`global_batch_size`={batch_size} and `num_model_replicas`={shards}")
    return batch_size // shards


def _slice_batch(batch, rank, size):
    def piece(a):
        if a is None or not hasattr(a, "shape") or len(a.shape) == 0:
            return a
        return a[rank::size]

    return data_utils.map_structure(piece, batch)


class _SlicedIterable:
    """Every batch of `source`, keeping this shard's rows."""

    def __init__(self, source, rank, size):
        self.source, self.rank, self.size = source, rank, size

    def __iter__(self):
        for batch in self.source:
            yield _slice_batch(tuple(batch) if isinstance(batch, list) else batch, self.rank,
                               self.size)


class _SlicedPyDataset(PyDataset):
    """A `PyDataset` whose batches keep this shard's rows."""

    def __init__(self, inner, rank, size):
        super().__init__(workers=inner.workers, use_multiprocessing=inner.use_multiprocessing,
                         max_queue_size=inner.max_queue_size)
        self.inner, self.rank, self.size = inner, rank, size

    def __getitem__(self, index):
        return _slice_batch(self.inner[index], self.rank, self.size)

    @property
    def num_batches(self):
        return self.inner.num_batches

    def on_epoch_begin(self):
        self.inner.on_epoch_begin()

    def on_epoch_end(self):
        self.inner.on_epoch_end()


def is_map_dataset(x):
    return isinstance(x, torch.utils.data.Dataset) and not isinstance(
        x, torch.utils.data.IterableDataset) and hasattr(x, "__len__")


def shard_source(x, rank, size, pad):
    """This shard of a non-array source (`Dataset`, `DataLoader`, generator, `PyDataset`)."""
    if isinstance(x, PyDataset):
        return _SlicedPyDataset(x, rank, size)
    if is_map_dataset(x):
        return torch.utils.data.Subset(x, interleaved_indices(len(x), rank, size, pad).tolist())
    return _SlicedIterable(x, rank, size)


def shard_inputs(x, y, sample_weight, rank, size, pad):
    """`(x, y, sample_weight)` of shard `rank` of `size`."""
    if size == 1:
        return x, y, sample_weight
    if data_utils.is_array_data(x):
        index = interleaved_indices(_leaf_len(x), rank, size, pad)
        return _take(x, index), _take(y, index), _take(sample_weight, index)
    return shard_source(x, rank, size, pad), y, sample_weight


def shard_dataset(dataset, distribution):
    """`Distribution.distribute_dataset`: this process's share of a dataset/loader/generator."""
    from tkeras.parallel import runtime

    shards = distribution.num_model_replicas
    world = runtime.num_processes()
    rank = distribution.data_shard_id if shards < world else runtime.process_id()
    return shard_source(dataset, rank, min(shards, world), pad=True)


# ----------------------------------------------------------------------------- predict
def contiguous_block(x, rank, size, pad):
    """Samples `[rank * b, (rank + 1) * b)` with `b = ceil(n / size)` (padded: equal blocks)."""
    n = _leaf_len(x)
    block = -(-n // size)
    index = np.arange(rank * block, min((rank + 1) * block, n))
    if pad and len(index) < block:
        index = np.concatenate([index, np.zeros(block - len(index), dtype=index.dtype)])
    return _take(x, index), n


def contiguous_subset(dataset, rank, size):
    """Block `rank` of a map-style dataset (no padding: predict has no collective per step)."""
    n = len(dataset)
    block = -(-n // size)
    return torch.utils.data.Subset(dataset, range(rank * block, min((rank + 1) * block, n))), n


def gather_blocks(local, n, group):
    """Concatenate every shard's `local` result (numpy structures) in shard order; first `n`."""
    size = dist.get_world_size(group)
    parts = [None] * size
    dist.all_gather_object(parts, local, group=group)

    def cat(*leaves):
        return np.concatenate(leaves)[:n]

    return _zip_map(cat, parts)


def _zip_map(fn, parts):
    first = parts[0]
    if isinstance(first, dict):
        return {k: _zip_map(fn, [p[k] for p in parts]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_zip_map(fn, [p[i] for p in parts]) for i in range(len(first)))
    return fn(*parts)
