"""`split_dataset`, directory indexing shared by the `*_dataset_from_directory` loaders, and
`BatchDataset`, the batched dataset they return.

Keras behaviour kept: `index_directory` lists files exactly as Keras does (class subdirectories
in sorted order, or `class_names` order; files sorted per directory walk; the global shuffle is
`np.random.RandomState(seed).shuffle` on paths and, with the same seed, on labels), so for the same
seed the same files land in the same `validation_split` subset. `split_dataset` follows Keras's
torch backend: arrays/lists/tuples become a `TensorDataset`, and the split is two
`torch.utils.data.Subset`s whose indices, with `shuffle=True` and a seed, are those of Keras's
`random_split(..., generator=torch.Generator().manual_seed(seed))`.

Deliberate differences:
- the loaders return a `BatchDataset` (a `keras.utils.PyDataset` of NumPy batches) instead of a
  `tf.data.Dataset`: tkeras does not use TensorFlow. See docs/data.md.
- `split_dataset(shuffle=False)` splits in order (left = the first samples, right = the last);
  Keras's torch path calls `random_split` even then, so its split is random whatever `shuffle`
  says. `preferred_backend` other than `None`/`"torch"` raises (no tf.data here).
"""

import math
import os

import numpy as np
import torch

from tkeras.fit.pydataset import PyDataset
from tkeras.utils.io_utils import print_msg


class BatchDataset(PyDataset):
    """A finite dataset of `num_samples` samples, yielded in batches of `batch_size`.

    `load_sample(i)` returns sample `i` (an array or a tuple of arrays); `collate(samples)`
    stacks a list of them into a batch (by default `np.stack` per tuple element). With
    `batch_size=None` single samples are yielded, as an unbatched `tf.data.Dataset` would.
    With `shuffle=True` the first epoch keeps the given sample order and every later epoch
    draws a new order from `np.random.RandomState(seed)` (Keras reshuffles a `tf.data` buffer
    each epoch; that order comes from TensorFlow's RNG and cannot be reproduced).
    """

    def __init__(self, load_sample, num_samples, batch_size=32, collate=None, shuffle=False,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self._load_sample = load_sample
        self._num_samples = num_samples
        self.batch_size = batch_size
        self._collate = collate or stack_samples
        self._order = np.arange(num_samples)
        self._shuffle = shuffle
        self._rng = np.random.RandomState(seed) if shuffle else None
        self._epochs_started = 0

    def __len__(self):
        if self.batch_size is None:
            return self._num_samples
        return math.ceil(self._num_samples / self.batch_size)

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"Batch index {index} out of range for {len(self)} batches.")
        if self.batch_size is None:
            return self._load_sample(self._order[index])
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        return self._collate([self._load_sample(i) for i in rows])

    def on_epoch_begin(self):
        if self._shuffle and self._epochs_started:
            self._order = self._rng.permutation(self._num_samples)
        self._epochs_started += 1


def stack_samples(samples):
    """A batch from a list of samples: `np.stack` of arrays, per element of tuple samples."""
    if isinstance(samples[0], tuple):
        return tuple(stack_samples(list(parts)) for parts in zip(*samples))
    return np.stack(samples)


def encode_labels(labels, label_mode, num_classes):
    """Per-sample labels as Keras's `labels_to_dataset` encodes them: int32 for `"int"`,
    float32 `(n, 1)` for `"binary"`, float32 one-hot for `"categorical"`."""
    labels = np.asarray(labels)
    if label_mode == "binary":
        return labels.astype("float32").reshape(-1, 1)
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[labels.astype("int64")]
    return labels.astype("int32")


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None,
                  preferred_backend=None):
    """Split `dataset` (a `torch.utils.data.Dataset`, a NumPy array, or a list/tuple of arrays
    of equal length) into two `torch.utils.data.Subset`s; sizes are counts (int) or fractions
    (float in `(0, 1)`), one may be `None` (the complement of the other)."""
    if preferred_backend not in (None, "torch"):
        raise ValueError(
            "tkeras splits datasets with torch only (it has no tf.data). Received: "
            f"preferred_backend={preferred_backend}")
    if isinstance(dataset, np.ndarray):
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(dataset))
    elif isinstance(dataset, (list, tuple)):
        dataset = torch.utils.data.TensorDataset(*[torch.from_numpy(x) for x in dataset])
    elif not isinstance(dataset, torch.utils.data.Dataset):
        raise TypeError(
            "The `dataset` argument must be a `torch.utils.data.Dataset` object, or a list/tuple "
            f"of arrays. Received: dataset={dataset} of type {type(dataset)}")
    if right_size is None and left_size is None:
        raise ValueError(
            "At least one of the `left_size` or `right_size` must be specified. "
            "Received: left_size=None and right_size=None")
    total_length = len(dataset)
    left_size, right_size = _rescale_dataset_split_sizes(left_size, right_size, total_length)
    if shuffle:
        generator = torch.Generator()
        if seed is not None:
            generator.manual_seed(seed)
        else:
            generator.seed()
        # Same draw as `torch.utils.data.random_split(dataset, [left, right], generator)`.
        order = torch.randperm(total_length, generator=generator).tolist()
    else:
        order = list(range(total_length))
    left = torch.utils.data.Subset(dataset, order[:left_size])
    right = torch.utils.data.Subset(dataset, order[total_length - right_size:])
    return left, right


def _rescale_dataset_split_sizes(left_size, right_size, total_length):
    """`(left_size, right_size)` as sample counts, with Keras's checks and messages."""
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and type(size) not in (int, float):
            raise TypeError(f"Invalid `{name}` Type. Expected: int or float or None, "
                            f"Received: type({name})={type(size)}.")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the "
                         "split sizes must be non-zero.")
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if (type(size) is int and (size <= 0 or size >= total_length)
                or type(size) is float and (size <= 0 or size >= 1)):
            raise ValueError(
                f"`{name}` should be either a positive integer smaller than {total_length}, "
                f"or a float within the range `[0, 1]`. Received: {name}={size}")
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must "
                         "be less than or equal to 1.")
    if type(left_size) is float:
        left_size = round(left_size * total_length)
    if type(right_size) is float:
        right_size = round(right_size * total_length)
    if left_size is None:
        left_size = total_length - right_size
    elif right_size is None:
        right_size = total_length - left_size
    if left_size + right_size > total_length:
        raise ValueError(
            f"The sum of `left_size` and `right_size` should be smaller than the {total_length}."
            f" Received: left_size + right_size = {left_size + right_size}"
            f"and total_length = {total_length}")
    for split, side in ((left_size, "left"), (right_size, "right")):
        if split == 0:
            raise ValueError(
                f"With `dataset` of length={total_length}, `left_size`={left_size} and "
                f"`right_size`={right_size}.Resulting {side} side dataset split will be empty. "
                "Adjust any of the aforementioned parameters")
    return int(left_size), int(right_size)


def index_labeled_files(directory, labels, label_mode, class_names, formats, shuffle, seed,
                        follow_links, verbose):
    """The loaders' common step, as each Keras loader writes it: draw a seed when none is given,
    index the files (`index_directory`), and check that `label_mode="binary"` has two classes.
    Returns `(file_paths, labels, class_names, seed)`."""
    if seed is None:
        seed = np.random.randint(1e6)
    file_paths, labels, class_names = index_directory(
        directory, labels, formats=formats, class_names=class_names, shuffle=shuffle, seed=seed,
        follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    return file_paths, labels, class_names, seed


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None,
                    follow_links=False, verbose=True):
    """`(file_paths, labels, class_names)` for the files of `directory` ending in `formats`.

    `labels="inferred"`: one class per subdirectory (sorted, or in `class_names` order);
    `None`: no labels; a list/tuple: one integer label per file in sorted path order.
    """
    if labels == "inferred":
        subdirs = []
        for subdir in sorted(os.listdir(directory)):
            if os.path.isdir(os.path.join(directory, subdir)) and not subdir.startswith("."):
                subdirs.append(subdir)
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(
                    "The `class_names` passed did not match the names of the subdirectories of "
                    f"the target directory. Expected: {subdirs} (or a subset of it), but "
                    f"received: class_names={class_names}")
            subdirs = class_names
    else:
        subdirs = [""]
        if class_names is not None:
            if labels is None:
                raise ValueError("When `labels=None` (no labels), argument `class_names` "
                                 "cannot be specified.")
            raise ValueError(
                "When argument `labels` is specified, argument `class_names` cannot be "
                "specified (the `class_names` will be the sorted list of labels).")
    class_names = subdirs
    filenames, inferred = [], []
    for index, subdir in enumerate(subdirs):
        names = index_subdirectory(os.path.join(directory, subdir), follow_links, formats)
        filenames += names
        inferred += [index] * len(names)

    if labels == "inferred":
        labels = np.array(inferred, dtype="int32")
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files in the target "
                f"directory. len(labels) is {len(labels)} while we found {len(filenames)} files "
                f"in directory {directory}.")
        class_names = [str(label) for label in sorted(set(labels))]
        labels = list(labels)  # shuffled below: Keras shuffles the caller's list in place
    if verbose:
        if labels is None:
            print_msg(f"Found {len(filenames)} files.")
        else:
            print_msg(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, fname) for fname in filenames]
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def iter_valid_files(directory, follow_links, formats):
    """`(root, fname)` of the files under `directory` ending in `formats` (case-insensitive),
    directories in sorted order, files sorted within each."""
    walk = os.walk(directory, followlinks=follow_links)
    for root, _, files in sorted(walk, key=lambda x: x[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                yield root, fname


def index_subdirectory(directory, follow_links, formats):
    """Paths of the valid files under `directory`, relative to its parent."""
    dirname = os.path.basename(directory)
    return [os.path.join(dirname, os.path.relpath(os.path.join(root, fname), directory))
            for root, fname in iter_valid_files(directory, follow_links, formats)]


def get_training_or_validation_split(samples, labels, validation_split, subset):
    """`(samples, labels)` restricted to the `"training"` (first) or `"validation"` (last
    `int(validation_split * n)`) part; unchanged without `validation_split`."""
    if not validation_split:
        return samples, labels
    num_val_samples = int(validation_split * len(samples))
    if subset == "training":
        print_msg(f"Using {len(samples) - num_val_samples} files for training.")
        samples = samples[:-num_val_samples]
        if labels is not None:
            labels = labels[:-num_val_samples]
    elif subset == "validation":
        print_msg(f"Using {num_val_samples} files for validation.")
        samples = samples[-num_val_samples:]
        if labels is not None:
            labels = labels[-num_val_samples:]
    else:
        raise ValueError(
            f'`subset` must be either "training" or "validation", received: {subset}')
    return samples, labels


def check_validation_split_arg(validation_split, subset, shuffle, seed):
    """Raise Keras's errors for invalid `validation_split`/`subset`/`seed` combinations."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(
            f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(
            "If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError('`subset` must be either "training", "validation" or "both", '
                         f"received: {subset}")
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "If using `validation_split` and shuffling the data, you must provide a `seed` "
            "argument, to make sure that there is no overlap between the training and "
            "validation subset.")


def check_labels_args(labels, label_mode, class_names, what):
    """Keras's checks of `labels`/`label_mode`/`class_names`; `what` names the files."""
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                "`labels` argument should be a list/tuple of integer labels, of the same size "
                f"as the number of {what} files in the target directory. If you wish to infer "
                "the labels from the subdirectory names in the target directory, pass "
                f'`labels="inferred"`. If you wish to get a dataset that only contains {what} '
                f"(no labels), pass `labels=None`. Received: labels={labels}")
        if class_names:
            raise ValueError(
                'You can only pass `class_names` if `labels="inferred"`. Received: '
                f"labels={labels}, and class_names={class_names}")
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError('`label_mode` argument must be one of "int", "categorical", "binary", '
                         f"or None. Received: label_mode={label_mode}")


def check_format_arg(format):
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')


def split_and_build(directory, paths, labels, validation_split, subset, shuffle, build, what,
                    allowed):
    """The dataset (or `[train, validation]` for `subset="both"`) built by `build(paths,
    labels, shuffle)` on the requested split; raises Keras's error when a split is empty
    (`what`: e.g. "images"; `allowed`: e.g. "Allowed format: .txt")."""
    if subset == "both":
        datasets = []
        for part, part_shuffle in (("training", shuffle), ("validation", False)):
            part_paths, part_labels = get_training_or_validation_split(
                paths, labels, validation_split, part)
            if not part_paths:
                raise ValueError(f"No {part} {what} found in directory {directory}. {allowed}")
            datasets.append(build(part_paths, part_labels, part_shuffle))
        return datasets
    paths, labels = get_training_or_validation_split(paths, labels, validation_split, subset)
    if not paths:
        raise ValueError(f"No {what} found in directory {directory}. {allowed}")
    return build(paths, labels, shuffle)
