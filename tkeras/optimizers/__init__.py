"""`tkeras.optimizers`: Keras 3's optimizers (implemented in `tkeras.fit.optimizers`)."""

from tkeras.fit.optimizers import (
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Ftrl,
    Lamb,
    Lion,
    LossScaleOptimizer,
    MultiOptimizer,
    Muon,
    Nadam,
    Optimizer,
    OptimizerMap,
    RMSprop,
    ScheduleFreeAdamW,
    deserialize,
    get,
    serialize,
)
from tkeras.optimizers import legacy, schedules
