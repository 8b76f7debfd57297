"""Legacy HDF5: Keras 3's `model.save("x.h5")` layout and tf.keras 2's `.h5` (full models and
weights-only files), read and written.

Layout: root attrs `backend`, `keras_version`, `model_config` (JSON), `training_config` (JSON,
only when compiled); group `model_weights` with attr `layer_names` (every `model.layers` name)
and one group per layer (attr `weight_names`, datasets at those names; `/` in a name makes
subgroups); `model_weights/top_level_model_weights`; `optimizer_weights` (attr `weight_names`).
A weights-only file (tf.keras 2 `save_weights("x.h5")`) has the `model_weights` content at the
root. Weight order per layer is Keras's legacy order: trainable, then non-trainable weights.
Attributes over 64512 bytes are split into `name0`, `name1`, ... (merged on read).

Loading: topological (layers with weights, in order; names ignored) or `by_name=True` (top-level
`model.layers[i].name` against `layer_names`; unmatched layers keep their values). tkeras checks
everything before assigning anything, reports every problem at once, and accepts tf.keras 2
training configs (`jit_compile`, `is_legacy_optimizer`, `Custom>Adam`) that Keras 3 rejects.
"""

import contextlib
import json
import os
import warnings

import numpy as np

from tkeras.compat import atomic
from tkeras.compat import keras_zip
from tkeras.compat import safety
from tkeras.compat import weights_h5
from tkeras.core import registry

HDF5_OBJECT_HEADER_LIMIT = 64512


def _h5py():
    import h5py

    return h5py


# ----------------------------------------------------------------------------- write


def legacy_weights(layer):
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _top_level_weights(model):
    own = list(model._trainable_variables) + list(model._non_trainable_variables)
    ids = {id(w) for w in model.weights}
    return [w for w in own if id(w) in ids]


def _legacy_entry(entry):
    """A Keras 3 serialized layer -> the legacy `{"class_name", "config"}` form Keras 3 writes."""
    if not isinstance(entry, dict) or "class_name" not in entry:
        return entry
    result = {"class_name": entry.get("registered_name") or entry["class_name"]}
    if entry.get("registered_name") in ("Functional",):
        result["class_name"] = "Functional"
    config = entry.get("config")
    if isinstance(config, dict) and "layers" in config:
        config = dict(config, layers=[_legacy_entry(e) for e in config["layers"]])
    result["config"] = config
    for key in ("name", "inbound_nodes"):
        if key in entry:
            result[key] = entry[key]
    return result


def model_config(model):
    serialized = registry.serialize_keras_object(model)
    legacy = _legacy_entry(serialized)
    legacy["class_name"] = type(model).__name__
    return legacy


def training_config(model):
    compile_config = model.get_compile_config() if hasattr(model, "get_compile_config") else {}
    if not compile_config or getattr(model, "optimizer", None) is None:
        return None
    config = {k: v for k, v in compile_config.items() if k != "optimizer"}
    optimizer = model.optimizer
    config["optimizer_config"] = {"class_name": registry.get_registered_name(type(optimizer)),
                                  "config": optimizer.get_config()}
    return registry.serialize_keras_object(config)


def save_attributes(group, name, data):
    """Keras's `save_attributes_to_hdf5_group`: chunk lists over the header limit."""
    encoded = [x.encode("utf8") for x in data]
    too_big = [x for x in encoded if len(x) > HDF5_OBJECT_HEADER_LIMIT]
    if too_big:
        raise RuntimeError(f"Attributes larger than {HDF5_OBJECT_HEADER_LIMIT} bytes cannot be "
                           f"saved to HDF5: {too_big[:3]}")
    array = np.asarray(encoded)
    chunks = 1
    parts = np.array_split(array, chunks)
    while any(p.nbytes > HDF5_OBJECT_HEADER_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(array, chunks)
    if chunks > 1:
        for i, part in enumerate(parts):
            group.attrs[f"{name}{i}"] = part
    else:
        group.attrs[name] = array if encoded else np.asarray([], dtype="S1")


def _unique_names(weights):
    names, used = [], set()
    for w in weights:
        name = str(w.path)
        base, i = name, 1
        while name in used:
            name = f"{base}_{i}"
            i += 1
        used.add(name)
        names.append(name)
    return names


def _save_subset(group, weights):
    names = _unique_names(weights)
    save_attributes(group, "weight_names", names)
    for name, w in zip(names, weights):
        group.create_dataset(name, data=weights_h5.to_numpy(w))


def save_weights_to_group(group, model):
    from tkeras import __version__

    save_attributes(group, "layer_names", [layer.name for layer in model.layers])
    group.attrs["backend"] = b"torch"
    group.attrs["keras_version"] = keras_zip.KERAS_VERSION.encode()
    group.attrs["tkeras_version"] = __version__.encode()
    for layer in sorted(model.layers, key=lambda x: x.name):
        _save_subset(group.create_group(layer.name), legacy_weights(layer))
    _save_subset(group.create_group("top_level_model_weights"), _top_level_weights(model))


def save_model_h5(model, filepath, include_optimizer=True):
    """Keras 3's legacy `.h5` full-model layout (loadable by Keras 3)."""
    metadata = {"keras_version": keras_zip.KERAS_VERSION, "backend": "torch",
                "model_config": model_config(model)}
    train = training_config(model) if include_optimizer else None
    if train is not None:
        metadata["training_config"] = train
    with atomic.atomic_path(filepath) as tmp, _h5py().File(tmp, "w") as f:
        for key, value in metadata.items():
            f.attrs[key] = json.dumps(value).encode("utf8") if isinstance(value, dict) else value
        save_weights_to_group(f.create_group("model_weights"), model)
        optimizer = getattr(model, "optimizer", None)
        if include_optimizer and optimizer is not None and optimizer.variables:
            group = f.create_group("optimizer_weights")
            _save_subset(group, list(optimizer.variables))


def save_weights_h5(model, filepath):
    """tf.keras 2's weights-only `.h5` layout (Keras 3 reads it with `load_weights`)."""
    with atomic.atomic_path(filepath) as tmp, _h5py().File(tmp, "w") as f:
        save_weights_to_group(f, model)


# ----------------------------------------------------------------------------- read


@contextlib.contextmanager
def open_checked(filepath):
    """Open a legacy file and check all of it; yields `(h5py.File, {path: dataset})`.

    The walk checks every link and dataset once; readers then take datasets from the dict
    instead of checking each path again (a NASNetLarge file has ~3000 datasets).
    """
    source = os.fspath(filepath)
    with keras_zip.open_h5(source, source) as f:
        yield f, dict(safety.walk_h5(f))


def _checked(group, name, checked):
    """The dataset `name` (a '/'-separated path) under `group`, from the checked walk."""
    path = "/".join(p for p in f"{group.name}/{name}".split("/") if p)
    if path in checked:
        return checked[path]
    return safety.h5_get(group, name)  # a group, or missing: h5_get says which


def _weights_root(f, source):
    if "model_weights" in f:
        return safety.h5_get(f, "model_weights")
    if safety.read_attr(f, "layer_names", "/") is None and not any(
            k.startswith("layer_names") for k in f.attrs):
        raise safety.FileFormatError(f"{source} is neither a legacy Keras model file nor a "
                                     "legacy weights file (no 'model_weights', no "
                                     "'layer_names').")
    return f


def _read_subset(group, path, checked):
    names = safety.read_name_list(group, "weight_names", path)
    datasets = []
    for name in names:
        try:
            datasets.append((name, _checked(group, name, checked)))
        except KeyError as e:
            raise safety.FileFormatError(f"{path}: weight '{name}' is listed in weight_names "
                                         "but missing.") from e
    return datasets


def _plan_layer(layer, datasets, label, problems, plan, skip_mismatch):
    variables = legacy_weights(layer)
    if len(variables) != len(datasets):
        problems.append(
            f"- {label}: expects {len(variables)} weight(s) "
            f"{[f'{v.path}{tuple(v.shape)}' for v in variables]}, the file has "
            f"{len(datasets)} ({[f'{n}{tuple(d.shape)}' for n, d in datasets]}).")
        return
    bad = [f"weight '{v.path}' expects shape {tuple(v.shape)}, found {tuple(d.shape)} "
           f"('{n}')" for v, (n, d) in zip(variables, datasets) if tuple(v.shape) != tuple(
               d.shape)]
    if bad:
        problems.append(f"- {label}: " + "; ".join(bad) + ".")
        if skip_mismatch:  # Keras skips only the mismatching weights of the layer
            plan.extend((v, d, n) for v, (n, d) in zip(variables, datasets)
                        if tuple(v.shape) == tuple(d.shape))
        return
    plan.extend((v, d, n) for v, (n, d) in zip(variables, datasets))


def load_weights_from_group(model, group, source, checked, by_name=False, skip_mismatch=False):
    """Assign the weights of `group` (checked datasets `checked`, see `open_checked`)."""
    layer_names = safety.read_name_list(group, "layer_names", source)
    problems, plan, unexpected = [], [], []
    file_layers = []
    for name in layer_names:
        try:
            layer_group = safety.h5_get(group, name)
        except KeyError as e:
            raise safety.FileFormatError(f"{source}: layer group '{name}' is listed in "
                                         "layer_names but missing.") from e
        file_layers.append((name, _read_subset(layer_group, f"{source}:{name}", checked)))
    if by_name:
        index = {}
        for layer in model.layers:
            index.setdefault(layer.name, []).append(layer)
        for k, (name, datasets) in enumerate(file_layers):
            if name not in index and datasets:
                unexpected.append(name)
            for layer in index.get(name, []):
                _plan_layer(layer, datasets, f"layer #{k} '{layer.name}' ({type(layer).__name__})",
                            problems, plan, skip_mismatch)
        missing = [layer.name for layer in model.layers
                   if legacy_weights(layer) and layer.name not in dict(file_layers)]
        if missing:
            warnings.warn(f"by_name=True: no weights in {source} for layers {missing}; they keep "
                          "their current values.", stacklevel=3)
    else:
        model_layers = [layer for layer in model.layers if legacy_weights(layer)]
        saved = [(n, d) for n, d in file_layers if d]
        if len(saved) != len(model_layers):
            raise safety.WeightsMismatchError(
                f"Layer count mismatch when loading weights from {source}: the model has "
                f"{len(model_layers)} layers with weights {[l.name for l in model_layers]}, the "
                f"file has {len(saved)} {[n for n, _ in saved]}. Use by_name=True to match "
                "layers by name.")
        for k, ((name, datasets), layer) in enumerate(zip(saved, model_layers)):
            _plan_layer(layer, datasets, f"layer #{k} '{layer.name}' ({type(layer).__name__}, "
                        f"'{name}' in the file)", problems, plan, skip_mismatch)
    if "top_level_model_weights" in group:
        datasets = _read_subset(safety.h5_get(group, "top_level_model_weights"),
                                f"{source}:top_level_model_weights", checked)
        own = _top_level_weights(model)
        if len(own) != len(datasets) or any(
                tuple(v.shape) != tuple(d.shape) for v, (_, d) in zip(own, datasets)):
            problems.append(f"- top-level model weights: expects "
                            f"{[tuple(v.shape) for v in own]}, found "
                            f"{[tuple(d.shape) for _, d in datasets]}.")
        else:
            plan.extend((v, d, n) for v, (n, d) in zip(own, datasets))
    if problems:
        report = f"Weights in {source} do not fit the model:\n" + "\n".join(problems)
        if unexpected:
            report += f"\nLayers in the file with no model layer of that name: {unexpected}"
        if not skip_mismatch:
            raise safety.WeightsMismatchError(report)
        warnings.warn("Skipping mismatched weights (skip_mismatch=True).\n" + report,
                      stacklevel=3)
    values = [(v, safety.read_dataset(d, f"{source}:{n}")) for v, d, n in plan]
    for variable, value in values:
        weights_h5.assign(variable, value)


def load_weights_h5(model, filepath, by_name=False, skip_mismatch=False):
    source = os.fspath(filepath)
    with open_checked(source) as (f, checked):
        load_weights_from_group(model, _weights_root(f, source), source, checked, by_name=by_name,
                                skip_mismatch=skip_mismatch)


def _legacy_top_level(config):
    """Keras's `model_from_config` fix-ups on the top-level config."""
    inner = config.get("config")
    if isinstance(inner, dict):
        batch_input_shape = inner.pop("batch_input_shape", None)
        if batch_input_shape is not None:
            key = "batch_shape" if config["class_name"] == "InputLayer" else "input_shape"
            inner[key] = batch_input_shape
    return config


def _compile_args(training_config, custom_objects):
    """tf.keras 2 / Keras 3 `training_config` -> `compile()` keyword arguments."""
    optimizer = training_config.get("optimizer_config")
    if isinstance(optimizer, dict):
        optimizer = dict(optimizer)
        if isinstance(optimizer.get("class_name"), str):
            optimizer["class_name"] = optimizer["class_name"].split(">")[-1]
        inner = dict(optimizer.get("config") or {})
        for key in ("jit_compile", "is_legacy_optimizer", "decay"):
            inner.pop(key, None)
        optimizer["config"] = inner
    args = {"optimizer": optimizer}
    for key in ("loss", "metrics", "weighted_metrics", "loss_weights"):
        if key in training_config:
            args[key] = training_config[key]
    return args


def load_model_h5(filepath, custom_objects=None, compile=True, safe_mode=True):
    source = os.fspath(filepath)
    with open_checked(source) as (f, checked):
        raw = safety.read_attr(f, "model_config", "/")
        if raw is None:
            raise safety.FileFormatError(f"No model config found in the file at {source}.")
        config = safety.parse_json(raw, f"{source}@model_config")
        if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
            raise safety.FileFormatError(f"{source}@model_config is not a Keras model config.")
        safety.check_config(config, custom_objects, safe_mode, where=f"{source}@model_config")
        train = None
        if compile:
            raw_train = safety.read_attr(f, "training_config", "/")
            if raw_train is not None:
                train = safety.parse_json(raw_train, f"{source}@training_config")
                if not isinstance(train, dict):
                    raise safety.FileFormatError(f"{source}@training_config is not an object.")
                train = _compile_args(train, custom_objects)
                safety.check_config(train, custom_objects, safe_mode,
                                    where=f"{source}@training_config")
        keras_zip._strip_compile_configs(config)
        datasets = [ds for path, ds in checked.items() if path.startswith("model_weights/")]
        model = keras_zip.build_model(_legacy_top_level(config), custom_objects, safe_mode,
                                      source, safety.build_budget(datasets))
        load_weights_from_group(model, safety.h5_get(f, "model_weights"), source, checked)
        if train is not None:
            _compile_and_restore_optimizer(model, f, train, custom_objects, source, checked)
    return model


def _compile_and_restore_optimizer(model, f, train, custom_objects, source, checked):
    if not hasattr(model, "compile"):
        warnings.warn("The file has a training config, but this tkeras build has no "
                      "`Model.compile`: the model was loaded uncompiled.", stacklevel=3)
        return
    with registry.CustomObjectScope(custom_objects or {}):
        model.compile(**train)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or "optimizer_weights" not in f:
        return
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    datasets = _read_subset(safety.h5_get(f, "optimizer_weights"), f"{source}:optimizer_weights",
                            checked)
    variables = list(optimizer.variables)
    if len(datasets) != len(variables) or any(
            tuple(v.shape) != tuple(d.shape) for v, (_, d) in zip(variables, datasets)):
        warnings.warn(f"The optimizer state in {source} ({len(datasets)} variables) does not fit "
                      f"the optimizer ({len(variables)} variables): the optimizer starts fresh.",
                      stacklevel=3)
        return
    optimizer.load_saved_variables(
        [safety.read_dataset(d, f"{source}:{n}") for n, d in datasets])
