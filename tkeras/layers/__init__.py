"""`tkeras.layers`: Keras 3's layers as torch modules (re-exported from the family packages)."""

from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer
from tkeras.layers.activations import *  # noqa: F401,F403
from tkeras.layers.attention import *  # noqa: F401,F403
from tkeras.layers.convolutional import *  # noqa: F401,F403
from tkeras.layers.core import *  # noqa: F401,F403
from tkeras.layers.merging import *  # noqa: F401,F403
from tkeras.layers.normalization import *  # noqa: F401,F403
from tkeras.layers.pooling import *  # noqa: F401,F403
from tkeras.layers.preprocessing import *  # noqa: F401,F403
from tkeras.layers.regularization import *  # noqa: F401,F403
from tkeras.layers.reshaping import *  # noqa: F401,F403
from tkeras.layers.rnn import *  # noqa: F401,F403
from tkeras.core.registry import deserialize_keras_object as _deserialize
from tkeras.core.registry import serialize_keras_object as serialize


def deserialize(config, custom_objects=None):
    return _deserialize(config, custom_objects=custom_objects, printable_module_name="layers")
