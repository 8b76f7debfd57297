"""Keras's lookup rule for maps keyed by regexes over layer/variable paths (`LayoutMap`,
`DTypePolicyMap`): the exact key first, else the one key that `re.fullmatch`es the path; a path
matched by several keys is an error. Each map keeps its own Keras error text."""

import re


def match_path(key, mapping, ambiguous_message, default=None):
    """The value of `mapping` for path `key` (`default` when no key matches).

    Several matching keys raise `ValueError(ambiguous_message.format(key=key, matching=keys))`.
    """
    if key in mapping:
        return mapping[key]
    matching = [pattern for pattern in mapping if re.fullmatch(pattern, key)]
    if len(matching) > 1:
        raise ValueError(ambiguous_message.format(key=key, matching=matching))
    return mapping[matching[0]] if matching else default


def check_new_key(key, mapping, map_name):
    """Keras's error for a key set twice in `map_name`."""
    if key in mapping:
        raise ValueError(f"{key} already exist in the {map_name} with value {mapping[key]}. "
                         "Please make sure to not use duplicated keys.")
