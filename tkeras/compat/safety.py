"""Checks that every loader runs before it trusts a byte of a file.

Files are hostile data. The rules here cover the classes of published Keras loading CVEs:
serialized bytecode (Lambda), configs naming callables that are not registered modelling
objects, references to paths or URLs outside the archive, HDF5 external/soft links, external
storage and virtual datasets, unusual HDF5 filters, zip members with odd paths or symlinks, and
decompression/shape bombs. Every refusal is an `UnsafeFileError` (a `ValueError`) naming the
member, dataset or layer at fault, raised before any object is created.
"""

import contextlib
import json
import math
import os
import sys
import weakref

import numpy as np

from tkeras.core import registry

# Size limits (bytes). Module-level so that an application can raise them deliberately.
MAX_CONFIG_BYTES = 64 << 20  # config.json, model_config attributes, JSON strings
MAX_ATTR_BYTES = 64 << 20  # any HDF5 attribute read
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_EXPANSION = 100  # uncompressed / compressed, for members above the floor
ZIP_BOMB_FLOOR_BYTES = 16 << 20
MAX_ARRAY_BYTES = 1 << 40  # no single weight declares more than 1 TiB
MAX_H5_EXPANSION = 1000  # declared / stored bytes, for datasets above the floor
H5_BOMB_FLOOR_BYTES = 64 << 20
MAX_H5_DEPTH = 64
MAX_JSON_DEPTH = 500
MAX_H5_HEAP_OBJECTS = 1_000_000  # global heap object headers checked per file
# Building a model from a file's config may create at most this many bytes of tensors per byte
# of weights the file declares, plus the floor (initializer temporaries, dtype widening).
MAX_BUILD_EXPANSION = 4
BUILD_FLOOR_BYTES = 256 << 20


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
        return 64 << 30


# A config alone (`model_from_json`, `deserialize_keras_object`) holds no weights to bound its
# build by: it may create at most the machine's memory in tensors (a build needing more could
# not finish anyway; refusing it names the layer instead of exhausting memory).
MAX_CONFIG_BUILD_BYTES = _physical_memory()

# HDF5 filters a weights file may use: deflate, shuffle, fletcher32, szip, lzf. Anything else
# would make libhdf5 search for a filter plugin.
ALLOWED_H5_FILTERS = {1, 2, 3, 4, 32000}


class FileFormatError(ValueError):
    """A file is not a valid Keras file (corrupted, truncated, or not the expected format)."""


class UnsafeFileError(registry.UnsafeConfigError):
    """A file asks for something tkeras refuses to do while loading (see module docstring)."""


class WeightsMismatchError(ValueError):
    """Weights in a file do not fit the model; the message lists every problem found."""


# ----------------------------------------------------------------------------- JSON


def parse_json(text, what):
    """`json.loads` with size and nesting limits; errors become `FileFormatError`."""
    if isinstance(text, bytes):
        if len(text) > MAX_CONFIG_BYTES:
            raise UnsafeFileError(f"{what} is {len(text)} bytes, over the {MAX_CONFIG_BYTES} "
                                  "byte limit for configs.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FileFormatError(f"{what} is not UTF-8 text: {e}") from e
    if not isinstance(text, str):
        raise FileFormatError(f"{what} is not a JSON string (got {type(text).__name__}).")
    if len(text) > MAX_CONFIG_BYTES:
        raise UnsafeFileError(f"{what} is over the {MAX_CONFIG_BYTES} byte limit for configs.")
    depth = max_depth = 0
    for ch in text:  # bracket depth, ignoring strings is not needed for a bound
        if ch in "[{":
            depth += 1
            max_depth = max(max_depth, depth)
        elif ch in "]}":
            depth -= 1
    if max_depth > MAX_JSON_DEPTH:
        raise UnsafeFileError(f"{what} nests {max_depth} levels deep (limit {MAX_JSON_DEPTH}).")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise FileFormatError(f"{what} is not valid JSON: {e}") from e


# ----------------------------------------------------------------------------- configs

_URL_PREFIXES = ("http://", "https://", "ftp://", "file://", "hf://", "gs://", "s3://",
                 "gcs://", "hdfs://", "ssh://")
# Config keys whose string values name a file to read (Keras preprocessing layers, get_file).
_PATH_KEYS = {"vocabulary", "idf_weights", "filepath", "file_path", "path", "fname", "origin",
              "url", "cache_dir", "cache_subdir", "weights", "mean", "variance"}
_KNOWN_FILE_FREE_STRINGS = {"imagenet"}
_SPECIAL_CLASSES = {"__keras_tensor__", "__numpy__", "__tensor__", "__bytes__",
                    "__typespec__", "__ellipsis__", "__slice__"}


def check_config(config, custom_objects=None, safe_mode=True, where="config"):
    """Refuse a model config that would run code or reach outside the file.

    Walks the whole JSON tree before anything is deserialized. Raises `UnsafeFileError` for:
    Lambda bytecode (Keras 3 `__lambda__` or the Keras 2 `[code, defaults, closure]` list),
    functions that are not registered, classes from non-Keras modules that are not registered
    or passed in `custom_objects`, URLs anywhere, and file paths under keys that name files.
    `safe_mode=False` does not lift the bytecode refusal: tkeras never runs bytecode.
    """
    _find_bytecode(config, safe_mode, where, layer=None)
    _check_node(config, custom_objects or {}, safe_mode, where, layer=None)


def _find_bytecode(node, safe_mode, where, layer):
    """First pass: serialized bytecode anywhere is refused before anything else is judged."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _find_bytecode(item, safe_mode, f"{where}[{i}]", layer)
        return
    if not isinstance(node, dict):
        return
    layer = _layer_label(node, layer)
    if node.get("class_name") == "__lambda__":
        _refuse_bytecode(where, layer, safe_mode)
    if node.get("class_name") == "Lambda" and isinstance(node.get("config"), dict):
        function = node["config"].get("function")
        if isinstance(function, list) or node["config"].get("function_type") == "lambda":
            _refuse_bytecode(where, layer, safe_mode)
    for key, value in node.items():
        _find_bytecode(value, safe_mode, f"{where}.{key}", layer)


def _layer_label(node, layer):
    if isinstance(node, dict) and isinstance(node.get("config"), dict) and "name" in node[
            "config"] and isinstance(node.get("class_name"), str):
        return f"{node['class_name']} '{node['config']['name']}'"
    return layer


def _check_node(node, custom_objects, safe_mode, where, layer):
    if isinstance(node, str):
        if node.lower().startswith(_URL_PREFIXES):
            raise UnsafeFileError(
                f"{where}{_in(layer)} references the URL {node!r}. tkeras never fetches "
                "anything while loading a model; download the file yourself and pass it in code."
            )
        return
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_node(item, custom_objects, safe_mode, f"{where}[{i}]", layer)
        return
    if not isinstance(node, dict):
        return
    layer = _layer_label(node, layer)
    if "class_name" in node and "config" in node:
        _check_object(node, custom_objects, safe_mode, where, layer)
    if "inbound_nodes" in node:
        _check_inbound_nodes(node["inbound_nodes"], f"{where}.inbound_nodes", layer)
    for key, value in node.items():
        if key in _PATH_KEYS and isinstance(value, str) and _looks_like_path(value):
            raise UnsafeFileError(
                f"{where}.{key}{_in(layer)} names the file {value!r}. tkeras does not read "
                "files outside the model file while loading; load that data yourself and pass "
                "it to the layer in code."
            )
        _check_node(value, custom_objects, safe_mode, f"{where}.{key}", layer)


def _check_inbound_nodes(nodes, where, layer):
    """A functional layer entry's calls: Keras 3 `{"args": [...], "kwargs": {...}}` dicts or
    tf.keras 2 `[[layer_name, node_index, tensor_index, kwargs?], ...]` lists, each calling the
    layer on at least one input (a call without inputs cannot be rebuilt)."""

    def refuse(i, reason):
        raise FileFormatError(f"{where}[{i}]{_in(layer)}: {reason}; the config is corrupted.")

    if not isinstance(nodes, list):
        raise FileFormatError(f"{where}{_in(layer)}: inbound nodes must be a list, got "
                              f"{type(nodes).__name__}; the config is corrupted.")
    for i, node in enumerate(nodes):
        if isinstance(node, dict):
            if not isinstance(node.get("args"), list):
                refuse(i, "the call has no 'args' list")
            kwargs = node.get("kwargs", {})
            if not isinstance(kwargs, dict):
                refuse(i, "the call's 'kwargs' is not an object")
            if not node["args"] and not kwargs:
                refuse(i, "the call has no inputs")
        elif isinstance(node, list):
            if not node:
                refuse(i, "the call has no inputs")
            for entry in node:
                if not (isinstance(entry, list) and len(entry) >= 3
                        and isinstance(entry[0], str)
                        and all(isinstance(v, int) and not isinstance(v, bool)
                                for v in entry[1:3])):
                    refuse(i, f"input {entry!r} is not [layer_name, node_index, tensor_index]")
        else:
            refuse(i, f"a call must be an object or a list, got {type(node).__name__}")


def _in(layer):
    return f" (in {layer})" if layer else ""


def _looks_like_path(value):
    if value in _KNOWN_FILE_FREE_STRINGS:
        return False
    return ("/" in value or "\\" in value or value.startswith("~")
            or value.lower().endswith((".txt", ".h5", ".keras", ".npy", ".json", ".csv")))


def _refuse_bytecode(where, layer, safe_mode):
    if safe_mode:
        raise UnsafeFileError(
            f"{where}{_in(layer)} contains a Python lambda as serialized bytecode. Loading it "
            "would execute code from the file, which is refused in safe mode. tkeras never "
            "executes bytecode, even with safe_mode=False: rewrite the lambda as a function "
            "registered with `@tkeras.saving.register_keras_serializable()` and save again."
        )
    raise UnsafeFileError(
        f"{where}{_in(layer)} contains a Python lambda as serialized bytecode. tkeras never "
        "executes bytecode (it is Python-version specific and can run arbitrary code), even "
        "with safe_mode=False: rewrite the lambda as a function registered with "
        "`@tkeras.saving.register_keras_serializable()` and save again."
    )


def _custom_lookup(names, custom_objects):
    for name in names:
        if not isinstance(name, str):
            continue
        if name in custom_objects:
            return custom_objects[name]
        obj = registry.get_registered_object(name)
        if obj is not None:
            return obj
    return None


def _check_object(node, custom_objects, safe_mode, where, layer):
    class_name = node.get("class_name")
    module = node.get("module")
    registered_name = node.get("registered_name")
    if not isinstance(class_name, str):
        raise FileFormatError(f"{where}: 'class_name' must be a string, got {class_name!r}.")
    if class_name in _SPECIAL_CLASSES:
        return
    if module is not None and not isinstance(module, str):
        raise FileFormatError(f"{where}: 'module' must be a string or null, got {module!r}.")
    if class_name == "function":
        name = node.get("config")
        if not isinstance(name, str) or _function_exists(name, custom_objects) is None:
            raise UnsafeFileError(
                f"{where}{_in(layer)} names the function {module or ''}{'.' if module else ''}"
                f"{name!r}, which is neither a Keras built-in nor registered. tkeras only calls "
                "registered functions: decorate it with "
                "`@tkeras.saving.register_keras_serializable()` or pass it in `custom_objects`."
            )
        return
    if class_name in _DENIED_NAMES or (registered_name in _DENIED_NAMES):
        raise UnsafeFileError(
            f"{where}{_in(layer)} names '{class_name}' (module '{module}'), which is not a "
            "modelling object. tkeras refuses configs that name file loaders, downloaders or "
            "safety switches."
        )
    top = (module or "").split(".")[0]
    known = _custom_lookup([registered_name, class_name], custom_objects)
    if module and top not in ("keras", "tf_keras", "tensorflow") and known is None:
        raise UnsafeFileError(
            f"{where}{_in(layer)} names the class '{class_name}' from module '{module}', "
            "which is not registered. tkeras never imports modules named in a file: register "
            "the class with `@tkeras.saving.register_keras_serializable()` or pass it in "
            f"`custom_objects={{'{registered_name or class_name}': ...}}`."
        )
    if known is None and registry.resolve_class(class_name, module, registered_name) is None:
        raise ValueError(
            f"{where}{_in(layer)}: could not locate class '{registered_name or class_name}'"
            f"{f' (module {module!r})' if module else ''}. If it is a custom class, decorate "
            "it with `@tkeras.saving.register_keras_serializable()` or pass it in "
            f"`custom_objects={{'{registered_name or class_name}': ...}}` (or use "
            "`tkeras.saving.CustomObjectScope`)."
        )


# Names that are never modelling objects, whatever module a config puts them in.
_DENIED_NAMES = {
    "get_file", "enable_unsafe_deserialization", "load_model", "load_weights", "save_model",
    "save_weights", "model_from_json", "deserialize_keras_object", "register_keras_serializable",
    "eval", "exec", "compile", "open", "system", "popen", "Popen", "run", "call",
    "check_output", "__import__", "import_module", "getattr", "setattr", "loads", "load",
}


def _function_exists(name, custom_objects):
    obj = _custom_lookup([name], custom_objects)
    if obj is not None:
        return obj
    for family in ("activations", "losses", "metrics", "initializers", "regularizers",
                   "constraints", "schedules", "optimizers"):
        obj = registry.get_builtin(family, name)
        if obj is not None:
            return obj
    return None



# ----------------------------------------------------------------------------- model build


def build_budget(datasets):
    """Bytes of tensors that building the model of a file holding `datasets` may create."""
    declared = 0
    for ds in datasets:
        declared += math.prod(ds.shape or ()) * ds.dtype.itemsize
    return MAX_BUILD_EXPANSION * declared + BUILD_FLOOR_BYTES


@contextlib.contextmanager
def allocation_budget(limit, what, reason=", far more than the weights the file holds"):
    """Refuse (`UnsafeFileError`) any tensor creation that takes the total created inside the
    block over `limit` bytes, before it is allocated; the message names the layer asking.

    A config is a few bytes whatever the size of the model it describes (`units: 10**9`); the
    model's weights must then be in the file, so building is bounded by what the file holds.
    Counts every ATen factory call (`empty`, `zeros`, `full`, `rand*`, `new_*`, ...).
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class Budget(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.used = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            size = _factory_size(func, args, kwargs)
            if size is not None:
                dtype = kwargs.get("dtype") or torch.get_default_dtype()
                self.used += math.prod(size) * dtype.itemsize
                if self.used > limit:
                    raise UnsafeFileError(
                        f"Not allowed: {what} describes a model whose tensors take more than "
                        f"{limit} bytes{reason}: {_layer_in_stack()} asked for a tensor of "
                        f"shape {tuple(size)}, refused before allocating it.")
            return func(*args, **kwargs)

    with Budget():
        yield


def _layer_in_stack():
    """`Class 'name'` of the innermost layer on the call stack (the one creating a tensor)."""
    from tkeras.layers.layer import Layer

    frame = sys._getframe(1)
    while frame is not None:
        obj = frame.f_locals.get("self")
        if isinstance(obj, Layer):
            return f"layer '{getattr(obj, 'name', '?')}' ({type(obj).__name__})"
        frame = frame.f_back
    return "no layer"


def config_budget():
    """The allocation budget of building objects from a config alone (no file, no weights)."""
    return allocation_budget(MAX_CONFIG_BUILD_BYTES, "the config",
                             reason=" (this machine's memory, "
                                    "tkeras.compat.safety.MAX_CONFIG_BUILD_BYTES)")


def _factory_size(func, args, kwargs):
    """The `size` argument of an ATen factory op, else None."""
    for i, argument in enumerate(func._schema.arguments):
        if argument.name == "size" and not argument.kwarg_only:
            value = args[i] if i < len(args) else kwargs.get("size")
            if isinstance(value, (list, tuple)):
                return [int(v) for v in value]
            return None
    return None


# ----------------------------------------------------------------------------- HDF5


def _h5():
    import h5py

    return h5py


def h5_child(group, name, path):
    """`group[name]` if it is a hard link to a group or a safe dataset; else refuse."""
    h5py = _h5()
    try:
        link = group.get(name, getlink=True)
    except (KeyError, OSError, RuntimeError, ValueError) as e:
        raise FileFormatError(f"HDF5 entry '{path}' cannot be read: {e}") from e
    if link is None:
        raise KeyError(path)
    if isinstance(link, h5py.ExternalLink):
        raise UnsafeFileError(f"Not allowed: HDF5 entry '{path}' is an external link to "
                              f"'{link.filename}:{link.path}'.")
    if isinstance(link, h5py.SoftLink):
        raise UnsafeFileError(f"Not allowed: HDF5 entry '{path}' is a soft link to "
                              f"'{link.path}'.")
    if not isinstance(link, h5py.HardLink):
        raise UnsafeFileError(f"Not allowed: HDF5 entry '{path}' is a {type(link).__name__}.")
    try:
        obj = group[name]
    except (KeyError, OSError, RuntimeError, ValueError) as e:
        raise FileFormatError(f"HDF5 entry '{path}' cannot be opened: {e}") from e
    if isinstance(obj, h5py.Dataset):
        check_dataset(obj, path)
    elif not isinstance(obj, h5py.Group):
        raise UnsafeFileError(f"Not allowed: HDF5 entry '{path}' is a {type(obj).__name__}.")
    return obj


def h5_get(root, path):
    """Follow a '/'-separated path from `root`, checking every component (see `h5_child`)."""
    obj = root
    walked = []
    for part in path.split("/"):
        if not part:
            continue
        walked.append(part)
        if not isinstance(obj, _h5().Group):
            raise FileFormatError(f"HDF5 entry '{'/'.join(walked[:-1])}' is not a group.")
        obj = h5_child(obj, part, "/".join(walked))
    return obj


def h5_has(root, path):
    try:
        h5_get(root, path)
    except KeyError:
        return False
    return True


def check_dataset(ds, path):
    """Refuse external storage, virtual datasets, plugin filters, odd dtypes and shape bombs."""
    try:
        external = ds.external
        virtual = ds.is_virtual
        shape = ds.shape
        dtype = ds.dtype
        plist = ds.id.get_create_plist()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        # A dataset cannot store more bytes than its file holds, whatever its layout claims.
        stored = min(ds.id.get_storage_size(), ds.file.id.get_filesize())
    except (OSError, RuntimeError, ValueError, TypeError) as e:
        raise FileFormatError(f"HDF5 dataset '{path}' cannot be read: {e}") from e
    if external:
        raise UnsafeFileError(f"Not allowed: HDF5 dataset '{path}' stores its data in external "
                              f"files {[e[0] for e in external]}.")
    if virtual:
        raise UnsafeFileError(f"Not allowed: HDF5 dataset '{path}' is a virtual dataset (its "
                              "data lives in other files).")
    bad = [f for f in filters if f not in ALLOWED_H5_FILTERS]
    if bad:
        raise UnsafeFileError(f"Not allowed: HDF5 dataset '{path}' uses filters {bad}, which "
                              "would load filter plugins.")
    if dtype.kind not in "biuf" and not (dtype.kind == "V" and dtype.itemsize == 2):
        raise FileFormatError(f"HDF5 dataset '{path}' has dtype {dtype}, not a numeric array.")
    check_array_size(shape, dtype.itemsize, stored, path)


def check_array_size(shape, itemsize, stored, path):
    if shape is None:
        raise FileFormatError(f"Dataset '{path}' has no shape (null dataspace).")
    if any(d < 0 for d in shape):
        raise FileFormatError(f"Dataset '{path}' has a negative dimension {shape}.")
    declared = math.prod(shape) * itemsize
    if declared > MAX_ARRAY_BYTES:
        raise UnsafeFileError(f"Not allowed: dataset '{path}' declares shape {tuple(shape)} "
                              f"({declared} bytes, limit {MAX_ARRAY_BYTES}).")
    if stored is not None and declared > H5_BOMB_FLOOR_BYTES and (
            declared > MAX_H5_EXPANSION * stored):
        raise UnsafeFileError(f"Not allowed: dataset '{path}' declares {declared} bytes but "
                              f"stores only {stored}: a decompression/shape bomb.")


def read_dataset(ds, path):
    """The dataset as a NumPy array (bfloat16 stored as 2-byte data is widened to float32)."""
    try:
        if ds.shape == ():
            value = np.asarray(ds[()])
        else:
            value = ds[...]
    except (OSError, RuntimeError, ValueError, TypeError) as e:
        raise FileFormatError(f"HDF5 dataset '{path}' cannot be read: {e}") from e
    marker = read_attr(ds, "dtype", path)
    if marker == "bfloat16" and value.dtype.itemsize == 2:
        bits = value.view(np.uint16).astype(np.uint32) << 16
        value = bits.view(np.float32)
    return value


# Attribute datatypes a Keras file uses: numbers, booleans (enum) and strings. Compound, array,
# variable-length sequence, reference, opaque and time types are refused before any read.
_ATTR_CLASSES = {0, 1, 3, 4, 8}  # INTEGER, FLOAT, STRING, BITFIELD, ENUM


def read_attr(obj, name, path):
    """An HDF5 attribute (size-limited); `None` if absent. Bytes are decoded.

    Variable-length strings live in the file's global heap; before the first one is read,
    `check_global_heaps` verifies that libhdf5 can parse every heap collection of the file, and
    before each one `check_vlen_lengths` bounds the string lengths the attribute declares.
    """
    try:
        if name not in obj.attrs:
            return None
        attr_id = _h5().h5a.open(obj.id, name.encode("utf-8"))
        datatype = attr_id.get_type()
        if datatype.get_class() not in _ATTR_CLASSES:
            raise FileFormatError(f"HDF5 attribute '{path}@{name}' has a datatype of class "
                                  f"{datatype.get_class()}; Keras files store numbers and "
                                  "strings only.")
        if datatype.get_class() == 3 and datatype.is_variable_str():
            check_global_heaps(obj.file, f"attribute '{path}@{name}'")
            check_vlen_lengths(obj, name, f"attribute '{path}@{name}'")
        try:
            size = attr_id.get_storage_size()
        except RuntimeError:  # an empty attribute has no storage
            size = 0
        if size > MAX_ATTR_BYTES:
            raise UnsafeFileError(f"Not allowed: HDF5 attribute '{path}@{name}' is {size} bytes "
                                  f"(limit {MAX_ATTR_BYTES}).")
        value = obj.attrs[name]
    except (FileFormatError, UnsafeFileError):
        raise
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as e:
        raise FileFormatError(f"HDF5 attribute '{path}@{name}' cannot be read: {e}") from e
    return _decode(value)


# ----------------------------------------------------------------------------- HDF5 global heap
#
# libhdf5 (up to at least 2.0) parses a global heap collection ("GCOL", the store of
# variable-length strings) with a loop that advances by each object's declared size: a
# free-space object (index 0) of size 0 never advances, so reading any variable-length string
# of a file with such a collection hangs inside the library, and sizes running past the
# collection make it read outside its buffer. Heap ids cannot be read without libhdf5 loading
# their collection, so every byte sequence that libhdf5 would accept as a collection (signature
# and version) is parsed here the way libhdf5 parses it, once per file, before the first
# variable-length read. A collection running past the end of the file is refused too (corrupt;
# its declared size is what libhdf5 would allocate).

_GCOL = b"GCOL\x01"
_SCAN_BLOCK = 16 << 20


class _H5Source:
    """An HDF5 file tkeras opened: the bytes it was opened from and its verified heaps.

    `heaps` is None until the file's global heap collections are checked, then the byte
    offsets of those collections. A file opened read-only cannot change its heaps, so each
    collection is checked once per open file; a writable file is checked before every read.
    """

    def __init__(self, raw, source):
        self.raw = raw
        self.source = source
        self.heaps = None


# Keyed by the FileID of the `h5py.File` a loader opened (file identity: libhdf5 numbers open
# files without reuse); `obj.file.id` of any object in that file finds the entry while the
# loader's handle is alive, and the entry goes when the handle does.
_H5_SOURCES = weakref.WeakKeyDictionary()


def register_h5_source(h5file, raw, source):
    """Remember the bytes `h5file` was opened from (a path or a seekable binary file)."""
    _H5_SOURCES[h5file.id] = _H5Source(raw, source)


def check_global_heaps(h5file, what):
    """Refuse the file if libhdf5 could hang or overrun on one of its global heap collections.

    `what` names the member whose read needs the heap (it goes into the error message). Files
    opened read-only through `register_h5_source` are scanned once; others on every call.
    """
    record = _H5_SOURCES.get(h5file.id)
    cached = record is not None and h5file.id.get_intent() == _h5().h5f.ACC_RDONLY
    if cached and record.heaps is not None:
        return
    with _h5_bytes(h5file) as (f, source):
        heaps = _check_heaps_in(f, _h5_sizes(h5file, source)[1], source, what)
    if cached:
        record.heaps = heaps


@contextlib.contextmanager
def _h5_bytes(h5file):
    """`(binary file, source name)`: the bytes `h5file` was opened from, position restored."""
    record = _H5_SOURCES.get(h5file.id)
    raw, source = (record.raw, record.source) if record is not None else (None, None)
    if raw is None:
        raw = source = h5file.filename  # opened outside tkeras's loaders: by name only
    if isinstance(raw, (str, bytes)) or hasattr(raw, "__fspath__"):
        with open(raw, "rb") as f:
            yield f, source
        return
    position = raw.tell()
    try:
        yield raw, source
    finally:
        raw.seek(position)


def _h5_sizes(h5file, source):
    """`(sizeof_addr, sizeof_size, base address)` from the file's superblock."""
    try:
        plist = h5file.id.get_create_plist()
        return (*plist.get_sizes(), plist.get_userblock())
    except (OSError, RuntimeError, ValueError) as e:
        raise FileFormatError(f"{source}: cannot read the HDF5 superblock: {e}") from e


def _read_at(f, offset, n):
    f.seek(offset)
    return f.read(n)


def _check_heaps_in(f, length_size, source, what):
    """Check every global heap collection of the file; returns their byte offsets."""
    file_size = f.seek(0, 2)
    budget = [MAX_H5_HEAP_OBJECTS]
    offsets = []
    for offset in _find_all(f, _GCOL, file_size):
        _check_collection(f, offset, file_size, length_size, source, what, budget)
        offsets.append(offset)
    return offsets


def _find_all(f, needle, file_size):
    """Offsets of every occurrence of `needle`, reading the file in blocks."""
    start = 0
    while start < file_size:
        f.seek(start)
        block = f.read(_SCAN_BLOCK + len(needle) - 1)
        i = block.find(needle)
        while i != -1 and i < _SCAN_BLOCK:
            yield start + i
            i = block.find(needle, i + 1)
        start += _SCAN_BLOCK


def _check_collection(f, offset, file_size, length_size, source, what, budget):
    header_size = 8 + length_size  # signature, version, 3 reserved, collection size
    object_header = 8 + length_size  # index (2), references (2), 4 reserved, object size

    def refuse(reason):
        raise FileFormatError(
            f"{source}: cannot read {what}: the HDF5 global heap collection at byte {offset} "
            f"(the store of variable-length strings) is corrupt: {reason}.")

    if offset + header_size > file_size:
        refuse("the file ends inside its header")
    size = int.from_bytes(_read_at(f, offset + 8, length_size), "little")
    if offset + size > file_size:
        refuse(f"it declares {size} bytes, which runs past the end of the file")
    p = header_size
    while p < size:
        if p + object_header > size:
            break  # a tail too small for an object header is free space
        budget[0] -= 1
        if budget[0] < 0:
            raise UnsafeFileError(f"Not allowed: {source} has more than {MAX_H5_HEAP_OBJECTS} "
                                  "global heap objects.")
        raw = _read_at(f, offset + p, object_header)
        index = int.from_bytes(raw[:2], "little")
        object_size = int.from_bytes(raw[8:], "little")
        need = object_size if index == 0 else object_header + (object_size + 7) // 8 * 8
        if need == 0:
            refuse(f"its free-space object at byte {offset + p} has size 0, which makes "
                   "libhdf5 loop forever")
        if p + need > size:
            refuse(f"object {index} at byte {offset + p} ({object_size} bytes) runs past the "
                   f"end of the collection ({size} bytes)")
        if index and object_size > MAX_ATTR_BYTES:
            raise UnsafeFileError(f"Not allowed: {source} holds a {object_size}-byte "
                                  f"variable-length value (limit {MAX_ATTR_BYTES}).")
        p += need


# ----------------------------------------------------------------------------- HDF5 vlen lengths
#
# On disk, each variable-length string of an attribute is `(length: uint32, heap id)`. libhdf5
# (up to at least 2.0, H5T__conv_vlen) allocates and zero-fills a buffer of the declared length
# before it looks the string up in the global heap, so one corrupted length makes a 20 KB file
# allocate and touch up to 4 GiB (a vlen of a larger base type, refused by `read_attr`,
# multiplies that by its element size). The lengths are read here from the attribute's message
# in its object header and refused when a string could not fit in the file or the attribute's
# strings go over `MAX_ATTR_BYTES`, before libhdf5 converts anything.

_MAX_HEADER_CHUNKS = 10_000
_MSG_ATTRIBUTE, _MSG_CONTINUATION = 0x0C, 0x10


def check_vlen_lengths(obj, name, what):
    """Refuse the variable-length string attribute `name` of `obj` if its lengths are unsafe.

    `what` names the attribute in error messages. The attribute must be a message of the
    object header, where HDF5 keeps the attributes of every Keras file; one kept elsewhere
    (dense or shared attribute storage) is refused, since its lengths cannot be checked.
    """
    h5file = obj.file
    with _h5_bytes(h5file) as (f, source):
        sizes = _h5_sizes(h5file, source)
        try:
            address = _h5().h5o.get_info(obj.id).addr
        except (OSError, RuntimeError, ValueError, TypeError) as e:
            raise FileFormatError(f"{source}: cannot locate the object header of {what}: "
                                  f"{e}") from e
        file_size = f.seek(0, 2)
        header = _ObjectHeader(f, sizes, file_size, f"{source}: cannot read {what}")
        lengths = header.vlen_lengths(address, name.encode("utf-8"))
    limit = min(MAX_ATTR_BYTES, file_size)
    for length in lengths:
        if length > limit:
            raise UnsafeFileError(
                f"Not allowed: {source}: {what} declares a {length}-byte string in a "
                f"{file_size}-byte file (limit {limit}): a corrupted length, which libhdf5 "
                "would allocate before reading the string.")
    if sum(lengths) > MAX_ATTR_BYTES:
        raise UnsafeFileError(f"Not allowed: {source}: {what} declares {sum(lengths)} bytes of "
                              f"strings (limit {MAX_ATTR_BYTES}).")


class _ObjectHeader:
    """Just enough of an HDF5 object header (versions 1 and 2) to read attribute messages."""

    def __init__(self, f, sizes, file_size, context):
        self.f = f
        self.addr_size, self.length_size, self.base = sizes
        self.file_size = file_size
        self.context = context

    def refuse(self, reason):
        raise FileFormatError(f"{self.context}: {reason}.")

    def read(self, offset, n):
        if offset < 0 or n < 0 or self.base + offset + n > self.file_size:
            self.refuse(f"the object header runs past the end of the file (address {offset})")
        return _read_at(self.f, self.base + offset, n)

    def messages(self, address):
        """`(type, flags, body)` of every message in every chunk of the header at `address`."""
        if self.read(address, 4) == b"OHDR":
            prefix = self.read(address, 6)
            flags = prefix[5]
            if prefix[4] != 2:
                self.refuse(f"object header version {prefix[4]}")
            p = address + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
            width = 1 << (flags & 3)
            chunks = [(p + width, _uint(self.read(p, width)))]
            version, order = 2, bool(flags & 0x04)
        else:
            prefix = self.read(address, 16)
            if prefix[0] != 1:
                self.refuse(f"object header version {prefix[0]}")
            chunks = [(address + 16, _uint(prefix[8:12]))]
            version, order = 1, False
        found, seen = [], set()
        while chunks:
            start, size = chunks.pop()
            if start in seen or len(seen) >= _MAX_HEADER_CHUNKS:
                self.refuse("its object header chunks form a cycle or are too many")
            seen.add(start)
            for kind, flags, body in self._chunk(self.read(start, size), version, order):
                if kind == _MSG_CONTINUATION:
                    offset = _uint(body[:self.addr_size])
                    length = _uint(body[self.addr_size:self.addr_size + self.length_size])
                    if version == 1:
                        chunks.append((offset, length))
                    elif length < 8 or self.read(offset, 4) != b"OCHK":
                        self.refuse("a continuation chunk of its object header is corrupt")
                    else:  # signature, messages, checksum
                        chunks.append((offset + 4, length - 8))
                found.append((kind, flags, body))
        return found

    def _chunk(self, chunk, version, order):
        head = 8 if version == 1 else 6 if order else 4
        p = 0
        while p + head <= len(chunk):
            if version == 1:
                kind, size, flags = _uint(chunk[p:p + 2]), _uint(chunk[p + 2:p + 4]), chunk[p + 4]
            else:
                kind, size, flags = chunk[p], _uint(chunk[p + 1:p + 3]), chunk[p + 3]
            if p + head + size > len(chunk):
                self.refuse("a message runs past the end of its object header chunk")
            yield kind, flags, chunk[p + head:p + head + size]
            p += head + size

    def vlen_lengths(self, address, name):
        """The declared lengths of the strings of attribute `name` (bytes)."""
        for kind, flags, body in self.messages(address):
            if kind != _MSG_ATTRIBUTE or flags & 0x02:  # shared: the body is a reference
                continue
            lengths = self._attribute(lambda o, n, b=body: b[o:o + n], name, strict=True)
            if lengths is not None:
                return lengths
        # Dense attribute storage (more than 8 attributes in a version 2 object header): the
        # message is an object of a fractal heap. Every stored attribute message of that name
        # is checked (a name shared by attributes of several objects makes this conservative).
        found = []
        for offset in _find_all(self.f, name + b"\0", self.file_size):
            for skip in (8, 9):  # attribute message versions 1-2 and 3
                lengths = self._attribute(
                    lambda o, n, at=offset - skip: _read_at(self.f, at + o, n)
                    if at + o >= 0 else b"", name, strict=False)
                if lengths is not None:
                    found.extend(lengths)
                    break
        if not found:
            self.refuse("its attribute message was not found in the file (compressed or "
                        "shared attribute storage), so its string lengths cannot be checked")
        return found

    def _attribute(self, read, name, strict):
        """String lengths of the attribute message read by `read(offset, n)` if it is `name`."""
        head = read(0, 9)
        if len(head) < 9 or head[0] not in (1, 2, 3):
            return None
        version, flags = head[0], head[1]
        name_size, type_size, space_size = (_uint(head[i:i + 2]) for i in (2, 4, 6))
        pad = (lambda n: (n + 7) // 8 * 8) if version == 1 else (lambda n: n)
        p = 9 if version == 3 else 8
        if name_size != len(name) + 1 or read(p, name_size) != name + b"\0":
            return None
        if version > 1 and flags & 0x02:
            if strict:
                self.refuse("its dataspace is a shared message")
            return None
        p += pad(name_size) + pad(type_size)
        count = self._element_count(read(p, space_size), strict)
        if count is None:
            return None
        p += pad(space_size)
        item = 4 + self.addr_size + 4  # length, heap collection address, object index
        data = read(p, min(count * item, MAX_ATTR_BYTES + item))
        if len(data) < count * item:
            if strict:
                self.refuse(f"the attribute declares {count} strings but stores "
                            f"{len(data)} bytes of them")
            return None
        return [_uint(data[q:q + 4]) for q in range(0, count * item, item)]

    def _element_count(self, space, strict):
        if len(space) >= 4 and space[0] in (1, 2):
            rank, start = space[1], 8 if space[0] == 1 else 4
            if space[0] == 2 and space[3] == 2:  # null dataspace
                return 0
            if len(space) >= start + rank * self.length_size:
                w = self.length_size
                return math.prod(_uint(space[start + i * w:start + (i + 1) * w])
                                 for i in range(rank))
        if strict:
            self.refuse("the attribute's dataspace is corrupt")
        return None


def _uint(data):
    return int.from_bytes(data, "little")


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_decode(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_name_list(obj, name, path):
    """A list-of-strings attribute, merging Keras's `name0`, `name1`, ... chunks."""
    value = read_attr(obj, name, path)
    if value is None:
        value = []
        chunk = 0
        while True:
            part = read_attr(obj, f"{name}{chunk}", path)
            if part is None:
                break
            value.extend(part if isinstance(part, list) else [part])
            chunk += 1
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FileFormatError(f"HDF5 attribute '{path}@{name}' is not a list of strings.")
    return value


def walk_h5(group, path="", groups=None):
    """Yield `(path, dataset)` for every dataset under `group`, checking every link.

    Refuses links, cycles (a group reachable twice) and nesting deeper than `MAX_H5_DEPTH`.
    With a dict `groups`, also records `groups[group_path] = [member names]` for every group.
    """
    h5py = _h5()
    seen = set()

    def visit(g, prefix, depth):
        if depth > MAX_H5_DEPTH:
            raise UnsafeFileError(f"HDF5 group '{prefix}' is nested deeper than {MAX_H5_DEPTH}.")
        try:
            address = h5py.h5o.get_info(g.id).addr
            names = list(g.keys())
        except (OSError, RuntimeError, ValueError, TypeError) as e:
            raise FileFormatError(f"HDF5 group '{prefix or '/'}' cannot be listed: {e}") from e
        if address in seen:
            raise UnsafeFileError(f"Not allowed: HDF5 group '{prefix}' is linked twice (cycle).")
        seen.add(address)
        if groups is not None:
            groups[prefix] = names
        for name in names:
            child_path = f"{prefix}/{name}" if prefix else name
            child = h5_child(g, name, child_path)
            if isinstance(child, h5py.Group):
                yield from visit(child, child_path, depth + 1)
            else:
                yield child_path, child

    yield from visit(group, path, 0)
