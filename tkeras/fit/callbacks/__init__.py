"""Keras 3's callbacks (`keras.callbacks`)."""

from tkeras.fit.callbacks.callback import Callback, CallbackList, History
from tkeras.fit.callbacks.checkpoint import BackupAndRestore, ModelCheckpoint
from tkeras.fit.callbacks.misc import (
    CSVLogger,
    LambdaCallback,
    LearningRateScheduler,
    SwapEMAWeights,
    TerminateOnNaN,
)
from tkeras.fit.callbacks.monitor import EarlyStopping, MonitorCallback, ReduceLROnPlateau
from tkeras.fit.callbacks.progbar_logger import ProgbarLogger
from tkeras.fit.callbacks.remote_monitor import RemoteMonitor
from tkeras.fit.callbacks.tensorboard import TensorBoard

__all__ = [
    "BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
    "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "MonitorCallback",
    "ProgbarLogger", "ReduceLROnPlateau", "RemoteMonitor", "SwapEMAWeights", "TensorBoard",
    "TerminateOnNaN",
]
