from tkeras.layers.activations.activation import Activation

__all__ = ["Activation"]
