"""Keras-style unique names: `dense`, `dense_1`, ... per session (reset by `clear_session`)."""

import collections

from tkeras.core.registry import to_snake_case

_NAME_COUNTS = collections.Counter()


def uniquify(base):
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def auto_name(class_name):
    return uniquify(to_snake_case(class_name))


def reset_names():
    _NAME_COUNTS.clear()
