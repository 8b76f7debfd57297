"""The Keras 3 `.keras` zip (and its unzipped directory form).

Members, all `ZIP_STORED`: `metadata.json`, `config.json` (`serialize_keras_object(model)`),
`model.weights.h5` (layout in `weights_h5`), and `assets/<object path>/...` for objects that
implement `save_assets(dir)`/`load_assets(dir)`.

Loading order, so that nothing is created before the whole file is checked: archive members
(paths, symlinks, sizes), config JSON (size, nesting, then `safety.check_config`), the whole
weights HDF5 tree (links, storage, shapes), then the model is built, compiled and filled. The
weights member is read in place through a window on the archive (no copy, no extraction).
"""

import contextlib
import datetime
import io
import json
import os
import shutil
import stat
import tempfile
import warnings
import zipfile

from tkeras.compat import atomic
from tkeras.compat import safety
from tkeras.compat import weights_h5
from tkeras.core import registry

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.h5"
ASSETS = "assets"
KERAS_VERSION = "3.15.1"  # the file format version tkeras writes


# ----------------------------------------------------------------------------- save


def serialize_model(model):
    """`(config_json, metadata_json)` as Keras writes them."""
    config = registry.serialize_keras_object(model)
    from tkeras import __version__

    metadata = {"keras_version": KERAS_VERSION, "tkeras_version": __version__,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    return json.dumps(config), json.dumps(metadata)


def _h5py():
    import h5py

    return h5py


def _write_weights(model, fileobj):
    with _h5py().File(fileobj, "w") as f:
        weights_h5.save_to_h5(model, f)


def _save_assets(model, root):
    """Let objects with `save_assets(dir)` write into `root/<object path>`; returns files."""
    for path, obj in weights_h5.walk(model):
        if hasattr(obj, "save_assets"):
            target = os.path.join(root, *path.split("/")) if path else root
            os.makedirs(target, exist_ok=True)
            obj.save_assets(target)
    files = []
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            full = os.path.join(dirpath, name)
            files.append((full, os.path.relpath(full, root).replace(os.sep, "/")))
    return files


def save_keras(model, filepath):
    """Write `model` to a `.keras` zip atomically (temp file in the same dir, then rename)."""
    config_json, metadata_json = serialize_model(model)
    with atomic.atomic_file(filepath) as f, tempfile.TemporaryDirectory() as assets:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(METADATA, metadata_json)
            zf.writestr(CONFIG, config_json)
            buffer = io.BytesIO()
            _write_weights(model, buffer)
            zf.writestr(WEIGHTS, buffer.getvalue())
            for full, rel in _save_assets(model, assets):
                zf.write(full, f"{ASSETS}/{rel}")


def save_keras_dir(model, dirpath):
    """The same entries, unzipped, into directory `dirpath` (replaced atomically)."""
    config_json, metadata_json = serialize_model(model)
    with atomic.atomic_dir(dirpath) as tmp:
        with open(os.path.join(tmp, METADATA), "w") as f:
            f.write(metadata_json)
        with open(os.path.join(tmp, CONFIG), "w") as f:
            f.write(config_json)
        _write_weights(model, os.path.join(tmp, WEIGHTS))
        with tempfile.TemporaryDirectory() as assets:
            files = _save_assets(model, assets)
            for full, rel in files:
                target = os.path.join(tmp, ASSETS, *rel.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(full, target)


# ----------------------------------------------------------------------------- archive checks


def check_member_name(name, source):
    parts = name.rstrip("/").split("/")
    bad = (not name or "\x00" in name or "\\" in name or name.startswith("/")
           or (len(name) > 1 and name[1] == ":") or len(name) > 4096
           or any(p in ("", ".", "..") for p in parts))
    if bad:
        raise safety.UnsafeFileError(f"Not allowed: archive member {name!r} in {source} has an "
                                     "absolute, parent-relative or malformed path.")


def check_archive(zf, source, archive_size):
    infos = zf.infolist()
    if len(infos) > safety.MAX_ZIP_MEMBERS:
        raise safety.UnsafeFileError(f"{source} has {len(infos)} members (limit "
                                     f"{safety.MAX_ZIP_MEMBERS}).")
    seen = set()
    total = 0
    for info in infos:
        name = info.filename
        check_member_name(name, source)
        if name in seen:
            raise safety.UnsafeFileError(f"Not allowed: archive member {name!r} appears twice "
                                         f"in {source}.")
        seen.add(name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise safety.UnsafeFileError(f"Not allowed: archive member {name!r} in {source} is "
                                         "a symbolic link.")
        if info.flag_bits & 0x1:
            raise safety.FileFormatError(f"Archive member {name!r} in {source} is encrypted.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise safety.FileFormatError(f"Archive member {name!r} in {source} uses compression "
                                         f"method {info.compress_type}, not stored/deflated.")
        if info.file_size > safety.ZIP_BOMB_FLOOR_BYTES and (
                info.file_size > safety.MAX_ZIP_EXPANSION * max(info.compress_size, 1)):
            raise safety.UnsafeFileError(
                f"Not allowed: archive member {name!r} in {source} declares {info.file_size} "
                f"bytes but stores {info.compress_size}: a decompression bomb.")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise safety.FileFormatError(f"Archive member {name!r} in {source} is stored but "
                                         "its sizes disagree.")
        total += info.file_size
    if total > safety.ZIP_BOMB_FLOOR_BYTES and total > safety.MAX_ZIP_EXPANSION * archive_size:
        raise safety.UnsafeFileError(f"Not allowed: {source} declares {total} uncompressed bytes "
                                     f"in a {archive_size} byte archive (overlapping members).")


def read_member(zf, name, limit, source):
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise safety.UnsafeFileError(f"Archive member {name!r} in {source} is {info.file_size} "
                                     f"bytes (limit {limit}).")
    with zf.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise safety.UnsafeFileError(f"Archive member {name!r} in {source} is over {limit} bytes.")
    return data


class _Window(io.RawIOBase):
    """A read-only, seekable view of `[start, start + size)` of a file (a stored zip member)."""

    def __init__(self, fileobj, start, size):
        self._f = fileobj
        self._start = start
        self._size = size
        self._pos = 0
        try:  # positional reads: one system call per read, no shared file position
            self._fd = fileobj.fileno() if hasattr(os, "preadv") else None
        except (AttributeError, OSError, io.UnsupportedOperation):
            self._fd = None

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer):
        n = max(0, min(len(buffer), self._size - self._pos))
        if n == 0:
            return 0
        if self._fd is not None:
            view = memoryview(buffer).cast("B")[:n]
            got = os.preadv(self._fd, [view], self._start + self._pos)
        else:
            self._f.seek(self._start + self._pos)
            data = self._f.read(n)
            buffer[: len(data)] = data
            got = len(data)
        self._pos += got
        return got


def open_weights_member(zf, fileobj, source):
    """A file object for `model.weights.h5`: a window when stored, else a checked copy."""
    info = zf.getinfo(WEIGHTS)
    if info.compress_type == zipfile.ZIP_STORED and fileobj is not None:
        fileobj.seek(info.header_offset)
        header = fileobj.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise safety.FileFormatError(f"{source}: bad local header for {WEIGHTS}.")
        start = info.header_offset + 30 + int.from_bytes(header[26:28], "little") + \
            int.from_bytes(header[28:30], "little")
        fileobj.seek(0, io.SEEK_END)
        if start + info.compress_size > fileobj.tell():
            raise safety.FileFormatError(f"{source} is truncated ({WEIGHTS} runs past the end).")
        return _Window(fileobj, start, info.compress_size)
    return io.BytesIO(read_member(zf, WEIGHTS, safety.MAX_ARRAY_BYTES, source))


def open_h5(fileobj_or_path, source):
    try:
        h5file = _h5py().File(fileobj_or_path, "r")
    except (OSError, ValueError, RuntimeError) as e:
        raise safety.FileFormatError(f"{source} is not a readable HDF5 file: {e}") from e
    safety.register_h5_source(h5file, fileobj_or_path, source)
    return h5file


# ----------------------------------------------------------------------------- load


def config_from_json(config_bytes, source, custom_objects, compile, safe_mode):
    """Parse and check `config.json`; returns `(config, compile_config)`."""
    config = safety.parse_json(config_bytes, f"{source}:{CONFIG}")
    if not isinstance(config, dict) or "class_name" not in config:
        raise safety.FileFormatError(f"{source}:{CONFIG} is not a serialized Keras object.")
    compile_config = _strip_compile_configs(config)
    if not compile:
        compile_config = None
    safety.check_config(config, custom_objects, safe_mode, where=f"{source}:{CONFIG}")
    if compile_config:
        safety.check_config(compile_config, custom_objects, safe_mode,
                            where=f"{source}:{CONFIG}.compile_config")
    return config, compile_config


def _strip_compile_configs(config):
    """Remove `compile_config` from the model and nested models; return the top-level one."""
    top = config.pop("compile_config", None)

    def strip(node):
        if isinstance(node, dict):
            node.pop("compile_config", None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(config)
    return top


def build_model(config, custom_objects, safe_mode, source, max_bytes=None):
    """The model of `config`; with `max_bytes`, creating more tensor bytes is refused."""
    budget = (safety.allocation_budget(max_bytes, source) if max_bytes is not None
              else contextlib.nullcontext())
    with registry.SafeModeScope(safe_mode), budget:
        try:
            model = registry.deserialize_keras_object(config, custom_objects=custom_objects,
                                                      safe_mode=safe_mode,
                                                      printable_module_name="models")
        except (KeyError, IndexError, AttributeError, StopIteration) as e:
            raise safety.FileFormatError(f"{source}: invalid model config ({type(e).__name__}: "
                                         f"{e}).") from e
    from tkeras.layers.layer import Layer

    if not isinstance(model, Layer):
        raise safety.FileFormatError(f"{source}: the config describes a "
                                     f"{type(model).__name__}, not a model.")
    return model


def restore_compile(model, compile_config, custom_objects):
    """`model.compile_from_config` (then build the optimizer), as Keras's loader does."""
    if not compile_config:
        return
    if not hasattr(model, "compile"):
        warnings.warn("The file has a compile config, but this tkeras build has no "
                      "`Model.compile`: the model was loaded uncompiled.", stacklevel=3)
        return
    with registry.CustomObjectScope(custom_objects or {}):
        model.compile_from_config(compile_config)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "build") and not optimizer.built:
        optimizer.build(model.trainable_variables)


def load_keras(filepath, custom_objects=None, compile=True, safe_mode=True):
    source = os.fspath(filepath)
    if os.path.isdir(source):
        return load_keras_dir(source, custom_objects, compile, safe_mode)
    with open(source, "rb") as fileobj:
        return load_keras_fileobj(fileobj, source, custom_objects, compile, safe_mode)


def load_keras_fileobj(fileobj, source, custom_objects=None, compile=True, safe_mode=True):
    try:
        zf = zipfile.ZipFile(fileobj, "r")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise safety.FileFormatError(f"{source} is not a valid .keras zip archive: {e}") from e
    with zf:
        fileobj.seek(0, io.SEEK_END)
        check_archive(zf, source, fileobj.tell())
        names = set(zf.namelist())
        for required in (CONFIG, WEIGHTS):
            if required not in names:
                raise safety.FileFormatError(f"{source} has no '{required}' member.")
        try:
            config_bytes = read_member(zf, CONFIG, safety.MAX_CONFIG_BYTES, source)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            if isinstance(e, safety.UnsafeFileError):
                raise
            raise safety.FileFormatError(f"{source}: cannot read {CONFIG}: {e}") from e
        config, compile_config = config_from_json(config_bytes, source, custom_objects,
                                                  compile, safe_mode)
        member = open_weights_member(zf, fileobj, source)
        with open_h5(member, f"{source}:{WEIGHTS}") as h5:
            # Checks the whole file before building anything.
            index = weights_h5.H5Index(h5, raw=member)
            asset_names = sorted(n for n in names if n.startswith(ASSETS + "/")
                                 and not n.endswith("/"))
            model = build_model(config, custom_objects, safe_mode, source,
                                safety.build_budget(index.datasets.values()))
            restore_compile(model, compile_config, custom_objects)
            weights_h5.load_from_h5(model, h5, f"{source}:{WEIGHTS}", index=index)
            if asset_names:
                _load_assets_from_zip(model, zf, asset_names, source)
    return model


def _load_assets_from_zip(model, zf, asset_names, source):
    with tempfile.TemporaryDirectory() as root:
        for name in asset_names:
            target = os.path.join(root, *name.split("/")[1:])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                out.write(read_member(zf, name, safety.MAX_ARRAY_BYTES, source))
        _call_load_assets(model, root)


def _call_load_assets(model, root):
    for path, obj in weights_h5.walk(model):
        if hasattr(obj, "load_assets"):
            obj.load_assets(os.path.join(root, *path.split("/")) if path else root)


def load_keras_dir(dirpath, custom_objects=None, compile=True, safe_mode=True):
    source = dirpath
    config_path = os.path.join(dirpath, CONFIG)
    weights_path = os.path.join(dirpath, WEIGHTS)
    for path in (config_path, weights_path):
        if not os.path.isfile(path) or os.path.islink(path):
            raise safety.FileFormatError(f"{dirpath} has no regular file "
                                         f"'{os.path.basename(path)}'.")
    with open(config_path, "rb") as f:
        config_bytes = f.read(safety.MAX_CONFIG_BYTES + 1)
    config, compile_config = config_from_json(config_bytes, source, custom_objects, compile,
                                              safe_mode)
    assets_root = os.path.join(dirpath, ASSETS)
    if os.path.isdir(assets_root):
        for dirname, subdirs, files in os.walk(assets_root):
            for name in subdirs + files:
                if os.path.islink(os.path.join(dirname, name)):
                    raise safety.UnsafeFileError(f"Not allowed: {os.path.join(dirname, name)} "
                                                 "is a symbolic link.")
    with open_h5(weights_path, weights_path) as h5, open(weights_path, "rb") as raw:
        index = weights_h5.H5Index(h5, raw=raw)  # checks the whole file before building
        model = build_model(config, custom_objects, safe_mode, source,
                            safety.build_budget(index.datasets.values()))
        restore_compile(model, compile_config, custom_objects)
        weights_h5.load_from_h5(model, h5, weights_path, index=index)
    if os.path.isdir(assets_root):
        _call_load_assets(model, assets_root)
    return model
