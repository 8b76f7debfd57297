"""`Discretization`: bucket ids of numbers by `bin_boundaries` (`torch.bucketize(right=True)`,
i.e. `numpy.digitize`), optionally one-hot/multi-hot/count encoded.

Keras behaviour kept: the config (`bin_boundaries`, `num_bins`, `epsilon`, `output_mode`,
`sparse`, `name`, `dtype`; no `trainable`), `int` output in int32, and `adapt()` with Keras's
approximate-quantile summaries (NumPy), from arrays, tensors or an iterable of batches.

Deliberate difference: Keras's `adapt()` imports TensorFlow (it checks for `tf.data`), so it fails
without TF even on torch; tkeras runs the same NumPy algorithm without it (tests compare with
Keras's `update_state` + `finalize_state`, which do not need TF). `sparse=True` raises as on torch.
"""

import numpy as np
import torch

from tkeras.core import config
from tkeras.core import dtype_policies
from tkeras.core.registry import keras_export
from tkeras.layers.layer import Layer
from tkeras.layers.layer import map_shapes_to_tensors
from tkeras.layers.preprocessing.category_encoding import _check_sparse
from tkeras.layers.preprocessing.category_encoding import encode_categorical_inputs

_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


@keras_export("keras.layers.Discretization")
class Discretization(Layer):
    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, dtype=None, name=None):
        super().__init__(name=name, dtype=dtype)
        _check_sparse(sparse)
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(f"The `output_mode` argument of layer {type(self).__name__} should "
                             f"be one of {_OUTPUT_MODES}. Received: {output_mode}")
        if num_bins is not None and num_bins < 0:
            raise ValueError("`num_bins` must be greater than or equal to 0. "
                             f"Received: `num_bins={num_bins}`")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError("Both `num_bins` and `bin_boundaries` should not be set. Received: "
                             f"`num_bins={num_bins}` and `bin_boundaries={bin_boundaries}`")
        if num_bins is None and bin_boundaries is None:
            raise ValueError("You need to set either `num_bins` or `bin_boundaries`.")
        self._bin_boundaries = bin_boundaries
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = sparse
        self.summary = None if bin_boundaries else np.array([[], []], dtype="float32")

    @property
    def input_dtype(self):
        """As Keras: inputs are compared with the boundaries in `floatx()`."""
        return config.floatx()

    @property
    def bin_boundaries(self):
        # Stored as `_bin_boundaries`: a public list attribute would be tracked as sub-layers.
        return self._bin_boundaries

    @property
    def output_dtype(self):
        return self.compute_dtype if self.output_mode != "int" else "int32"

    def adapt(self, data, steps=None):
        if self.num_bins is None:
            raise ValueError("Cannot adapt a Discretization layer that has been initialized "
                             "with `bin_boundaries`, use `num_bins` instead.")
        self.reset_state()
        if isinstance(data, (np.ndarray, torch.Tensor)) or not hasattr(data, "__iter__"):
            self.update_state(data)
        else:
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        self.finalize_state()

    def update_state(self, data):
        if isinstance(data, torch.Tensor):
            data = data.detach().cpu().numpy()
        data = np.array(data).astype("float32")
        self.summary = _merge_summaries(_summarize(data, self.epsilon), self.summary,
                                        self.epsilon)

    def finalize_state(self):
        if self.num_bins is None:
            return
        self._bin_boundaries = _compress_summary(self.summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def reset_state(self):
        if self.num_bins is None:
            return
        self.summary = np.array([[], []], dtype="float32")

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(
                "You need to either pass the `bin_boundaries` argument at construction time or "
                "call `adapt(dataset)` before you can start using the `Discretization` layer.")
        inputs = torch.as_tensor(inputs)
        if inputs.dtype == torch.bool:
            inputs = inputs.to(torch.uint8)
        boundaries = torch.tensor(self.bin_boundaries, dtype=torch.float32, device=inputs.device)
        if not inputs.is_floating_point():
            inputs = inputs.to(torch.float32)
        indices = torch.bucketize(inputs, boundaries.to(inputs.dtype), right=True).to(torch.int32)
        return encode_categorical_inputs(indices, self.output_mode, len(self.bin_boundaries) + 1,
                                         dtype_policies.torch_dtype(self.output_dtype))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = (len(self.bin_boundaries) + 1 if self.bin_boundaries is not None
                 else self.num_bins)
        if self.output_mode == "one_hot":
            if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
                return input_shape[:-1] + (depth,)
            return input_shape + (depth,)
        if input_shape and len(input_shape) >= 2:
            return (input_shape[0],) + input_shape[2:] + (depth,)
        return (depth,)

    def compute_output_spec(self, inputs):
        return map_shapes_to_tensors(self.compute_output_shape(inputs.shape), self.output_dtype)

    def get_config(self):
        return {"bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": self.sparse,
                "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = dtype_policies.get(config["dtype"])
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            bin_boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer._bin_boundaries = bin_boundaries
            return layer
        return cls(**config)


def _summarize(values, epsilon):
    values = np.sort(np.reshape(values, [-1]))
    step = max(np.size(values) / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1)::int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def _merge_summaries(prev_summary, next_summary, epsilon):
    merged = np.concatenate((prev_summary, next_summary), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return _compress_summary(merged, epsilon)


def _compress_summary(summary, epsilon):
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")
