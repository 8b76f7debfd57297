"""`Masking`: a time step whose features all equal `mask_value` is masked out.

The output mask is `any(inputs != mask_value, axis=-1)`, and masked steps are set to 0 in the
output (as Keras).
"""

import torch

from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer


@keras_export("keras.layers.Masking")
class Masking(Layer):
    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, dict) and mask_value.get("config", None):
            mask_value = deserialize_keras_object(mask_value)  # a serialized array
        self.mask_value = mask_value
        # An array mask value is compared as a tensor (broadcast over the feature axis).
        self._mask_tensor = None
        if not isinstance(mask_value, (int, float, bool)):
            self._mask_tensor = torch.as_tensor(mask_value)
        self.supports_masking = True
        self.built = True

    def _keep(self, inputs, keepdim):
        value = self.mask_value
        if self._mask_tensor is not None:
            value = self._mask_tensor.to(device=inputs.device, dtype=inputs.dtype)
        return torch.any(inputs != value, dim=-1, keepdim=keepdim)

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs, keepdim=False)

    def call(self, inputs):
        keep = self._keep(inputs, keepdim=True)
        return torch.where(keep, inputs, torch.zeros((), dtype=inputs.dtype,
                                                     device=inputs.device))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
