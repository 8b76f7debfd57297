"""tkeras: Keras 3 on PyTorch. `import tkeras as keras`."""

__version__ = "0.1.0"

from tkeras.core import config as _config  # noqa: E402  (reads keras.json first)
from tkeras.core.dtype_policies import DTypePolicy  # noqa: E402
from tkeras.core.dtype_policies import DTypePolicy as FloatDTypePolicy  # noqa: E402
from tkeras.core.variables import KerasVariable as Variable  # noqa: E402
from tkeras.layers.layer import InputSpec  # noqa: E402
from tkeras.layers.layer import Layer  # noqa: E402
from tkeras.layers.input_layer import Input  # noqa: E402
from tkeras.model.keras_tensor import KerasTensor  # noqa: E402
from tkeras.model.model import Model  # noqa: E402
from tkeras.model.functional import Functional  # noqa: E402
from tkeras.model.sequential import Sequential  # noqa: E402
from tkeras.core.initializers import Initializer  # noqa: E402
from tkeras.core.regularizers import Regularizer  # noqa: E402
from tkeras.core.scopes import device  # noqa: E402
from tkeras.core.scopes import name_scope  # noqa: E402
from tkeras.core.scopes import remat  # noqa: E402
from tkeras.core.scopes import RematScope  # noqa: E402
from tkeras.core.stateless_scope import StatelessScope  # noqa: E402
from tkeras.core.symbolic_scope import SymbolicScope  # noqa: E402
from tkeras.fit.losses import Loss  # noqa: E402
from tkeras.fit.metrics import Metric  # noqa: E402
from tkeras.fit.optimizers.base import Optimizer  # noqa: E402
from tkeras import activations  # noqa: E402
from tkeras import applications  # noqa: E402
from tkeras import backend  # noqa: E402
from tkeras import callbacks  # noqa: E402
from tkeras import config  # noqa: E402
from tkeras import constraints  # noqa: E402
from tkeras import datasets  # noqa: E402
from tkeras import distillation  # noqa: E402
from tkeras import distribution  # noqa: E402
from tkeras import dtype_policies  # noqa: E402
from tkeras import initializers  # noqa: E402
from tkeras import layers  # noqa: E402
from tkeras import legacy  # noqa: E402
from tkeras import losses  # noqa: E402
from tkeras import metrics  # noqa: E402
from tkeras import mixed_precision  # noqa: E402
from tkeras import models  # noqa: E402
from tkeras import ops  # noqa: E402
from tkeras import optimizers  # noqa: E402
from tkeras import preprocessing  # noqa: E402
from tkeras import quantizers  # noqa: E402
from tkeras import random  # noqa: E402
from tkeras import regularizers  # noqa: E402
from tkeras import saving  # noqa: E402
from tkeras import tree  # noqa: E402
from tkeras import utils  # noqa: E402
from tkeras import visualization  # noqa: E402
from tkeras import wrappers  # noqa: E402
from tkeras.ops import Operation  # noqa: E402
from tkeras.ops.function import Function  # noqa: E402
from tkeras.quantizers import Quantizer  # noqa: E402


def version():
    return __version__
