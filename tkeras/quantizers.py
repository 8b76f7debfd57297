"""`keras.quantizers`: quantizers, quantization configs and the quantization helpers.

The quantizers and configs live in `tkeras.layers.core.quantization` (with the layers that use
them); this module re-exports them under Keras's names and adds Keras's float8 helpers and
`fake_quant_with_min_max_vars`. `GPTQConfig` and `AWQConfig` exist so that code naming them gets
a clear error: tkeras has no GPTQ/AWQ calibration (see docs/design.md).
"""

import inspect

import torch

from tkeras.core import naming
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.layers.core.quantization import AbsMaxQuantizer
from tkeras.layers.core.quantization import Float8QuantizationConfig
from tkeras.layers.core.quantization import Int4QuantizationConfig
from tkeras.layers.core.quantization import Int8QuantizationConfig
from tkeras.layers.core.quantization import QuantizationConfig
from tkeras.layers.core.quantization import Quantizer
from tkeras.layers.core.quantization import abs_max_quantize
from tkeras.layers.core.quantization import abs_max_quantize_grouped_with_zero_point
from tkeras.layers.core.quantization import pack_int4
from tkeras.layers.core.quantization import unpack_int4

__all__ = [
    "AWQConfig", "AbsMaxQuantizer", "Float8QuantizationConfig", "GPTQConfig",
    "Int4QuantizationConfig", "Int8QuantizationConfig", "QuantizationConfig", "Quantizer",
    "abs_max_quantize", "abs_max_quantize_grouped_with_zero_point", "compute_float8_amax_history",
    "compute_float8_scale", "deserialize", "fake_quant_with_min_max_vars", "get", "pack_int4",
    "quantize_and_dequantize", "serialize", "unpack_int4",
]


class _UncalibratedConfig(QuantizationConfig):
    mode = None

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            f"keras.quantizers.{type(self).__name__}: the '{self.mode}' quantization mode needs "
            "calibration that tkeras does not implement; use 'int8' or 'int4'.")


@keras_export("keras.quantizers.GPTQConfig")
class GPTQConfig(_UncalibratedConfig):
    mode = "gptq"


@keras_export("keras.quantizers.AWQConfig")
class AWQConfig(_UncalibratedConfig):
    mode = "awq"


_ALL_OBJECTS = (Quantizer, AbsMaxQuantizer, QuantizationConfig, Int8QuantizationConfig,
                Int4QuantizationConfig, Float8QuantizationConfig, AWQConfig)
_ALL_OBJECTS_DICT = {cls.__name__: cls for cls in _ALL_OBJECTS}
_ALL_OBJECTS_DICT.update({naming.to_snake_case(cls.__name__): cls for cls in _ALL_OBJECTS})


@keras_export("keras.quantizers.serialize")
def serialize(initializer):
    return serialize_keras_object(initializer)


@keras_export("keras.quantizers.deserialize")
def deserialize(config, custom_objects=None):
    return deserialize_keras_object(config, custom_objects=custom_objects,
                                    module_objects=_ALL_OBJECTS_DICT)


@keras_export("keras.quantizers.get")
def get(identifier, **kwargs):
    """A quantizer from an identifier (Keras: a class found by name is called with `kwargs`)."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _ALL_OBJECTS_DICT.get(identifier)
    else:
        obj = identifier
    if callable(obj):
        return obj(kwargs) if inspect.isclass(obj) else obj
    raise ValueError(f"Could not interpret quantizer identifier: {identifier}")


# ----------------------------------------------------------------------------- float8 helpers
def _as_tensor(x, dtype=None):
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    return t if dtype is None else t.to(dtype)


@keras_export("keras.quantizers.compute_float8_scale")
def compute_float8_scale(amax, scale, dtype_max, margin=0):
    """The new float8 scale from `amax` (Transformer Engine's rule, as Keras)."""
    amax = _as_tensor(amax)
    scale = torch.reciprocal(_as_tensor(scale, amax.dtype))
    sf = (dtype_max / amax) / (2 ** margin)
    sf = torch.where(amax > 0.0, sf, scale)
    sf = torch.where(torch.isfinite(amax), sf, scale)
    return torch.reciprocal(sf)


@keras_export("keras.quantizers.compute_float8_amax_history")
def compute_float8_amax_history(x, amax_history):
    """`amax_history` rolled by one with `max(|x|)` in front."""
    amax_history = _as_tensor(amax_history)
    update = _as_tensor(x).abs().max().to(amax_history.dtype)
    rolled = torch.roll(amax_history, shifts=-1, dims=0).clone()
    rolled[0] = update
    return rolled


def _torch_dtype(dtype):
    """Keras dtype names, float8 ones included (torch.float8_e4m3fn, torch.float8_e5m2)."""
    from tkeras.core import dtype_policies

    if isinstance(dtype, str) and dtype.startswith("float8"):
        return getattr(torch, dtype)
    return dtype_policies.torch_dtype(dtype)


@keras_export("keras.quantizers.quantize_and_dequantize")
def quantize_and_dequantize(inputs, scale, quantized_dtype, compute_dtype):
    """Round-trip `inputs / scale` through `quantized_dtype` (e.g. "float8_e4m3fn")."""
    qdtype = _torch_dtype(quantized_dtype)
    cdtype = _torch_dtype(compute_dtype)
    qmax = float(torch.finfo(qdtype).max)
    scale = _as_tensor(scale, cdtype)
    x = torch.clamp(_as_tensor(inputs, cdtype) / scale, -qmax, qmax).to(qdtype)
    return x.to(cdtype) * scale


# ----------------------------------------------------------------------------- fake quant
def _adjust_and_nudge(min_range, max_range, num_bits, narrow_range):
    min_range = min_range.to(torch.promote_types(min_range.dtype, torch.float32))
    max_range = max_range.to(min_range.dtype)
    quant_max = (1 << num_bits) - 1
    quant_min = 1 if narrow_range else 0
    diff_range = max_range - min_range
    scale = diff_range / (quant_max - quant_min)
    inv_scale = (quant_max - quant_min) / diff_range
    zero_point = torch.clamp(quant_min - min_range / scale, quant_min, quant_max)
    nudged_zero_point = torch.round(zero_point)
    nudged_min = (quant_min - nudged_zero_point) * scale
    nudged_max = (quant_max - nudged_zero_point) * scale
    return nudged_min, nudged_max, scale, inv_scale


class _FakeQuant(torch.autograd.Function):
    """Keras's fake quantization with its straight-through gradients (x inside the range;
    `min_vals`/`max_vals` collect the gradient of the values clipped to them)."""

    @staticmethod
    def forward(ctx, x, min_val, max_val, num_bits, narrow_range, axis):
        nudged_min, nudged_max, scale, inv_scale = _adjust_and_nudge(
            min_val, max_val, num_bits, narrow_range)
        quant_zero = torch.floor(-nudged_min * inv_scale + 0.5)
        shifted = torch.clamp(x.to(nudged_min.dtype), nudged_min, nudged_max) - nudged_min
        result = torch.floor(shifted * inv_scale - quant_zero + 0.5) * scale
        ctx.save_for_backward(x, nudged_min, nudged_max)
        ctx.shapes = (min_val.shape, max_val.shape)
        ctx.axis = axis
        return result.to(x.dtype)

    @staticmethod
    def backward(ctx, upstream):
        x, nudged_min, nudged_max = ctx.saved_tensors
        zero = torch.zeros((), dtype=upstream.dtype, device=upstream.device)
        inside = (x >= nudged_min) & (x <= nudged_max)
        dx = torch.where(inside, upstream, zero)
        axes = [i for i in range(dx.ndim) if i != ctx.axis]
        grads = []
        for mask, shape in ((x <= nudged_min, ctx.shapes[0]), (x >= nudged_max, ctx.shapes[1])):
            g = torch.where(mask, upstream, zero)
            g = g.sum(dim=axes) if ctx.axis is not None else g.sum()
            grads.append(g.reshape(shape))
        return dx, grads[0], grads[1], None, None, None


@keras_export("keras.quantizers.fake_quant_with_min_max_vars")
def fake_quant_with_min_max_vars(inputs, min_vals, max_vals, num_bits=8, narrow_range=False,
                                 axis=None):
    """Per-tensor (`axis=None`) or per-channel fake quantization into `num_bits`, with gradients
    for `inputs`, `min_vals` and `max_vals` as Keras defines them."""
    inputs = _as_tensor(inputs)
    min_vals = _as_tensor(min_vals, inputs.dtype)
    max_vals = _as_tensor(max_vals, inputs.dtype)
    if axis is not None:
        axis = axis % inputs.ndim
        shape = [1] * inputs.ndim
        shape[axis] = -1
        min_b, max_b = min_vals.reshape(shape), max_vals.reshape(shape)
        out = _FakeQuant.apply(inputs, min_b, max_b, int(num_bits), narrow_range, axis)
        return out
    return _FakeQuant.apply(inputs, min_vals, max_vals, int(num_bits), narrow_range, None)
