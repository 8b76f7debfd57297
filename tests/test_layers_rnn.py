"""Parity of the recurrent layers with real Keras, through the layer harness.

Wrappers and cells (RNN(cell), StackedRNNCells, Bidirectional, TimeDistributed) are built on both
sides with `layers.deserialize(config=...)`, since their constructor takes layer objects.
Nested layers get explicit names so their configs (e.g. `forward_<name>`) compare equal.
"""

import numpy as np

from keras_oracle import requires_keras
from layer_harness import LayerCase, parametrize_cases, rand


def cfg(class_name, **config):
    return {"class_name": class_name, "config": config, "module": "keras.layers"}


def wrapped(case_id, class_name, inputs, **kwargs):
    """A case for a layer whose constructor takes layers: built from its serialized config."""
    extra = {k: kwargs.pop(k) for k in ("call_arrays", "call_kwargs", "atol", "training")
             if k in kwargs}
    return LayerCase(case_id, "deserialize", {"config": cfg(class_name, **kwargs)}, inputs,
                     **extra)


X = rand(2, 5, 3)
X3 = rand(3, 6, 4)
RIGHT = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
RIGHT3 = np.array([[1, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=bool)
IRREGULAR = np.array([[1, 0, 1, 1, 0], [0, 1, 1, 0, 1]], dtype=bool)
LEFT = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=bool)

CASES = [
    # SimpleRNN: fused rnn_tanh / rnn_relu, generic loop for other activations.
    LayerCase("srnn", "SimpleRNN", {"units": 4}, X),
    LayerCase("srnn_seq_state", "SimpleRNN",
              {"units": 4, "return_sequences": True, "return_state": True}, X),
    LayerCase("srnn_relu_backwards", "SimpleRNN",
              {"units": 4, "activation": "relu", "go_backwards": True, "return_sequences": True},
              X),
    LayerCase("srnn_sigmoid_nobias", "SimpleRNN",
              {"units": 3, "activation": "sigmoid", "use_bias": False}, X),
    LayerCase("srnn_mask_right", "SimpleRNN", {"units": 4, "return_sequences": True}, X,
              call_arrays={"mask": RIGHT}),
    LayerCase("srnn_initial_state", "SimpleRNN", {"units": 4, "return_state": True}, X,
              call_arrays={"initial_state": rand(2, 4, seed=3)}),
    LayerCase("srnn_regularized", "SimpleRNN",
              {"units": 2, "kernel_regularizer": "l2", "recurrent_constraint": "non_neg",
               "activity_regularizer": "l1"}, X),
    # LSTM: fused kernel, masks packed, generic loop for the rest.
    LayerCase("lstm", "LSTM", {"units": 4}, X),
    LayerCase("lstm_seq_state", "LSTM",
              {"units": 4, "return_sequences": True, "return_state": True}, X3),
    LayerCase("lstm_backwards", "LSTM",
              {"units": 3, "go_backwards": True, "return_sequences": True}, X),
    LayerCase("lstm_nobias_no_forget", "LSTM",
              {"units": 3, "use_bias": False, "unit_forget_bias": False}, X),
    LayerCase("lstm_hard_sigmoid", "LSTM",
              {"units": 3, "recurrent_activation": "hard_sigmoid", "return_sequences": True,
               "activation": "relu"}, X),
    LayerCase("lstm_unroll", "LSTM", {"units": 3, "unroll": True, "return_state": True}, X),
    LayerCase("lstm_implementation1", "LSTM",
              {"units": 3, "recurrent_dropout": 0.3, "return_sequences": True}, X),
    LayerCase("lstm_training_no_dropout", "LSTM", {"units": 3, "return_sequences": True}, X,
              training=True),
    LayerCase("lstm_mask_right", "LSTM", {"units": 4, "return_sequences": True,
                                          "return_state": True}, X3,
              call_arrays={"mask": RIGHT3}),
    LayerCase("lstm_mask_right_last", "LSTM", {"units": 4}, X, call_arrays={"mask": RIGHT}),
    LayerCase("lstm_mask_right_backwards", "LSTM",
              {"units": 4, "return_sequences": True, "return_state": True,
               "go_backwards": True}, X3, call_arrays={"mask": RIGHT3}),
    LayerCase("lstm_mask_left", "LSTM", {"units": 3, "return_sequences": True}, X,
              call_arrays={"mask": LEFT}),
    LayerCase("lstm_mask_irregular", "LSTM",
              {"units": 3, "return_sequences": True, "return_state": True}, X,
              call_arrays={"mask": IRREGULAR}),
    LayerCase("lstm_mask_zero_output", "LSTM",
              {"units": 3, "return_sequences": True, "zero_output_for_mask": True}, X3,
              call_arrays={"mask": RIGHT3}),
    LayerCase("lstm_mask_zero_output_last", "LSTM", {"units": 3, "zero_output_for_mask": True},
              X3, call_arrays={"mask": RIGHT3}),
    LayerCase("lstm_regularized", "LSTM",
              {"units": 2, "kernel_regularizer": "l2", "recurrent_regularizer": "l1",
               "bias_constraint": "non_neg", "use_cudnn": False}, X),
    # GRU: reset_after True fused; reset_after False loops.
    LayerCase("gru", "GRU", {"units": 4}, X),
    LayerCase("gru_seq_state", "GRU",
              {"units": 4, "return_sequences": True, "return_state": True}, X3),
    LayerCase("gru_reset_before", "GRU",
              {"units": 3, "reset_after": False, "return_sequences": True}, X),
    LayerCase("gru_reset_before_mask", "GRU",
              {"units": 3, "reset_after": False, "return_sequences": True}, X,
              call_arrays={"mask": RIGHT}),
    LayerCase("gru_nobias", "GRU", {"units": 3, "use_bias": False, "go_backwards": True}, X),
    LayerCase("gru_mask_backwards", "GRU",
              {"units": 3, "go_backwards": True, "return_sequences": True}, X3,
              call_arrays={"mask": RIGHT3}),
    LayerCase("gru_mask_irregular", "GRU", {"units": 3, "return_state": True}, X,
              call_arrays={"mask": IRREGULAR}),
    LayerCase("gru_initial_state", "GRU", {"units": 3, "return_sequences": True}, X,
              call_arrays={"initial_state": rand(2, 3, seed=5)}),
    LayerCase("gru_unroll_recurrent_dropout", "GRU",
              {"units": 3, "unroll": True, "recurrent_dropout": 0.2}, X),
    # RNN over cells.
    wrapped("rnn_lstm_cell", "RNN", X, cell=cfg("LSTMCell", units=3, name="c"),
            return_state=True),
    wrapped("rnn_simple_cell_zero_output", "RNN", X,
            cell=cfg("SimpleRNNCell", units=3, name="c"), return_sequences=True,
            zero_output_for_mask=True, call_arrays={"mask": IRREGULAR}),
    wrapped("rnn_gru_cell_backwards", "RNN", X,
            cell=cfg("GRUCell", units=3, reset_after=False, name="c"), go_backwards=True,
            return_sequences=True),
    wrapped("rnn_stacked", "RNN", X,
            cell=cfg("StackedRNNCells", name="s", cells=[cfg("LSTMCell", units=4, name="c1"),
                                                          cfg("GRUCell", units=3, name="c2")]),
            return_sequences=True, return_state=True),
    wrapped("rnn_stacked_mask", "RNN", X3,
            cell=cfg("StackedRNNCells", name="s", cells=[cfg("SimpleRNNCell", units=2,
                                                              name="c1"),
                                                          cfg("LSTMCell", units=3, name="c2")]),
            call_arrays={"mask": RIGHT3}),
    # Bidirectional.
    wrapped("bidi_concat", "Bidirectional", X,
            layer=cfg("LSTM", units=3, return_sequences=True, name="l")),
    wrapped("bidi_sum", "Bidirectional", X, layer=cfg("GRU", units=3, name="l"),
            merge_mode="sum"),
    wrapped("bidi_mul", "Bidirectional", X,
            layer=cfg("SimpleRNN", units=3, return_sequences=True, name="l"), merge_mode="mul"),
    wrapped("bidi_ave", "Bidirectional", X, layer=cfg("LSTM", units=2, name="l"),
            merge_mode="ave"),
    wrapped("bidi_none", "Bidirectional", X,
            layer=cfg("GRU", units=2, return_sequences=True, name="l"), merge_mode=None),
    wrapped("bidi_state", "Bidirectional", X,
            layer=cfg("LSTM", units=3, return_state=True, name="l")),
    wrapped("bidi_mask", "Bidirectional", X3,
            layer=cfg("LSTM", units=3, return_sequences=True, name="l"),
            call_arrays={"mask": RIGHT3}),
    wrapped("bidi_mask_last", "Bidirectional", X3, layer=cfg("GRU", units=3, name="l"),
            call_arrays={"mask": RIGHT3}),
    wrapped("bidi_backward_layer", "Bidirectional", X,
            layer=cfg("LSTM", units=3, return_sequences=True, name="f"),
            backward_layer=cfg("GRU", units=2, return_sequences=True, go_backwards=True,
                               name="b")),
    # TimeDistributed.
    wrapped("td_dense", "TimeDistributed", rand(2, 4, 5),
            layer=cfg("Dense", units=3, activation="relu", name="d")),
    wrapped("td_dense_4d", "TimeDistributed", rand(2, 3, 4, 5), layer=cfg("Dense", units=2,
                                                                             name="d")),
    wrapped("td_conv2d", "TimeDistributed", rand(2, 3, 6, 6, 2),
            layer=cfg("Conv2D", filters=3, kernel_size=3, padding="same", name="c")),
    wrapped("td_batchnorm_training", "TimeDistributed", rand(2, 3, 4),
            layer=cfg("BatchNormalization", name="bn"), training=True),
    # ConvLSTM.
    LayerCase("convlstm2d_same_seq", "ConvLSTM2D",
              {"filters": 2, "kernel_size": 3, "padding": "same", "return_sequences": True},
              rand(2, 3, 5, 5, 2), atol=2e-5),
    LayerCase("convlstm2d_strides_state", "ConvLSTM2D",
              {"filters": 3, "kernel_size": [3, 2], "strides": 2, "return_state": True},
              rand(2, 3, 7, 6, 2)),
    LayerCase("convlstm2d_channels_first_backwards", "ConvLSTM2D",
              {"filters": 2, "kernel_size": 2, "data_format": "channels_first",
               "go_backwards": True, "padding": "same"}, rand(2, 3, 2, 5, 4)),
    LayerCase("convlstm2d_mask", "ConvLSTM2D",
              {"filters": 2, "kernel_size": 3, "return_sequences": True}, rand(2, 5, 4, 4, 1),
              call_arrays={"mask": IRREGULAR}),
    LayerCase("convlstm1d_even_kernel", "ConvLSTM1D",
              {"filters": 3, "kernel_size": 2, "padding": "same", "dilation_rate": 2,
               "return_sequences": True}, rand(2, 4, 7, 2)),
    LayerCase("convlstm3d", "ConvLSTM3D", {"filters": 2, "kernel_size": 2},
              rand(2, 2, 3, 3, 3, 1)),
]

# torch.compile(fullgraph=True) costs seconds per case: it is checked on one case per code path
# (fused kernel, fused kernel with a mask under compile, generic loop with and without mask,
# stacked cells, Bidirectional, TimeDistributed, ConvLSTM).
COMPILE_CHECKED = {"lstm", "lstm_mask_right", "gru_reset_before", "srnn_relu_backwards",
                   "lstm_mask_irregular", "rnn_stacked", "bidi_concat", "td_conv2d",
                   "convlstm2d_same_seq"}
for _case in CASES:
    _case.compile = _case.id in COMPILE_CHECKED

test_rnn_layer_parity = requires_keras(parametrize_cases(CASES))
