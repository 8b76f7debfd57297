"""`keras.saving.KerasFileEditor`: inspect, edit and resave the weights of `.keras` and
`.weights.h5` files (Keras 3.15.1's methods, tree layout and printed text).

The file is read with tkeras's checked readers (`tkeras.compat.safety`: no pickle, links,
external storage, plugin filters, shape bombs or corrupt heaps; zip members checked), its config
is parsed but never instantiated, and `save` writes atomically (temporary file, then rename).

Deliberate differences: text is printed plainly (Keras prints through `rich`, whose styles do
not show outside a terminal); a bare name found once in the tree is accepted wherever it is
(Keras 3.15.1 miscounts a name as repeated when dictionaries follow it); bfloat16 weights keep
their `dtype` marker when resaved.
"""

import os
import pprint
import zipfile

import numpy as np

from tkeras.compat import atomic
from tkeras.compat import keras_zip
from tkeras.compat import safety
from tkeras.compat import weights_h5


class _Spec:
    """Shape and dtype of one weight of a reference model."""

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = dtype


class _SpecStore:
    """A `weights_h5.save_state` store recording the tree of weight specs a model writes."""

    def __init__(self):
        self.spec = {}

    def make(self, path, name):
        node = self.spec
        for part in path.split("/") if path else ():
            node = node.setdefault(part, {})
        return _SpecWriter(node)


class _SpecWriter:
    def __init__(self, node):
        self.node = node

    def __setitem__(self, key, value):
        self.node[key] = _Spec(value.shape, value.dtype)


def _tidy(spec):
    """Keras's spec order (own weights by sorted key, then children), without empty objects."""
    leaves = {k: spec[k] for k in sorted(k for k in spec if not isinstance(spec[k], dict))}
    children = {k: _tidy(v) for k, v in spec.items() if isinstance(v, dict)}
    return {**leaves, **{k: v for k, v in children.items() if v}}


def weight_spec(model):
    """The tree of `{name: spec}` that saving `model` to `.weights.h5` writes (`vars` elided)."""
    store = _SpecStore()
    weights_h5.save_state(model, store)
    return _tidy(store.spec)


class KerasFileEditor:
    """Inspect, edit and resave a `.keras` or `.weights.h5` file's weights.

    Args:
        filepath: the `.keras` or `.weights.h5` file to open.

    `weights_dict` is the weight tree (`{"layers": {"dense": {"0": array, "1": array}}}`),
    `object_metadata` the HDF5 attributes by group path, `config`/`metadata` the `.keras`
    file's `config.json`/`metadata.json` (None for `.weights.h5`).
    """

    def __init__(self, filepath):
        self.filepath = filepath
        self.metadata = None
        self.config = None
        self.model = None
        path = os.fspath(filepath)
        if path.endswith(".keras"):
            self.weights_dict, self.object_metadata = self._read_keras(path)
        elif path.endswith(".weights.h5"):
            with keras_zip.open_h5(path, path) as h5:
                self.weights_dict, self.object_metadata = _read_weights(h5, path)
        else:
            raise ValueError("Invalid filename: expected a `.keras` `.weights.h5` extension. "
                             f"Received: filepath={filepath}")
        print(self._generate_filepath_info())
        if self.metadata is not None:
            print(self._generate_metadata_info())

    def _read_keras(self, path):
        with open(path, "rb") as fileobj:
            try:
                zf = zipfile.ZipFile(fileobj)
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise safety.FileFormatError(f"{path} is not a valid .keras zip archive: "
                                             f"{e}") from e
            with zf:
                fileobj.seek(0, os.SEEK_END)
                keras_zip.check_archive(zf, path, fileobj.tell())
                names = set(zf.namelist())
                for member in (keras_zip.CONFIG, keras_zip.METADATA, keras_zip.WEIGHTS):
                    if member not in names:
                        raise safety.FileFormatError(f"{path} has no '{member}' member.")
                self.config = safety.parse_json(
                    keras_zip.read_member(zf, keras_zip.CONFIG, safety.MAX_CONFIG_BYTES, path),
                    f"{path}:{keras_zip.CONFIG}")
                self.metadata = safety.parse_json(
                    keras_zip.read_member(zf, keras_zip.METADATA, safety.MAX_CONFIG_BYTES,
                                          path), f"{path}:{keras_zip.METADATA}")
                if not isinstance(self.metadata, dict):
                    raise safety.FileFormatError(f"{path}:{keras_zip.METADATA} is not an "
                                                 "object.")
                member = keras_zip.open_weights_member(zf, fileobj, path)
                source = f"{path}:{keras_zip.WEIGHTS}"
                with keras_zip.open_h5(member, source) as h5:
                    return _read_weights(h5, source)

    # ------------------------------------------------------------------------- inspect

    def summary(self):
        """Prints the weight structure of the opened file."""
        print("Weights structure")
        self._print_weights_structure(self.weights_dict, prefix=" " * 2)

    def compare(self, reference_model):
        """Compares the opened file to `reference_model`, printing every mismatch.

        Returns `{"status": "success" | "error", "error_count": int, "match_count": int}`.
        """
        print("Running comparison")
        ref_spec = weight_spec(reference_model)
        checked_paths = set()
        error_count, match_count = self._compare(
            self.weights_dict, ref_spec, "", "saved file", "reference model", checked_paths)
        extra, _ = self._compare(ref_spec, self.weights_dict, "", "reference model",
                                 "saved file", checked_paths)
        error_count += extra
        print("─────────────────────")
        if error_count == 0:
            print("Comparison successful: saved file is compatible with the reference model")
            print(f"    Found {match_count} matching weight{'' if match_count == 1 else 's'}")
        else:
            print(f"Found {error_count} error{'' if error_count == 1 else 's'}: saved file is "
                  "not compatible with the reference model")
        return {"status": "success" if error_count == 0 else "error",
                "error_count": error_count, "match_count": match_count}

    def _compare(self, target, ref, base_path, target_name, ref_name, checked_paths,
                 error_count=0, match_count=0):
        # As Keras's: a nested call starts from the caller's counts and the caller adds what it
        # returns, so counts found before a nested object are counted again (Keras 3.15.1's
        # `match_count` and `error_count` are reproduced exactly).
        for key, ref_value in ref.items():
            path = f"{base_path}/{key}"
            if path in checked_paths:
                continue
            if key not in target:
                error_count += 1
                checked_paths.add(path)
                if isinstance(ref_value, dict):
                    print(f"...Object {path} present in {ref_name}, missing from {target_name}")
                    print(f"    In {ref_name}, {path} contains the following keys: "
                          f"{list(ref_value.keys())}")
                else:
                    print(f"...Weight {path} present in {ref_name}, missing from {target_name}")
            elif isinstance(ref_value, dict):
                errors, matches = self._compare(target[key], ref_value, path, target_name,
                                                ref_name, checked_paths, error_count,
                                                match_count)
                error_count += errors
                match_count += matches
            elif tuple(target[key].shape) != tuple(ref_value.shape):
                error_count += 1
                checked_paths.add(path)
                print(f"...Weight shape mismatch for {path}\n"
                      f"    In {ref_name}: shape={tuple(ref_value.shape)}\n"
                      f"    In {target_name}: shape={tuple(target[key].shape)}")
            else:
                match_count += 1
        return error_count, match_count

    # ------------------------------------------------------------------------- edit

    def _edit_object(self, edit_fn, source_name, target_name=None):
        if target_name is not None and "/" in target_name:
            raise ValueError("Argument `target_name` should be a leaf name, not a full path "
                             f"name. Received: target_name='{target_name}'")
        if "/" in source_name:
            *parents, leaf = source_name.split("/")
            weights_dict = self.weights_dict
            for part in parents:
                if part not in weights_dict:
                    raise ValueError(f"Path '{source_name}' not found in model.")
                weights_dict = weights_dict[part]
            if leaf not in weights_dict:
                raise ValueError(f"Path '{source_name}' not found in model.")
            edit_fn(weights_dict, source_name=leaf, target_name=target_name)
            return
        holders = []

        def find(d):
            for value in d.values():
                if isinstance(value, dict):
                    find(value)
            if source_name in d:
                holders.append(d)

        find(self.weights_dict)
        if len(holders) > 1:
            raise ValueError(f"Name '{source_name}' occurs more than once in the model; try "
                             "passing a complete path")
        if not holders:
            raise ValueError(f"Source name '{source_name}' does not appear in the model. Use "
                             "`editor.weights_summary()` to list all objects.")
        edit_fn(holders[0], source_name=source_name, target_name=target_name)

    def rename_object(self, object_name, new_name):
        """Rename an object (name or path, e.g. `"dense_2"` or `"layers/dense_2"`)."""

        def rename_fn(weights_dict, source_name, target_name):
            weights_dict[target_name] = weights_dict.pop(source_name)

        self._edit_object(rename_fn, object_name, new_name)

    def delete_object(self, object_name):
        """Remove an object (name or path) and all its weights."""

        def delete_fn(weights_dict, source_name, target_name=None):
            weights_dict.pop(source_name)

        self._edit_object(delete_fn, object_name)

    def add_object(self, object_path, weights):
        """Add an object at `object_path` (e.g. `"layers/dense_2"`) with `weights`, a dict of
        weight name to array (e.g. `{"0": kernel, "1": bias}`)."""
        _check_weights(weights)
        weights_dict = self.weights_dict
        *parents, leaf = object_path.split("/")
        for part in parents:
            if part not in weights_dict:
                raise ValueError(f"Path '{'/'.join(parents)}' not found in model.")
            weights_dict = weights_dict[part]
        weights_dict[leaf] = weights

    def delete_weight(self, object_name, weight_name):
        """Remove the weight `weight_name` (e.g. `"0"`) of an object (name or path)."""

        def delete_weight_fn(weights_dict, source_name, target_name=None):
            if weight_name not in weights_dict[source_name]:
                raise ValueError(f"Weight {weight_name} not found in object {object_name}. "
                                 f"Weights found: {list(weights_dict[source_name].keys())}")
            weights_dict[source_name].pop(weight_name)

        self._edit_object(delete_weight_fn, object_name)

    def add_weights(self, object_name, weights):
        """Add weights (dict of name to array) to an existing object (name or path)."""
        _check_weights(weights)

        def add_weight_fn(weights_dict, source_name, target_name=None):
            weights_dict[source_name].update(weights)

        self._edit_object(add_weight_fn, object_name)

    # ------------------------------------------------------------------------- save

    def save(self, filepath):
        """Write the edited weights to `filepath`, a `.weights.h5` file (atomically)."""
        filepath = str(filepath)
        if not filepath.endswith(".weights.h5"):
            raise ValueError("Invalid `filepath` argument: expected a `.weights.h5` extension. "
                             f"Received: filepath={filepath}")
        import h5py

        with atomic.atomic_path(filepath) as tmp, h5py.File(tmp, "w") as f:
            _write(f, self.weights_dict, "")

    def resave_weights(self, filepath):
        """Same as `save`."""
        self.save(filepath)

    # ------------------------------------------------------------------------- text

    def _generate_filepath_info(self, rich_style=False):
        return f"Keras model file '{self.filepath}'"

    def _generate_config_info(self, rich_style=False):
        return pprint.pformat(self.config)

    def _generate_metadata_info(self, rich_style=False):
        return (f"Saved with Keras {self.metadata.get('keras_version')} - date: "
                f"{self.metadata.get('date_saved')}")

    def _print_weights_structure(self, weights_dict, indent=0, is_first=True, prefix="",
                                 inner_path=""):
        # Keras's paths: `inner_path` accumulates over siblings, and metadata keys start with
        # "/", so object names from the file's attributes are looked up as Keras does.
        for idx, (key, value) in enumerate(weights_dict.items()):
            inner_path = os.path.join(inner_path, key)
            is_last = idx == len(weights_dict) - 1
            if is_first:
                is_first = False
                connector = "> "
            elif is_last:
                connector = "└─ "
            else:
                connector = "├─ "
            if isinstance(value, dict):
                label = f"{prefix}{connector}{key}"
                name = self.object_metadata.get(inner_path, {}).get("name")
                if name is not None:
                    label += f" ('{name}')"
                print(label)
                self._print_weights_structure(
                    value, indent + 1, is_first=is_first,
                    prefix=prefix + ("    " if is_last else "│   "), inner_path=inner_path)
            elif hasattr(value, "shape"):
                print(f"{prefix}{connector}{key}: shape={value.shape}, dtype={value.dtype}")
            else:
                print(f"{prefix}{connector}{key}: {value}")


def _check_weights(weights):
    if not isinstance(weights, dict):
        raise ValueError("Argument `weights` should be a dict where keys are weight names "
                         "(usually '0', '1', etc.) and values are NumPy arrays. "
                         f"Received: type(weights)={type(weights)}")


def _read_weights(h5, source):
    """`(weights tree, {group path: attributes})` of a checked `.weights.h5`, as Keras reads it:
    a group's `vars` subgroup holds its weights, empty groups are left out."""
    list(safety.walk_h5(h5))  # refuses links, cycles, deep nesting and unsafe datasets first
    import h5py

    metadata = {}

    def read(group, inner_path):
        attrs = {name: safety.read_attr(group, name, f"{source}:{inner_path or '/'}")
                 for name in group.attrs}
        if attrs:
            metadata[inner_path] = attrs
        result = {}
        for key in group.keys():
            path = f"{inner_path}/{key}"
            value = safety.h5_child(group, key, path)
            if isinstance(value, h5py.Group):
                if len(value) == 0:
                    continue
                if "vars" in value.keys():
                    value = safety.h5_child(value, "vars", f"{path}/vars")
                    if len(value) == 0:
                        continue
                result[key] = read(value, path)
            else:
                result[key] = _read_array(value, f"{source}:{path}")
        return result

    return read(h5, ""), metadata


def _read_array(ds, path):
    """The stored array; bfloat16 stays 2-byte raw data (`|V2`), as Keras's editor reads it."""
    try:
        return ds[()]
    except (OSError, RuntimeError, ValueError, TypeError) as e:
        raise safety.FileFormatError(f"HDF5 dataset '{path}' cannot be read: {e}") from e


def _write(f, weights_dict, inner_path):
    """Keras's layout: an object's weights go to `<path>/vars/<name>`."""
    leaves = {}
    for name, value in weights_dict.items():
        if isinstance(value, dict):
            if value:
                _write(f, value, os.path.join(inner_path, name))
        else:
            leaves[name] = value
    if leaves:
        group = f.create_group(weights_h5.vars_path(inner_path))
        for name, value in leaves.items():
            array = weights_h5.to_numpy(value)
            dataset = group.create_dataset(name, data=array)
            if array.dtype.kind == "V" and array.dtype.itemsize == 2:
                dataset.attrs["dtype"] = "bfloat16"
