"""`keras.wrappers`: scikit-learn estimators around Keras models.

scikit-learn is optional (`pip install tkeras[sklearn]`). The estimator classes are defined on
first access (a module `__getattr__`), so `import tkeras` does not import scikit-learn; Keras
imports it eagerly. Without scikit-learn the classes still exist and their constructors raise
Keras's ImportError.
"""

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


def __getattr__(name):
    if name in __all__:
        from tkeras.wrappers import sklearn_wrapper

        return getattr(sklearn_wrapper, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
