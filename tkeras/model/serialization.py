"""`model_from_json` for Keras 3 JSON and tf.keras 2 JSON (no `module` keys)."""

import json

from tkeras.compat import safety
from tkeras.core.registry import deserialize_keras_object


def model_from_json(json_string, custom_objects=None):
    """Rebuild a model (fresh weights) from `model.to_json()` output of Keras 3 or tf.keras 2."""
    try:
        config = json.loads(json_string)
    except ValueError as e:
        raise ValueError(f"model_from_json: the string is not valid JSON ({e}).") from e
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("model_from_json: expected a JSON object with a 'class_name' key.")
    with safety.config_budget():  # a config alone may not allocate more than the machine has
        return deserialize_keras_object(config, custom_objects=custom_objects,
                                        printable_module_name="models")
