"""`keras.legacy.saving` (also `keras.utils.legacy`): Keras 2 style (de)serialization.

Keras 2 configs are `{"class_name": ..., "config": {...}}` without `module`/`registered_name`.
Names resolve as in Keras's legacy serializer: the `CustomObjectScope`s, the registered custom
objects, `custom_objects`, then the `module_objects` dict; built-ins are found only through
`module_objects` (as in Keras). Lookups go through `tkeras.core.registry`, never an import.

Deliberate differences: a name (string identifier) resolves through `module_objects` and the
scopes too (Keras 3.15.1 raises an AttributeError unless `custom_objects` has it); shared-object
scopes (`shared_object_id`) are not supported; the
input config is not modified in place; building from a config is capped like
`tkeras.saving.deserialize_keras_object` (`tkeras.compat.safety.MAX_CONFIG_BUILD_BYTES`).
These functions are not registered objects: no config can name them.
"""

import inspect

from tkeras.compat import safety
from tkeras.core import registry


def serialize_keras_object(instance):
    """`{"class_name": registered name, "config": get_config()}`; functions by name.

    Config items that are objects are serialized the same way and marked
    `"__passive_serialization__": True`; items that cannot be serialized are kept as they are.
    """
    instance = inspect.unwrap(instance)
    if instance is None:
        return None
    if hasattr(instance, "get_config"):
        config = {}
        for key, item in instance.get_config().items():
            if isinstance(item, str):
                config[key] = item
                continue
            try:
                serialized = serialize_keras_object(item)
            except ValueError:
                config[key] = item
                continue
            if isinstance(serialized, dict) and not isinstance(item, dict):
                serialized["__passive_serialization__"] = True
            config[key] = serialized
        return {"class_name": registry.get_registered_name(type(instance)), "config": config}
    if hasattr(instance, "__name__"):
        return registry.get_registered_name(instance)
    raise ValueError(f"Cannot serialize {instance} because it doesn't implement "
                     "`get_config()`.")


def _unknown(name, printable_module_name):
    return ValueError(
        f"Unknown {printable_module_name}: '{name}'. Please ensure you are using a "
        "`keras.utils.custom_object_scope` and that this object is included in the scope. See "
        "https://www.tensorflow.org/guide/keras/save_and_serialize"
        "#registering_the_custom_object for details.")


def _class_and_config(config, module_objects, custom_objects, printable_module_name):
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(f"Improper config format for {config}. Expecting python dict contains "
                         "`class_name` and `config` as keys")
    cls = registry.get_registered_object(config["class_name"], custom_objects, module_objects)
    if cls is None:
        raise _unknown(config["class_name"], printable_module_name)
    cls_config = config["config"]
    if isinstance(cls_config, list):  # Keras 2.0 Sequential: a list of layer configs
        return cls, cls_config
    cls_config = dict(cls_config)
    for key, item in cls_config.items():
        if key == "name":
            continue
        if isinstance(item, dict) and "__passive_serialization__" in item:
            cls_config[key] = deserialize_keras_object(
                item, module_objects=module_objects, custom_objects=custom_objects,
                printable_module_name="config_item")
        elif isinstance(item, str):
            function = registry.get_registered_object(item, custom_objects, module_objects)
            if inspect.isfunction(function):
                cls_config[key] = function
    return cls, cls_config


def deserialize_keras_object(identifier, module_objects=None, custom_objects=None,
                             printable_module_name="object"):
    """The object a Keras 2 style config (or name) describes; see the module docstring."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        cls, cls_config = _class_and_config(identifier, module_objects, custom_objects,
                                            printable_module_name)
        custom_objects = custom_objects or {}
        with safety.config_budget():
            if not hasattr(cls, "from_config"):  # a function returning an object
                with registry.CustomObjectScope(custom_objects):
                    return cls(**cls_config)
            if "custom_objects" in inspect.signature(cls.from_config).parameters:
                return cls.from_config(cls_config, custom_objects={
                    **registry.get_custom_objects(), **custom_objects})
            with registry.CustomObjectScope(custom_objects):
                return cls.from_config(cls_config)
    if isinstance(identifier, str):
        obj = registry.get_registered_object(identifier, custom_objects, module_objects)
        if obj is None:
            raise _unknown(identifier, printable_module_name)
        return obj() if inspect.isclass(obj) else obj
    if inspect.isfunction(identifier):
        return identifier
    raise ValueError(f"Could not interpret serialized {printable_module_name}: {identifier}")


__all__ = ["deserialize_keras_object", "serialize_keras_object"]
