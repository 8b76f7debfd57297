"""What the application builders share: the `weights` check and NASNet's name scopes.

tkeras downloads nothing, so `weights="imagenet"` raises (before any layer is built) with a
message saying what to pass instead; `weights=<path>` loads a local `.weights.h5` (or legacy
`.h5`, e.g. the file Keras caches in `~/.keras/models/`) with `model.load_weights`, as Keras
does after its download.
"""

import os

from tkeras.core.scopes import name_scope  # noqa: F401  (NASNet's Keras name scopes)

__all__ = ["check_weights", "name_scope"]


def check_weights(weights, name):
    """Raise unless `weights` is None or an existing local file (Keras also accepts "imagenet")."""
    if isinstance(weights, str) and weights == "imagenet":
        raise ValueError(
            f"{name}: weights='imagenet' needs a download, which tkeras never does. Pass "
            "`weights=None` (random initialization) or the path to a local weights file: a "
            "`.weights.h5` saved by Keras or tkeras, or the ImageNet `.h5` file Keras downloads "
            "into ~/.keras/models/ (copy it from a machine with Keras and network access)."
        )
    if weights is not None and not (isinstance(weights, (str, os.PathLike))
                                    and os.path.exists(weights)):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), 'imagenet' "
            "(pre-training on ImageNet), or the path to the weights file to be loaded.  "
            f"Received: weights={weights}"
        )
