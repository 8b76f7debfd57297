"""What the object families (activations, initializers, regularizers, constraints) share:
their name tables and Keras's `get` lookup. Each family keeps its own `serialize`,
`deserialize` and `get` functions (Keras's signatures) and its own `None` and string rules."""

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
