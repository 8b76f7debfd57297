"""`tkeras.callbacks`: Keras's public callbacks (implemented in `tkeras.fit.callbacks`).

`experimental.BackupAndRestore` is kept for scripts written against Keras 2's FAQ.
"""

import types

from tkeras.fit.callbacks import (
    BackupAndRestore,
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    RemoteMonitor,
    SwapEMAWeights,
    TensorBoard,
    TerminateOnNaN,
)

experimental = types.SimpleNamespace(BackupAndRestore=BackupAndRestore)

__all__ = [
    "BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
    "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger",
    "ReduceLROnPlateau", "RemoteMonitor", "SwapEMAWeights", "TensorBoard", "TerminateOnNaN",
    "experimental",
]
