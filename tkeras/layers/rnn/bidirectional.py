"""`Bidirectional`: runs a recurrent layer forwards and a copy (or `backward_layer`) backwards,
and merges the two outputs (`concat`, `sum`, `mul`, `ave`, or None for a list).

Kept from Keras: the forward layer is re-created from the wrapped layer's config and named
`forward_<name>`; the default backward layer is the same config with `go_backwards=True`, named
`backward_<name>`; `zero_output_for_mask` is forced to `return_sequences` on both; backward
sequence outputs are flipped back to input order; `initial_state` is split in halves;
`return_state` appends the forward then backward states.

Without a mask, two LSTMs (or two reset_after GRUs) that can both use the fused kernel run as
one bidirectional `torch._VF.lstm/gru` call (what `nn.LSTM(bidirectional=True)` runs; cuDNN
runs both directions at once), as Keras does on GPU; otherwise each direction runs its layer's
own (fused when possible) path.
"""

import copy

import torch

from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.layer import Layer
from tkeras.layers.rnn import fused
from tkeras.layers.rnn.gru import GRU
from tkeras.layers.rnn.lstm import LSTM
from tkeras.layers.rnn.rnn import build_child


def _removeprefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


@keras_export("keras.layers.Bidirectional")
class Bidirectional(Layer):
    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `Bidirectional` layer with a "
                             f"`keras.layers.Layer` instance. Received: {layer}")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError("`backward_layer` need to be a `keras.layers.Layer` "
                             f"instance. Received: {backward_layer}")
        if merge_mode not in ["sum", "mul", "ave", "concat", None]:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode}. Merge mode should "
                             'be one of {"sum", "mul", "ave", "concat", None}')
        super().__init__(**kwargs)
        config = serialize_keras_object(layer)
        config["config"]["name"] = f"forward_{_removeprefix(layer.name, 'forward_')}"
        self.forward_layer = deserialize_keras_object(config, printable_module_name="layers")
        if backward_layer is None:
            config = serialize_keras_object(layer)
            config["config"]["go_backwards"] = True
            config["config"]["name"] = f"backward_{_removeprefix(layer.name, 'backward_')}"
            self.backward_layer = deserialize_keras_object(config,
                                                           printable_module_name="layers")
        else:
            self.backward_layer = backward_layer
        if hasattr(layer, "use_cudnn"):
            self.forward_layer.use_cudnn = layer.use_cudnn
            self.backward_layer.use_cudnn = layer.use_cudnn
        self._verify_layer_config()
        for sub in (self.forward_layer, self.backward_layer):
            if getattr(sub, "zero_output_for_mask", None) is not None:
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        if weights:
            nw = len(weights)
            self.forward_layer.initial_weights = weights[: nw // 2]
            self.backward_layer.initial_weights = weights[nw // 2:]
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self.input_spec = layer.input_spec

    def _verify_layer_config(self):
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                "Forward layer and backward layer should have different `go_backwards` value. "
                f"Received: forward_layer.go_backwards {self.forward_layer.go_backwards}, "
                f"backward_layer.go_backwards={self.backward_layer.go_backwards}")
        for a in ("stateful", "return_sequences", "return_state"):
            forward_value = getattr(self.forward_layer, a)
            backward_value = getattr(self.backward_layer, a)
            if forward_value != backward_value:
                raise ValueError(
                    "Forward layer and backward layer are expected to have the same value for "
                    f'attribute "{a}", got "{forward_value}" for forward layer and '
                    f'"{backward_value}" for backward layer')

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        output_shape = self.forward_layer.compute_output_shape(sequences_shape)
        if self.return_state:
            output_shape, state_shape = output_shape[0], tuple(output_shape[1:])
        if self.merge_mode == "concat":
            output_shape = tuple(output_shape[:-1]) + (output_shape[-1] * 2,)
        elif self.merge_mode is None:
            output_shape = [output_shape, output_shape]
        if self.return_state:
            if self.merge_mode is None:
                return tuple(output_shape) + state_shape + state_shape
            return (output_shape,) + state_shape + state_shape
        return tuple(output_shape) if self.merge_mode is not None else output_shape

    def build(self, sequences_shape, initial_state_shape=None):
        build_child(self.forward_layer, sequences_shape)
        build_child(self.backward_layer, sequences_shape)
        self.built = True

    def _fused_kind(self, mask, initial_state, training):
        """'lstm' or 'gru' when both directions can run as one bidirectional fused call."""
        fwd, bwd = self.forward_layer, self.backward_layer
        if mask is not None or self.stateful or type(fwd) is not type(bwd):
            return None
        kind = {LSTM: "lstm", GRU: "gru"}.get(type(fwd))
        if kind is None or not (fwd.built and bwd.built) or fwd.go_backwards:
            return None
        if initial_state is not None and len(initial_state) != (4 if kind == "lstm" else 2):
            return None
        for layer in (fwd, bwd):
            cell = layer.cell
            if not (layer.use_fused_kernel() and cell.use_bias == fwd.cell.use_bias
                    and cell.units == fwd.cell.units and layer._activity_regularizer is None
                    and not (training and cell.dropout)):
                return None
        return kind

    def _call_fused(self, kind, sequences, initial_state):
        fwd, bwd = self.forward_layer, self.backward_layer
        units = fwd.cell.units
        if initial_state is None:
            zeros = sequences.new_zeros((sequences.shape[0], units))
            initial_state = [zeros] * (4 if kind == "lstm" else 2)
        initial_state = [torch.as_tensor(s).to(sequences) for s in initial_state]
        half = len(initial_state) // 2
        states = [torch.stack([f, b]) for f, b in zip(initial_state[:half],
                                                      initial_state[half:])]
        params = fwd.fused_params() + bwd.fused_params()
        has_biases = fwd.cell.use_bias
        result = fused.KERNELS[kind](sequences, tuple(states) if kind == "lstm" else states[0],
                                     params, has_biases, 1, 0.0, torch.is_grad_enabled(), True,
                                     True)
        outputs = result[0]
        if self.return_sequences:
            y, y_rev = outputs[..., :units], outputs[..., units:]
        else:
            y, y_rev = outputs[:, -1, :units], outputs[:, 0, units:]
        new_states = [s[0] for s in result[1:]] + [s[1] for s in result[1:]]
        return y, y_rev, new_states

    def call(self, sequences, initial_state=None, mask=None, training=None):
        kind = self._fused_kind(mask, initial_state, training)
        if kind is not None:
            y, y_rev, states = self._call_fused(kind, sequences, initial_state)
            return self._merge(y, y_rev, tuple(states))
        kwargs = {"training": training}
        if mask is not None:
            kwargs["mask"] = mask
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        else:
            forward_state, backward_state = None, None
        y = self.forward_layer(sequences, initial_state=forward_state, **kwargs)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, **kwargs)
        states = None
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = torch.flip(y_rev, [1])
        return self._merge(y, y_rev, states)

    def _merge(self, y, y_rev, states):
        if self.merge_mode == "concat":
            output = torch.cat([y, y_rev], dim=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            output = y * y_rev
        else:
            output = (y, y_rev)
        if self.return_state:
            if self.merge_mode is None:
                return output + states
            return (output,) + states
        return output

    def compute_mask(self, _, mask):
        if isinstance(mask, list):
            mask = mask[0]
        if self.return_sequences:
            output_mask = mask if self.merge_mode else (mask, mask)
        else:
            output_mask = None if self.merge_mode else (None, None)
        if self.return_state and self.states is not None:
            state_mask = tuple(None for _ in self.states)
            if isinstance(output_mask, tuple):
                return output_mask + state_mask
            return (output_mask,) + state_mask
        return output_mask

    @property
    def states(self):
        if self.forward_layer.states and self.backward_layer.states:
            return tuple(self.forward_layer.states + self.backward_layer.states)
        return None

    def reset_state(self):
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self):
        self.reset_state()

    def get_config(self):
        config = {
            "merge_mode": self.merge_mode,
            "layer": serialize_keras_object(self.forward_layer),
            "backward_layer": serialize_keras_object(self.backward_layer),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)
        config["layer"] = deserialize_keras_object(config["layer"], custom_objects=custom_objects,
                                                   printable_module_name="layers")
        backward_config = config.pop("backward_layer", None)
        if backward_config is not None:
            config["backward_layer"] = deserialize_keras_object(
                backward_config, custom_objects=custom_objects, printable_module_name="layers")
        return cls(**config)
