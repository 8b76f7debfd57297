"""`is_keras_tensor` and `get_source_inputs` for functional-API graphs."""

from tkeras.model.keras_tensor import KerasTensor


def is_keras_tensor(x):
    """Whether `x` is a symbolic `KerasTensor` (as made by `keras.Input` and layer calls)."""
    return isinstance(x, KerasTensor)


def get_source_inputs(tensor):
    """The list of input tensors (graph sources) that `tensor` is computed from."""
    if not hasattr(tensor, "_keras_history"):
        return tensor
    history = tensor._keras_history
    if history is None or not history.operation._inbound_nodes:
        return [tensor]
    node = history.operation._inbound_nodes[history.node_index]
    if node.is_input:
        return list(node.outputs)
    sources = []
    for parent in node.input_tensors:
        for x in get_source_inputs(parent):
            if all(x is not s for s in sources):
                sources.append(x)
    return sources
