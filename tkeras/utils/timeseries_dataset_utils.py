"""`timeseries_dataset_from_array`: sliding windows over an array, batched.

Keras behaviour kept: the arguments, their checks and messages; window `k` starts at
`start_positions[k]` (`np.arange(0, num_seqs, sequence_stride)`, shuffled with
`np.random.RandomState(seed).shuffle` when `shuffle=True`) relative to `start_index` and holds
steps `start, start + sampling_rate, ...` (`sequence_length` of them); its target is
`targets[start_index:end_index][start]`. With `shuffle=False` batches are exactly Keras's.

Deliberate differences: returns a `BatchDataset` (NumPy batches, a `keras.utils.PyDataset`)
instead of a `tf.data.Dataset`; `format` is checked as in Keras and otherwise ignored. With
`shuffle=True` the first epoch follows the NumPy-shuffled start positions (Keras shuffles them
once more in a TensorFlow buffer, whose order cannot be reproduced): same windows, other order.
"""

import numpy as np
import torch

from tkeras.utils.dataset_utils import BatchDataset


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None, format="tf"):
    """Windows `data[start + i * sampling_rate]` (and `targets[start]`) for every window start,
    in batches of `batch_size` (`None`: single windows)."""
    if start_index:
        if start_index < 0:
            raise ValueError(
                f"`start_index` must be 0 or greater. Received: start_index={start_index}")
        if start_index >= len(data):
            raise ValueError(
                "`start_index` must be lower than the length of the data. Received: "
                f"start_index={start_index}, for data of length {len(data)}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                "`end_index` must be higher than `start_index`. Received: "
                f"start_index={start_index}, and end_index={end_index} ")
        if end_index >= len(data):
            raise ValueError(
                "`end_index` must be lower than the length of the data. Received: "
                f"end_index={end_index}, for data of length {len(data)}")
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value <= 0:
            raise ValueError(f"`{name}` must be higher than 0. Received: {name}={value}")
        if value >= len(data):
            raise ValueError(
                f"`{name}` must be lower than the length of the data. Received: "
                f"{name}={value}, for data of length {len(data)}")
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')

    start_index = start_index or 0
    if end_index is None:
        end_index = len(data)
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    start_positions = np.arange(0, num_seqs, sequence_stride)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(start_positions)

    steps = _as_numpy(data)[start_index:end_index]
    offsets = np.arange(sequence_length) * sampling_rate
    target_steps = None if targets is None else _as_numpy(targets)[start_index:end_index]

    def load_sample(k):
        window = steps[start_positions[k] + offsets]
        if target_steps is None:
            return window
        return window, target_steps[start_positions[k]]

    return BatchDataset(load_sample, len(start_positions), batch_size=batch_size,
                        shuffle=shuffle, seed=seed)


def _as_numpy(array):
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)
