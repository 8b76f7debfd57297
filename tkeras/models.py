"""`tkeras.models`: Model, Sequential, clone_model, load_model, save_model, model_from_json."""

from tkeras.model.cloning import clone_model
from tkeras.model.functional import Functional
from tkeras.model.model import Model
from tkeras.model.sequential import Sequential
from tkeras.model.serialization import model_from_json


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    from tkeras.saving import load_model as _load_model

    return _load_model(filepath, custom_objects=custom_objects, compile=compile,
                       safe_mode=safe_mode)


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    from tkeras.saving import save_model as _save_model

    return _save_model(model, filepath, overwrite=overwrite, zipped=zipped, **kwargs)


__all__ = ["Model", "Sequential", "Functional", "clone_model", "load_model", "save_model",
           "model_from_json"]
