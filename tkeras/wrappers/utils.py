"""Helpers of the scikit-learn wrappers (Keras's `wrappers/utils.py` and `wrappers/fixes.py`)."""

import numpy as np

try:
    import sklearn
    from sklearn.base import BaseEstimator
    from sklearn.base import TransformerMixin
except ImportError:
    sklearn = None

    class BaseEstimator:
        pass

    class TransformerMixin:
        pass


def assert_sklearn_installed(symbol_name):
    if sklearn is None:
        raise ImportError(
            f"{symbol_name} requires `scikit-learn` to be installed. "
            "Run `pip install scikit-learn` to install it."
        )


def _check_model(model):
    """The model must come compiled, with a loss and an optimizer."""
    if not model.compiled or not model.loss or not model.optimizer:
        raise RuntimeError(
            "Given model needs to be compiled, and have a loss and an optimizer."
        )


def _validate_data(estimator, *args, **kwargs):
    """`sklearn.utils.validation.validate_data` (scikit-learn >= 1.6), else the older
    `BaseEstimator._validate_data`."""
    try:
        from sklearn.utils.validation import validate_data
    except ImportError:
        return estimator._validate_data(*args, **kwargs)
    return validate_data(estimator, *args, **kwargs)


def type_of_target(y, input_name="", *, raise_unknown=False):
    """scikit-learn's `type_of_target`; with `raise_unknown`, "unknown" raises a ValueError."""
    from sklearn.utils.multiclass import type_of_target as sk_type_of_target

    target_type = sk_type_of_target(y, input_name=input_name)
    if raise_unknown and target_type == "unknown":
        raise ValueError(f"Unknown label type for {input_name or 'data'}: {y!r}")
    return target_type


def _routing_enabled():
    """Whether scikit-learn's metadata routing is enabled."""
    if sklearn is None:
        return False
    config = sklearn.get_config()
    if "enable_metadata_routing" in config:
        return config.get("enable_metadata_routing", False)
    return True  # scikit-learn >= 1.3 without the key, as Keras reads it


class TargetReshaper(TransformerMixin, BaseEstimator):
    """Makes 1-D targets 2-D (for encoders that take 2-D input) and back."""

    def fit(self, y):
        self.ndim_ = y.ndim
        return self

    def transform(self, y):
        if y.ndim == 1:
            return y.reshape(-1, 1)
        return y

    def inverse_transform(self, y):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        if self.ndim_ == 1 and y.ndim == 2:
            return np.squeeze(y, axis=1)
        return y
