"""Keras 3 `.weights.h5` (also `model.weights.h5` inside `.keras`): the object-graph walk.

Paths come from walking the model like Keras's `saving_lib._save_state`: every saveable object
(a layer, a model, an optimizer) at path `P` writes its own variables to `P/vars/0..N-1` (group
attr `name` = the object's name; the group exists even when empty); Sequential/Functional first
visit `layers` (a list: `P/layers/<snake_class>[_N]`), then every attribute, sorted by name with
public names first, whose value is a saveable (`P/<attr>`) or a list/tuple/dict of them
(`P/<attr>/<snake_class>[_N]`, nested containers `container[_N]`). Objects already visited are
skipped (their name counters still advance, as in Keras).

Loading walks the tkeras model the same way, checks every variable against the file first
(missing, extra, count and shape mismatches are collected into one report) and assigns only when
everything fits, so a failed load leaves the model untouched.
"""

import warnings

import numpy as np
import torch
from torch import nn

from tkeras.compat import safety
from tkeras.core.registry import to_snake_case
from tkeras.layers.layer import Layer

_SKIPSETS = {}


def _is_optimizer(obj):
    from tkeras.fit.optimizers.base import Optimizer

    return isinstance(obj, Optimizer)


def is_saveable(obj):
    return isinstance(obj, Layer) or _is_optimizer(obj)


def _obj_type(obj):
    from tkeras.model.functional import Functional
    from tkeras.model.sequential import Sequential

    if isinstance(obj, Sequential):
        return "Sequential"
    if isinstance(obj, Functional):
        return "Functional"
    if _is_optimizer(obj):
        return "Optimizer"
    return "Layer"


def _skipset(obj_type):
    """Attribute names never walked: those of a bare object of the family (as Keras)."""
    if obj_type not in _SKIPSETS:
        if obj_type == "Optimizer":
            from tkeras.fit.optimizers.base import Optimizer

            names = set(dir(Optimizer(learning_rate=1.0, name="skipset_reference")))
            names.discard("variables")
        else:
            names = set(dir(Layer(name="skipset_reference")))
            if obj_type == "Functional":
                names |= {"operations", "_operations"}
            if obj_type == "Sequential":
                names |= {"_input_layer", "_functional"}
        _SKIPSETS[obj_type] = names
    return _SKIPSETS[obj_type]


def _name_key(name):
    return f"~{name}" if name.startswith("_") else name


def _attribute_names(obj, obj_type):
    names = set(vars(obj))
    if obj_type not in ("Sequential", "Functional"):
        names |= set(getattr(obj, "_modules", {}) or {})  # attribute-assigned sub-layers
    for klass in type(obj).__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, property):
                names.add(name)
    return names


def _children(obj):
    """`(attribute, value)` pairs in Keras's walk order."""
    obj_type = _obj_type(obj)
    skip = _skipset(obj_type)
    if obj_type in ("Sequential", "Functional"):
        yield "layers", obj.layers
    for name in sorted(_attribute_names(obj, obj_type), key=_name_key):
        if name.startswith("__") or name in skip:
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # a property that cannot be computed here is not state
            continue
        yield name, value


def _as_container(value):
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, nn.ModuleDict):
        return list(value.values())
    if isinstance(value, (list, tuple, nn.ModuleList, nn.Sequential)) and not is_saveable(value):
        return list(value)
    return None


def walk(model):
    """`[(path, object), ...]`: every saveable of `model`, at its Keras weights-file path."""
    entries = []
    visited = set()

    def visit(obj, path):
        if id(obj) in visited:
            return
        visited.add(id(obj))
        entries.append((path, obj))
        for attr, value in _children(obj):
            child_path = f"{path}/{attr}" if path else attr
            if is_saveable(value):
                visit(value, child_path)
            else:
                items = _as_container(value)
                if items is not None:
                    visit_container(items, child_path, set())

    def visit_container(items, path, seen_containers):
        if id(items) in seen_containers:
            return
        seen_containers.add(id(items))
        used = {}
        for item in items:
            if is_saveable(item):
                visit(item, f"{path}/{_unique(to_snake_case(type(item).__name__), used)}")
            else:
                sub = _as_container(item)
                if sub is not None:
                    visit_container(sub, f"{path}/{_unique('container', used)}",
                                    seen_containers)

    visit(model, "")
    return entries


def _unique(name, used):
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def own_variables(obj):
    """The variables an object writes to its own `vars` group, in Keras's order."""
    if _is_optimizer(obj):
        return list(obj.variables)
    return list(obj._trainable_variables) + list(obj._non_trainable_variables)


def vars_path(path):
    return f"{path}/vars" if path else "vars"


# ----------------------------------------------------------------------------- stores


class VarsWriter:
    """The store handed to `save_own_variables(store)`: `store["0"] = array`."""

    def __init__(self, group):
        self.group = group

    def __setitem__(self, key, value):
        array = to_numpy(value)
        if array.dtype == np.uint16 and getattr(value, "dtype", None) == torch.bfloat16:
            self.group.create_dataset(key, data=array).attrs["dtype"] = "bfloat16"
        else:
            self.group.create_dataset(key, data=array)

    def keys(self):
        return list(self.group.keys())

    def __len__(self):
        return len(self.group)


# Variable dtypes whose bytes a dataset of the same NumPy dtype can be read straight into.
_DIRECT_DTYPES = {torch.float32: np.dtype("<f4"), torch.float64: np.dtype("<f8"),
                  torch.float16: np.dtype("<f2"), torch.int32: np.dtype("<i4"),
                  torch.int64: np.dtype("<i8")}


class H5Index:
    """Every group (with its member names) and dataset of an HDF5 file, from one checked walk.

    The walk (`safety.walk_h5`) refuses unsafe links and datasets before anything is read, so
    the loader looks groups and datasets up here instead of re-checking them per variable.

    `raw`: the seekable binary file object the HDF5 image was opened from (offset 0 = the
    image's first byte). When given, contiguous unfiltered datasets (what Keras and tkeras
    write) are read with one `readinto` straight into the variable's memory, bypassing h5py's
    read path and any intermediate array.
    """

    def __init__(self, root, raw=None):
        self.groups = {}
        self.datasets = dict(safety.walk_h5(root, groups=self.groups))
        self.raw = raw
        if raw is not None:
            if root.file.id.get_create_plist().get_userblock():
                self.raw = None  # addresses would be shifted by the user block
            else:
                self.raw_size = raw.seek(0, 2)

    def direct_span(self, path, variable):
        """`(offset, nbytes)` of a dataset stored exactly as `variable`'s bytes, else None."""
        dtype = _DIRECT_DTYPES.get(variable.dtype)
        if (self.raw is None or dtype is None or variable.device.type != "cpu"
                or not variable.is_contiguous()):
            return None
        ds = self.datasets[path]
        nbytes = variable.numel() * variable.element_size()
        if ds.dtype != dtype or (dtype.itemsize == 2 and "dtype" in ds.attrs):
            return None  # another dtype, or a bfloat16 marker: convert through NumPy
        try:
            offset = ds.id.get_offset()  # None unless contiguous and allocated
            stored = ds.id.get_storage_size()
        except (OSError, RuntimeError, ValueError) as e:
            raise safety.FileFormatError(f"HDF5 dataset '{path}' cannot be read: {e}") from e
        if offset is None or stored != nbytes:
            return None
        if offset + nbytes > self.raw_size:
            raise safety.FileFormatError(f"HDF5 dataset '{path}' runs past the end of the file "
                                         "(truncated).")
        return offset, nbytes

    def read_into(self, span, variable, path):
        offset, nbytes = span
        view = memoryview(variable.detach().reshape(-1).numpy()).cast("B")
        self.raw.seek(offset)
        got = 0
        while got < nbytes:
            n = self.raw.readinto(view[got:])
            if not n:
                raise safety.FileFormatError(f"HDF5 dataset '{path}' is truncated.")
            got += n


class VarsReader:
    """The store handed to `load_own_variables(store)`, reading the checked datasets."""

    def __init__(self, index, path):
        self.index = index
        self.path = path
        self._keys = sorted(index.groups.get(path, ()), key=lambda k: (len(k), k))

    def keys(self):
        return list(self._keys)

    def __len__(self):
        return len(self._keys)

    def __contains__(self, key):
        return key in self._keys

    def dataset(self, key):
        path = f"{self.path}/{key}"
        if path in self.index.datasets:
            return self.index.datasets[path]
        if path in self.index.groups:
            raise safety.FileFormatError(f"HDF5 entry '{path}' is a group, not a dataset.")
        raise KeyError(path)

    def shape(self, key):
        return tuple(self.dataset(key).shape)

    def __getitem__(self, key):
        return safety.read_dataset(self.dataset(key), f"{self.path}/{key}")

    def direct_span(self, key, variable):
        self.dataset(key)
        return self.index.direct_span(f"{self.path}/{key}", variable)

    def read_into(self, span, key, variable):
        self.index.read_into(span, variable, f"{self.path}/{key}")


def to_numpy(value):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            return value.view(torch.int16).numpy().view(np.uint16)
        return value.numpy()
    return np.asarray(value)


# ----------------------------------------------------------------------------- save


class H5Store:
    """One `.weights.h5` file: `make(path, name)` creates `path/vars` (attr `name`)."""

    def __init__(self, h5file):
        self.h5file = h5file

    def make(self, path, name):
        group = self.h5file.require_group(path) if path else self.h5file
        vars_group = group.create_group("vars")
        if isinstance(name, str):
            vars_group.attrs["name"] = name
        return VarsWriter(vars_group)


def save_to_h5(model, h5file, objects_to_skip=()):
    """Write `model`'s state into an open, empty `h5py.File`."""
    save_state(model, H5Store(h5file), objects_to_skip)


def save_state(model, store, objects_to_skip=()):
    """Write `model`'s state through `store.make(path, name) -> writer` (see `H5Store`)."""
    skip = {id(o) for o in objects_to_skip}
    for path, obj in walk(model):
        if id(obj) in skip:
            continue
        writer = store.make(path, getattr(obj, "name", None))
        if hasattr(obj, "save_own_variables"):
            obj.save_own_variables(writer)
        else:
            for i, variable in enumerate(own_variables(obj)):
                writer[str(i)] = variable


# ----------------------------------------------------------------------------- load


class Problem:
    """One line of a mismatch report."""

    def __init__(self, path, obj, message):
        self.path = path or "/"
        self.obj = obj
        self.message = message

    def __str__(self):
        name = getattr(self.obj, "name", "?")
        return f"- {type(self.obj).__name__} '{name}' at '{self.path}': {self.message}"


def mismatch_report(problems, unexpected, source):
    lines = [f"Weights in {source} do not fit the model ({len(problems)} problem(s)):"]
    lines += [str(p) for p in problems]
    if unexpected:
        lines.append("Entries in the file that no model object reads (unexpected): "
                     + ", ".join(unexpected[:50]) + (" ..." if len(unexpected) > 50 else ""))
    return "\n".join(lines)


def plan_load(model, index, source):
    """Match the model's variables to the file (an `H5Index`) without reading any data.

    Returns `(assignments, custom_loads, optimizer_loads, problems, unexpected)` where
    `assignments` is a list of `(variable, reader, key, path)`.
    """
    assignments, custom, optimizers, problems = [], [], [], []
    used_groups = set()
    for path, obj in walk(model):
        vpath = vars_path(path)
        if vpath in index.datasets:
            raise safety.FileFormatError(f"'{vpath}' in {source} is not a group.")
        has_group = vpath in index.groups
        reader = VarsReader(index, vpath)
        if has_group:
            used_groups.add(vpath)
        if _is_optimizer(obj):
            optimizers.append((obj, reader, path))
            continue
        if hasattr(obj, "load_own_variables"):
            custom.append((obj, reader, path))
            continue
        variables = own_variables(obj)
        if not has_group:
            if variables:
                problems.append(Problem(path, obj, f"missing: the file has no '{vpath}' group; "
                                        f"the model expects {len(variables)} variable(s) "
                                        f"{[v.name for v in variables]}."))
            continue
        keys = reader.keys()
        expected = [str(i) for i in range(len(variables))]
        if keys != expected:
            problems.append(Problem(
                path, obj, f"expects {len(variables)} variable(s) "
                f"{[f'{v.name}{tuple(v.shape)}' for v in variables]}, the file has "
                f"{len(keys)} ({[f'{k}{reader.shape(k)}' for k in keys]})."))
            continue
        bad = []
        for key, variable in zip(keys, variables):
            found = reader.shape(key)
            if found != tuple(variable.shape):
                bad.append(f"variable '{variable.name}' ({vpath}/{key}) expects shape "
                           f"{tuple(variable.shape)}, found {found}")
        if bad:
            problems.append(Problem(path, obj, "; ".join(bad) + "."))
            continue
        for key, variable in zip(keys, variables):
            assignments.append((variable, reader, key, f"{vpath}/{key}"))
    unexpected = _unexpected_groups(index, used_groups, model)
    return assignments, custom, optimizers, problems, unexpected


def _unexpected_groups(index, used_groups, model):
    found = []
    for path in index.datasets:
        group = path.rsplit("/", 1)[0] if "/" in path else ""
        if group.endswith("vars") and group not in used_groups and group not in found:
            if group.startswith("optimizer/") and getattr(model, "optimizer", None) is None:
                continue  # an uncompiled model ignores the saved optimizer, as in Keras
            found.append(group)
    return found


def load_from_h5(model, h5root, source, skip_mismatch=False, index=None):
    """Load `model`'s state from an open h5 file/group (see module docstring).

    `index`: the `H5Index` of `h5root` when the caller has already walked it.
    """
    index = H5Index(h5root) if index is None else index
    assignments, custom, optimizers, problems, unexpected = plan_load(model, index, source)
    if problems:
        report = mismatch_report(problems, unexpected, source)
        if not skip_mismatch:
            raise safety.WeightsMismatchError(report)
        warnings.warn("Skipping the objects that do not fit (skip_mismatch=True).\n" + report,
                      stacklevel=3)
    elif unexpected:
        warnings.warn(f"{source} has entries no model object reads: {unexpected[:20]}",
                      stacklevel=3)
    # Everything that can fail on bad data (bounds, conversions) happens before any assignment.
    direct, values = [], []
    for variable, reader, key, _ in assignments:
        span = reader.direct_span(key, variable)
        if span is None:
            values.append((variable, reader[key]))
        else:
            direct.append((variable, reader, key, span))
    with torch.no_grad():
        for variable, reader, key, span in direct:
            reader.read_into(span, key, variable)
        for variable, value in values:
            assign(variable, value)
    for obj, reader, path in custom:
        try:
            obj.load_own_variables(reader)
        except ValueError as e:
            if not skip_mismatch:
                raise safety.WeightsMismatchError(f"{type(obj).__name__} '{obj.name}' at "
                                                  f"'{path}': {e}") from e
            warnings.warn(str(e), stacklevel=3)
    for optimizer, reader, _ in optimizers:
        if len(reader):
            optimizer.load_own_variables(reader)


def assign(variable, value):
    tensor = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(
        value, np.ndarray) else torch.as_tensor(value)
    variable.data.copy_(tensor.to(dtype=variable.dtype).reshape(variable.shape))
