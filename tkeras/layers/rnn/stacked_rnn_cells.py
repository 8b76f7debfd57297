"""`StackedRNNCells`: a list of cells that behaves as one cell (each cell's output feeds the
next; the states are one entry per cell)."""

from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.layer import Layer
from tkeras.layers.rnn.rnn import build_child
from tkeras.layers.rnn.rnn import call_cell
from tkeras.layers.rnn.rnn import is_nested
from tkeras.layers.rnn.rnn import zeros_state


def _output_size(cell):
    if getattr(cell, "output_size", None) is not None:
        return cell.output_size
    if isinstance(cell.state_size, (list, tuple)):
        return cell.state_size[0]
    return cell.state_size


@keras_export("keras.layers.StackedRNNCells")
class StackedRNNCells(Layer):
    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        for cell in cells:
            if "call" not in dir(cell):
                raise ValueError("All cells must have a `call` method. "
                                 f"Received cell without a `call` method: {cell}")
            if "state_size" not in dir(cell):
                raise ValueError("All cells must have a `state_size` attribute. "
                                 f"Received cell without a `state_size`: {cell}")
        self.cells = list(cells)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return _output_size(self.cells[-1])

    def get_initial_state(self, batch_size=None):
        initial_states = []
        for cell in self.cells:
            get_initial_state_fn = getattr(cell, "get_initial_state", None)
            if get_initial_state_fn:
                initial_states.append(get_initial_state_fn(batch_size=batch_size))
            elif isinstance(cell.state_size, int):
                initial_states.append(zeros_state(cell, (batch_size, cell.state_size)))
            else:
                initial_states.append([zeros_state(cell, (batch_size, d))
                                       for d in cell.state_size])
        return initial_states

    def call(self, inputs, states, training=False):
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            state_is_list = is_nested(cell_states)
            cell_states = list(cell_states) if state_is_list else [cell_states]
            inputs, cell_states = call_cell(cell, inputs, cell_states, training)
            if not is_nested(cell_states):
                cell_states = [cell_states]
            if len(cell_states) == 1 and not state_is_list:
                cell_states = cell_states[0]
            new_states.append(cell_states)
        if len(new_states) == 1:
            new_states = new_states[0]
        return inputs, new_states

    def build(self, input_shape):
        batch_size = input_shape[0]
        for cell in self.cells:
            if isinstance(cell, Layer):
                build_child(cell, input_shape)
            input_shape = (batch_size, _output_size(cell))
        self.built = True

    def get_config(self):
        cells = [serialize_keras_object(cell) for cell in self.cells]
        return {**super().get_config(), "cells": cells}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cells = [deserialize_keras_object(c, custom_objects=custom_objects,
                                          printable_module_name="layers")
                 for c in config.pop("cells")]
        return cls(cells, **config)
