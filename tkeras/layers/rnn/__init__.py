"""Recurrent layers: cells, the generic `RNN` loop, the fused `SimpleRNN`/`LSTM`/`GRU`,
`Bidirectional`, `TimeDistributed` and `ConvLSTM1D/2D/3D`."""

from tkeras.layers.rnn.bidirectional import Bidirectional
from tkeras.layers.rnn.conv_lstm import ConvLSTM1D
from tkeras.layers.rnn.conv_lstm import ConvLSTM2D
from tkeras.layers.rnn.conv_lstm import ConvLSTM3D
from tkeras.layers.rnn.gru import GRU
from tkeras.layers.rnn.gru import GRUCell
from tkeras.layers.rnn.lstm import LSTM
from tkeras.layers.rnn.lstm import LSTMCell
from tkeras.layers.rnn.rnn import RNN
from tkeras.layers.rnn.simple_rnn import SimpleRNN
from tkeras.layers.rnn.simple_rnn import SimpleRNNCell
from tkeras.layers.rnn.stacked_rnn_cells import StackedRNNCells
from tkeras.layers.rnn.time_distributed import TimeDistributed

__all__ = ["Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "GRU", "GRUCell", "LSTM",
           "LSTMCell", "RNN", "SimpleRNN", "SimpleRNNCell", "StackedRNNCells", "TimeDistributed"]
