"""`CategoryEncoding` and the categorical encoder shared with `Discretization`.

Keras behaviour kept (torch backend): `output_mode` `multi_hot` (alias `binary`), `one_hot` (a
trailing axis of size 1 is squeezed first) or `count` (optionally weighted by `count_weights`);
`multi_hot`/`count` reduce over axis 1 of the one-hot tensor for rank >= 2 inputs; negative ids
encode to all zeros; the output dtype is the layer's dtype (`count` with `count_weights`: theirs).

Deliberate difference: ids `>= num_tokens` also encode to zeros (Keras's torch one-hot raises).
`sparse=True` raises as on Keras's torch backend.
"""

import torch

from tkeras.core import dtype_policies
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.layers.layer import map_shapes_to_tensors


def _one_hot(ids, depth, dtype):
    classes = torch.arange(depth, device=ids.device)
    return (ids.long().unsqueeze(-1) == classes).to(dtype)


def encode_categorical_inputs(inputs, output_mode, depth, dtype, count_weights=None):
    if output_mode == "int":
        return inputs.to(dtype)
    if inputs.ndim == 0:
        inputs = inputs.unsqueeze(-1)
    if output_mode == "multi_hot":
        reduction_axis = 1 if inputs.ndim > 1 else 0
        return torch.amax(_one_hot(inputs, depth, dtype), dim=reduction_axis)
    if output_mode == "one_hot":
        if inputs.ndim > 1 and inputs.shape[-1] == 1:
            inputs = inputs.squeeze(-1)
        return _one_hot(inputs, depth, dtype)
    reduction_axis = 1 if inputs.ndim > 1 else 0
    if count_weights is not None:
        dtype = count_weights.dtype
    encoded = _one_hot(inputs, depth, dtype)
    if count_weights is not None:
        encoded = encoded * count_weights.unsqueeze(-1)
    return encoded.sum(dim=reduction_axis)


def _check_sparse(sparse):
    if sparse:
        raise ValueError("`sparse=True` cannot be used with backend torch")


@keras_export("keras.layers.CategoryEncoding")
class CategoryEncoding(Layer):

    _convert_input_args = False  # as Keras: inputs reach `call` unconverted
    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode not in ("count", "one_hot", "multi_hot"):
            raise ValueError(f"Unknown arg for output_mode: {output_mode}")
        if num_tokens is None:
            raise ValueError(
                "num_tokens must be set to use this layer. If the number of tokens is not "
                "known beforehand, use the IntegerLookup layer instead.")
        if num_tokens < 1:
            raise ValueError(f"`num_tokens` must be >= 1. Received: num_tokens={num_tokens}.")
        _check_sparse(sparse)
        self.num_tokens = num_tokens
        self.output_mode = output_mode
        self.sparse = sparse

    def call(self, inputs, count_weights=None):
        inputs = torch.as_tensor(inputs)
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError("`count_weights` is not used when `output_mode` is not "
                                 f"`'count'`. Received `count_weights={count_weights}`.")
            count_weights = torch.as_tensor(
                count_weights, dtype=dtype_policies.torch_dtype(self.compute_dtype),
                device=inputs.device)
        return encode_categorical_inputs(inputs, self.output_mode, self.num_tokens,
                                         dtype_policies.torch_dtype(self.dtype),
                                         count_weights=count_weights)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_tokens,)
        if self.output_mode == "one_hot":
            if input_shape[-1] != 1 or len(input_shape) == 1:
                return input_shape + (self.num_tokens,)
            return input_shape[:-1] + (self.num_tokens,)
        return input_shape[:-1] + (self.num_tokens,)

    def compute_output_spec(self, inputs, count_weights=None):
        return map_shapes_to_tensors(self.compute_output_shape(inputs.shape), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens,
                "output_mode": self.output_mode}
