"""`clone_model`: the same architecture with new layers (and new weights), as in Keras."""

from tkeras.layers.input_layer import Input
from tkeras.layers.input_layer import InputLayer
from tkeras.layers.layer import flatten


def _default_clone(layer):
    return layer.__class__.from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False, **kwargs):
    from tkeras.model.functional import Functional
    from tkeras.model.functional import _pack
    from tkeras.model.sequential import Sequential

    clone_function = clone_function or _default_clone
    if recursive:
        inner = clone_function

        def clone_function(layer):
            if isinstance(layer, (Functional, Sequential)):
                return clone_model(layer, clone_function=inner, recursive=True)
            return inner(layer)

    if isinstance(model, Sequential):
        layers = [clone_function(layer) for layer in model.layers]
        clone = Sequential(name=model.name, trainable=model.trainable)
        if input_tensors is not None:
            clone.add(flatten(input_tensors)[0])
        elif model._input_layer is not None:
            clone.add(Input(batch_shape=model._input_layer.batch_shape,
                            dtype=model._input_layer.dtype, name=model._input_layer.name))
        for layer in layers:
            clone.add(layer, rebuild=False)
        clone._maybe_rebuild()
        return _compiled_like(model, clone)
    if isinstance(model, Functional):
        if input_tensors is None:
            new_inputs = [Input(batch_shape=x.shape, dtype=x.dtype,
                                name=x._keras_history.operation.name) for x in model.inputs]
        else:
            new_inputs = flatten(input_tensors)
        cloned = {}

        def call(op, args, kwargs):
            if op not in cloned:
                cloned[op] = op if isinstance(op, InputLayer) else clone_function(op)
            if call_function is not None:
                return call_function(cloned[op], *args, **kwargs)
            return cloned[op](*args, **kwargs)

        outputs = model._run_graph(new_inputs, call)
        inputs = _pack(model._inputs_struct, new_inputs)
        return _compiled_like(model, Functional(inputs, outputs, name=model.name))
    return model.__class__.from_config(model.get_config())


def _compiled_like(model, clone):
    """As Keras: the clone of a compiled Sequential/functional model is compiled the same way
    (`compile_from_config(model.get_compile_config())`: a new optimizer, same settings)."""
    if model.compiled:
        clone.compile_from_config(model.get_compile_config())
    return clone
