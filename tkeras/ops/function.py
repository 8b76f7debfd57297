"""`Function`: a graph of Keras ops (and layer calls) on `KerasTensor`s, callable on tensors.

Keras behaviour kept: `Function(inputs, outputs, name=None)` with nested structures of
`KerasTensor`s (plain `keras.KerasTensor(shape)` inputs need no `Input` layer); calling it
checks the input structure and ranks/fixed dimensions, runs every node once in topological
order, and returns the outputs in `outputs`' structure; called on `KerasTensor`s it returns
their specs (and records a node, so a `Function` can be used inside another graph). It tracks
no variables (it is not a `Layer` to Keras; here it is a weightless torch module). Deliberate
difference: `operations` lists the graph's operations in execution order (Keras sorts them by
depth; the results are the same).
"""

from tkeras.core.registry import keras_export
from tkeras.model.functional import _pack
from tkeras.model.keras_tensor import KerasTensor
from tkeras.model.node import dict_keys, flatten_tensors
from tkeras.ops.operation import Operation


def _execution_plan(inputs, outputs):
    """The non-input nodes between `inputs` and `outputs`, each after the nodes it reads."""
    input_ids = {id(x) for x in inputs}
    plan, done, in_progress = [], set(), set()

    def visit(tensor):
        if id(tensor) in input_ids:
            return
        history = tensor._keras_history
        if history is None:
            raise ValueError(f"Graph disconnected: cannot find parent for tensor {tensor}: it "
                             "is neither one of `inputs` nor computed from them.")
        node = history.operation._inbound_nodes[history.node_index]
        if id(node) in done:
            return
        if node.is_input:
            raise ValueError(f"Graph disconnected: input {tensor} is not one of `inputs`.")
        if id(node) in in_progress:
            raise ValueError(f"Tensor {tensor} from operation '{history.operation.name}' is part "
                             "of a cycle.")
        in_progress.add(id(node))
        for parent in node.input_tensors:
            visit(parent)
        in_progress.discard(id(node))
        done.add(id(node))
        plan.append(node)

    for output in outputs:
        visit(output)
    return plan


@keras_export("keras.Function")
class Function(Operation):
    """`Function(inputs, outputs, name=None)`: `fn(values)` computes `outputs` from `inputs`."""

    def __init__(self, inputs, outputs, name=None):
        super().__init__(name=name)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._inputs = flatten_tensors(inputs)
        self._outputs = flatten_tensors(outputs)
        if not self._inputs:
            raise ValueError(f"`inputs` argument cannot be empty. Received:\ninputs={inputs}\n"
                             f"outputs={outputs}")
        if not self._outputs:
            raise ValueError(f"`outputs` argument cannot be empty. Received:\ninputs={inputs}\n"
                             f"outputs={outputs}")
        self._plan = _execution_plan(self._inputs, self._outputs)
        operations = []
        for node in self._plan:
            if not any(node.operation is op for op in operations):
                operations.append(node.operation)
        self._operations = operations

    @property
    def operations(self):
        return self._operations[:]

    @property
    def inputs(self):
        """Flat list of the symbolic inputs."""
        return self._inputs

    @property
    def outputs(self):
        """Flat list of the symbolic outputs."""
        return self._outputs

    def call(self, inputs):
        self._assert_input_compatibility(inputs)
        return self._run_through_graph(inputs, lambda op: op)

    def compute_output_spec(self, inputs):
        self._assert_input_compatibility(inputs)
        return self._run_through_graph(inputs, lambda op: op.compute_output_spec)

    def compute_output_shape(self, input_shape):
        specs = [KerasTensor(shape, dtype=ref.dtype)
                 for shape, ref in zip(_flatten_shapes(input_shape), self._inputs)]
        output_spec = self.compute_output_spec(_pack(self._inputs_struct, specs))
        return _map_tensors(lambda x: x.shape, output_spec)

    def _run_through_graph(self, inputs, operation_fn):
        values = {id(ref): value for ref, value in zip(self._inputs, _flatten_values(inputs))}
        for node in self._plan:
            args, kwargs = node.fill_in(values)
            outputs = operation_fn(node.operation)(*args, **kwargs)
            for ref, value in zip(node.outputs, _flatten_values(outputs)):
                values[id(ref)] = value
        return _pack(self._outputs_struct, [values[id(x)] for x in self._outputs])

    def _assert_input_compatibility(self, inputs):
        flat = _flatten_values(inputs)
        if not _same_structure(inputs, self._inputs_struct):
            raise ValueError(
                "Function was called with an invalid input structure. Expected input "
                f"structure: {self._inputs_struct}\nReceived input structure: {inputs}")
        for x, ref in zip(flat, self._inputs):
            shape = tuple(x.shape)
            if len(shape) != len(ref.shape) or any(
                    r is not None and d is not None and d != r for d, r in zip(shape, ref.shape)):
                raise ValueError(
                    f"{type(self).__name__} was passed incompatible inputs. For input "
                    f"'{ref.name}', expected shape {ref.shape}, but received instead a tensor "
                    f"with shape {shape}.")


def _flatten_values(structure):
    """Leaves of nested lists/tuples/dicts (dict values by sorted key, as `flatten_tensors`)."""
    from tkeras.model.functional import _flatten

    return _flatten(structure) if isinstance(structure, (list, tuple, dict)) else [structure]


def _flatten_shapes(shapes):
    """Shape tuples of a nested structure of shapes (a shape is a tuple of ints/None)."""
    if isinstance(shapes, dict):
        return [s for k in dict_keys(shapes) for s in _flatten_shapes(shapes[k])]
    if isinstance(shapes, (list, tuple)) and all(d is None or isinstance(d, int) for d in shapes):
        return [tuple(shapes)]
    return [s for item in shapes for s in _flatten_shapes(item)]


def _same_structure(values, reference):
    if isinstance(reference, (list, tuple)):
        return (isinstance(values, (list, tuple)) and len(values) == len(reference)
                and all(_same_structure(v, r) for v, r in zip(values, reference)))
    if isinstance(reference, dict):
        return (isinstance(values, dict) and set(values) == set(reference)
                and all(_same_structure(values[k], r) for k, r in reference.items()))
    return not isinstance(values, (list, tuple, dict))


def _map_tensors(fn, structure):
    if isinstance(structure, KerasTensor):
        return fn(structure)
    if isinstance(structure, (list, tuple)):
        return type(structure)(_map_tensors(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: _map_tensors(fn, v) for k, v in structure.items()}
    return structure
