"""Keras 3 sharded weights: a `<base>.weights.json` index plus `<base>_NNNNN.weights.h5` shards.

The layout of Keras 3.15's `ShardedH5IOStore`: every shard is a `.weights.h5` file holding
part of the object graph (`layers/dense/vars/0`, ...). Objects are written in walk order; an
object's `vars` group (attr `name`) is created in the current shard, and a variable that would
push the shard over `max_shard_size` (GB, 1024**3 bytes) starts the next shard, where the
object's `vars` group is created again (without `name`). The index is JSON:
`{"metadata": {"total_size": bytes}, "weight_map": {"/layers/dense/vars": "m_00000.weights.h5"}}`
with a list of file names for an object whose variables span shards.

tkeras differences, kept loadable by Keras: the index metadata and every shard carry a
`tkeras_save_id`, so that a load notices shards from different saves (an interrupted save or
mixed files); shards and index are written to temp files and renamed, the index last.

Loading treats the index as hostile: shard names must be plain `*.weights.h5` file names in the
index's directory (no separators, no `..`, no absolute paths or drive letters), each shard must
be a regular file (not a symlink, opened with `O_NOFOLLOW` where available), every shard is
checked like a single `.weights.h5` file, and datasets must sit in the shard the index names.
"""

import contextlib
import json
import os
import pathlib
import stat
import tempfile
import uuid
import warnings

import numpy as np

from tkeras.compat import atomic
from tkeras.compat import keras_zip
from tkeras.compat import safety
from tkeras.compat import weights_h5

MAX_SHARDS = 10_000
SHARD_SUFFIX = ".weights.h5"
SAVE_ID = "tkeras_save_id"
_GB = 1024**3


def _h5py():
    import h5py

    return h5py


def index_path(filepath):
    """Keras's rule: a sharded save to `x.weights.h5` writes `x.weights.json` (with a warning)."""
    path = pathlib.Path(filepath)
    if path.suffix != ".json":
        new_path = path.with_suffix(".json")
        warnings.warn(f"Saving sharded weights requires `*.json` as the extension. The original "
                      f"path: {path} will be renamed to {new_path}.", stacklevel=3)
        path = new_path
    return str(path)


# ----------------------------------------------------------------------------- save


class ShardedStore:
    """The `make(path, name)` store of `weights_h5.save_state`, splitting into shards."""

    def __init__(self, filepath, max_shard_size):
        self.path = pathlib.Path(filepath)
        self.base_name = self.path.stem.replace(".weights", "")
        self.max_bytes = float(max_shard_size) * _GB
        self.save_id = uuid.uuid4().hex
        self.weight_map = {}
        self.total_size = 0
        self.current_size = 0
        self.shards = []  # [(temp path, final name)]
        self.file = None
        self._new_shard()

    def _new_shard(self):
        if self.file is not None:
            self.file.close()
        name = f"{self.base_name}_{len(self.shards):05}{SHARD_SUFFIX}"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        self.shards.append((tmp, name))
        self.file = _h5py().File(tmp, "w")
        self.file.attrs[SAVE_ID] = np.bytes_(self.save_id)

    @property
    def shard_name(self):
        return self.shards[-1][1]

    def make(self, path, name):
        vars_group = (self.file.require_group(path) if path else self.file).create_group("vars")
        if isinstance(name, str):
            vars_group.attrs["name"] = name
        return _ShardedVars(self, path, vars_group)

    def add(self, key, array):
        """Account for one variable (Keras's rule); start a new shard when this one is full."""
        size = float(array.size * array.itemsize)
        self.total_size += size
        if size > self.max_bytes:
            raise ValueError(f"The size of {key} is {size:.0f} bytes which exceeds the maximum "
                             f"shard size {self.max_bytes:.0f} bytes. You can increase the "
                             "`max_shard_size` parameter to accommodate the size.")
        self.current_size += size
        if self.current_size > self.max_bytes:
            self._new_shard()
            self.current_size = size

    def record(self, group):
        """Keras's bookkeeping: a name after the first variable, a list from the second on."""
        names = self.weight_map.get(group.name)
        if names is None:
            self.weight_map[group.name] = self.shard_name
            return
        if not isinstance(names, list):
            names = self.weight_map[group.name] = [names]
        if self.shard_name not in names:
            names.append(self.shard_name)

    def index(self):
        return {"metadata": {"total_size": self.total_size, SAVE_ID: self.save_id},
                "weight_map": self.weight_map}

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None

    def discard(self):
        self.close()
        for tmp, _ in self.shards:
            with contextlib.suppress(OSError):
                os.remove(tmp)


class _ShardedVars:
    """`store[key] = value` for one object; follows the store into a new shard when needed."""

    def __init__(self, store, path, group):
        self.store = store
        self.path = path
        self.group = group
        self.shard = len(store.shards)
        self._keys = []

    def __setitem__(self, key, value):
        array = weights_h5.to_numpy(value)
        self.store.add(f"{self.path}/vars/{key}" if self.path else f"vars/{key}", array)
        if self.shard != len(self.store.shards):  # the object continues in a new shard
            parent = self.store.file.require_group(self.path) if self.path else self.store.file
            self.group = parent.require_group("vars")
            self.shard = len(self.store.shards)
        weights_h5.VarsWriter(self.group)[key] = value
        self.store.record(self.group)
        self._keys.append(key)

    def keys(self):
        return list(self._keys)

    def __len__(self):
        return len(self._keys)


def save_sharded(model, filepath, max_shard_size):
    """Write `filepath` (a `.weights.json` index) and its shards; returns the index path."""
    filepath = index_path(os.path.abspath(os.fspath(filepath)))
    if not float(max_shard_size) > 0:
        raise ValueError(f"`max_shard_size` must be a positive number of GB. Received: "
                         f"max_shard_size={max_shard_size}")
    os.makedirs(os.path.dirname(filepath), exist_ok=True)
    store = ShardedStore(filepath, max_shard_size)
    try:
        weights_h5.save_state(model, store)
        store.close()
        directory = os.path.dirname(filepath)
        for tmp, name in store.shards:
            os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        store.discard()
        raise
    with atomic.atomic_file(filepath) as f:  # the index last: it commits the save
        f.write(json.dumps(store.index(), indent=4).encode("utf-8"))
    return filepath


# ----------------------------------------------------------------------------- load


def _check_shard_name(name, source, key):
    if not isinstance(name, str):
        raise safety.FileFormatError(f"{source}: weight_map[{key!r}] must name shard files "
                                     f"(strings), got {name!r}.")
    bad = (not name or len(name) > 255 or name in (".", "..") or any(
        c in name for c in "/\\:\x00") or os.path.isabs(name) or os.path.basename(name) != name)
    if bad:
        raise safety.UnsafeFileError(
            f"Not allowed: {source}: weight_map[{key!r}] names the shard {name!r}, which is not "
            "a plain file name in the index's directory (no separators, '..', absolute paths "
            "or drive letters).")
    if not name.endswith(SHARD_SUFFIX):
        raise safety.FileFormatError(f"{source}: weight_map[{key!r}] names the shard {name!r}; "
                                     f"shard files end in '{SHARD_SUFFIX}'.")


def read_index(filepath):
    """`(shard names in first-use order, {group path: [shard names]}, save id or None)`."""
    source = os.fspath(filepath)
    with open(source, "rb") as f:
        index = safety.parse_json(f.read(safety.MAX_CONFIG_BYTES + 1), source)
    if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
        raise safety.FileFormatError(f"{source} is not a sharded weights index (no "
                                     "'weight_map' object).")
    metadata = index.get("metadata")
    save_id = metadata.get(SAVE_ID) if isinstance(metadata, dict) else None
    shards, weight_map = [], {}
    for key, names in index["weight_map"].items():
        names = names if isinstance(names, list) else [names]
        if not names:
            raise safety.FileFormatError(f"{source}: weight_map[{key!r}] names no shard.")
        for name in names:
            _check_shard_name(name, source, key)
            if name not in shards:
                shards.append(name)
        weight_map[key.strip("/")] = list(names)
    if len(shards) > MAX_SHARDS:
        raise safety.UnsafeFileError(f"Not allowed: {source} names {len(shards)} shards "
                                     f"(limit {MAX_SHARDS}).")
    return shards, weight_map, save_id if isinstance(save_id, str) else None


def open_shard(directory, name, source):
    """The shard as a binary file: a regular file in `directory`, never through a symlink."""
    path = os.path.join(directory, name)
    try:
        info = os.lstat(path)
    except FileNotFoundError as e:
        raise safety.FileFormatError(f"{source}: shard '{name}' is missing.") from e
    if stat.S_ISLNK(info.st_mode):
        raise safety.UnsafeFileError(f"Not allowed: {source}: shard '{name}' is a symbolic link.")
    try:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags)
    except OSError as e:
        raise safety.UnsafeFileError(f"Not allowed: {source}: shard '{name}' cannot be opened "
                                     f"as a regular file: {e}") from e
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        raise safety.UnsafeFileError(f"Not allowed: {source}: shard '{name}' is not a regular "
                                     "file.")
    return f


class ShardedIndex:
    """`weights_h5.H5Index`'s interface over all shards: groups merged, datasets from one shard.

    Refuses a dataset stored in two shards, a dataset in a shard the index does not name for its
    group, and an index entry whose shard lacks the group.
    """

    def __init__(self, shards, weight_map, source):
        self.groups, self.datasets, self._owner = {}, {}, {}
        for name, index in shards:
            for path, members in index.groups.items():
                merged = self.groups.setdefault(path, [])
                merged.extend(m for m in members if m not in merged)
            for path, dataset in index.datasets.items():
                if path in self._owner:
                    raise safety.FileFormatError(f"{source}: '{path}' is stored in both "
                                                 f"'{self._owner[path][0]}' and '{name}'.")
                group = path.rsplit("/", 1)[0] if "/" in path else ""
                if name not in weight_map.get(group, ()):
                    raise safety.FileFormatError(
                        f"{source}: shard '{name}' holds '{path}', but the index does not list "
                        f"'/{group}' in that shard.")
                self.datasets[path] = dataset
                self._owner[path] = (name, index)
        by_name = dict(shards)
        for group, names in weight_map.items():
            for name in names:
                if group not in by_name[name].groups:
                    raise safety.FileFormatError(f"{source}: the index lists '/{group}' in "
                                                 f"'{name}', which has no such group.")

    def direct_span(self, path, variable):
        return self._owner[path][1].direct_span(path, variable)

    def read_into(self, span, variable, path):
        self._owner[path][1].read_into(span, variable, path)


def load_sharded(model, filepath, skip_mismatch=False):
    """Load a `.weights.json` index and its shards (every shard is checked before any read)."""
    source = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(source))
    names, weight_map, save_id = read_index(source)
    with contextlib.ExitStack() as stack:
        shards = []
        for name in names:
            raw = stack.enter_context(open_shard(directory, name, source))
            h5 = stack.enter_context(keras_zip.open_h5(raw, f"{source}:{name}"))
            if save_id is not None:
                found = safety.read_attr(h5, SAVE_ID, f"{source}:{name}")
                if found != save_id:
                    raise safety.FileFormatError(
                        f"{source}: shard '{name}' belongs to another save (save id {found!r}, "
                        f"the index has {save_id!r}): a save was interrupted or files were "
                        "mixed.")
            shards.append((name, weights_h5.H5Index(h5, raw=raw)))
        index = ShardedIndex(shards, weight_map, source)
        weights_h5.load_from_h5(model, None, source, skip_mismatch=skip_mismatch, index=index)
