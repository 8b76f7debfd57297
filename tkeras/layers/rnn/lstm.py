"""`LSTMCell` and `LSTM` (Hochreiter 1997), Keras's gate order i, f, c, o.

`LSTM` runs torch's fused LSTM kernel (cuDNN on GPU) when Keras would use cuDNN: tanh/sigmoid
activations, no recurrent dropout, `unroll=False`, `use_cudnn` not False, and no mask or a
right-/left-padded mask; otherwise it loops `LSTMCell`. `use_bias=False` also runs fused.
"""

import torch

from tkeras.core import activations
from tkeras.core import initializers
from tkeras.core.registry import keras_export
from tkeras.layers.arguments import init_args
from tkeras.layers.rnn import fused
from tkeras.layers.rnn.cell_base import RecurrentCell
from tkeras.layers.rnn.cell_base import RecurrentLayer
from tkeras.layers.rnn.cell_base import gated_matmul


@keras_export("keras.layers.LSTMCell")
class LSTMCell(RecurrentCell):
    gates = 4
    extra_args = ("unit_forget_bias",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**init_args(locals()))
        self.state_size = [units, units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, init = self.units, self.bias_initializer

        def bias_initializer(_, dtype=None):
            return torch.cat([
                torch.as_tensor(init((units,), dtype=dtype)),
                torch.as_tensor(initializers.get("ones")((units,), dtype=dtype)),
                torch.as_tensor(init((units * 2,), dtype=dtype)),
            ])

        return bias_initializer

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        dp_mask = self.get_dropout_mask(inputs) if training and 0.0 < self.dropout < 1.0 else None
        rec_mask = (self.get_recurrent_dropout_mask(h_tm1)
                    if training and 0.0 < self.recurrent_dropout < 1.0 else None)
        x = gated_matmul(inputs, self.kernel, dp_mask)
        if self.use_bias:
            x = x + self.bias
        r = gated_matmul(h_tm1, self.recurrent_kernel, rec_mask)
        z0, z1, z2, z3 = torch.chunk(x + r, 4, dim=1)
        i = self.recurrent_activation(z0)
        f = self.recurrent_activation(z1)
        c = f * c_tm1 + i * self.activation(z2)
        o = self.recurrent_activation(z3)
        h = o * self.activation(c)
        return h, [h, c]


@keras_export("keras.layers.LSTM")
class LSTM(RecurrentLayer):
    cell_class = LSTMCell
    cell_name = "lstm_cell"
    cell_attributes = RecurrentLayer.cell_attributes + ("recurrent_activation",
                                                        "unit_forget_bias")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", **kwargs):
        super().__init__(**init_args(locals()))

    def fused_kind(self):
        cell = self.cell
        if cell.activation is activations.tanh and cell.recurrent_activation is activations.sigmoid:
            return "lstm"
        return None

    def fused_params(self):
        return fused.lstm_params(self.cell.kernel, self.cell.recurrent_kernel, self.cell.bias)
