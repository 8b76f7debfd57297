from tkeras.layers.core.dense import Dense
from tkeras.layers.core.embedding import Embedding
from tkeras.layers.input_layer import Input
from tkeras.layers.input_layer import InputLayer

__all__ = ["Dense", "Embedding", "Input", "InputLayer"]
