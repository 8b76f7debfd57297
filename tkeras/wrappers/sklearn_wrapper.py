"""scikit-learn estimators wrapping a compiled Keras model (or a function building one).

Keras 3 behaviour kept, quirks included: a `Model` instance is cloned (new weights) at every
`fit`, whatever `warm_start` says; `fit(**kwargs)` updates the `fit_kwargs` dict in place;
`sklearn.base.clone` keeps `model`, `warm_start` and `model_kwargs` but not `fit_kwargs`;
classifiers one-hot encode the target (`classes_` are the sorted labels) and `predict` decodes
the model's outputs by their argmax.
"""

import copy

import numpy as np

from tkeras.core.registry import keras_export
from tkeras.model.cloning import clone_model
from tkeras.model.model import Model
from tkeras.wrappers.utils import BaseEstimator
from tkeras.wrappers.utils import TargetReshaper
from tkeras.wrappers.utils import TransformerMixin
from tkeras.wrappers.utils import _check_model
from tkeras.wrappers.utils import _routing_enabled
from tkeras.wrappers.utils import _validate_data
from tkeras.wrappers.utils import assert_sklearn_installed
from tkeras.wrappers.utils import sklearn
from tkeras.wrappers.utils import type_of_target

if sklearn is not None:
    import sklearn.pipeline
    import sklearn.preprocessing
    from sklearn.base import ClassifierMixin
    from sklearn.base import RegressorMixin
else:
    class ClassifierMixin:
        pass

    class RegressorMixin:
        pass


def _check_is_fitted(estimator):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)


class SKLBase(BaseEstimator):
    """Base of the wrappers.

    Args:
        model: a compiled `Model` (cloned before fitting) or a callable `model(X=X, y=y,
            **model_kwargs)` returning a compiled model.
        warm_start: kept as a parameter (Keras does not use it when fitting).
        model_kwargs: keyword arguments for a callable `model`.
        fit_kwargs: keyword arguments for `model.fit` (those given to `fit` take precedence).
    """

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        assert_sklearn_installed(self.__class__.__name__)
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def _more_tags(self):
        return {"non_deterministic": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags

    def __sklearn_clone__(self):
        model = self.model if callable(self.model) else copy.deepcopy(self.model)
        return type(self)(model=model, warm_start=self.warm_start,
                          model_kwargs=self.model_kwargs)

    @property
    def epoch_(self):
        """The current training epoch."""
        return getattr(self, "history_", {}).get("epoch", 0)

    def set_fit_request(self, **kwargs):
        """Request parameters for scikit-learn's metadata routing (must be enabled)."""
        if not _routing_enabled():
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. You can "
                "enable it using sklearn.set_config(enable_metadata_routing=True)."
            )
        self._metadata_request = sklearn.utils.metadata_routing.MetadataRequest(
            owner=self.__class__.__name__)
        for param, alias in kwargs.items():
            self._metadata_request.score.add_request(param=param, alias=alias)
        return self

    def _get_model(self, X, y):
        if isinstance(self.model, Model):
            return clone_model(self.model)
        return self.model(X=X, y=y, **(self.model_kwargs or {}))

    def fit(self, X, y, **kwargs):
        """Fit a new model on `X` (n_samples, n_features) and `y`; `kwargs` go to
        `model.fit`."""
        X, y = _validate_data(self, X, y)
        y = self._process_target(y, reset=True)
        model = self._get_model(X, y)
        _check_model(model)
        fit_kwargs = self.fit_kwargs or {}
        fit_kwargs.update(kwargs)
        self.history_ = model.fit(X, y, **fit_kwargs)
        self.model_ = model
        return self

    def predict(self, X):
        _check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        return self._reverse_process_target(self.model_.predict(X))

    def _process_target(self, y, reset=False):
        """Regressors reshape 1-D targets to 2-D; classifiers one-hot encode."""
        type_of_target(y, raise_unknown=True)
        if reset:
            self._target_encoder = TargetReshaper().fit(y)
        return self._target_encoder.transform(y)

    def _reverse_process_target(self, y):
        return self._target_encoder.inverse_transform(y)


@keras_export("keras.wrappers.SKLearnClassifier")
class SKLearnClassifier(ClassifierMixin, SKLBase):
    """scikit-learn classifier around a Keras model (binary or multiclass targets, one-hot
    encoded for the model; `classes_` holds the labels)."""

    def decision_function(self, X):
        """The model's raw outputs."""
        _check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        return self.model_.predict(X)

    def _process_target(self, y, reset=False):
        target_type = type_of_target(y, raise_unknown=True)
        if target_type not in ["binary", "multiclass"]:
            raise ValueError(
                "Only binary and multiclass target types are supported."
                f" Target type: {target_type}"
            )
        if reset:
            self._target_encoder = sklearn.pipeline.make_pipeline(
                TargetReshaper(), sklearn.preprocessing.OneHotEncoder(sparse_output=False),
            ).fit(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) == 1:
                raise ValueError("Classifier can't train when only one class is present.")
        return self._target_encoder.transform(y)

    def _more_tags(self):
        return {"poor_score": True}  # scikit-learn < 1.6

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


@keras_export("keras.wrappers.SKLearnRegressor")
class SKLearnRegressor(RegressorMixin, SKLBase):
    """scikit-learn regressor around a Keras model."""

    def _more_tags(self):
        return {"poor_score": True}  # scikit-learn < 1.6

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags


@keras_export("keras.wrappers.SKLearnTransformer")
class SKLearnTransformer(TransformerMixin, SKLBase):
    """scikit-learn transformer whose `transform` is the fitted model's `predict`."""

    def transform(self, X):
        _check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        return self.model_.predict(X)

    def _more_tags(self):
        return {"preserves_dtype": []}  # scikit-learn < 1.6

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
