"""`keras.datasets`: small NumPy datasets, read from the Keras cache.

Keras behaviour kept: each `load_data` finds its files where Keras's `get_file` puts them
(`$KERAS_HOME/datasets` or `~/.keras/datasets`, same file names and hashes) and downloads them
through `keras.utils.get_file` when missing; it returns the same arrays, splits and dtypes.

Deliberate difference: tkeras never unpickles. `mnist`, `fashion_mnist`, `boston_housing` and
`california_housing` (npz of plain arrays, gzip'd IDX files) load; `imdb.load_data`,
`reuters.load_data` (object arrays of lists) and `cifar10`/`cifar100` (pickled batches) raise a
ValueError that says why. `imdb.get_word_index`/`reuters.get_word_index` (JSON) and
`reuters.get_label_names` work.
"""

from tkeras.datasets import (  # noqa: F401
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

__all__ = ["boston_housing", "california_housing", "cifar10", "cifar100", "fashion_mnist",
           "imdb", "mnist", "reuters"]
