"""`text_dataset_from_directory`: a batched dataset of `.txt` file contents (and labels).

Keras behaviour kept: arguments, defaults and checks; files indexed as Keras does (same order,
labels, `class_names`, and `validation_split` subsets for a seed); labels encoded as in
`image_dataset_from_directory`; the dataset has `class_names`.

Deliberate differences: returns a `BatchDataset` whose text batches are NumPy object arrays of
Python `str` (files read as UTF-8; Keras's TensorFlow pipeline yields `tf.string` bytes), and
`max_length` keeps that many characters (Keras's TensorFlow path counts bytes, its TF-free path
characters; they agree on ASCII). `format` is checked and otherwise ignored. With `shuffle=True`
the first epoch follows the NumPy-shuffled file order (Keras shuffles once more in a TensorFlow
buffer).
"""

import numpy as np

from tkeras.utils import dataset_utils


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                batch_size=32, max_length=None, shuffle=True, seed=None,
                                validation_split=None, subset=None, follow_links=False,
                                format="tf", verbose=True):
    """Text files from the class subdirectories of `directory`; `subset="both"` returns
    `[training, validation]`."""
    dataset_utils.check_labels_args(labels, label_mode, class_names, "text")
    dataset_utils.check_format_arg(format)
    if labels is None or label_mode is None:
        labels = None
        label_mode = None
    dataset_utils.check_validation_split_arg(validation_split, subset, shuffle, seed)
    file_paths, labels, class_names, seed = dataset_utils.index_labeled_files(
        directory, labels, label_mode, class_names, (".txt",), shuffle, seed, follow_links, verbose)

    def build(paths, part_labels, part_shuffle):
        encoded = (None if label_mode is None else dataset_utils.encode_labels(
            part_labels, label_mode, len(class_names)))

        def load_sample(i):
            with open(paths[i], encoding="utf-8") as f:
                text = f.read()
            if max_length is not None:
                text = text[:max_length]
            return text if encoded is None else (text, encoded[i])

        dataset = dataset_utils.BatchDataset(load_sample, len(paths), batch_size=batch_size,
                                             collate=_collate_text, shuffle=part_shuffle,
                                             seed=seed)
        dataset.class_names = class_names
        return dataset

    return dataset_utils.split_and_build(
        directory, file_paths, labels, validation_split, subset, shuffle, build,
        "text files", "Allowed format: .txt")


def _collate_text(samples):
    if isinstance(samples[0], tuple):
        texts, labels = zip(*samples)
        return _strings(texts), np.stack(labels)
    return _strings(samples)


def _strings(texts):
    array = np.empty(len(texts), dtype=object)
    array[:] = list(texts)
    return array
