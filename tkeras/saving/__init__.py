"""`tkeras.saving`: Keras 3's saving API on Keras's own file formats.

`save_model`/`load_model`: `.keras` zip (or its directory form with `zipped=False`), legacy
`.h5`/`.hdf5`. `save_weights`/`load_weights`: `.weights.h5`, legacy `.h5`/`.hdf5` (with
`by_name`/`skip_mismatch`), `.keras` (load only), `.safetensors` and Keras's sharded
`.weights.json` (`max_shard_size`). Every loader treats the file as hostile (see
`tkeras.compat.safety`); every save is atomic.

Deliberate differences from Keras: `overwrite=False` on an existing path raises
`FileExistsError` instead of prompting; `save_weights` also writes legacy `.h5` (tf.keras 2
layout) and `.safetensors`; `safe_mode=False` still never executes Lambda bytecode.
"""

import functools
import os
import struct
import warnings
import zipfile

from tkeras.compat import keras_zip
from tkeras.compat import legacy_h5
from tkeras.compat import safetensors_io
from tkeras.compat import sharded_h5
from tkeras.compat import weights_h5
from tkeras.compat.safety import FileFormatError
from tkeras.compat.safety import UnsafeFileError
from tkeras.compat.safety import WeightsMismatchError
from tkeras.core.registry import CustomObjectScope
from tkeras.compat import safety
from tkeras.core import registry
from tkeras.core.registry import custom_object_scope
from tkeras.core.registry import get_custom_objects
from tkeras.core.registry import get_registered_name
from tkeras.core.registry import get_registered_object
from tkeras.core.registry import register_keras_serializable
from tkeras.core.registry import serialize_keras_object
from tkeras.saving.file_editor import KerasFileEditor

_LEGACY = (".h5", ".hdf5")
# What parsing libraries raise on corrupted bytes; loaders turn these into `FileFormatError`.
_PARSE_ERRORS = (OSError, RuntimeError, KeyError, IndexError, TypeError, EOFError, struct.error,
                 zipfile.BadZipFile, UnicodeDecodeError, RecursionError, OverflowError,
                 MemoryError)


def _file_errors(fn):
    """Corrupted input raises `FileFormatError` (a ValueError), never a library error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FileNotFoundError:
            raise
        except _PARSE_ERRORS as e:
            raise FileFormatError(f"Could not load the file: {type(e).__name__}: {e}") from e

    return wrapper


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """Keras's `deserialize_keras_object` (through tkeras's registry only).

    A layer or model config holds no weights, so nothing bounds the tensors its build creates:
    creating more than `tkeras.compat.safety.MAX_CONFIG_BUILD_BYTES` (the machine's memory) is
    refused with an `UnsafeFileError` (a ValueError) naming the layer, before allocating.
    """
    with safety.config_budget():
        return registry.deserialize_keras_object(config, custom_objects=custom_objects,
                                                 safe_mode=safe_mode, **kwargs)


def _check_overwrite(filepath, overwrite):
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Save `model` as `.keras` (zip, or a directory with `zipped=False`) or legacy `.h5`."""
    include_optimizer = kwargs.pop("include_optimizer", True)
    save_format = kwargs.pop("save_format", False)
    filepath = os.fspath(filepath)
    if save_format and not filepath.endswith(_LEGACY + (".keras",)):
        raise ValueError("The `save_format` argument is deprecated in Keras 3. Please remove "
                         "this argument and pass a file path with either `.keras` or `.h5` "
                         f"extension. Received: save_format={save_format}")
    if kwargs:
        raise ValueError(f"The following argument(s) are not supported: {list(kwargs)}")
    if zipped is None:
        zipped = True
    _check_overwrite(filepath, overwrite)
    if zipped and filepath.endswith(".keras"):
        return keras_zip.save_keras(model, filepath)
    if not zipped:
        if filepath.endswith(".keras"):
            raise ValueError("When using `zipped=False`, the `filepath` argument should not end "
                             f"in `.keras`. Received: filepath={filepath}")
        return keras_zip.save_keras_dir(model, filepath)
    if filepath.endswith(_LEGACY):
        return legacy_h5.save_model_h5(model, filepath, include_optimizer=include_optimizer)
    raise ValueError("Invalid filepath extension for saving. Please add either a `.keras` "
                     "extension for the native Keras format (recommended) or a `.h5` extension. "
                     f"Received: filepath={filepath}.")


@_file_errors
def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a `.keras` file or directory, or a legacy `.h5` (Keras 3 or tf.keras 2)."""
    filepath = os.fspath(filepath)
    if os.path.isdir(filepath):
        if not os.path.exists(os.path.join(filepath, keras_zip.CONFIG)):
            raise ValueError(f"{filepath} is a directory without {keras_zip.CONFIG}.")
        return keras_zip.load_keras_dir(filepath, custom_objects, compile, safe_mode)
    if not os.path.exists(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an "
                         "accessible `.keras` zip file.")
    if filepath.endswith(".keras"):
        return keras_zip.load_keras(filepath, custom_objects, compile, safe_mode)
    if filepath.endswith(_LEGACY):
        return legacy_h5.load_model_h5(filepath, custom_objects, compile, safe_mode)
    raise ValueError(f"File format not supported: filepath={filepath}. tkeras loads `.keras` "
                     "files (or directories) and legacy `.h5`/`.hdf5` files.")


def save_weights(model, filepath, overwrite=True, max_shard_size=None, **kwargs):
    """Save weights as `.weights.h5` (Keras 3), `.h5`/`.hdf5` (legacy) or `.safetensors`.

    With `max_shard_size` (GB), Keras 3's sharded layout: a `.weights.json` index plus
    `<base>_NNNNN.weights.h5` shards next to it (a `.weights.h5` path becomes `.weights.json`).
    """
    filepath = os.fspath(filepath)
    if kwargs:
        raise ValueError(f"Invalid keyword arguments: {list(kwargs)}")
    if max_shard_size is not None and not filepath.endswith(("weights.h5", "weights.json")):
        raise ValueError("The filename must end in `.weights.json` when `max_shard_size` is "
                         f"specified. Received: filepath={filepath}")
    if not getattr(model, "built", True):
        raise ValueError("You are saving a model that has not yet been built. Try building the "
                         "model first by calling it on some data or by using `build()`.")
    _check_overwrite(filepath, overwrite)
    if max_shard_size is not None:
        sharded_h5.save_sharded(model, filepath, max_shard_size)
    elif filepath.endswith(".weights.h5"):
        from tkeras.compat import atomic

        import h5py

        with atomic.atomic_path(filepath) as tmp, h5py.File(tmp, "w") as f:
            weights_h5.save_to_h5(model, f)
    elif filepath.endswith(_LEGACY):
        legacy_h5.save_weights_h5(model, filepath)
    elif filepath.endswith(".safetensors"):
        safetensors_io.save_safetensors(model, filepath)
    else:
        raise ValueError("The filename must end in `.weights.h5` (or `.h5`, `.hdf5`, "
                         f"`.safetensors`). Received: filepath={filepath}")


@_file_errors
def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """Load weights from `.weights.h5`, `.keras`, legacy `.h5`/`.hdf5`, `.safetensors` or a
    sharded `.weights.json` index (its shards next to it).

    `by_name=True` (legacy files only) matches top-level layers by name. With
    `skip_mismatch=True`, what does not fit is skipped with a warning; otherwise a
    `WeightsMismatchError` lists every problem and the model is left unchanged.
    """
    filepath = os.fspath(filepath)
    objects_to_skip = kwargs.pop("objects_to_skip", None)
    by_name = kwargs.pop("by_name", None)
    if kwargs:
        raise ValueError(f"Invalid keyword arguments: {kwargs}")
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No such file: {filepath}")
    if by_name and not filepath.endswith(_LEGACY):
        raise ValueError("`by_name` only supports loading legacy '.h5' or '.hdf5' files. "
                         f"Received: {filepath}")
    if objects_to_skip is not None and not filepath.endswith((".weights.h5", ".weights.json")):
        raise ValueError("`objects_to_skip` only supports loading '.weights.h5' files. "
                         f"Received: {filepath}")
    if filepath.endswith(".weights.h5"):
        _load_weights_h5(model, filepath, skip_mismatch, objects_to_skip)
    elif filepath.endswith(".weights.json"):
        if objects_to_skip:
            warnings.warn("`objects_to_skip` is ignored by tkeras's loader; every object is "
                          "loaded.", stacklevel=3)
        sharded_h5.load_sharded(model, filepath, skip_mismatch=skip_mismatch)
    elif filepath.endswith(".keras"):
        _load_weights_from_keras(model, filepath, skip_mismatch)
    elif filepath.endswith(_LEGACY):
        legacy_h5.load_weights_h5(model, filepath, by_name=bool(by_name),
                                  skip_mismatch=skip_mismatch)
    elif filepath.endswith(".safetensors"):
        safetensors_io.load_safetensors(model, filepath, skip_mismatch=skip_mismatch)
    else:
        raise ValueError(f"File format not supported: filepath={filepath}. Use `.weights.h5`, "
                         "`.weights.json`, `.keras`, `.h5` or `.safetensors`.")


def _load_weights_h5(model, filepath, skip_mismatch, objects_to_skip):
    if objects_to_skip:
        warnings.warn("`objects_to_skip` is ignored by tkeras's loader; every object is loaded.",
                      stacklevel=3)
    with keras_zip.open_h5(filepath, filepath) as f, open(filepath, "rb") as raw:
        index = weights_h5.H5Index(f, raw=raw)  # checks the whole file first
        weights_h5.load_from_h5(model, f, filepath, skip_mismatch=skip_mismatch, index=index)


def _load_weights_from_keras(model, filepath, skip_mismatch):
    import zipfile

    with open(filepath, "rb") as fileobj:
        try:
            zf = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise FileFormatError(f"{filepath} is not a valid .keras zip archive: {e}") from e
        with zf:
            fileobj.seek(0, 2)
            keras_zip.check_archive(zf, filepath, fileobj.tell())
            if keras_zip.WEIGHTS not in zf.namelist():
                raise FileFormatError(f"{filepath} has no '{keras_zip.WEIGHTS}' member.")
            member = keras_zip.open_weights_member(zf, fileobj, filepath)
            with keras_zip.open_h5(member, filepath) as h5:
                index = weights_h5.H5Index(h5, raw=member)
                weights_h5.load_from_h5(model, h5, filepath, skip_mismatch=skip_mismatch,
                                        index=index)


__all__ = [
    "CustomObjectScope", "KerasFileEditor", "custom_object_scope", "deserialize_keras_object",
    "get_custom_objects", "get_registered_name", "get_registered_object", "load_model",
    "load_weights", "register_keras_serializable", "save_model", "save_weights",
    "serialize_keras_object", "FileFormatError", "UnsafeFileError", "WeightsMismatchError",
]
