"""`keras.datasets.cifar10`: refused (the CIFAR python batches are pickles)."""

from tkeras.datasets._common import refuse_pickle


def load_data():
    """Raises ValueError: the CIFAR-10 batches are pickled dicts, which tkeras never loads."""
    raise refuse_pickle("cifar10", "pickled Python dicts (cifar-10-python.tar.gz)")
