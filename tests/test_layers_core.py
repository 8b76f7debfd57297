"""Parity of the core layers with real Keras, through the layer harness."""

import numpy as np

from keras_oracle import requires_keras
from layer_harness import LayerCase, parametrize_cases, rand

CASES = [
    LayerCase("dense", "Dense", {"units": 5}, rand(4, 3)),
    LayerCase("dense_relu_3d", "Dense", {"units": 4, "activation": "relu"}, rand(2, 5, 3)),
    LayerCase("dense_nobias_tanh", "Dense", {"units": 3, "use_bias": False, "activation": "tanh"},
              rand(4, 6)),
    LayerCase("dense_regularized", "Dense",
              {"units": 2, "kernel_regularizer": "l2", "bias_constraint": "non_neg"}, rand(3, 4)),
    LayerCase("embedding", "Embedding", {"input_dim": 10, "output_dim": 4},
              np.array([[1, 2, 0], [9, 3, 3]], dtype=np.int64), grads=True),
    LayerCase("embedding_mask_zero", "Embedding",
              {"input_dim": 7, "output_dim": 3, "mask_zero": True},
              np.array([[1, 0, 0], [6, 3, 0]], dtype=np.int64)),
    LayerCase("dropout_inference", "Dropout", {"rate": 0.5}, rand(3, 4)),
    LayerCase("dropout_noise_shape", "Dropout", {"rate": 0.3, "noise_shape": [None, 1, 4]},
              rand(2, 3, 4)),
    LayerCase("activation_relu", "Activation", {"activation": "relu"}, rand(3, 4)),
    LayerCase("activation_softmax", "Activation", {"activation": "softmax"}, rand(3, 4)),
    LayerCase("flatten", "Flatten", {}, rand(2, 3, 4, 2)),
    LayerCase("flatten_channels_first", "Flatten", {"data_format": "channels_first"},
              rand(2, 3, 4, 2)),
    LayerCase("reshape", "Reshape", {"target_shape": [4, 3]}, rand(2, 12)),
    LayerCase("reshape_infer", "Reshape", {"target_shape": [-1, 2]}, rand(2, 3, 4)),
]

test_core_layer_parity = requires_keras(parametrize_cases(CASES))
