"""`TimeDistributed`: applies a layer to every time step of `(batch, time, ...)` inputs.

Keras 3 calls the wrapped layer's `call` once per step; tkeras folds time into the batch and
calls it once on `(batch * time, ...)`, which gives the same numbers for any per-sample layer
and is much faster. The exception is a layer with batch statistics in training (a wrapped layer
holding non-trainable variables, e.g. BatchNormalization): there tkeras loops over the steps
like Keras, so each step gets its own statistics.
"""

import inspect

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.core.wrapper import Wrapper
from tkeras.layers.layer import Layer
from tkeras.layers.rnn.rnn import build_child


@keras_export("keras.layers.TimeDistributed")
class TimeDistributed(Wrapper):
    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `TimeDistributed` layer with a "
                             f"`keras.layers.Layer` instance. Received: {layer}")
        super().__init__(layer, **kwargs)
        self.supports_masking = True
        params = inspect.signature(layer.call).parameters
        self._layer_has_training = "training" in params
        self._layer_has_mask = "mask" in params

    @staticmethod
    def _get_child_input_shape(input_shape):
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ValueError("`TimeDistributed` Layer should be passed an `input_shape` with at "
                             f"least 3 dimensions, received: {input_shape}")
        return (input_shape[0], *input_shape[2:])

    def compute_output_shape(self, input_shape):
        from tkeras.model.keras_tensor import KerasTensor

        child_input_shape = self._get_child_input_shape(input_shape)
        spec = self.layer.compute_output_spec(KerasTensor(child_input_shape))
        child_output_shape = spec.shape
        return (child_output_shape[0], input_shape[1], *child_output_shape[1:])

    def build(self, input_shape):
        build_child(self.layer, self._get_child_input_shape(input_shape))
        self.built = True

    def _child_kwargs(self, training, mask):
        kwargs = {}
        if self._layer_has_mask and mask is not None:
            kwargs["mask"] = mask
        if self._layer_has_training:
            kwargs["training"] = training
        return kwargs

    def call(self, inputs, training=None, mask=None):
        if mask is not None and (mask.ndim < 2 or tuple(mask.shape[:2]) != tuple(inputs.shape[:2])):
            raise ValueError(
                f"The `mask` passed to the `TimeDistributed` layer has a shape "
                f"{tuple(mask.shape)} that is incompatible with the input shape "
                f"{tuple(inputs.shape)}. The first two dimensions of the mask (batch size and "
                "timesteps) must match the input's first two dimensions.")
        batch, steps = inputs.shape[0], inputs.shape[1]
        if training and self.layer.non_trainable_weights:
            outputs = [self.layer.call(inputs[:, t], **self._child_kwargs(
                training, None if mask is None else mask[:, t])) for t in range(steps)]
            return torch.stack(outputs, dim=1)
        folded_mask = None if mask is None else mask.reshape((batch * steps,) + mask.shape[2:])
        y = self.layer.call(inputs.reshape((batch * steps,) + inputs.shape[2:]),
                            **self._child_kwargs(training, folded_mask))
        return y.reshape((batch, steps) + y.shape[1:])
