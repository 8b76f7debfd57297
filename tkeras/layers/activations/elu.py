"""`ELU`: `x` if `x > 0` else `alpha * (exp(x) - 1)`. Config: `alpha` (Keras's automatic
config, which includes default values)."""

import torch.nn.functional as F

from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer


@keras_export("keras.layers.ELU")
class ELU(Layer):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        return F.elu(inputs, alpha=self.alpha)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}
