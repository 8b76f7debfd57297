"""`keras.SymbolicScope`: marks the symbolic stage (a flag code can test)."""

import threading

from tkeras.core.registry import keras_export

_STATE = threading.local()


@keras_export("keras.SymbolicScope")
class SymbolicScope:
    """Scope to indicate the symbolic stage (`in_symbolic_scope()` is True inside it)."""

    def __enter__(self):
        self.original_scope = get_symbolic_scope()
        _STATE.scope = self
        return self

    def __exit__(self, *exc):
        _STATE.scope = self.original_scope


def get_symbolic_scope():
    return getattr(_STATE, "scope", None)


def in_symbolic_scope():
    return get_symbolic_scope() is not None
