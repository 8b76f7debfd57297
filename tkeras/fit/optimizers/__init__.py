"""Keras 3 optimizers on torch tensors, plus `get`/`serialize`/`deserialize`."""

from tkeras.core.registry import deserialize_keras_object, keras_export, serialize_keras_object
from tkeras.fit.optimizers import schedules
from tkeras.fit.optimizers.adadelta import Adadelta
from tkeras.fit.optimizers.adafactor import Adafactor
from tkeras.fit.optimizers.adagrad import Adagrad
from tkeras.fit.optimizers.adam import Adam, AdamW
from tkeras.fit.optimizers.adamax import Adamax
from tkeras.fit.optimizers.base import Optimizer
from tkeras.fit.optimizers.ftrl import Ftrl
from tkeras.fit.optimizers.lamb import Lamb
from tkeras.fit.optimizers.lion import Lion
from tkeras.fit.optimizers.legacy import LegacyOptimizerWarning
from tkeras.fit.optimizers.loss_scale_optimizer import LossScaleOptimizer
from tkeras.fit.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from tkeras.fit.optimizers.muon import Muon
from tkeras.fit.optimizers.nadam import Nadam
from tkeras.fit.optimizers.rmsprop import RMSprop
from tkeras.fit.optimizers.schedule_free_adamw import ScheduleFreeAdamW
from tkeras.fit.optimizers.sgd import SGD

ALL_OBJECTS = (Optimizer, Adam, SGD, RMSprop, Adadelta, AdamW, Adagrad, Adamax, Adafactor, Nadam,
               Ftrl, Lion, Lamb, LossScaleOptimizer, Muon, ScheduleFreeAdamW, MultiOptimizer,
               OptimizerMap)
ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in ALL_OBJECTS}


@keras_export("keras.optimizers.serialize")
def serialize(optimizer):
    """The optimizer's Keras config dict (`module`, `class_name`, `config`, ...)."""
    return serialize_keras_object(optimizer)


@keras_export("keras.optimizers.deserialize")
def deserialize(config, custom_objects=None):
    """An optimizer from its config; built-in class names are matched case-insensitively."""
    config = dict(config)
    if config["class_name"].lower() in ALL_OBJECTS_DICT:
        config["class_name"] = config["class_name"].lower()
    return deserialize_keras_object(config, custom_objects=custom_objects,
                                    module_objects=ALL_OBJECTS_DICT,
                                    printable_module_name="optimizers")


@keras_export("keras.optimizers.get")
def get(identifier):
    """An optimizer from a name (`"adam"`), a config dict, or an instance (returned as is)."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = deserialize({"class_name": identifier, "config": {}})
    else:
        obj = identifier
    if isinstance(obj, Optimizer):
        return obj
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
