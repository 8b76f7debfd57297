"""`keras.utils.model_to_dot` / `keras.utils.plot_model`: a model's layer graph as a pydot
graph, and its rendering through graphviz.

As Keras: one HTML-table node per layer named `str(id(layer))` (name/class, activation, input and
output shapes, output dtype, trainable), edges from each layer's producers within the model,
nested `Functional`/`Sequential` models drawn as dashed clusters with `expand_nested=True`, a
subclassed model as a single node. Needs `pydot` (or `pydot_ng`/`pydotplus`); `plot_model` also
needs the graphviz `dot` program for every output format, `.dot` included. `layer_range` raises
"no longer supported", as in Keras 3.
"""

import os
import sys

from tkeras.core.registry import keras_export
from tkeras.utils.io_utils import print_msg

try:
    import pydot
except ImportError:  # older pydot forks, as Keras
    try:
        import pydot_ng as pydot
    except ImportError:
        try:
            import pydotplus as pydot
        except ImportError:
            pydot = None


def check_pydot():
    """Whether pydot is importable."""
    return pydot is not None


def check_graphviz():
    """Whether pydot and graphviz both work (by rendering an empty graph)."""
    if not check_pydot():
        return False
    try:
        pydot.Dot.create(pydot.Dot())
        return True
    except (OSError, pydot.PydotException):
        return False


def add_edge(dot, src, dst):
    src_id, dst_id = str(id(src)), str(id(dst))
    if not dot.get_edge(src_id, dst_id):
        edge = pydot.Edge(src_id, dst_id)
        edge.set("penwidth", "2")
        dot.add_edge(edge)


def get_layer_activation_name(layer):
    if hasattr(layer.activation, "name"):
        return layer.activation.name
    if hasattr(layer.activation, "__name__"):
        return layer.activation.__name__
    return str(layer.activation)


def _map_structure(fn, structure):
    if isinstance(structure, dict):
        return {k: _map_structure(fn, v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(_map_structure(fn, v) for v in structure)
    return fn(structure)


def _format_shape(shape):
    if shape is None:
        return "?"
    if isinstance(shape, dict):
        shape_str = ", ".join(f"{k}: {v}" for k, v in shape.items())
    else:
        shape_str = f"{shape}"
    return shape_str.replace("}", "").replace("{", "")


def _cell(text, bgcolor="white", color=None):
    font = f'<font point-size="14" color="{color}">' if color else '<font point-size="14">'
    return f'<td bgcolor="{bgcolor}">{font}{text}</font></td>'


def make_layer_label(layer, **kwargs):
    """The HTML-like table label of one layer node (Keras's markup, byte for byte)."""
    class_name = layer.__class__.__name__
    show_layer_names = kwargs.pop("show_layer_names")
    show_layer_activations = kwargs.pop("show_layer_activations")
    show_dtype = kwargs.pop("show_dtype")
    show_shapes = kwargs.pop("show_shapes")
    show_trainable = kwargs.pop("show_trainable")
    if kwargs:
        raise ValueError(f"Invalid kwargs: {kwargs}")

    table = '<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
    colspan = max(1, int(show_dtype) + int(show_trainable) + (2 if show_shapes else 0))
    title = f"<b>{layer.name}</b> ({class_name})" if show_layer_names else f"<b>{class_name}</b>"
    table += (f'<tr><td colspan="{colspan}" bgcolor="black">'
              f'<font point-size="16" color="white">{title}</font></td></tr>')
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        table += (f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
                  f"Activation: <b>{get_layer_activation_name(layer)}</b></font></td></tr>")

    cols = []
    if show_shapes:
        input_shape = output_shape = None
        try:
            input_shape = _map_structure(lambda x: x.shape, layer.input)
            output_shape = _map_structure(lambda x: x.shape, layer.output)
        except (ValueError, AttributeError):
            pass
        if class_name != "InputLayer":
            cols.append(_cell(f"Input shape: <b>{_format_shape(input_shape)}</b>"))
        cols.append(_cell(f"Output shape: <b>{_format_shape(output_shape)}</b>"))
    if show_dtype:
        dtype = None
        try:
            dtype = _map_structure(lambda x: x.dtype, layer.output)
        except (ValueError, AttributeError):
            pass
        cols.append(_cell(f"Output dtype: <b>{dtype or '?'}</b>"))
    if show_trainable and hasattr(layer, "trainable") and layer.weights:
        if layer.trainable:
            cols.append(_cell("<b>Trainable</b>", "forestgreen", "white"))
        else:
            cols.append(_cell("<b>Non-trainable</b>", "firebrick", "white"))
    if cols:
        table += f"<tr>{''.join(cols)}</tr>"
    return table + "</table>>"


def make_node(layer, **kwargs):
    node = pydot.Node(str(id(layer)), label=make_layer_label(layer, **kwargs))
    node.set("fontname", "Helvetica")
    node.set("border", "0")
    node.set("margin", "0")
    return node


def _network_nodes(model):
    """Ids of the nodes that belong to a functional model's graph (Keras's `model._nodes`)."""
    return {id(node) for nodes in model._nodes_by_depth.values() for node in nodes}


@keras_export("keras.utils.model_to_dot")
def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False,
                 show_trainable=False, splines="ortho", **kwargs):
    """Convert a built model to a `pydot.Dot` (a dashed `pydot.Cluster` named after the model
    when `subgraph=True`), with Keras's node ids, labels, edges and graph attributes."""
    from tkeras.model.functional import Functional
    from tkeras.model.sequential import Sequential

    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by calling "
                         "`build()` or by calling the model on a batch of data.")
    if not check_pydot():
        raise ImportError("You must install pydot (`pip install pydot`) for model_to_dot to work.")

    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")

    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")

    label_kwargs = {
        "show_layer_names": show_layer_names,
        "show_layer_activations": show_layer_activations,
        "show_dtype": show_dtype,
        "show_shapes": show_shapes,
        "show_trainable": show_trainable,
    }
    models = (Functional, Sequential)

    if isinstance(model, Sequential):
        layers = model.layers
    elif not isinstance(model, Functional):  # a subclassed model is a single node
        dot.add_node(make_node(model, **label_kwargs))
        return dot
    else:
        layers = model._operations

    for layer in layers:
        if expand_nested and isinstance(layer, models):
            dot.add_subgraph(model_to_dot(
                layer, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested,
                subgraph=True, show_layer_activations=show_layer_activations,
                show_trainable=show_trainable))
        else:
            dot.add_node(make_node(layer, **label_kwargs))

    if isinstance(model, Sequential):
        if not expand_nested:
            for src, dst in zip(layers[:-1], layers[1:]):
                add_edge(dot, src, dst)
            return dot
        # The first layer's incoming edge comes from outside (the edge to the Sequential).
        layers = model.layers[1:]

    network_nodes = _network_nodes(model) if isinstance(model, Functional) else None
    for layer in layers:
        for inbound_node in layer._inbound_nodes:
            if network_nodes is not None and id(inbound_node) not in network_nodes:
                continue
            for input_index, input_tensor in enumerate(inbound_node.input_tensors):
                history = input_tensor._keras_history
                if history.operation is None:
                    continue
                output_index = history.tensor_index
                source = history.operation._inbound_nodes[history.node_index].operation
                destination = layer
                if not expand_nested:
                    add_edge(dot, source, layer)
                    continue
                # A nested model has no box of its own: connect to the layer producing its
                # output, and into its input layer (Functional) or first layer (Sequential).
                while isinstance(source, models):
                    source, _, output_index = source.outputs[output_index]._keras_history
                while isinstance(destination, models):
                    if isinstance(destination, Functional):
                        destination = destination.inputs[input_index]._keras_history.operation
                    else:
                        destination = destination.layers[0]
                add_edge(dot, source, destination)
    return dot


def _missing(message):
    """Keras's handling of a missing dependency: printed inside IPython, raised elsewhere."""
    if "IPython.core.magics.namespace" in sys.modules:
        print_msg(message)
        return
    raise ImportError(message)


@keras_export("keras.utils.plot_model")
def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, splines="ortho", **kwargs):
    """Render `model_to_dot(model, ...)` to `to_file` (format from its extension, png when
    none) with graphviz; returns an `IPython.display.Image` when IPython is installed and the
    format is not pdf. Raises Keras's `ImportError` without pydot or graphviz."""
    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by calling "
                         "`build()` or by calling the model on a batch of data.")
    if not check_pydot():
        return _missing("You must install pydot (`pip install pydot`) for `plot_model` to work.")
    if not check_graphviz():
        return _missing("You must install graphviz (see instructions at "
                        "https://graphviz.gitlab.io/download/) for `plot_model` to work.")
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")

    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, splines=splines)
    to_file = str(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    dot.write(to_file, format=extension)
    if extension != "pdf":
        try:
            from IPython import display

            return display.Image(filename=to_file)
        except ImportError:
            pass


__all__ = ["model_to_dot", "plot_model"]
