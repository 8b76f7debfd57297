"""`SimpleRNNCell` and `SimpleRNN`: `output = activation(x @ kernel + bias + h @ recurrent_kernel)`.

`SimpleRNN` runs torch's fused `rnn_tanh`/`rnn_relu` kernel for tanh/relu activations without
recurrent dropout, `unroll=False`, and no mask or a right-/left-padded mask (Keras itself always
loops; the numbers agree to float rounding). As in Keras, `SimpleRNN` accepts
`activity_regularizer` but does not apply it (its config always writes None) and its config has
no `seed`.
"""

import torch

from tkeras.core import activations
from tkeras.core.registry import keras_export
from tkeras.layers.arguments import init_args
from tkeras.layers.rnn import fused
from tkeras.layers.rnn.cell_base import RecurrentCell
from tkeras.layers.rnn.cell_base import RecurrentLayer
from tkeras.layers.rnn.rnn import is_nested


@keras_export("keras.layers.SimpleRNNCell")
class SimpleRNNCell(RecurrentCell):
    gates = 1
    has_recurrent_activation = False

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**init_args(locals()))
        self.state_size = units

    def call(self, sequence, states, training=False):
        prev_output = states[0] if is_nested(states) else states
        if training and self.dropout > 0:
            sequence = sequence * self.get_dropout_mask(sequence)
        h = torch.matmul(sequence, self.kernel)
        if self.bias is not None:
            h = h + self.bias
        if training and self.recurrent_dropout > 0:
            prev_output = prev_output * self.get_recurrent_dropout_mask(prev_output)
        output = self.activation(h + torch.matmul(prev_output, self.recurrent_kernel))
        return output, ([output] if is_nested(states) else output)


@keras_export("keras.layers.SimpleRNN")
class SimpleRNN(RecurrentLayer):
    cell_class = SimpleRNNCell
    cell_name = "simple_rnn_cell"

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, seed=None, **kwargs):
        args = init_args(locals())
        del args["activity_regularizer"]  # accepted, not applied (as Keras)
        super().__init__(**args)

    def fused_kind(self):
        return {activations.tanh: "rnn_tanh", activations.relu: "rnn_relu"}.get(
            self.cell.activation)

    def fused_params(self):
        return fused.simple_rnn_params(self.cell.kernel, self.cell.recurrent_kernel,
                                       self.cell.bias)

    def get_config(self):
        config = super().get_config()
        config.pop("seed")
        return config
