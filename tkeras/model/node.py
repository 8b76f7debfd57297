"""`Node`: one call of a layer on symbolic tensors, the edge list of the functional graph."""

import collections

from tkeras.model.keras_tensor import KerasHistory
from tkeras.model.keras_tensor import KerasTensor


def dict_keys(structure):
    """A dict's keys in Keras's flatten order (`keras.tree` on torch): sorted, except an
    `OrderedDict`'s, which keep their insertion order."""
    if type(structure) is collections.OrderedDict:
        return list(structure)
    try:
        return sorted(structure)
    except TypeError:  # keys that do not compare: insertion order
        return list(structure)


def flatten_tensors(structure):
    """The `KerasTensor`s of a nested structure, in Keras's order (dict values by sorted key)."""
    if isinstance(structure, KerasTensor):
        return [structure]
    if isinstance(structure, (list, tuple)):
        return [t for s in structure for t in flatten_tensors(s)]
    if isinstance(structure, dict):
        return [t for k in dict_keys(structure) for t in flatten_tensors(structure[k])]
    return []


class Node:
    def __init__(self, operation, call_args=(), call_kwargs=None, outputs=None):
        self.operation = operation
        self.call_args = tuple(call_args)
        self.call_kwargs = dict(call_kwargs or {})
        self.outputs = flatten_tensors(outputs)
        self.output_structure = outputs
        self.input_tensors = flatten_tensors(list(self.call_args)) + flatten_tensors(
            self.call_kwargs)
        self.is_input = not self.input_tensors
        node_index = len(operation._inbound_nodes)
        operation._inbound_nodes.append(self)
        for i, tensor in enumerate(self.outputs):
            tensor._keras_history = KerasHistory(operation, node_index, i)
        for parent in self.parent_nodes:
            parent.operation._outbound_nodes.append(self)

    @property
    def parent_nodes(self):
        parents = []
        for tensor in self.input_tensors:
            history = tensor._keras_history
            if history is not None:
                node = history.operation._inbound_nodes[history.node_index]
                if node not in parents:
                    parents.append(node)
        return parents

    def fill_in(self, tensor_dict):
        """Call args/kwargs with each KerasTensor replaced by its computed value."""

        def fill(structure):
            if isinstance(structure, KerasTensor):
                return tensor_dict[id(structure)]
            if isinstance(structure, list):
                return [fill(s) for s in structure]
            if isinstance(structure, tuple):
                return tuple(fill(s) for s in structure)
            if isinstance(structure, dict):
                return {k: fill(v) for k, v in structure.items()}
            return structure

        return fill(list(self.call_args)), fill(self.call_kwargs)
