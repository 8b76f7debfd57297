"""`RNN`: runs any cell over the time axis (Keras 3 semantics), plus the shared cell helpers.

A cell is a layer with `call(inputs, states, training=False) -> (output, new_states)`, a
`state_size` (int or list) and optionally `output_size` and `get_initial_state(batch_size)`.

Kept from Keras (torch backend): `go_backwards` processes the reversed sequence and returns the
outputs in processed order; with a mask, a masked step keeps the previous states and outputs the
previous output (zeros with `zero_output_for_mask=True`, zeros before the first valid step);
`return_state` returns `[output, *states]`; `stateful=True` keeps the last states (detached, as
Keras assigns them to variables) across calls until `reset_state()`/`reset_states()`, needs a
fixed batch size and never updates during symbolic shape inference. `unroll` is accepted and
gives the same numbers (both are a Python loop in eager torch).

Deliberate differences: dropout masks use torch's global RNG (a `seed` is kept in the config but
does not seed them); cells are stepped through `cell.call` directly (the cell is built by the
RNN), which skips the per-step `Layer.__call__` bookkeeping.
"""

import inspect

import torch

from tkeras.core import dtype_policies
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.layer import Layer


# ---------------------------------------------------------------------------------- structures
def is_nested(x):
    return isinstance(x, (list, tuple))


def flatten(x):
    if is_nested(x):
        return [t for item in x for t in flatten(item)]
    return [x]


def pack_like(structure, flat):
    """Rebuild `structure`'s nesting (lists) from the flat list `flat`."""
    flat = list(flat)

    def build(s):
        if is_nested(s):
            return [build(item) for item in s]
        return flat.pop(0)

    return build(structure)


def map_structure(fn, x):
    if is_nested(x):
        return [map_structure(fn, item) for item in x]
    return fn(x)


_ACCEPTS_TRAINING = {}


def call_cell(cell, inputs, states, training):
    """`cell.call(inputs, states[, training])`; `training` only where the cell accepts it."""
    cls = type(cell)
    accepts = _ACCEPTS_TRAINING.get(cls)
    if accepts is None:
        params = inspect.signature(cell.call).parameters
        accepts = "training" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
        _ACCEPTS_TRAINING[cls] = accepts
    if accepts:
        return cell.call(inputs, states, training=training)
    return cell.call(inputs, states)


def build_child(layer, input_shape):
    """Build a sub-layer from a shape and record it as its build config (as Keras's build
    wrapper does), so nested configs carry the same `build_config`."""
    if not layer.built:
        layer.build_from_config({"input_shape": list(input_shape)})


# ---------------------------------------------------------------------------------- dropout
class DropoutRNNCell:
    """Mixin for cells with `dropout`/`recurrent_dropout`: one mask per RNN call, shared by all
    time steps (a list of `dropout_mask_count` masks when that attribute is set)."""

    _dropout_mask = None
    _recurrent_dropout_mask = None

    def _create_dropout_mask(self, step_input, rate):
        def one():
            keep = torch.empty_like(step_input).bernoulli_(1.0 - rate)
            return keep / (1.0 - rate)

        count = getattr(self, "dropout_mask_count", None)
        return one() if count is None else [one() for _ in range(count)]

    def get_dropout_mask(self, step_input):
        if self._dropout_mask is None and self.dropout > 0:
            self._dropout_mask = self._create_dropout_mask(step_input, self.dropout)
        return self._dropout_mask

    def get_recurrent_dropout_mask(self, step_input):
        if self._recurrent_dropout_mask is None and self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = self._create_dropout_mask(
                step_input, self.recurrent_dropout)
        return self._recurrent_dropout_mask

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None


def zeros_state(layer, shape):
    """Zeros in the layer's compute dtype, on the device of its weights."""
    weights = layer.weights
    device = weights[0].device if weights else None
    return torch.zeros(shape, dtype=dtype_policies.torch_dtype(layer.compute_dtype),
                       device=device)


# ---------------------------------------------------------------------------------- the loop
def _expand(mask_t, like):
    return mask_t.reshape(mask_t.shape + (1,) * (like.ndim - 1))


def rnn_loop(step, inputs, initial_states, mask=None, go_backwards=False,
             zero_output_for_mask=False, return_all_outputs=True):
    """Keras's `backend.rnn` (batch-major): returns `(last_output, outputs, new_states)`.

    `step(x_t, states) -> (output, new_states)`; `states` is a nested list; `outputs` is
    `(batch, time, ...)` in processed order (only the last step when not `return_all_outputs`).
    """
    steps = inputs.shape[1]
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    states = initial_states
    outputs = []
    prev_output = None
    for t in order:
        output, new_states = step(inputs[:, t], states)
        flat_new = flatten(new_states)
        if mask is not None:
            m = mask[:, t]
            if prev_output is None or zero_output_for_mask:
                fill = torch.zeros_like(output)
            else:
                fill = prev_output
            output = torch.where(_expand(m, output), output, fill)
            flat_new = [torch.where(_expand(m, n), n, o)
                        for n, o in zip(flat_new, flatten(states))]
        states = pack_like(states, flat_new)
        prev_output = output
        if return_all_outputs or t == order[-1]:
            outputs.append(output)
    return prev_output, torch.stack(outputs, dim=1), states


# ---------------------------------------------------------------------------------- RNN
@keras_export("keras.layers.RNN")
class RNN(Layer):
    """Base class for recurrent layers: loops `cell` over the time axis."""

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            from tkeras.layers.rnn.stacked_rnn_cells import StackedRNNCells

            cell = StackedRNNCells(cell)
        if "call" not in dir(cell):
            raise ValueError(f"Argument `cell` should have a `call` method. Received: cell={cell}")
        if "state_size" not in dir(cell):
            raise ValueError(
                "The RNN cell should have a `state_size` attribute (single integer or list of "
                f"integers, one integer per RNN state). Received: cell={cell}"
            )
        super().__init__(**kwargs)
        self.zero_output_for_mask = zero_output_for_mask
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.supports_masking = True
        self.input_spec = None
        self._states = None
        self._expected_batch_size = None
        state_size = getattr(self.cell, "state_size", None)
        if state_size is None:
            raise ValueError("state_size must be specified as property on the RNN cell.")
        if not isinstance(state_size, (list, tuple, int)):
            raise ValueError("state_size must be an integer, or a list/tuple of integers "
                             "(one for each state tensor).")
        if isinstance(state_size, int):
            self.state_size = [state_size]
            self.single_state = True
        else:
            self.state_size = list(state_size)
            self.single_state = False

    # -------------------------------------------------------------------------- shapes
    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch_size, length = sequences_shape[0], sequences_shape[1]
        states_shape = []
        for state_size in self.state_size:
            if isinstance(state_size, int):
                states_shape.append((batch_size, state_size))
            elif isinstance(state_size, (list, tuple)):
                states_shape.append([(batch_size, s) for s in state_size])
        output_size = getattr(self.cell, "output_size", None)
        if output_size is None:
            output_size = self.state_size[0]
        if not isinstance(output_size, int):
            raise ValueError("output_size must be an integer.")
        if self.return_sequences:
            output_shape = (batch_size, length, output_size)
        else:
            output_shape = (batch_size, output_size)
        if self.return_state:
            return output_shape, *states_shape
        return output_shape

    def compute_mask(self, _, mask):
        mask = flatten(mask)[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None for _ in self.state_size]
        return output_mask

    # -------------------------------------------------------------------------- build/state
    def build(self, sequences_shape, initial_state_shape=None):
        step_input_shape = (sequences_shape[0],) + tuple(sequences_shape[2:])
        if isinstance(self.cell, Layer):
            build_child(self.cell, step_input_shape)
        if self.stateful:
            if self._states is not None:
                self.reset_state()
            else:
                if sequences_shape[0] is None:
                    raise ValueError(
                        "When using `stateful=True` in a RNN, the batch size must be static. "
                        f"Found dynamic batch size: sequence.shape={tuple(sequences_shape)}"
                    )
                self._states = self.get_initial_state(sequences_shape[0])
                self._expected_batch_size = sequences_shape[0]
        self.built = True

    @property
    def states(self):
        """The carried states of a stateful RNN (None otherwise)."""
        return self._states

    def get_initial_state(self, batch_size):
        get_initial_state_fn = getattr(self.cell, "get_initial_state", None)
        if get_initial_state_fn is None:
            return [zeros_state(self.cell, (batch_size, d)) for d in self.state_size]
        init_state = get_initial_state_fn(batch_size=batch_size)
        return list(init_state) if is_nested(init_state) else [init_state]

    def reset_state(self):
        if self._states is not None:
            self._states = map_structure(torch.zeros_like, self._states)

    def reset_states(self):
        # Keras 2 name, kept by Keras 3 as an alias.
        self.reset_state()

    # -------------------------------------------------------------------------- call
    def inner_loop(self, sequences, initial_state, mask, training=False):
        """`(last_output, outputs, states)`: the generic Python loop over `cell.call`.
        Subclasses try a fused kernel first and fall back here."""
        cell = self.cell

        def step(x_t, states):
            return call_cell(cell, x_t, states, training)

        return rnn_loop(step, sequences, initial_state, mask=mask,
                        go_backwards=self.go_backwards,
                        zero_output_for_mask=self.zero_output_for_mask,
                        return_all_outputs=self.return_sequences)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        from tkeras.model.keras_tensor import SPEC_STATE

        if initial_state is None:
            if self.stateful:
                initial_state = self._states
            else:
                initial_state = self.get_initial_state(sequences.shape[0])
        if self.stateful:
            actual = sequences.shape[0]
            if self._expected_batch_size is not None and actual != self._expected_batch_size:
                raise ValueError(
                    "If an RNN is stateful, the batch size of the input sequences must be the "
                    "same as the batch size of the initial state. \n"
                    f"- Expected batch size: {self._expected_batch_size}\n"
                    f"- Received batch size: {actual}"
                )
        if not is_nested(initial_state):
            initial_state = [initial_state]
        initial_state = map_structure(
            lambda s: torch.as_tensor(s).to(device=sequences.device, dtype=sequences.dtype),
            list(initial_state))
        if mask is not None:
            mask = flatten(mask)[0]
            if mask is not None and mask.dtype != torch.bool:
                mask = mask.bool()
        try:
            last_output, outputs, states = self.inner_loop(
                sequences, initial_state, mask, training=training)
        finally:
            _reset_dropout_masks(self.cell)
        if self.stateful and not SPEC_STATE.active:
            self._states = map_structure(lambda s: s.detach(), states)
        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return output, *states
        return output

    # -------------------------------------------------------------------------- config
    def get_config(self):
        config = {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "cell": serialize_keras_object(self.cell),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cell = deserialize_keras_object(config.pop("cell"), custom_objects=custom_objects,
                                        printable_module_name="layers")
        return cls(cell, **config)


def _reset_dropout_masks(cell):
    if isinstance(cell, DropoutRNNCell):
        cell.reset_dropout_mask()
        cell.reset_recurrent_dropout_mask()
    for sub in getattr(cell, "cells", ()):
        _reset_dropout_masks(sub)
