"""Top-level Keras context helpers: `keras.device`, `keras.name_scope`, `keras.remat`."""

import contextlib

import torch

from tkeras.core.registry import keras_export


def _torch_device(device_name):
    """Keras device names ("cpu", "gpu:1", "cuda:0", "tpu") as a torch device."""
    name = str(device_name).lower()
    kind, _, index = name.partition(":")
    kind = {"gpu": "cuda"}.get(kind, kind)
    if kind == "tpu":
        from tkeras.parallel import xla

        return xla.device()
    return torch.device(f"{kind}:{index}" if index else kind)


@keras_export("keras.device")
@contextlib.contextmanager
def device(device_name):
    """Create tensors and variables on `device_name` ("cpu", "gpu:0", ...) inside the block
    (torch's default-device context)."""
    with _torch_device(device_name):
        yield


@keras_export("keras.name_scope")
class name_scope:
    """Prefix the paths of variables created inside the block: `name/layer/kernel` (Keras's
    name scopes; they nest)."""

    def __init__(self, name, **kwargs):
        if not isinstance(name, str) or "/" in name:
            raise ValueError(f"Invalid name scope {name!r}: a string without '/' is expected.")
        self.name = name

    def __enter__(self):
        from tkeras.layers.layer import CALL_STATE

        CALL_STATE.name_scope.append(self.name)
        return self

    def __exit__(self, *exc):
        from tkeras.layers.layer import CALL_STATE

        CALL_STATE.name_scope.pop()


@keras_export("keras.remat")
def remat(f):
    """`f` recomputed in the backward pass instead of keeping its activations
    (`torch.utils.checkpoint`, non-reentrant)."""

    def wrapped(*args, **kwargs):
        return torch.utils.checkpoint.checkpoint(f, *args, use_reentrant=False, **kwargs)

    return wrapped
