"""Name registry and Keras 3 config (de)serialization.

Names resolve through tables only: built-in classes exported with `keras_export`, classes and
functions registered with `register_keras_serializable`, and `custom_objects`. Nothing named in a
config is ever imported or looked up as a Python attribute path, so a config cannot make tkeras
run code that is not a registered modelling class.
"""

import inspect
import re
import threading
import types

import numpy as np

# (family, public name) -> object; family is "layers", "initializers", ...
_BUILTIN = {}
# object -> (public module, public name), for serialization.
_BUILTIN_NAMES = {}
# registered_name ("package>Name") -> object, and back.
_GLOBAL_CUSTOM_OBJECTS = {}
_GLOBAL_CUSTOM_NAMES = {}
_THREAD_LOCAL = threading.local()

FAMILIES = (
    "layers", "models", "optimizers", "losses", "metrics", "initializers", "regularizers",
    "constraints", "activations", "callbacks", "dtype_policies", "saving", "schedules", "random",
    "ops", "distillation", "applications", "utils",
)


def keras_export(*paths):
    """Register a built-in object under its public Keras path(s), e.g. "keras.layers.Dense".

    The first path is the one written into configs (`module`, `class_name`).
    """

    def decorator(obj):
        for i, path in enumerate(paths):
            module, _, name = path.rpartition(".")
            _BUILTIN[(_family_of(module), name)] = obj
            if i == 0:
                _BUILTIN_NAMES[obj] = (module, name)
        return obj

    return decorator


def _family_of(module):
    """Family of a Keras module string: 'keras.layers' -> 'layers',
    'keras.src.layers.core.dense' -> 'layers', 'keras.src.backend.torch.optimizers.torch_adam' ->
    'optimizers', 'keras.optimizers.schedules' -> 'schedules'."""
    if not module:
        return None
    parts = module.split(".")
    if "schedules" in parts:
        return "schedules"
    for part in parts[1:]:
        if part in FAMILIES:
            return part
        if part in ("models", "engine", "functional", "sequential"):
            return "models"
    if parts == ["keras"]:
        return "keras"
    return None


def get_builtin(family, name):
    return _BUILTIN.get((family, name))


# ----------------------------------------------------------------------------- custom objects


def register_keras_serializable(package="Custom", name=None):
    """Register a class or function so configs can name it as `"package>name"`."""

    def decorator(arg):
        class_name = name if name is not None else arg.__name__
        registered_name = package + ">" + class_name
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method.")
        _GLOBAL_CUSTOM_OBJECTS[registered_name] = arg
        _GLOBAL_CUSTOM_NAMES[arg] = registered_name
        return arg

    return decorator


def get_registered_name(obj):
    if obj in _GLOBAL_CUSTOM_NAMES:
        return _GLOBAL_CUSTOM_NAMES[obj]
    return getattr(obj, "__name__", type(obj).__name__)


def _scope_stack():
    if not hasattr(_THREAD_LOCAL, "scopes"):
        _THREAD_LOCAL.scopes = []
    return _THREAD_LOCAL.scopes


def get_custom_objects():
    """The global registry dict (mutable, like Keras's)."""
    return _GLOBAL_CUSTOM_OBJECTS


def get_registered_object(name, custom_objects=None, module_objects=None):
    for scope in reversed(_scope_stack()):
        if name in scope:
            return scope[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


class CustomObjectScope:
    """`with CustomObjectScope({"MyLayer": MyLayer}):` makes the names resolvable in configs."""

    def __init__(self, custom_objects):
        self.custom_objects = dict(custom_objects or {})

    def __enter__(self):
        _scope_stack().append(self.custom_objects)
        return self

    def __exit__(self, *args):
        _scope_stack().pop()


custom_object_scope = CustomObjectScope


def _lookup_custom(names, custom_objects):
    for name in names:
        if not name:
            continue
        if custom_objects and name in custom_objects:
            return custom_objects[name]
        for scope in reversed(_scope_stack()):
            if name in scope:
                return scope[name]
        if name in _GLOBAL_CUSTOM_OBJECTS:
            return _GLOBAL_CUSTOM_OBJECTS[name]
    return None


# ----------------------------------------------------------------------------- safe mode

_SAFE_MODE = threading.local()


def in_safe_mode():
    return getattr(_SAFE_MODE, "value", None)


class SafeModeScope:
    def __init__(self, safe_mode=True):
        self.safe_mode = safe_mode

    def __enter__(self):
        self.original = in_safe_mode()
        _SAFE_MODE.value = self.safe_mode
        return self

    def __exit__(self, *args):
        _SAFE_MODE.value = self.original


def enable_unsafe_deserialization():
    """Allow loading Lambda layers with serialized bytecode everywhere (as Keras)."""
    _SAFE_MODE.value = False


# ----------------------------------------------------------------------------- serialize

PLAIN_TYPES = (str, int, float, bool)


def _public_module_and_name(obj):
    cls = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    if cls in _BUILTIN_NAMES:
        module, name = _BUILTIN_NAMES[cls]
        return module, name, cls.__dict__.get("_keras_registered_name")
    registered = _GLOBAL_CUSTOM_NAMES.get(cls)
    module = getattr(cls, "__module__", None)
    if module == "__main__":
        module = None
    return module, cls.__name__, registered or cls.__name__


def serialize_keras_object(obj):
    """Produce Keras 3's config JSON structure for `obj`."""
    if obj is None:
        return None
    if isinstance(obj, PLAIN_TYPES):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(x) for x in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, slice):
        return {"class_name": "__slice__", "config": {
            "start": serialize_keras_object(obj.start), "stop": serialize_keras_object(obj.stop),
            "step": serialize_keras_object(obj.step)}}
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(obj, (np.ndarray,)) or _is_tensor(obj):
        # Keras writes torch tensors as `__tensor__`, NumPy arrays as `__numpy__`.
        arr = np.asarray(obj.detach().cpu().numpy() if _is_tensor(obj) else obj)
        return {
            "class_name": "__tensor__" if _is_tensor(obj) else "__numpy__",
            "config": {"value": arr.tolist(), "dtype": str(arr.dtype)},
        }
    if isinstance(obj, np.generic):
        return obj.item()
    if _is_torch_dtype(obj):
        return str(obj).replace("torch.", "")
    if isinstance(obj, types.FunctionType) and obj.__name__ == "<lambda>":
        return {
            "class_name": "__lambda__",
            "config": {"value": list(func_dump(obj))},
        }
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        # Keras 3 always writes module "builtins" for functions.
        if obj in _BUILTIN_NAMES:
            name = _BUILTIN_NAMES[obj][1]
        else:
            name = _GLOBAL_CUSTOM_NAMES.get(obj, obj.__name__)
        return {"module": "builtins", "class_name": "function", "config": name,
                "registered_name": "function"}
    if inspect.isclass(obj):
        module, name, registered = _public_module_and_name(obj)
        return {"module": module, "class_name": name,
                "config": None, "registered_name": registered}
    if hasattr(obj, "get_config"):
        module, name, registered = _public_module_and_name(obj)
        try:
            config = obj.get_config()
        except NotImplementedError as e:
            raise NotImplementedError(
                f"Object {obj} of class {type(obj).__name__} cannot be serialized: "
                "it does not implement get_config()."
            ) from e
        result = {
            "module": module,
            "class_name": name,
            "config": serialize_dict(config),
            "registered_name": registered,
        }
        if hasattr(obj, "get_build_config"):
            build_config = obj.get_build_config()
            if build_config is not None:
                result["build_config"] = serialize_dict(build_config)
        if hasattr(obj, "get_compile_config"):
            compile_config = obj.get_compile_config()
            if compile_config is not None:
                result["compile_config"] = serialize_dict(compile_config)
        return result
    raise TypeError(f"Cannot serialize object {obj!r} of type {type(obj)}.")


def serialize_dict(config):
    if not isinstance(config, dict):
        return serialize_keras_object(config)
    return {k: serialize_keras_object(v) for k, v in config.items()}


def _is_tensor(obj):
    import torch

    return isinstance(obj, torch.Tensor)


def _is_torch_dtype(obj):
    import torch

    return isinstance(obj, torch.dtype)


def func_dump(func):
    """Keras's `func_dump`: (base64 marshalled code, defaults, closure), written so real Keras
    can load the lambda with safe_mode=False. tkeras itself never loads such bytecode."""
    import codecs
    import marshal

    code = codecs.encode(marshal.dumps(func.__code__), "base64").decode("ascii")
    closure = tuple(c.cell_contents for c in func.__closure__) if func.__closure__ else None
    return code, func.__defaults__, closure


# ----------------------------------------------------------------------------- deserialize


class UnsafeConfigError(ValueError):
    """A config asks for something tkeras refuses to do (e.g. run serialized bytecode)."""


def _unknown_name_error(name, what="object"):
    return ValueError(
        f"Could not locate {what} '{name}'. Make sure it is registered: decorate it with "
        "`@tkeras.saving.register_keras_serializable()`, or pass it in "
        f"`custom_objects={{'{name}': {name}}}` (or use `tkeras.saving.CustomObjectScope`)."
    )


def _family_hint(module_objects, printable_module_name):
    if isinstance(module_objects, str):
        return module_objects
    if printable_module_name in FAMILIES:
        return printable_module_name
    return None


def resolve_class(class_name, module=None, registered_name=None, custom_objects=None,
                  family=None):
    """Find the object a config names, in custom objects and the built-in tables only."""
    obj = _lookup_custom([registered_name, class_name], custom_objects)
    if obj is not None:
        return obj
    return _resolve_builtin(class_name, module, family)


def _resolve_builtin(class_name, module=None, family=None):
    """A built-in (keras_export-ed) object named `class_name`, from the family its module or the
    caller implies."""
    families = []
    mod_family = _family_of(module) if module else None
    if mod_family and mod_family != "keras":
        families.append(mod_family)
    if family:
        families.append(family)
    if module in (None, "keras") or mod_family == "keras" or not families:
        families.extend(["models", "layers"])
    for fam in families:
        obj = _BUILTIN.get((fam, class_name))
        if obj is not None:
            return obj
    if module is None or module.startswith("keras") or module == "builtins":
        # Last resort for legacy configs that name a built-in without any module.
        for (fam, name), obj in _BUILTIN.items():
            if name == class_name and (not family or fam == family):
                return obj
    return None


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, module_objects=None,
                             printable_module_name="object", **kwargs):
    """Turn a Keras 3 (or Keras 2) config back into an object, through the registry only."""
    safe_scope = in_safe_mode()
    if safe_scope is not None:
        safe_mode = safe_scope
    family = _family_hint(module_objects, printable_module_name)
    custom_objects = dict(custom_objects or {})
    if config is None:
        return None
    if isinstance(config, str):
        # As Keras: `module_objects` only resolve plain-string identifiers.
        if isinstance(module_objects, dict) and config in module_objects and (
                config not in custom_objects):
            return module_objects[config]
        obj = resolve_class(config, custom_objects=custom_objects, family=family)
        if obj is None:
            raise _unknown_name_error(config, printable_module_name)
        return obj
    if isinstance(config, PLAIN_TYPES):
        return config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(x, custom_objects, safe_mode, module_objects,
                                         printable_module_name) for x in config]
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config!r}")
    if "class_name" not in config or "config" not in config:
        return {k: deserialize_keras_object(v, custom_objects, safe_mode)
                if isinstance(v, dict) and "class_name" in v else v for k, v in config.items()}
    class_name = config["class_name"]
    inner = config["config"]
    module = config.get("module")
    registered_name = config.get("registered_name")

    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__slice__":
        return slice(*(deserialize_keras_object(inner.get(k), custom_objects, safe_mode)
                       for k in ("start", "stop", "step")))
    if class_name == "__numpy__":
        return np.array(inner["value"], dtype=inner.get("dtype"))
    if class_name == "__tensor__":
        import torch

        return torch.from_numpy(np.array(inner["value"], dtype=inner.get("dtype")))
    if class_name == "__lambda__":
        if safe_mode:
            raise UnsafeConfigError(
                "Requested the deserialization of a Python lambda (serialized bytecode). "
                "This is refused in safe mode because it can run arbitrary code. Pass "
                "`safe_mode=False` only if you trust the source of this file."
            )
        raise UnsafeConfigError(
            "tkeras never executes serialized bytecode: rewrite the lambda as a registered "
            "function (`@tkeras.saving.register_keras_serializable()`) and save again."
        )
    if class_name == "__keras_tensor__":
        raise ValueError("A `__keras_tensor__` entry can only appear inside a model's graph.")
    if class_name == "function":
        fn_name = inner
        obj = _lookup_custom([fn_name], custom_objects)
        if obj is None:
            fam = _family_of(module) if module else None
            for f in filter(None, [fam, family, "activations", "losses", "metrics"]):
                obj = _BUILTIN.get((f, fn_name))
                if obj is not None:
                    break
        if obj is None:
            raise _unknown_name_error(fn_name, "function")
        return obj

    cls = _lookup_custom([registered_name, class_name], custom_objects)
    if cls is None and isinstance(module_objects, dict):
        cls = module_objects.get(class_name)  # a family's own table (not for "function")
    if cls is None:
        cls = _resolve_builtin(class_name, module, family)
    if cls is None:
        raise _unknown_name_error(registered_name or class_name, printable_module_name)
    if inspect.isfunction(cls) or not inspect.isclass(cls):
        return cls
    if not hasattr(cls, "from_config"):
        raise TypeError(f"Class {class_name} has no from_config() method.")
    with CustomObjectScope(custom_objects), SafeModeScope(safe_mode):
        try:
            instance = cls.from_config(inner)
        except TypeError as e:
            raise TypeError(
                f"{cls.__name__}.from_config() could not be called with the config "
                f"{_short(inner)}. Error: {e}"
            ) from e
        build_config = config.get("build_config")
        if build_config and hasattr(instance, "build_from_config") and not getattr(
            instance, "built", True
        ):
            instance.build_from_config(build_config)
        compile_config = config.get("compile_config")
        if compile_config and hasattr(instance, "compile_from_config"):
            instance.compile_from_config(compile_config)
    return instance


def _short(obj, limit=300):
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + "..."


def to_snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name
