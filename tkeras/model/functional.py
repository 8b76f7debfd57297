"""`Functional`: a model defined by a graph of layer calls on `KerasTensor`s.

Graph ordering (`model.layers`, execution order) follows Keras's `map_graph` exactly, because
`model.layers` order is part of the `.weights.h5` format. Layers are registered as torch
submodules under their names, so `state_dict()` keys read `dense.kernel`.
"""

import collections

import torch

from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.input_layer import InputLayer
from tkeras.layers.layer import CALL_STATE
from tkeras.layers.layer import Layer
from tkeras.layers.layer import _attach_mask
from tkeras.model.keras_tensor import KerasTensor
from tkeras.model.model import Model
from tkeras.model.node import dict_keys
from tkeras.model.node import flatten_tensors


def _build_map(inputs, outputs):
    finished_nodes, nodes_in_progress = set(), set()
    nodes_in_decreasing_depth, operation_indices = [], {}
    for output in outputs:
        _build_map_helper(inputs, output, finished_nodes, nodes_in_progress,
                          nodes_in_decreasing_depth, operation_indices)
    return nodes_in_decreasing_depth, operation_indices


def _build_map_helper(inputs, tensor, finished_nodes, nodes_in_progress,
                      nodes_in_decreasing_depth, operation_indices):
    if tensor._keras_history is None:
        return
    operation, node_index, _ = tensor._keras_history
    node = operation._inbound_nodes[node_index]
    if node in finished_nodes:
        return
    if not node.is_input and any(tensor is x for x in inputs):
        finished_nodes.add(node)
        return
    if node in nodes_in_progress:
        raise ValueError(f"Tensor {tensor} from operation '{operation.name}' is part of a cycle.")
    if operation not in operation_indices:
        operation_indices[operation] = len(operation_indices)
    nodes_in_progress.add(node)
    if not node.is_input:
        for input_tensor in node.input_tensors:
            _build_map_helper(inputs, input_tensor, finished_nodes, nodes_in_progress,
                              nodes_in_decreasing_depth, operation_indices)
    finished_nodes.add(node)
    nodes_in_progress.remove(node)
    nodes_in_decreasing_depth.append(node)


def map_graph(inputs, outputs):
    """(nodes_by_depth, operations) for the graph between `inputs` and `outputs` (Keras order)."""
    nodes_in_decreasing_depth, operation_indices = _build_map(inputs, outputs)
    nodes_in_graph = set(nodes_in_decreasing_depth)
    nodes_depths, operations_depths = {}, {}
    for node in reversed(nodes_in_decreasing_depth):
        depth = nodes_depths.setdefault(node, 0)
        depth = max(depth, operations_depths.get(node.operation, 0))
        operations_depths[node.operation] = depth
        nodes_depths[node] = depth
        for parent in node.parent_nodes:
            if parent in nodes_in_graph:
                nodes_depths[parent] = max(depth + 1, nodes_depths.get(parent, 0))
    for input_t in inputs:
        operation = input_t._keras_history.operation
        if operation not in operations_depths:
            node = operation._inbound_nodes[input_t._keras_history.node_index]
            if node.is_input:
                operations_depths[operation] = 0
                operation_indices[operation] = -1
                nodes_depths[node] = 0
    nodes_by_depth = collections.defaultdict(list)
    for node, depth in nodes_depths.items():
        nodes_by_depth[depth].append(node)
    operations_by_depth = collections.defaultdict(list)
    for operation, depth in operations_depths.items():
        operations_by_depth[depth].append(operation)
    operations = []
    for depth in sorted(operations_by_depth, reverse=True):
        ops = sorted(operations_by_depth[depth], key=lambda op: operation_indices[op])
        operations.extend(ops)
    computable = {id(x) for x in inputs}
    done = []
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            for x in node.input_tensors:
                if id(x) not in computable:
                    raise ValueError(
                        f"Graph disconnected: cannot find parent for tensor {x} at layer "
                        f"'{node.operation.name}'. The following previous layers were accessed "
                        f"without issue: {done}"
                    )
            done.append(node.operation.name)
            for x in node.outputs:
                computable.add(id(x))
    names = [op.name for op in operations]
    for name in names:
        if names.count(name) != 1:
            raise ValueError(
                f'The name "{name}" is used {names.count(name)} times in the model. All layer '
                "names should be unique."
            )
    return nodes_by_depth, operations


@keras_export("keras.src.models.functional.Functional")
class Functional(Model):
    """A graph model: `Model(inputs, outputs)`."""

    _keras_registered_name = "Functional"
    _convert_input_args = False  # as Keras: inputs are converted by the layers inside

    def __init__(self, inputs, outputs, name=None, **kwargs):
        trainable = kwargs.pop("trainable", True)
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to Functional: {kwargs}")
        Layer.__init__(self, name=name, trainable=True, dtype=dtype)
        self._init_trainer()
        self._init_graph(inputs, outputs)
        if not trainable:
            self.trainable = False

    def _init_graph(self, inputs, outputs):
        if isinstance(inputs, dict):
            for key, value in inputs.items():
                if not isinstance(value, KerasTensor):
                    raise ValueError(f"Input {key!r} is not a KerasTensor: {value!r}")
        for x in flatten_tensors(inputs) + flatten_tensors(outputs):
            if x._keras_history is None:
                raise ValueError(
                    f"All `inputs` and `outputs` of a functional model must come from "
                    f"`tkeras.Input` and layer calls. Received a tensor without history: {x}"
                )
        if not flatten_tensors(outputs):
            raise ValueError(f"`outputs` must contain KerasTensors. Received: {outputs!r}")
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._inputs = flatten_tensors(inputs)
        self._outputs = flatten_tensors(outputs)
        self._nodes_by_depth, self._operations = map_graph(self._inputs, self._outputs)
        for layer in self._operations:
            self._modules[layer.name.replace(".", "_")] = layer
        self._plan = []
        for depth in sorted(self._nodes_by_depth, reverse=True):
            for node in self._nodes_by_depth[depth]:
                if not node.is_input:
                    self._plan.append(node)
        self._run_plan = [_run_entry(node) for node in self._plan]
        self.built = True
        self._build_shapes = None

    # ------------------------------------------------------------------------------ structure
    @property
    def layers(self):
        return [op for op in self._operations if isinstance(op, Layer)]

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_names(self):
        return [x._keras_history.operation.name for x in self._inputs]

    @property
    def output_names(self):
        return [x._keras_history.operation.name for x in self._outputs]

    @property
    def input_shape(self):
        shapes = [x.shape for x in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [x.shape for x in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    # ------------------------------------------------------------------------------ run
    def _standardize_inputs(self, inputs):
        """The flat list of input values, in `self.inputs` order (Keras's `tree.flatten` order:
        dict values by sorted key)."""
        struct = self._inputs_struct
        if isinstance(struct, dict):
            if isinstance(inputs, dict):
                missing = [k for k in struct if k not in inputs]
                if missing:
                    raise ValueError(f"Model '{self.name}' is missing inputs {missing}.")
                return [v for k in dict_keys(struct) for v in _flatten(inputs[k])]
            if list(struct) != dict_keys(struct):
                # As Keras: a dict model takes a list only when its keys are in sorted order.
                raise ValueError(
                    "The structure of `inputs` doesn't match the expected structure.\n"
                    f"Expected: {list(struct)} (a dict)\nReceived: inputs of type "
                    f"{type(inputs).__name__}"
                )
        elif isinstance(inputs, dict):
            names = self.input_names
            if all(n in inputs for n in names):
                return [inputs[n] for n in names]
        flat = _flatten(inputs) if isinstance(inputs, (list, tuple, dict)) else [inputs]
        if len(flat) != len(self._inputs):
            raise ValueError(
                f"Model '{self.name}' expects {len(self._inputs)} input(s), but it received "
                f"{len(flat)} input tensors."
            )
        return flat

    def call(self, inputs, training=None, mask=None):
        flat = self._standardize_inputs(inputs)
        if mask is not None:
            masks = mask if isinstance(mask, (list, tuple)) else [mask]
            for x, m in zip(flat, masks):
                if m is not None and isinstance(x, torch.Tensor):
                    _attach_mask(x, m)
        # As Keras, a `training` the model was given (here: explicitly, from an outer call, or
        # torch train mode) overrides the one each node recorded; else the nodes' apply.
        given = CALL_STATE.training is not None or self.training
        outputs = self._run_graph(flat, node_training=not given)
        # As Keras (`unpack_singleton`): `Model(inputs, [y])` returns `y`, not `[y]`.
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            return outputs[0]
        return outputs

    def _run_graph(self, flat_inputs, call_fn=None, node_training=True):
        """Run the nodes in order on `flat_inputs`: `call_fn(op, args, kwargs)` with the
        recorded call arguments, by default calling each operation (with the `training` its
        node recorded when `node_training`, else leaving it to be inherited)."""
        values = {id(ref): value for ref, value in zip(self._inputs, flat_inputs)}
        for node, single, kwargs, training in self._run_plan:
            if call_fn is not None:
                if any(id(x) not in values for x in node.input_tensors):
                    continue
                args, recorded = node.fill_in(values)
                outputs = call_fn(node.operation, args, recorded)
            elif single is not None:
                # The common node `layer(tensor)`: no structure to fill in.
                value = values.get(id(single))
                if value is None:
                    continue
                if node_training and training is not None:
                    outputs = node.operation(value, training=training)
                else:
                    outputs = node.operation(value)
            else:
                if any(id(x) not in values for x in node.input_tensors):
                    continue
                args, _ = node.fill_in(values)
                kwargs = _fill(kwargs, values)
                if node_training and training is not None:
                    kwargs["training"] = training
                outputs = node.operation(*args, **kwargs)
            outs = [outputs] if isinstance(outputs, (torch.Tensor, KerasTensor)) else _flatten(
                outputs)
            for ref, value in zip(node.outputs, outs):
                values[id(ref)] = value
        return _pack(self._outputs_struct, [values[id(x)] for x in self._outputs])

    def compute_output_spec(self, inputs, training=None, mask=None):
        flat = self._standardize_inputs(inputs)
        return self._run_graph(flat, lambda op, args, kwargs: op.compute_output_spec(*args,
                                                                                     **kwargs))

    def build(self, input_shape):
        self.built = True

    def get_build_config(self):
        return {"input_shape": None}

    # ------------------------------------------------------------------------------ config
    def get_config(self):
        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return functional_from_config(cls, config, custom_objects)


def _run_entry(node):
    """(node, its single tensor argument or None, the keyword arguments to run it with,
    its recorded `training`): an absent mask Keras recorded is left out (masks travel on the
    tensors), and `training` is kept apart for layers (whose model may override it)."""
    kwargs = dict(node.call_kwargs)
    training = kwargs.pop("training", None) if isinstance(node.operation, Layer) else None
    if "mask" in kwargs and all(m is None for m in _flatten(kwargs["mask"])):
        del kwargs["mask"]
    args = node.call_args
    single = args[0] if len(args) == 1 and not kwargs and type(args[0]) is KerasTensor else None
    return node, single, kwargs, training


def _fill(structure, values):
    """`structure` with each KerasTensor replaced by its computed value."""
    if isinstance(structure, KerasTensor):
        return values[id(structure)]
    if isinstance(structure, list):
        return [_fill(s, values) for s in structure]
    if isinstance(structure, tuple):
        return tuple(_fill(s, values) for s in structure)
    if isinstance(structure, dict):
        return {k: _fill(v, values) for k, v in structure.items()}
    return structure


def _flatten(structure):
    """The leaves of a nested list/tuple/dict of values, in `flatten_tensors`'s order."""
    if isinstance(structure, (list, tuple)):
        return [x for s in structure for x in _flatten(s)]
    if isinstance(structure, dict):
        return [x for k in dict_keys(structure) for x in _flatten(structure[k])]
    return [structure]


def _pack(structure, flat_values):
    """`flat_values` in the nesting of `structure`, as Keras's `tree.pack_sequence_as`: values
    are taken in flatten order, and dicts come back with their keys in that (sorted) order."""
    it = iter(flat_values)

    def pack(s):
        if isinstance(s, KerasTensor):
            return next(it)
        if isinstance(s, list):
            return [pack(x) for x in s]
        if isinstance(s, tuple):
            return tuple(pack(x) for x in s)
        if isinstance(s, dict):
            packed = [(k, pack(s[k])) for k in dict_keys(s)]
            return collections.OrderedDict(packed) if isinstance(
                s, collections.OrderedDict) else dict(packed)
        return s

    return pack(structure)


# ---------------------------------------------------------------------------------- config


def functional_config(model):
    """Keras 3's Functional config: layers with inbound nodes, input_layers, output_layers."""
    network_nodes = set()
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            network_nodes.add(id(node))
    node_reindexing = {}
    for layer in model._operations:
        kept = 0
        for i, node in enumerate(layer._inbound_nodes):
            if id(node) in network_nodes:
                node_reindexing[(id(layer), i)] = kept
                kept += 1

    def tensor_config(x):
        op, node_index, tensor_index = x._keras_history
        new_index = node_reindexing.get((id(op), node_index), node_index)
        return {
            "class_name": "__keras_tensor__",
            "config": {"shape": list(x.shape), "dtype": x.dtype,
                       "keras_history": [op.name, new_index, tensor_index]},
        }

    def serialize_args(structure):
        if isinstance(structure, KerasTensor):
            return tensor_config(structure)
        if isinstance(structure, (list, tuple)):
            return [serialize_args(s) for s in structure]
        if isinstance(structure, dict):
            return {k: serialize_args(v) for k, v in structure.items()}
        return serialize_keras_object(structure)

    layer_configs = []
    for layer in model._operations:
        entry = serialize_keras_object(layer)
        entry["name"] = layer.name
        nodes = []
        for i, node in enumerate(layer._inbound_nodes):
            if id(node) not in network_nodes or node.is_input:
                continue
            nodes.append({"args": serialize_args(list(node.call_args)),
                          "kwargs": serialize_args(node.call_kwargs)})
        entry["inbound_nodes"] = nodes
        layer_configs.append(entry)

    def io_config(structure):
        if isinstance(structure, KerasTensor):
            op, node_index, tensor_index = structure._keras_history
            node_index = node_reindexing.get((id(op), node_index), node_index)
            if isinstance(op, Functional) and not isinstance(op, InputLayer):
                node_index += 1  # Keras counts the nested model's own internal node.
            return [op.name, node_index, tensor_index]
        if isinstance(structure, (list, tuple)):
            return [io_config(s) for s in structure]
        if isinstance(structure, dict):
            return {k: io_config(v) for k, v in structure.items()}
        return structure

    config = {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layer_configs,
        "input_layers": io_config(model._inputs_struct),
        "output_layers": io_config(model._outputs_struct),
    }
    return config


def functional_from_config(cls, config, custom_objects=None):
    """Rebuild a Functional model from Keras 3 or Keras 2 (tf.keras) config."""
    created_layers = {}
    unprocessed_nodes = collections.defaultdict(list)
    nested_models = set()

    def process_layer(layer_data):
        layer_name = layer_data["name"]
        layer = deserialize_keras_object(layer_data, custom_objects=custom_objects,
                                         printable_module_name="layers")
        if isinstance(layer, Functional) or type(layer).__name__ == "Sequential":
            nested_models.add(layer_name)
        created_layers[layer_name] = layer
        for node_data in layer_data.get("inbound_nodes", []):
            unprocessed_nodes[layer].append(node_data)

    def get_tensor(layer_name, node_index, tensor_index, legacy):
        layer = created_layers[layer_name]
        if legacy and layer_name in nested_models:
            node_index -= 1  # tf.keras 2 counted the nested model's internal node.
        if node_index >= len(layer._inbound_nodes):
            raise IndexError
        return layer._inbound_nodes[node_index].outputs[tensor_index]

    def deserialize_node_args(value, legacy):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            name, node_index, tensor_index = value["config"]["keras_history"]
            return get_tensor(name, node_index, tensor_index, False)
        if isinstance(value, dict) and "class_name" in value and "config" in value:
            # Non-tensor arguments Keras serialized (slices, Ellipsis, arrays, objects).
            return deserialize_keras_object(value, custom_objects=custom_objects)
        if isinstance(value, list):
            return [deserialize_node_args(v, legacy) for v in value]
        if isinstance(value, dict):
            return {k: deserialize_node_args(v, legacy) for k, v in value.items()}
        return value

    def process_node(layer, node_data):
        if isinstance(node_data, dict):
            args = deserialize_node_args(node_data.get("args", []), False)
            kwargs = deserialize_node_args(node_data.get("kwargs", {}), False)
        else:
            # tf.keras 2: [[layer, node, tensor, kwargs], ...] for the first argument.
            tensors, kwargs = [], {}
            for entry in node_data:
                name, node_index, tensor_index = entry[:3]
                tensors.append(get_tensor(name, node_index, tensor_index, True))
                if len(entry) > 3 and entry[3]:
                    for k, v in entry[3].items():
                        if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str):
                            v = get_tensor(v[0], v[1], v[2], True)
                        kwargs[k] = v
            args = [tensors[0] if len(tensors) == 1 else tensors]
        layer(*args, **kwargs)

    for layer_data in config["layers"]:
        process_layer(layer_data)

    while unprocessed_nodes:
        progressed = False
        for layer_data in config["layers"]:
            layer = created_layers[layer_data["name"]]
            while layer in unprocessed_nodes and unprocessed_nodes[layer]:
                node_data = unprocessed_nodes[layer][0]
                try:
                    process_node(layer, node_data)
                except (KeyError, IndexError):
                    break
                unprocessed_nodes[layer].pop(0)
                progressed = True
            if layer in unprocessed_nodes and not unprocessed_nodes[layer]:
                del unprocessed_nodes[layer]
        if not progressed and unprocessed_nodes:
            stuck = [layer.name for layer in unprocessed_nodes]
            raise ValueError(
                "Invalid Functional model configuration: could not connect the inbound nodes of "
                f"layers {stuck} (disconnected or cyclic graph)."
            )

    def io(structure):
        if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str) \
                and isinstance(structure[1], int):
            name, node_index, tensor_index = structure
            layer = created_layers[name]
            if name in nested_models:
                node_index -= 1
            return layer._inbound_nodes[node_index].outputs[tensor_index]
        if isinstance(structure, list):
            return [io(s) for s in structure]
        if isinstance(structure, dict):
            return {k: io(v) for k, v in structure.items()}
        raise ValueError(f"Invalid input/output layer spec: {structure!r}")

    inputs = io(config["input_layers"])
    outputs = io(config["output_layers"])
    if isinstance(inputs, list) and len(inputs) == 1 and isinstance(config["input_layers"][0],
                                                                    list):
        inputs = inputs[0]
    if isinstance(outputs, list) and len(outputs) == 1 and isinstance(config["output_layers"][0],
                                                                      list):
        outputs = outputs[0]
    model = cls(inputs=inputs, outputs=outputs, name=config.get("name"))
    if config.get("trainable") is False:
        model.trainable = False
    return model
