"""`keras.datasets.california_housing`: 8 features per block, house-value targets, from the
cached `california_housing.npz`."""

import numpy as np

from tkeras.datasets._common import ORIGIN_FOLDER, check_test_split, shuffled_train_test_split
from tkeras.utils.file_utils import get_file

FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """`(x_train, y_train), (x_test, y_test)`; `version="small"` keeps the first 600 samples."""
    check_test_split(test_split)
    path = get_file(path, origin=f"{ORIGIN_FOLDER}california_housing.npz",
                    file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    elif version != "large":
        raise ValueError("Argument `version` must be one of 'small', 'large'. "
                         f"Received: version={version}")
    return shuffled_train_test_split(x, y, test_split, seed)
