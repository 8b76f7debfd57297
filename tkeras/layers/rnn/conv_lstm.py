"""`ConvLSTM1D/2D/3D`: an LSTM whose input and recurrent transforms are convolutions.

Kernels keep Keras's layout `(*kernel_size, in, 4 * filters)` (gates i, f, c, o) and are
permuted to torch's `(out, in, *kernel_size)` at call time; channels_last inputs are fed to
`F.convNd` as permuted (channels-last memory) views (`conv_utils.conv`). `padding="same"` pads
like Keras's torch backend (the extra pixel at the end). The input convolution of all time steps runs as one
batched convolution before the recurrent loop (unless input dropout is active in training,
where each gate gets its own dropout mask as in Keras).
"""

import math

import torch

from tkeras.core import activations
from tkeras.core import constraints
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.arguments import init_args
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer
from tkeras.layers.rnn.cell_base import CellRNN
from tkeras.layers.rnn.rnn import DropoutRNNCell
from tkeras.layers.rnn.rnn import rnn_loop
from tkeras.layers.rnn.rnn import zeros_state

def _tuple(value, rank, name):
    if isinstance(value, int):
        return (value,) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank:
        raise ValueError(f"The `{name}` argument must be a tuple of {rank} integers. "
                         f"Received {name}={value}")
    return value


def conv_output_length(length, kernel, stride, padding, dilation):
    if padding == "same":
        return math.ceil(length / stride)
    return (length - dilation * (kernel - 1) - 1) // stride + 1


class ConvLSTMCell(Layer, DropoutRNNCell):
    """One ConvLSTM step on `(batch, *spatial, channels)` (or channels_first) inputs."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        if rank > 3:
            raise ValueError(f"Rank {rank} convolutions are not currently implemented. "
                             f"Received: rank={rank}")
        self.rank = rank
        self.filters = filters
        self.kernel_size = _tuple(kernel_size, rank, "kernel_size")
        self.strides = _tuple(strides, rank, "strides")
        self.padding = padding.lower()
        self.data_format = standardize_data_format(data_format)
        self.dilation_rate = _tuple(dilation_rate, rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "Specifying `strides > 1` is not compatible with `dilation_rate > 1`. Please "
                f"provide `strides=1` or `dilation_rate=1`. Received: strides={self.strides} "
                f"and dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = unit_forget_bias
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, dropout))
        self.recurrent_dropout = min(1.0, max(0.0, recurrent_dropout))
        self.dropout_mask_count = 4
        self.input_spec = InputSpec(ndim=rank + 2)
        self.state_size = -1  # as Keras: the state shape comes from `get_initial_state`

    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def build(self, inputs_shape, states_shape=None):
        if self.data_format == "channels_first":
            self.spatial_dims = tuple(inputs_shape[2:])
        else:
            self.spatial_dims = tuple(inputs_shape[1:-1])
        if None in self.spatial_dims:
            raise ValueError("ConvLSTM layers only support static input shapes for the spatial "
                             f"dimension. Received invalid input shape: input_shape={inputs_shape}")
        input_dim = inputs_shape[self._channel_axis]
        if input_dim is None:
            raise ValueError("The channel dimension of the inputs (last axis) should be defined. "
                             f"Found None. Full input shape received: input_shape={inputs_shape}")
        self.input_dim = input_dim
        self.kernel = self.add_weight(
            shape=self.kernel_size + (input_dim, self.filters * 4), name="kernel",
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            shape=self.kernel_size + (self.filters, self.filters * 4), name="recurrent_kernel",
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint)
        if self.use_bias:
            if self.unit_forget_bias:
                filters, init = self.filters, self.bias_initializer

                def bias_initializer(_, dtype=None):
                    return torch.cat([
                        torch.as_tensor(init((filters,), dtype=dtype)),
                        torch.as_tensor(initializers.get("ones")((filters,), dtype=dtype)),
                        torch.as_tensor(init((filters * 2,), dtype=dtype)),
                    ])
            else:
                bias_initializer = self.bias_initializer
            self.bias = self.add_weight(
                shape=(self.filters * 4,), name="bias", initializer=bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        else:
            self.bias = None
        self.built = True

    # ------------------------------------------------------------------ convolutions
    def _conv(self, x, kernel, bias, strides, padding, dilation):
        """Convolution of a Keras-layout tensor with a Keras-layout kernel."""
        x = conv_utils.to_channels_first(x, self.data_format)
        y = conv_utils.conv(x, kernel, bias, strides, padding, dilation)
        return conv_utils.to_data_format(y, self.data_format)

    def input_conv(self, x, kernel=None, bias=None):
        kernel = self.kernel if kernel is None else kernel
        return self._conv(x, kernel, bias, self.strides, self.padding, self.dilation_rate)

    def recurrent_conv(self, h, kernel=None):
        kernel = self.recurrent_kernel if kernel is None else kernel
        ones = (1,) * self.rank
        return self._conv(h, kernel, None, ones, "same", ones)

    def _gated_conv(self, conv, x, kernel, bias, masks):
        """All four gates in one convolution, or one per gate with its own dropout mask."""
        if masks is None:
            return conv(x, kernel, bias)
        kernels = torch.chunk(kernel, 4, dim=-1)
        biases = torch.chunk(bias, 4) if bias is not None else [None] * 4
        return torch.cat([conv(x * m, k, b) for m, k, b in zip(masks, kernels, biases)],
                         dim=self._channel_axis)

    def gates_to_state(self, z, c_tm1):
        z_i, z_f, z_c, z_o = torch.chunk(z, 4, dim=self._channel_axis)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        dp_mask = self.get_dropout_mask(inputs) if training and 0.0 < self.dropout < 1.0 else None
        rec_mask = (self.get_recurrent_dropout_mask(h_tm1)
                    if training and 0.0 < self.recurrent_dropout < 1.0 else None)
        x = self._gated_conv(self.input_conv, inputs, self.kernel, self.bias, dp_mask)
        r = self._gated_conv(lambda t, k, b: self.recurrent_conv(t, k), h_tm1,
                             self.recurrent_kernel, None, rec_mask)
        return self.gates_to_state(x + r, c_tm1)

    def compute_output_shape(self, inputs_shape, states_shape=None):
        spatial = inputs_shape[2:] if self.data_format == "channels_first" else inputs_shape[1:-1]
        out = tuple(
            None if d is None else conv_output_length(d, k, s, self.padding, r)
            for d, k, s, r in zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        if self.data_format == "channels_first":
            shape = (inputs_shape[0], self.filters) + out
        else:
            shape = (inputs_shape[0],) + out + (self.filters,)
        return shape, [shape, shape]

    def get_initial_state(self, batch_size=None):
        if self.data_format == "channels_last":
            input_shape = (batch_size,) + self.spatial_dims + (self.input_dim,)
        else:
            input_shape = (batch_size, self.input_dim) + self.spatial_dims
        state_shape = self.compute_output_shape(input_shape)[0]
        return [zeros_state(self, state_shape), zeros_state(self, state_shape)]

    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


class ConvLSTM(CellRNN):
    """Base of `ConvLSTM1D/2D/3D` (`rank` spatial dimensions)."""

    cell_class = ConvLSTMCell
    cell_name = "conv_lstm_cell"
    cell_attributes = (
        "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
        "activation", "recurrent_activation", "use_bias", "kernel_initializer",
        "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
        "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
        "bias_constraint", "dropout", "recurrent_dropout")

    def __init__(self, rank, filters, kernel_size, **kwargs):
        super().__init__(rank=rank, filters=filters, kernel_size=kernel_size, **kwargs)
        self.input_spec = InputSpec(ndim=rank + 3)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if training and cell.dropout > 0:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        batch, steps = sequences.shape[0], sequences.shape[1]
        x = cell.input_conv(sequences.reshape((batch * steps,) + sequences.shape[2:]),
                            bias=cell.bias)
        x = x.reshape((batch, steps) + x.shape[1:])

        def step(x_t, states):
            h_tm1, c_tm1 = states[0], states[1]
            rec_mask = (cell.get_recurrent_dropout_mask(h_tm1)
                        if training and cell.recurrent_dropout > 0 else None)
            r = cell._gated_conv(lambda t, k, b: cell.recurrent_conv(t, k), h_tm1,
                                 cell.recurrent_kernel, None, rec_mask)
            return cell.gates_to_state(x_t + r, c_tm1)

        return rnn_loop(step, x, initial_state, mask=mask, go_backwards=self.go_backwards,
                        zero_output_for_mask=self.zero_output_for_mask,
                        return_all_outputs=self.return_sequences)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch_size, steps = sequences_shape[0], sequences_shape[1]
        step_shape = (batch_size,) + tuple(sequences_shape[2:])
        state_shape = self.cell.compute_output_shape(step_shape)[0][1:]
        if self.return_sequences:
            output_shape = (batch_size, steps) + state_shape
        else:
            output_shape = (batch_size,) + state_shape
        if self.return_state:
            batched_state_shape = (batch_size,) + state_shape
            return output_shape, batched_state_shape, batched_state_shape
        return output_shape

    def compute_mask(self, _, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask, None, None]
        return output_mask


class _ConvLSTMND(ConvLSTM):
    """Keras's ConvLSTM1D/2D/3D signature; `rank` set by each class."""

    rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        super().__init__(self.rank, **init_args(locals()))


@keras_export("keras.layers.ConvLSTM1D")
class ConvLSTM1D(_ConvLSTMND):
    """1D convolutional LSTM: inputs `(batch, time, steps, channels)` (channels_last)."""

    rank = 1


@keras_export("keras.layers.ConvLSTM2D")
class ConvLSTM2D(_ConvLSTMND):
    """2D convolutional LSTM: inputs `(batch, time, rows, cols, channels)` (channels_last)."""

    rank = 2


@keras_export("keras.layers.ConvLSTM3D")
class ConvLSTM3D(_ConvLSTMND):
    """3D convolutional LSTM: inputs `(batch, time, d1, d2, d3, channels)` (channels_last)."""

    rank = 3
