"""`ReversibleEmbedding`: an `Embedding` that can also map hidden states back to vocabulary
logits with `layer(x, reverse=True)`.

Kept from Keras: with `tie_weights=True` the reverse projection is the transposed embedding
table; otherwise a separate `reverse_embeddings` weight of shape `(output_dim, input_dim)` is
created after `embeddings`. `reverse_dtype` casts inputs and kernel before the matmul, and
`logit_soft_cap` applies `tanh(logits / cap) * cap`. The forward call masks index 0 when
`mask_zero`; the reverse call sets no mask. LoRA (inherited from `Embedding`) also applies to
the tied reverse projection, and saving merges it, as in Keras. Deliberate difference: quantized
(int8/int4) modes are not implemented (`quantize` and quantized dtype policies raise
`NotImplementedError`).
"""

import torch

from tkeras.core import dtype_policies
from tkeras.core.registry import keras_export
from tkeras.layers.core.embedding import Embedding


@keras_export("keras.layers.ReversibleEmbedding")
class ReversibleEmbedding(Embedding):
    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 reverse_dtype=None, logit_soft_cap=None, **kwargs):
        # Set first: Embedding's `weights=` argument builds the layer inside its __init__.
        self.tie_weights = tie_weights
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer,
                         embeddings_constraint=embeddings_constraint, mask_zero=mask_zero,
                         **kwargs)

    def build(self, input_shape=None):
        if self.built:
            return
        if self.quantization_mode is not None:
            raise NotImplementedError(self._no_quantization())
        super().build(input_shape)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                shape=(self.output_dim, self.input_dim), initializer=self.embeddings_initializer,
                name="reverse_embeddings", trainable=True)

    def call(self, inputs, reverse=False):
        if not reverse:
            return super().call(inputs)
        kernel = self._float_embeddings().t() if self.tie_weights else self.reverse_embeddings
        if self.reverse_dtype is not None:
            dtype = dtype_policies.torch_dtype(self.reverse_dtype)
            inputs, kernel = inputs.to(dtype), kernel.to(dtype)
        logits = torch.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            logits = torch.tanh(logits / self.logit_soft_cap) * self.logit_soft_cap
        return logits

    def quantize(self, mode=None, type_check=True, config=None):
        raise NotImplementedError(self._no_quantization())

    def _no_quantization(self):
        return "tkeras does not implement quantization for ReversibleEmbedding."

    @property
    def variable_serialization_spec(self):
        """Keras's saved variable order (the untied reverse projection last)."""
        return {None: ["embeddings"] + ([] if self.tie_weights else ["reverse_embeddings"])}

    def compute_mask(self, inputs, mask=None):
        # Only the forward (index) call is masked; reverse calls take float hidden states.
        if inputs.is_floating_point():
            return None
        return super().compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return (*input_shape[:-1], self.input_dim)
        return (*input_shape, self.output_dim)

    def compute_output_spec(self, inputs, reverse=False, **kwargs):
        from tkeras.model.keras_tensor import KerasTensor

        return KerasTensor(self.compute_output_shape(inputs.shape, reverse),
                           dtype=self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights,
                "reverse_dtype": self.reverse_dtype, "logit_soft_cap": self.logit_soft_cap}
