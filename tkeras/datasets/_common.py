"""Helpers shared by the `keras.datasets` loaders."""

import numpy as np

ORIGIN_FOLDER = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def refuse_pickle(dataset, contents):
    """The ValueError raised for a dataset whose files can only be read by unpickling."""
    return ValueError(
        f"tkeras does not load `{dataset}`: its files store {contents}, which can only be read "
        "by unpickling, and unpickling a downloaded file can run arbitrary code. tkeras never "
        "unpickles. Convert the data once, with a tool you trust, into an .npz of plain arrays "
        "and read it with `np.load(path, allow_pickle=False)`.")


def shuffled_train_test_split(x, y, test_split, seed):
    """Keras's regression-dataset split: shuffle with `RandomState(seed)`, then the first
    `int(n * (1 - test_split))` samples train."""
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def check_test_split(test_split):
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 "
                         "and 1 (exclusive of 1).")
