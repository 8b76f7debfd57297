"""`keras.datasets.mnist`: 28x28 grayscale digits, from the cached `mnist.npz`."""

import numpy as np

from tkeras.datasets._common import ORIGIN_FOLDER
from tkeras.utils.file_utils import get_file

FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path="mnist.npz"):
    """`(x_train, y_train), (x_test, y_test)`: uint8 images `(n, 28, 28)`, uint8 labels."""
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}mnist.npz", file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
