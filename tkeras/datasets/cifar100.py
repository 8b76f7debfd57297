"""`keras.datasets.cifar100`: refused (the CIFAR python batches are pickles)."""

from tkeras.datasets._common import refuse_pickle


def load_data(label_mode="fine"):
    """Raises ValueError: the CIFAR-100 batches are pickled dicts, which tkeras never loads."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError('`label_mode` must be one of `"fine"`, `"coarse"`. '
                         f"Received: label_mode={label_mode}.")
    raise refuse_pickle("cifar100", "pickled Python dicts (cifar-100-python.tar.gz)")
