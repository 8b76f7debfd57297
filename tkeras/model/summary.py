"""`model.summary()` in Keras 3's table layout (box drawing, wrapped cells, param totals)."""

import textwrap

import numpy as np


def _format_shape(layer):
    """As Keras: the output shapes of the layer's last call in a graph; for a layer built by an
    eager call (sub-layers of a subclassed model), its `output_shape` or `compute_output_shape`
    of the shapes it was built with ("?" when it has none)."""
    try:
        outputs = layer._inbound_nodes[-1].outputs if layer._inbound_nodes else None
    except AttributeError:
        outputs = None
    if outputs:
        shapes = [str(tuple(t.shape)).replace(",)", ")") for t in outputs]
        return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"
    build_shapes = getattr(layer, "_build_shapes", None)
    if not build_shapes:
        return "?"
    try:
        try:
            shapes = layer.output_shape
        except AttributeError:
            if "input_shape" in build_shapes:  # positional: the argument's name varies
                shapes = layer.compute_output_shape(build_shapes["input_shape"])
            else:
                shapes = layer.compute_output_shape(**build_shapes["shapes_dict"])
    except (NotImplementedError, TypeError, ValueError):  # a summary never fails on it
        return "?"
    return _shape_text(shapes)


def _shape_text(shapes):
    """`(None, 8)` for a shape; nested lists/tuples of shapes keep their brackets."""
    if isinstance(shapes, (tuple, list)) and all(d is None or isinstance(d, int) for d in shapes):
        return "(" + ", ".join(str(d) for d in shapes) + ")"
    parts = ", ".join(_shape_text(s) for s in shapes)
    return f"[{parts}]" if isinstance(shapes, list) else f"({parts})"


def _count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def _wrap(text, width):
    lines = []
    for part in str(text).split("\n"):
        lines.extend(textwrap.wrap(part, width, break_long_words=True) or [""])
    return lines


def _row(cells, widths, aligns):
    wrapped = [_wrap(c, w) for c, w in zip(cells, widths)]
    height = max(len(w) for w in wrapped)
    out = []
    for i in range(height):
        parts = []
        for lines, w, align in zip(wrapped, widths, aligns):
            text = lines[i] if i < len(lines) else ""
            parts.append(" " + (text.rjust(w) if align == "r" else text.ljust(w)) + " ")
        out.append("│" + "│".join(parts) + "│")
    return out


def _connections(layer, model):
    names = []
    in_graph = set()
    for nodes in getattr(model, "_nodes_by_depth", {}).values():
        in_graph.update(id(n) for n in nodes)
    for node in layer._inbound_nodes:
        if id(node) not in in_graph or node.is_input:
            continue
        for t in node.input_tensors:
            op, node_index, tensor_index = t._keras_history
            names.append(f"{op.name}[{node_index}][{tensor_index}]")
    return ", ".join(names) if names else "-"


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    from tkeras.model.functional import Functional

    print_fn = print_fn or print
    functional = isinstance(model, Functional)
    if functional:
        widths, headers, aligns = [19, 17, 10, 17], ["Layer (type)", "Output Shape", "Param #",
                                                     "Connected to"], ["l", "l", "r", "l"]
    else:
        widths, headers, aligns = [31, 22, 13], ["Layer (type)", "Output Shape", "Param #"], [
            "l", "l", "r"]
    if show_trainable:
        widths.append(9)
        headers.append("Trainable")
        aligns.append("l")
    lines = [f'Model: "{model.name}"']
    lines.append("┏" + "┳".join("━" * (w + 2) for w in widths) + "┓")
    lines.append("┃" + "┃".join(" " + (h.rjust(w) if a == "r" else h.ljust(w)) + " "
                                 for h, w, a in zip(headers, widths, aligns)) + "┃")
    lines.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    layers = model.layers
    rows = []
    for layer in layers:
        params = _count(layer.weights) if layer.built else 0
        cells = [f"{layer.name} ({type(layer).__name__})", _format_shape(layer),
                 f"{params:,}" if layer.built else "0 (unbuilt)"]
        if functional:
            cells.append(_connections(layer, model))
        if show_trainable:
            cells.append("Y" if layer.trainable else "N")
        rows.append(_row(cells, widths, aligns))
    separator = "├" + "┼".join("─" * (w + 2) for w in widths) + "┤"
    for i, row in enumerate(rows):
        if i:
            lines.append(separator)
        lines.extend(row)
    lines.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    total = trainable + non_trainable
    sizes = {id(w): w.element_size() for w in model.weights}
    t_bytes = sum(np.prod(w.shape) * sizes[id(w)] for w in model.trainable_weights)
    n_bytes = sum(np.prod(w.shape) * sizes[id(w)] for w in model.non_trainable_weights)
    lines.append(f" Total params: {total:,} ({_readable(t_bytes + n_bytes)})")
    lines.append(f" Trainable params: {trainable:,} ({_readable(t_bytes)})")
    lines.append(f" Non-trainable params: {non_trainable:,} ({_readable(n_bytes)})")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "variables") and getattr(
            optimizer, "built", False):
        o_count = _count(optimizer.variables)
        o_bytes = sum(np.prod(v.shape) * v.element_size() for v in optimizer.variables)
        lines.append(f" Optimizer params: {o_count:,} ({_readable(o_bytes)})")
    if print_fn is print:
        print("\n".join(lines))
    else:  # as Keras: one call with the whole table, ending in a newline
        print_fn("\n".join(lines) + "\n")


def _readable(num_bytes):
    num_bytes = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024
