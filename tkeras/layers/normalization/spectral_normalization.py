"""`SpectralNormalization`: a wrapper dividing the wrapped layer's kernel by its spectral norm.

Keras behaviour kept: wraps a layer with a `kernel` (or `embeddings`); adds a non-trainable
`vector_u` of shape `(1, kernel.shape[-1])` (TruncatedNormal(stddev=0.02)); weights are listed
as `[kernel, vector_u, <other weights of the wrapped layer>]` (Keras tracks the kernel on the
wrapper first); in training, `power_iterations` steps of power iteration on the kernel reshaped
to `(-1, out)` estimate sigma, and both `vector_u` and the kernel are OVERWRITTEN
(`kernel /= sigma`, no gradient through the normalization) before the wrapped layer runs; an
all-zero kernel is left alone; in inference the wrapped layer runs unchanged. Config is the
wrapper's (`layer` serialized, `power_iterations`).

Deliberate difference: Keras casts the output to the input dtype, which turns an Embedding's
output into integers for integer token ids; tkeras casts only floating inputs' outputs.
"""

import torch

from tkeras.core import initializers
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer

_KERAS_EPSILON = 1e-7  # ops.normalize's default epsilon


def _l2_normalize(x):
    """`keras.ops.normalize(x, axis=None)`: `x * min(rsqrt(sum(x^2)), 1 / epsilon)`."""
    return x * torch.clamp(torch.rsqrt(x.square().sum()), max=1.0 / _KERAS_EPSILON)


@keras_export("keras.layers.SpectralNormalization")
class SpectralNormalization(Layer):
    def __init__(self, layer, power_iterations=1, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Layer {layer} supplied to Wrapper isn't a supported layer type. Please "
                "ensure wrapped layer is a valid Keras layer.")
        super().__init__(**kwargs)
        self.layer = layer
        if power_iterations <= 0:
            raise ValueError(
                "`power_iterations` should be greater than zero. Received: "
                f"`power_iterations={power_iterations}`")
        self.power_iterations = power_iterations

    @property
    def kernel(self):
        layer = self.layer
        return layer.kernel if hasattr(layer, "kernel") else layer.embeddings

    @property
    def weights(self):
        # Keras tracks the wrapped kernel on the wrapper itself, so it comes first.
        weights = super().weights
        if not self.built:
            return weights
        kernel = self.kernel
        return [kernel] + [w for w in weights if w is not kernel]

    variables = weights

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build_from_config({"input_shape": input_shape})
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        if not (hasattr(self.layer, "kernel") or hasattr(self.layer, "embeddings")):
            raise ValueError(
                f"{type(self.layer).__name__} object has no attribute 'kernel' nor "
                "'embeddings'")
        kernel = self.kernel
        self.kernel_shape = tuple(kernel.shape)
        self.vector_u = self.add_weight(
            shape=(1, self.kernel_shape[-1]),
            initializer=initializers.TruncatedNormal(stddev=0.02), trainable=False,
            name="vector_u", dtype=kernel.dtype)
        self.built = True

    def call(self, inputs, training=False):
        if training:
            with torch.no_grad():
                kernel = self.kernel
                new_u, new_kernel = self.normalized_weights()
                keep = torch.all(kernel == 0)
                self.vector_u.copy_(torch.where(keep, self.vector_u, new_u))
                kernel.copy_(torch.where(keep, kernel, new_kernel))
        output = self.layer(inputs)
        return output.to(inputs.dtype) if inputs.is_floating_point() else output

    def normalized_weights(self):
        """(new vector_u, kernel / sigma) from `power_iterations` power-iteration steps."""
        kernel = self.kernel
        weights = kernel.reshape(-1, self.kernel_shape[-1])
        vector_u = self.vector_u
        for _ in range(self.power_iterations):
            vector_v = _l2_normalize(vector_u @ weights.T)
            vector_u = _l2_normalize(vector_v @ weights)
        vector_u, vector_v = vector_u.detach(), vector_v.detach()
        sigma = (vector_v @ weights) @ vector_u.T
        return vector_u.to(self.vector_u.dtype), (kernel / sigma).reshape(self.kernel_shape)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "layer": serialize_keras_object(self.layer),
                "power_iterations": self.power_iterations}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects,
                                         printable_module_name="layers")
        return cls(layer, **config)
