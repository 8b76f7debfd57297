"""What the object families (activations, initializers, regularizers, constraints, losses,
metrics) share: their name tables and Keras's `get`/`deserialize` lookups. Each family keeps its
own `serialize`, `deserialize` and `get` functions (Keras's signatures) and its own `None` and
string rules."""

from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import to_snake_case


def names_table(objects, **aliases):
    """`{ClassName: cls, class_name: cls}` for each of `objects`, plus `aliases`."""
    table = {cls.__name__: cls for cls in objects}
    table.update({to_snake_case(cls.__name__): cls for cls in objects})
    table.update(aliases)
    return table


def get_object(identifier, deserialize, from_name, kind, instantiate=True):
    """Keras's `get` for a non-None `identifier`: a config dict is deserialized, a string is
    resolved by `from_name`, anything else is taken as is. The result must be callable; a class
    becomes a default instance when `instantiate` (not for activations)."""
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = from_name(identifier)
    else:
        obj = identifier
    if callable(obj):
        return obj() if instantiate and isinstance(obj, type) else obj
    raise ValueError(f"Could not interpret {kind} identifier: {identifier}")


def abbreviations(**aliases):
    """Each alias (`mse=...`) in lower and upper case, as Keras's loss and metric tables."""
    return {**aliases, **{name.upper(): obj for name, obj in aliases.items()}}


def deserialize_by_name(config, table, custom_objects, family):
    """A name found in `table` resolves to its entry; anything else through the registry (so a
    nested function config is never mistaken for the class of the same name)."""
    if isinstance(config, str) and config in table:
        return table[config]
    return deserialize_keras_object(config, custom_objects=custom_objects,
                                    printable_module_name=family)
