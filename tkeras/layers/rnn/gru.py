"""`GRUCell` and `GRU` (Cho et al. 2014), Keras's gate order z, r, h.

`reset_after=True` (default) applies the reset gate after the recurrent matmul and has two bias
rows (input, recurrent); `False` applies it before, with one bias row. `GRU` runs torch's fused
GRU kernel when Keras would use cuDNN (tanh/sigmoid, no recurrent dropout, `unroll=False`,
`reset_after=True`, `use_cudnn` not False, no mask or a right-/left-padded mask); otherwise it
loops `GRUCell`.
"""

import torch

from tkeras.core import activations
from tkeras.core.registry import keras_export
from tkeras.layers.arguments import init_args
from tkeras.layers.rnn import fused
from tkeras.layers.rnn.cell_base import RecurrentCell
from tkeras.layers.rnn.cell_base import RecurrentLayer
from tkeras.layers.rnn.cell_base import gated_matmul
from tkeras.layers.rnn.rnn import is_nested


@keras_export("keras.layers.GRUCell")
class GRUCell(RecurrentCell):
    gates = 3
    extra_args = ("reset_after",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, **kwargs):
        super().__init__(**init_args(locals()))
        self.state_size = units

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if is_nested(states) else states
        units = self.units
        dp_mask = self.get_dropout_mask(inputs) if training and 0.0 < self.dropout < 1.0 else None
        rec_mask = (self.get_recurrent_dropout_mask(h_tm1)
                    if training and 0.0 < self.recurrent_dropout < 1.0 else None)
        if self.use_bias:
            if self.reset_after:
                input_bias, recurrent_bias = self.bias[0], self.bias[1]
            else:
                input_bias, recurrent_bias = self.bias, None
        matrix_x = gated_matmul(inputs, self.kernel, dp_mask)
        if self.use_bias:
            matrix_x = matrix_x + input_bias
        x_z, x_r, x_h = torch.split(matrix_x, units, dim=-1)
        if self.reset_after:
            matrix_inner = gated_matmul(h_tm1, self.recurrent_kernel, rec_mask)
            if self.use_bias:
                matrix_inner = matrix_inner + recurrent_bias
        else:
            matrix_inner = gated_matmul(h_tm1, self.recurrent_kernel[:, : 2 * units],
                                         None if rec_mask is None else rec_mask[:2])
        recurrent_z = matrix_inner[:, :units]
        recurrent_r = matrix_inner[:, units: 2 * units]
        z = self.recurrent_activation(x_z + recurrent_z)
        r = self.recurrent_activation(x_r + recurrent_r)
        if self.reset_after:
            recurrent_h = r * matrix_inner[:, 2 * units:]
        else:
            h_h = h_tm1 if rec_mask is None else h_tm1 * rec_mask[2]
            recurrent_h = torch.matmul(r * h_h, self.recurrent_kernel[:, 2 * units:])
        hh = self.activation(x_h + recurrent_h)
        h = z * h_tm1 + (1 - z) * hh
        return h, ([h] if is_nested(states) else h)


@keras_export("keras.layers.GRU")
class GRU(RecurrentLayer):
    cell_class = GRUCell
    cell_name = "gru_cell"
    cell_attributes = RecurrentLayer.cell_attributes + ("recurrent_activation", "reset_after")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True,
                 use_cudnn="auto", **kwargs):
        super().__init__(**init_args(locals()))

    def fused_kind(self):
        cell = self.cell
        if (cell.reset_after and cell.activation is activations.tanh
                and cell.recurrent_activation is activations.sigmoid):
            return "gru"
        return None

    def fused_params(self):
        return fused.gru_params(self.cell.kernel, self.cell.recurrent_kernel, self.cell.bias)
