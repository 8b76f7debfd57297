from tkeras.layers.core.dense import Dense
from tkeras.layers.core.einsum_dense import EinsumDense
from tkeras.layers.core.embedding import Embedding
from tkeras.layers.core.identity import Identity
from tkeras.layers.core.lambda_layer import Lambda
from tkeras.layers.core.masking import Masking
from tkeras.layers.core.reversible_embedding import ReversibleEmbedding
from tkeras.layers.core.torch_module_wrapper import TorchModuleWrapper
from tkeras.layers.core.wrapper import Wrapper
from tkeras.layers.input_layer import Input
from tkeras.layers.input_layer import InputLayer

__all__ = ["Dense", "EinsumDense", "Embedding", "Input", "InputLayer"]
__all__ += ["Identity", "Lambda", "Masking", "ReversibleEmbedding", "TorchModuleWrapper",
            "Wrapper"]
