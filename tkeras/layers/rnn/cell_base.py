"""The base of the built-in cells (`SimpleRNNCell`, `LSTMCell`, `GRUCell`) and of the layers
that wrap one cell built from their own arguments (`CellRNN`: `SimpleRNN`, `LSTM`, `GRU`,
`ConvLSTM1D/2D/3D`): shared arguments, weights and configs."""

import inspect

import torch

from tkeras.core import activations
from tkeras.core import constraints
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer
from tkeras.layers.rnn import fused
from tkeras.layers.rnn.rnn import RNN
from tkeras.layers.rnn.rnn import DropoutRNNCell
from tkeras.layers.rnn.rnn import zeros_state


def gated_matmul(x, kernel, masks):
    """`x @ kernel`; `masks` is None, one dropout mask, or a list with one mask per gate block
    (Keras's implementation 1, used with recurrent dropout)."""
    if masks is None:
        return torch.matmul(x, kernel)
    if not isinstance(masks, list):
        return torch.matmul(x * masks, kernel)
    return torch.cat([torch.matmul(x * m, k) for m, k in
                      zip(masks, torch.chunk(kernel, len(masks), dim=1))], dim=1)


class RecurrentCell(Layer, DropoutRNNCell):
    """A dense recurrent cell with `gates` blocks of `units` columns in `kernel` (input_dim,
    gates * units) and `recurrent_kernel` (units, gates * units), Keras's layout."""

    gates = 1
    has_recurrent_activation = True
    extra_args = ()  # the cell's own arguments: attributes, written last in the config

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        if units <= 0:
            raise ValueError("Received an invalid value for argument `units`, expected a "
                             f"positive integer, got {units}.")
        self.implementation = kwargs.pop("implementation", 2)
        extras = {name: kwargs.pop(name) for name in self.extra_args}
        super().__init__(**kwargs)
        for name, value in extras.items():
            setattr(self, name, value)
        self.units = units
        self.activation = activations.get(activation)
        if self.has_recurrent_activation:
            self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, dropout))
        self.recurrent_dropout = min(1.0, max(0.0, recurrent_dropout))
        if self.recurrent_dropout != 0.0:
            self.implementation = 1
        if self.implementation == 1 and self.gates > 1:
            self.dropout_mask_count = self.gates
        self.seed = seed
        self.output_size = units

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.gates * self.units), name="kernel",
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.gates * self.units), name="recurrent_kernel",
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self._bias_shape(), name="bias", initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        else:
            self.bias = None
        self.built = True

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [zeros_state(self, (batch_size, d)) for d in sizes]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
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
        if self.has_recurrent_activation:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        config.update({name: getattr(self, name) for name in self.extra_args})
        return {**super().get_config(), **config}


class CellRNN(RNN):
    """An `RNN` over one cell created from the layer's own arguments: those the cell's
    signature names (`cell_class`, named `cell_name`) go to the cell, the rest to `RNN`. The
    cell's attributes read through (`layer.units`, `layer.kernel_initializer`, ...) and the
    config is the cell's arguments plus the RNN flags, without `cell`."""

    cell_class = None
    cell_name = None
    cell_attributes = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.cell_attributes:
            setattr(cls, name, property(lambda self, n=name: getattr(self.cell, n)))

    def __init__(self, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, activity_regularizer=None, **kwargs):
        cell_args = inspect.signature(self.cell_class).parameters
        cell_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in cell_args}
        cell = self.cell_class(**cell_kwargs, **self._cell_options(kwargs), name=self.cell_name)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful,
                         activity_regularizer=activity_regularizer, **kwargs)

    def _cell_options(self, kwargs):
        """Layer keywords the cell also gets (Keras: the dtype)."""
        return {"dtype": kwargs.get("dtype")}

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state=initial_state, mask=mask,
                            training=training)

    def get_config(self):
        config = {k: v for k, v in super().get_config().items() if k != "cell"}
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        config.update(cell_config)
        config["activity_regularizer"] = regularizers.serialize(self._activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class RecurrentLayer(CellRNN):
    """A `CellRNN` over a built-in dense cell. Subclasses name a fused kernel (`fused_kind`,
    `fused_params`); `inner_loop` runs it when the configuration and the mask allow it, else
    loops the cell."""

    cell_attributes = ("units", "activation", "use_bias", "kernel_initializer",
                       "recurrent_initializer", "bias_initializer", "kernel_regularizer",
                       "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
                       "recurrent_constraint", "bias_constraint", "dropout",
                       "recurrent_dropout")

    def __init__(self, use_cudnn="auto", **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(ndim=3)
        if use_cudnn not in ("auto", True, False):
            raise ValueError("Invalid valid received for argument `use_cudnn`. Expected one of "
                             f"{{'auto', True, False}}. Received: use_cudnn={use_cudnn}")
        self.use_cudnn = use_cudnn

    def _cell_options(self, kwargs):
        return {**super()._cell_options(kwargs), "trainable": kwargs.get("trainable", True),
                "implementation": kwargs.pop("implementation", 2)}

    def fused_kind(self):
        """The `fused.KERNELS` entry for this cell's configuration, or None."""
        return None

    def fused_params(self):
        """The cell's weights in the fused kernel's layout."""
        raise NotImplementedError

    def use_fused_kernel(self):
        """Keras's cuDNN conditions that do not depend on the inputs."""
        return (self.use_cudnn in ("auto", True) and not self.unroll
                and not self.cell.recurrent_dropout and self.fused_kind() is not None)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if self.use_fused_kernel():
            cell = self.cell
            if training and cell.dropout:  # one input dropout mask for every step
                sequences = sequences * cell.get_dropout_mask(sequences[:, 0]).unsqueeze(1)
            out = fused.run_fused(self.fused_kind(), sequences, initial_state,
                                  self.fused_params(), mask=mask,
                                  go_backwards=self.go_backwards,
                                  zero_output_for_mask=self.zero_output_for_mask)
            if out is not None:
                return out
        return super().inner_loop(sequences, initial_state, mask, training=training)
