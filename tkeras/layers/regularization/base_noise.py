"""`BaseNoise`: what the training-only noise layers share (Dropout, SpatialDropout*,
AlphaDropout, GaussianDropout, GaussianNoise).

One amount argument (`rate`, or `stddev` for GaussianNoise) checked to lie in [0, 1] with Keras's
message, a `seed`, masks passed through, and the input returned unchanged outside training or
when the amount is 0; subclasses implement `_noise(inputs)`.
"""

from tkeras.layers.layer import Layer


class BaseNoise(Layer):
    amount_name = "rate"

    def __init__(self, amount, seed=None, **kwargs):
        super().__init__(**kwargs)
        name = self.amount_name
        if not 0 <= amount <= 1:
            raise ValueError(f"Invalid value received for argument `{name}`. Expected a float "
                             f"value between 0 and 1. Received: {name}={amount}")
        setattr(self, name, amount)
        self.seed = seed
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if not training or getattr(self, self.amount_name) == 0:
            return inputs
        return self._noise(inputs)

    def _noise(self, inputs):
        raise NotImplementedError

    def _noise_shape(self, inputs):
        """`noise_shape` with None entries taken from the input (one draw broadcast over axes
        of size 1)."""
        return [inputs.shape[i] if d is None else d for i, d in enumerate(self.noise_shape)]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), self.amount_name: getattr(self, self.amount_name),
                "seed": self.seed}
