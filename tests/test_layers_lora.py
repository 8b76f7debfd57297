"""LoRA-enabled and quantized-policy layers (Dense, EinsumDense, Embedding) through the layer
harness: Keras's config (`lora_rank`/`lora_alpha`, the quantized dtype policy), weights (names,
order, shapes, trainability: the frozen kernel, the trainable LoRA pair, the int8 / packed int4
variables), outputs, gradients and `torch.compile`. Numerics of quantizing real weights and LoRA
training are in test_quantization.py."""

import numpy as np

from keras_oracle import requires_keras
from layer_harness import LayerCase, parametrize_cases, rand

IDS = np.array([[1, 2, 0], [9, 3, 3]], dtype=np.int64)

CASES = [
    LayerCase("dense_lora", "Dense", {"units": 4, "lora_rank": 2}, rand(3, 5)),
    # Keras's build enables LoRA with alpha = rank: the constructor's lora_alpha is dropped.
    LayerCase("dense_lora_alpha_relu_3d", "Dense",
              {"units": 3, "lora_rank": 3, "lora_alpha": 6, "activation": "relu"},
              rand(2, 4, 5)),
    LayerCase("einsum_dense_lora", "EinsumDense",
              {"equation": "abc,cd->abd", "output_shape": [3, 4], "bias_axes": "d",
               "lora_rank": 2, "lora_alpha": 4}, rand(2, 3, 6)),
    LayerCase("embedding_lora", "Embedding", {"input_dim": 10, "output_dim": 4, "lora_rank": 2},
              IDS),
    LayerCase("dense_int8_policy", "Dense", {"units": 4, "dtype": "int8_from_float32"},
              rand(3, 5)),
    LayerCase("dense_int4_grouped_policy", "Dense",
              {"units": 5, "activation": "tanh", "dtype": "int4/2_from_float32"}, rand(3, 5)),
    LayerCase("dense_int4_policy_lora", "Dense",
              {"units": 5, "dtype": "int4_from_float32", "lora_rank": 2}, rand(3, 6)),
    LayerCase("einsum_dense_int8_policy", "EinsumDense",
              {"equation": "abc,cde->abde", "output_shape": [3, 4, 5], "bias_axes": "de",
               "dtype": "int8_from_float32"}, rand(2, 3, 6)),
    LayerCase("einsum_dense_int4_policy", "EinsumDense",
              {"equation": "ab,bc->ac", "output_shape": 7, "dtype": "int4/4_from_float32"},
              rand(2, 9)),
    LayerCase("embedding_int8_policy", "Embedding",
              {"input_dim": 10, "output_dim": 4, "dtype": "int8_from_float32"}, IDS,
              grads=False),  # nothing trainable, integer inputs
    LayerCase("embedding_int4_policy", "Embedding",
              {"input_dim": 10, "output_dim": 5, "dtype": "int4/2_from_float32"}, IDS,
              grads=False),
]

test_lora_and_quantized_layers = requires_keras(parametrize_cases(CASES))
