"""`keras.tree`: nested-structure utilities, in pure Python, with the semantics of Keras 3 on torch.

Nodes (everything else is a leaf, `None` included): `list`, `tuple`, `dict`, `OrderedDict`,
`defaultdict`, `deque`, namedtuples, `torch.Size` (rebuilt as a `tuple`, as torch's pytree does)
and torch's structseq results (`torch.return_types.*`). Subclasses of `list`/`tuple`/`dict`
other than these are leaves.

Keras behaviour kept:
- `flatten`/`flatten_with_path`/`pack_sequence_as` visit `dict` and `defaultdict` values in sorted
  key order (`OrderedDict` in insertion order); `pack_sequence_as`, `traverse`, `lists_to_tuples`
  and `map_shape_structure` return such dicts with sorted keys, `map_structure` keeps the first
  structure's key order.
- `map_structure(f, *structures)` follows the first structure: its leaves may face subtrees of the
  others (passed whole to `f`), not the reverse. Dicts of the three dict kinds match each other by
  keys; other node types must be equal (`list` vs `tuple`, two namedtuple classes: ValueError).
- `assert_same_structure` accepts `dict`/`OrderedDict`/`defaultdict` with the same keys as the
  same; `assert_same_paths` ignores collection types.

Deliberate differences from Keras's torch backend, where tkeras follows Keras's documentation and
its optree backend (JAX/TensorFlow/NumPy) instead:
- dicts nested anywhere under another dict are sorted too (Keras on torch sorts only the dicts
  that have no dict above them);
- in `flatten_with_path` a namedtuple field's path entry is its field index (Keras on torch numbers
  fields by their rank among all field names of the structure, sorted alphabetically).
"""

import collections
import warnings

import torch

__all__ = [
    "MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten", "flatten_with_path",
    "is_nested", "lists_to_tuples", "map_shape_structure", "map_structure", "map_structure_up_to",
    "pack_sequence_as", "traverse",
]

_DICTS = (dict, collections.OrderedDict, collections.defaultdict)
_SEQUENCES = (list, tuple, collections.deque, torch.Size)


class MAP_TO_NONE:
    """Special value for use with `traverse()`: replace the sub-tree with `None`."""


def _is_namedtuple(x):
    cls = type(x)
    return issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple)


def _is_structseq(x):
    cls = type(x)
    return issubclass(cls, tuple) and all(
        hasattr(cls, a) for a in ("n_fields", "n_sequence_fields", "n_unnamed_fields"))


def is_nested(structure):
    """Whether `structure` is a node (a sequence, a mapping or a namedtuple), not a leaf."""
    return type(structure) in _DICTS or type(structure) in _SEQUENCES or (
        _is_namedtuple(structure) or _is_structseq(structure))


def _keys(node, sort=True):
    """The child keys of a node, in flatten order (dict/defaultdict keys sorted when `sort`)."""
    if type(node) in _DICTS:
        return sorted(node) if sort and type(node) is not collections.OrderedDict else list(node)
    return range(len(node))


def _children(node, sort=True):
    return [node[k] for k in _keys(node, sort)]


def _rebuild(node, keys, values):
    """A node of `node`'s type holding `values` under `keys` (dicts keep the given key order)."""
    cls = type(node)
    if cls in _DICTS:
        items = dict(zip(keys, values))
        if cls is collections.defaultdict:
            return collections.defaultdict(node.default_factory, items)
        return cls(items)
    if _is_namedtuple(node):
        return cls(*values)
    if cls is collections.deque:
        return collections.deque(values, maxlen=node.maxlen)
    if cls is torch.Size:  # as torch's pytree (and so Keras): a Size rebuilds as a tuple
        return tuple(values)
    return cls(values)


def _sorted_dicts(node):
    """`node` with every `dict`/`defaultdict` rebuilt in sorted key order (Keras's torch tree)."""
    if not is_nested(node):
        return node
    keys = list(_keys(node))
    return _rebuild(node, keys, [_sorted_dicts(node[k]) for k in keys])


def _flatten(structure, leaves):
    if is_nested(structure):
        for child in _children(structure):
            _flatten(child, leaves)
    else:
        leaves.append(structure)
    return leaves


def flatten(structure):
    """The leaves of `structure` in a list (dict values by sorted key; a leaf -> `[leaf]`)."""
    return _flatten(structure, [])


def _flatten_with_path(structure, path, out):
    if is_nested(structure):
        for k in _keys(structure):
            _flatten_with_path(structure[k], path + (k,), out)
    else:
        out.append((path, structure))
    return out


def flatten_with_path(structure):
    """`(path, leaf)` pairs in `flatten` order; a path is the tuple of indices/keys to the leaf."""
    return _flatten_with_path(structure, (), [])


def _check_node_match(first, other):
    """ValueError unless `other` is a node that `first` (a node) can be mapped with."""
    if type(first) in _DICTS:
        if type(other) not in _DICTS:
            raise ValueError(f"Node type mismatch; expected {type(first)}, but got {type(other)}.")
        if set(first) != set(other):
            missing, extra = set(first) - set(other), set(other) - set(first)
            raise ValueError(f"Node keys mismatch; missing key(s): {missing or '{}'}; "
                             f"extra key(s): {extra or '{}'}.")
        return
    if type(other) is not type(first):
        raise ValueError(f"Node type mismatch; expected {type(first)}, but got {type(other)}.")
    if len(other) != len(first):
        raise ValueError(f"Node arity mismatch; expected {len(first)}, but got {len(other)}.")


def _map(func, first, others, is_leaf=None):
    """`func` over the leaves of `first` and the matching subtrees of `others`."""
    if (is_leaf is not None and is_leaf(first)) or not is_nested(first):
        return func(first, *others)
    for other in others:
        _check_node_match(first, other)
    keys = list(_keys(first, sort=False))
    return _rebuild(first, keys, [_map(func, first[k], [o[k] for o in others], is_leaf)
                                  for k in keys])


def map_structure(func, *structures, none_is_leaf=True):
    """`func` applied leaf-wise across `structures`, in the first structure's layout.

    With `none_is_leaf=False`, `None` leaves of the first structure stay `None` (the other
    structures must hold `None` there too) and `func` is not called on them.
    """
    if not structures:
        raise ValueError("Must provide at least one structure")
    return _map(func if none_is_leaf else _skipping_none(func), structures[0], structures[1:])


def _skipping_none(func):
    def map_func(*args):
        if args[0] is None:
            if not all(a is None for a in args):
                raise ValueError("Structure mismatch: some arguments are None, others are not. "
                                 f"Received arguments: {args}.")
            return None
        return func(*args)

    return map_func


def map_structure_up_to(shallow_structure, func, *structures):
    """`func` over `structures` down to the leaves of `shallow_structure` only; deeper parts of
    `structures` are passed to `func` whole."""
    if not structures:
        raise ValueError("Must provide at least one structure")
    return _map(lambda _, *args: func(*args), shallow_structure, structures)


def assert_same_structure(a, b, check_types=None):
    """ValueError unless `a` and `b` are nested the same way (`check_types` is deprecated and
    ignored, as in Keras)."""
    if check_types is not None:
        if check_types:
            warnings.warn("The `check_types` argument is deprecated and no longer has any "
                          "effect, please remove.", DeprecationWarning, stacklevel=2)
        else:
            warnings.warn("The `check_types` argument is deprecated and no longer has any "
                          "effect. For a looser check, use `keras.tree.assert_same_paths()`, "
                          "which considers `list`, `tuple`, `namedtuple` and `deque` as matching",
                          DeprecationWarning, stacklevel=2)

    def check(a_leaf, b_leaf):
        if is_nested(b_leaf):
            raise ValueError("Structures don't have the same nested structure.")

    _map(check, a, [b])


def assert_same_paths(a, b):
    """ValueError unless `a` and `b` have the same leaf paths (collection types are ignored)."""
    a_paths = {path for path, _ in flatten_with_path(a)}
    b_paths = {path for path, _ in flatten_with_path(b)}
    if a_paths != b_paths:
        msg = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            msg += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            msg += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(msg)


def pack_sequence_as(structure, flat_sequence):
    """`flat_sequence` packed into `structure`'s layout (the inverse of `flatten`)."""
    leaves = list(flat_sequence)
    count = len(flatten(structure))
    if len(leaves) != count:
        raise ValueError(f"`flat_sequence` has length {len(leaves)} but `structure` holds "
                         f"{count} items.")
    leaves = iter(leaves)
    return _map(lambda _: next(leaves), _sorted_dicts(structure), [])


def traverse(func, structure, top_down=True):
    """Depth-first traversal applying `func` to every sub-tree (see Keras's `keras.tree.traverse`).

    Top-down: `func(subtree) is None` descends into it, anything else replaces it (and stops).
    Bottom-up: children first; `func(subtree) is None` keeps the (traversed) subtree.
    `MAP_TO_NONE` as a result replaces the subtree with `None`.
    """
    structure = _sorted_dicts(structure)

    def traverse_children():
        if not is_nested(structure):
            return structure
        keys = list(_keys(structure))
        return _rebuild(structure, keys,
                        [traverse(func, structure[k], top_down=top_down) for k in keys])

    if top_down:
        ret = func(structure)
        if ret is None:
            return traverse_children()
    else:
        traversed = traverse_children()
        ret = func(traversed)
        if ret is None:
            return traversed
    return None if ret is MAP_TO_NONE else ret


def lists_to_tuples(structure):
    """`structure` with every list turned into a tuple."""
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure,
                    top_down=False)


def map_shape_structure(func, structure):
    """`map_structure` where lists/tuples of ints and `None`s (shapes) are leaves."""
    def is_shape_tuple(x):
        return isinstance(x, (list, tuple)) and all(isinstance(e, (int, type(None))) for e in x)

    return _map(func, _sorted_dicts(structure), [], is_leaf=is_shape_tuple)
