"""Parity of the merging layers with real Keras, through the layer harness."""

import numpy as np

from keras_oracle import requires_keras
from layer_harness import LayerCase, parametrize_cases, rand

A, B, C = rand(3, 4, seed=1), rand(3, 4, seed=2), rand(3, 4, seed=3)
CASES = [
    LayerCase("add3", "Add", {}, [A, B, C]),
    LayerCase("add_broadcast", "Add", {}, [rand(2, 3, 4), rand(2, 1, 4, seed=5)]),
    LayerCase("subtract", "Subtract", {}, [A, B]),
    LayerCase("multiply", "Multiply", {}, [A, B, C]),
    LayerCase("average", "Average", {}, [A, B]),
    LayerCase("maximum", "Maximum", {}, [A, B, C]),
    LayerCase("minimum", "Minimum", {}, [A, B]),
    LayerCase("concat_last", "Concatenate", {}, [A, rand(3, 2, seed=7)]),
    LayerCase("concat_axis1", "Concatenate", {"axis": 1}, [rand(2, 3, 4), rand(2, 5, 4, seed=8)]),
    LayerCase("dot_2d", "Dot", {"axes": 1}, [A, B]),
    LayerCase("dot_3d", "Dot", {"axes": [2, 2]}, [rand(2, 3, 4), rand(2, 5, 4, seed=9)]),
    LayerCase("dot_3d_normalize", "Dot", {"axes": [1, 1], "normalize": True},
              [rand(2, 3, 4), rand(2, 3, 5, seed=9)]),
]

test_merging_layer_parity = requires_keras(parametrize_cases(CASES))
