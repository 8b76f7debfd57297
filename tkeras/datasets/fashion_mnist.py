"""`keras.datasets.fashion_mnist`: 28x28 grayscale clothing images, from the cached gzip'd IDX
files in `datasets/fashion-mnist`."""

import gzip
import os

import numpy as np

from tkeras.datasets._common import ORIGIN_FOLDER
from tkeras.utils.file_utils import get_file

FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")


def load_data():
    """`(x_train, y_train), (x_test, y_test)`: uint8 images `(n, 28, 28)`, uint8 labels."""
    dirname = os.path.join("datasets", "fashion-mnist")
    paths = [get_file(fname, origin=ORIGIN_FOLDER + fname, cache_subdir=dirname)
             for fname in FILES]
    splits = []
    for labels_path, images_path in ((paths[0], paths[1]), (paths[2], paths[3])):
        with gzip.open(labels_path, "rb") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        with gzip.open(images_path, "rb") as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(len(labels), 28, 28)
        splits.append((images, labels))
    return tuple(splits)
