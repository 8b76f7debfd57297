"""LoRA and weight quantization shared by `Dense`, `EinsumDense` and `Embedding` (Keras 3).

Kept from Keras: the quantizers (`AbsMaxQuantizer`, `abs_max_quantize`, the grouped asymmetric
`abs_max_quantize_grouped_with_zero_point`, `pack_int4`/`unpack_int4` with the low nibble first),
the configs (`Int8QuantizationConfig`, `Int4QuantizationConfig` with its default `block_size=128`,
`Float8QuantizationConfig`) and their configs, `layer.quantize(mode, config=...)` and
`Model.quantize(mode, config=..., filters=...)`: weights are quantized in NumPy exactly as Keras
does (so the int8/int4 values and scales are Keras's), the layer's variables are replaced in
Keras's order and dtypes, and its dtype policy becomes `"<mode>_from_<policy>"`. Quantized
forward passes follow Keras's arithmetic (int8 x int8 products accumulated exactly in int32,
then divided by `inputs_scale * kernel_scale`), with Keras's custom gradient: inputs get
`upstream @ dequantized_kernel.T`, the quantized weights none.

Deliberate difference: the "float8", "gptq" and "awq" modes are not implemented; asking for them
(`quantize`, `Model.quantize`, a layer built with such a policy) raises `NotImplementedError`
naming the mode.
"""

import contextlib
import math
import re
import warnings

import numpy as np
import torch

from tkeras.core import dtype_policies
from tkeras.core import initializers
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object

EPSILON = 1e-7  # Keras's quantizers take `backend.epsilon()` as their default, once, at import
SUPPORTED_MODES = ("int8", "int4")


def unsupported_mode_error(mode):
    return NotImplementedError(
        f"tkeras does not implement the '{mode}' quantization mode (supported: "
        f"{', '.join(SUPPORTED_MODES)}).")


# ----------------------------------------------------------------------------- quantizers


@keras_export("keras.Quantizer", "keras.quantizers.Quantizer")
class Quantizer:
    def __init__(self, output_dtype="int8"):
        self.output_dtype = output_dtype

    def __call__(self, x):
        return x

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")


@keras_export("keras.quantizers.AbsMaxQuantizer")
class AbsMaxQuantizer(Quantizer):
    """`round(x * value_range[1] / max|x|)` along `axis`, clipped to `value_range`."""

    def __init__(self, axis=None, value_range=(-127, 127), epsilon=EPSILON, output_dtype="int8"):
        super().__init__(output_dtype=output_dtype)
        self.axis = None if axis is None else tuple((axis,) if isinstance(axis, int) else axis)
        self.value_range = value_range
        self.epsilon = epsilon
        if output_dtype == "int8" and (value_range[0] < -128 or value_range[1] > 127):
            raise ValueError("Quantizer with output_dtype='int8' requires value_range to be "
                             f"within the interval [-128, 127]. Received: "
                             f"value_range={value_range}")

    def __call__(self, x, axis=None, to_numpy=False):
        axis = self.axis if axis is None else axis
        return abs_max_quantize(x, -1 if axis is None else axis, self.value_range,
                                self.output_dtype, self.epsilon, to_numpy)

    def get_config(self):
        config = {"value_range": self.value_range, "epsilon": self.epsilon,
                  "output_dtype": self.output_dtype}
        if self.axis is not None:
            config["axis"] = self.axis
        return config


def _axes(axis, ndim):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axes)


def abs_max_quantize(inputs, axis, value_range=(-127, 127), dtype="int8", epsilon=EPSILON,
                     to_numpy=False):
    """`(quantized, scale)`; `scale` keeps the reduced axes (size 1). `to_numpy` computes in
    NumPy as Keras does when quantizing weights; otherwise in torch (inputs of a call)."""
    low, high = value_range
    if to_numpy:
        source_dtype = inputs.dtype
        x = _to_numpy(inputs)
        axes = _axes(axis, x.ndim)
        scale = np.divide(high, np.add(np.max(np.abs(x), axis=axes, keepdims=True), epsilon))
        outputs = np.clip(np.round(np.multiply(x, scale)), low, high).astype(dtype)
        return torch.from_numpy(outputs), torch.from_numpy(scale).to(source_dtype)
    axes = _axes(axis, inputs.ndim)
    scale = torch.divide(high, torch.add(torch.amax(torch.abs(inputs), dim=axes, keepdim=True),
                                         epsilon)).to(inputs.dtype)
    outputs = torch.clip(torch.round(torch.multiply(inputs, scale)), low, high)
    return outputs.to(dtype_policies.torch_dtype(dtype)), scale


def abs_max_quantize_grouped_with_zero_point(inputs, block_size, value_range=(-8, 7),
                                             dtype="int8", epsilon=EPSILON):
    """Asymmetric quantization of a 2-D `(input_dim, output_dim)` tensor in groups of
    `block_size` rows: `(quantized, scale (n_groups, out), zero_point (n_groups, out) int8)`.
    Computed in NumPy (Keras's `to_numpy=True` path)."""
    source_dtype = inputs.dtype
    x = _to_numpy(inputs)
    input_dim, output_dim = x.shape
    n_groups = math.ceil(input_dim / block_size)
    qmin, qmax = value_range
    padded = n_groups * block_size
    if padded > input_dim:
        x = np.concatenate([x, np.zeros((padded - input_dim, output_dim), dtype=x.dtype)], axis=0)
    x = x.reshape(n_groups, block_size, output_dim)
    min_val = np.min(x, axis=1, keepdims=True)
    max_val = np.max(x, axis=1, keepdims=True)
    scale = np.divide(np.subtract(max_val, min_val) + epsilon, qmax - qmin)
    zero_point = np.clip(np.round(np.divide(-min_val, scale)) + qmin, qmin, qmax)
    outputs = np.clip(np.round(np.divide(x, scale)) + zero_point, qmin, qmax).astype(dtype)
    outputs = outputs.reshape(padded, output_dim)[:input_dim, :]
    scale = np.squeeze(scale, axis=1)
    zero_point = np.squeeze(zero_point, axis=1).astype("int8")
    return (torch.from_numpy(np.ascontiguousarray(outputs)),
            torch.from_numpy(scale).to(source_dtype), torch.from_numpy(zero_point))


def pack_int4(arr, axis=0, dtype="int8"):
    """Two int4 values per byte along `axis` (padded to even length): the first of each pair in
    the low nibble. Returns `(packed, packed_shape, original_length)`, as Keras."""
    if dtype not in ("int8", "uint8"):
        raise ValueError(f"Expected dtype to be 'int8' or 'uint8', but got '{dtype}'.")
    x = _to_numpy(arr)
    if x.dtype != np.dtype(dtype):
        raise TypeError(f"Expected {dtype} tensor for packing, got {x.dtype}.")
    np_dtype = np.dtype(dtype)
    axis = axis % x.ndim
    x = np.moveaxis(x, axis, 0)
    n = x.shape[0]
    if n % 2 == 1:
        x = np.concatenate([x, np.zeros((1,) + x.shape[1:], dtype=x.dtype)], axis=0)
    mask = np.array(0x0F, dtype=np_dtype)
    low = np.bitwise_and(x[::2].astype(np_dtype), mask)
    high = np.bitwise_and(x[1::2].astype(np_dtype), mask)
    packed = np.bitwise_or(low, np.left_shift(high, np.array(4, dtype=np_dtype))).astype(np_dtype)
    packed = np.ascontiguousarray(np.moveaxis(packed, 0, axis))
    return torch.from_numpy(packed), tuple(packed.shape), n


def unpack_int4(packed, orig_len, axis=0, dtype="int8"):
    """Inverse of `pack_int4` (a torch op, traceable): int8 values in [-8, 7] (or uint8 nibbles)."""
    moved = packed.movedim(axis, 0)
    low = torch.bitwise_and(moved, 0x0F)
    high = torch.bitwise_and(torch.bitwise_right_shift(moved, 4), 0x0F)
    if dtype == "int8":  # nibble -> signed: (x ^ 8) - 8
        low = torch.bitwise_xor(low, 8) - 8
        high = torch.bitwise_xor(high, 8) - 8
    target = dtype_policies.torch_dtype(dtype)
    unpacked = torch.stack([low.to(target), high.to(target)], dim=1)
    unpacked = unpacked.reshape((-1,) + tuple(moved.shape[1:]))[:orig_len]
    return unpacked.movedim(0, axis)


def dequantize_with_sz_map(weights, scale, zero, g_idx, group_axis=-1):
    """`(weights - zero[g]) * scale[g]`, the group `g` of each position given by `g_idx`."""
    groups = g_idx.to(torch.int32)
    scales = torch.index_select(scale, group_axis, groups)
    zeros = torch.index_select(zero, group_axis, groups).to(scales.dtype)
    return torch.multiply(torch.subtract(weights, zeros), scales)


def _to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


# ----------------------------------------------------------------------------- configs


@keras_export("keras.quantizers.QuantizationConfig")
class QuantizationConfig:
    """Base of the quantization configs: a weight quantizer and an activation quantizer."""

    def __init__(self, weight_quantizer=None, activation_quantizer=None):
        self.weight_quantizer = weight_quantizer
        self.activation_quantizer = activation_quantizer

    @property
    def mode(self):
        raise NotImplementedError("Subclasses must implement this property. Do not instantiate "
                                  "QuantizationConfig directly.")

    def get_config(self):
        return {"weight_quantizer": serialize_keras_object(self.weight_quantizer),
                "activation_quantizer": serialize_keras_object(self.activation_quantizer)}

    @classmethod
    def from_config(cls, config):
        return cls(weight_quantizer=deserialize_keras_object(config.get("weight_quantizer")),
                   activation_quantizer=deserialize_keras_object(
                       config.get("activation_quantizer")))

    @staticmethod
    def weight_quantizer_or_default(config, default):
        if config is not None and config.weight_quantizer is not None:
            return config.weight_quantizer
        return default

    @staticmethod
    def activation_quantizer_or_default(config, default):
        return config.activation_quantizer if config is not None else default


@keras_export("keras.quantizers.Int8QuantizationConfig")
class Int8QuantizationConfig(QuantizationConfig):
    def __init__(self, weight_quantizer=None, activation_quantizer="default"):
        if activation_quantizer == "default":
            activation_quantizer = AbsMaxQuantizer()
        super().__init__(weight_quantizer, activation_quantizer)
        if weight_quantizer is not None and weight_quantizer.output_dtype != "int8":
            raise ValueError("Int8QuantizationConfig requires a weight_quantizer with "
                             f"output_dtype='int8'. Received: "
                             f"output_dtype={weight_quantizer.output_dtype}")

    @property
    def mode(self):
        return "int8"


@keras_export("keras.quantizers.Int4QuantizationConfig")
class Int4QuantizationConfig(QuantizationConfig):
    """`block_size`: rows per group (sub-channel, asymmetric with zero points; default 128), or
    None / -1 for per-channel symmetric quantization. No activation quantizer by default."""

    def __init__(self, weight_quantizer=None, activation_quantizer="default", block_size=128):
        if activation_quantizer == "default":
            activation_quantizer = None
        super().__init__(weight_quantizer, activation_quantizer)
        if block_size is not None and block_size != -1 and block_size <= 0:
            raise ValueError("block_size must be None, -1, or a positive integer. "
                             f"Received: block_size={block_size}")
        self.block_size = block_size
        if (block_size is not None and block_size > 0) and (
                weight_quantizer is not None or activation_quantizer is not None):
            raise ValueError(
                "Int4 sub-channel quantization (block_size > 0) does not support custom "
                "quantizers. Either set block_size to None or -1 for per-channel quantization, "
                f"or remove the custom quantizer arguments. Received: block_size={block_size}")
        if weight_quantizer is not None:
            if tuple(weight_quantizer.value_range) != (-8, 7):
                raise ValueError("Int4QuantizationConfig requires a weight_quantizer with "
                                 "value_range=(-8, 7). Received: "
                                 f"value_range={weight_quantizer.value_range}")
            if weight_quantizer.output_dtype != "int8":
                raise ValueError("Int4QuantizationConfig requires a weight_quantizer with "
                                 "output_dtype='int8'. Received: "
                                 f"output_dtype={weight_quantizer.output_dtype}")

    @property
    def mode(self):
        return "int4"

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}

    @classmethod
    def from_config(cls, config):
        return cls(weight_quantizer=deserialize_keras_object(config.get("weight_quantizer")),
                   activation_quantizer=deserialize_keras_object(
                       config.get("activation_quantizer")),
                   block_size=config.get("block_size", None))


@keras_export("keras.quantizers.Float8QuantizationConfig")
class Float8QuantizationConfig(QuantizationConfig):
    """Kept so configs naming it resolve; quantizing with it raises `NotImplementedError`."""

    def __init__(self):
        super().__init__(None, None)

    @property
    def mode(self):
        return "float8"

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls()


def validate_and_resolve_config(mode, config):
    """Keras's `quantize(mode, config)` argument resolution: a default config for a mode, the
    mode of a config, and no contradiction between them."""
    if isinstance(config, str):
        mode, config = config, None
    if mode is not None and mode not in dtype_policies.QUANTIZATION_MODES:
        raise ValueError("Invalid quantization mode. Expected one of "
                         f"{dtype_policies.QUANTIZATION_MODES}. Received: mode={mode}")
    if config is None:
        if mode == "int8":
            config = Int8QuantizationConfig()
        elif mode == "int4":
            config = Int4QuantizationConfig()
        elif mode is None:
            raise ValueError("You must provide either `mode` or `config` to `quantize`.")
        else:
            raise unsupported_mode_error(mode)
    elif not isinstance(config, QuantizationConfig):
        raise ValueError("Argument `config` must be an instance of `QuantizationConfig`. "
                         f"Received: config={config} (of type {type(config)})")
    if mode is not None and config.mode != mode:
        raise ValueError(f"Contradictory arguments: mode='{mode}' but config.mode='{config.mode}'")
    if config.mode not in SUPPORTED_MODES:
        raise unsupported_mode_error(config.mode)
    return config


def deserialize_config(config):
    """A layer's `quantization_config` from its serialized form (None stays None)."""
    if config is None or isinstance(config, QuantizationConfig):
        return config
    return deserialize_keras_object(config)


def get_block_size_for_layer(layer, config):
    """The int4 block size: from an `Int4QuantizationConfig`, else from an `Int4DTypePolicy`
    (-1 read as None, per-channel), else None."""
    if config and isinstance(config, Int4QuantizationConfig):
        return config.block_size
    policy = layer.dtype_policy
    if isinstance(policy, dtype_policies.Int4DTypePolicy):
        return None if policy.block_size == -1 else policy.block_size
    return None


# ----------------------------------------------------------------------------- layer helpers


class QuantizableMixin:
    """What Dense, EinsumDense and Embedding share: the quantization mode (from the dtype
    policy), Keras's `quantize` argument checks, swapping variables, and the save/load hooks
    that only exist while LoRA or quantization changes the stored layout (plain layers keep the
    generic weights loader, which reads Keras's order directly)."""

    # `call` leaves its fast path on this one attribute: LoRA enabled or weights quantized.
    _lora_or_quantized = False

    @property
    def quantization_mode(self):
        return self._dtype_policy.quantization_mode

    def _refresh_call_path(self):
        self._lora_or_quantized = bool(self.lora_enabled or self.quantization_mode)

    def quantize(self, mode=None, type_check=True, config=None):
        """Quantize the built layer's weights in place (`"int8"` or `"int4"`)."""
        if type_check and type(self) is not self._quantizable_class():
            raise NotImplementedError(
                f"Layer {type(self).__name__} does not have a `quantize` method implemented.")
        config = validate_and_resolve_config(mode, config)
        mode = config.mode
        if not self.built:
            raise ValueError("Cannot quantize a layer that isn't yet built. Layer "
                             f"'{self.name}' (of type '{type(self).__name__}') is not built yet.")
        if getattr(self, "_is_quantized", False):
            raise ValueError(f"Layer '{self.name}' is already quantized with "
                             f"dtype_policy='{self.dtype_policy.name}'. Received: mode={mode}")
        if mode == "int8" and self.compute_dtype == "float16":
            raise ValueError(
                f"Quantization mode='{mode}' doesn't work well with compute_dtype='float16'. "
                "Consider loading model/layer with another dtype policy such as "
                "'mixed_bfloat16' or 'mixed_float16' before calling `quantize()`.")
        self.quantization_config = config
        self._quantize_weights(mode, config)
        if self.dtype_policy.quantization_mode is None:
            name = mode
            if mode == "int4":
                block_size = get_block_size_for_layer(self, config)
                name = f"int4/{-1 if block_size is None else block_size}"
            self.dtype_policy = dtype_policies.get(f"{name}_from_{self.dtype_policy.name}")
        self._refresh_call_path()

    def _check_buildable_mode(self):
        mode = self.quantization_mode
        if mode is not None and mode not in SUPPORTED_MODES:
            raise unsupported_mode_error(mode)
        return mode

    # Saving: Keras's `save_own_variables` / `load_own_variables`, only while they differ from
    # the generic layout (trainable then non-trainable variables).
    @property
    def save_own_variables(self):
        if not self._lora_or_quantized:
            raise AttributeError("save_own_variables")
        return self._save_own_variables

    @property
    def load_own_variables(self):
        if not self._lora_or_quantized:
            raise AttributeError("load_own_variables")
        return self._load_own_variables

    def _save_own_variables(self, store):
        if not self.built:
            return
        values = self._merged_for_saving()
        index = 0
        for name in self.variable_serialization_spec[self.quantization_mode]:
            value = values[name] if name in values else getattr(self, name, None)
            if value is None:
                continue
            store[str(index)] = value
            index += 1

    def _load_own_variables(self, store):
        variables = self._trainable_variables + self._non_trainable_variables
        if not self.lora_enabled and len(store.keys()) != len(variables):
            raise ValueError(
                f"Layer '{self.name}' expected {len(variables)} variables, but received "
                f"{len(store.keys())} variables during loading. Expected: "
                f"{[v.name for v in variables]}")
        if not self.built:
            return
        index = 0
        for name in self.variable_serialization_spec[self.quantization_mode]:
            variable = getattr(self, name, None)
            if variable is None:
                continue
            variable.assign(store[str(index)])
            index += 1
        for variable in self._lora_variables():
            variable.assign(torch.zeros(variable.shape))

    def _remove_variable(self, attr):
        """Keras's `del self._kernel`: drop the variable; returns its scope (path prefix)."""
        variable = getattr(self, attr)
        delattr(self, attr)
        for tracked in (self._trainable_variables, self._non_trainable_variables):
            tracked[:] = [v for v in tracked if v is not variable]
        return variable.path.rpartition("/")[0]


@contextlib.contextmanager
def variable_scope(prefix):
    """Create variables under `prefix` (the path of the variables they replace or extend), as
    Keras keeps a layer's variable paths when it quantizes or enables LoRA after building."""
    from tkeras.layers.layer import CALL_STATE

    saved = list(CALL_STATE.name_scope)
    CALL_STATE.name_scope[:] = prefix.split("/") if prefix else []
    try:
        yield
    finally:
        CALL_STATE.name_scope[:] = saved


def add_lora_weights(layer, base, names, a_shape, b_shape, a_initializer, b_initializer,
                     regularizer):
    """The float32 LoRA pair `names` (A then B, trainable), created beside `base`, which is
    frozen."""
    with variable_scope(base.path.rpartition("/")[0]):
        a = layer.add_weight(name=names[0], shape=a_shape, dtype="float32",
                             initializer=initializers.get(a_initializer), regularizer=regularizer)
        b = layer.add_weight(name=names[1], shape=b_shape, dtype="float32",
                             initializer=initializers.get(b_initializer), regularizer=regularizer)
    base.trainable = False
    return a, b


def check_enable_lora(layer, constraint, what="kernel"):
    if constraint:
        raise ValueError(
            f"Lora is incompatible with {what} constraints. In order to enable lora on this "
            f"layer, remove the `{what}_constraint` argument.")
    if not layer.built:
        raise ValueError("Cannot enable lora on a layer that isn't yet built.")
    if layer.lora_enabled:
        raise ValueError("lora is already enabled. This can only be done once per layer.")


class _InputsGradient(torch.autograd.Function):
    """`outputs` unchanged, with Keras's custom gradient of quantized layers: w.r.t. `inputs`,
    `einsum(equation, upstream, float_kernel)` (the dequantized kernel); nothing else."""

    @staticmethod
    def forward(ctx, outputs, inputs, float_kernel, equation):
        ctx.save_for_backward(float_kernel)
        ctx.equation = equation
        return outputs.view_as(outputs)

    @staticmethod
    def backward(ctx, upstream):
        (float_kernel,) = ctx.saved_tensors
        return None, torch.einsum(ctx.equation, upstream, float_kernel), None, None


def with_inputs_gradient(outputs, inputs, float_kernel_fn, equation):
    """Attach the custom inputs gradient when one is needed (the dequantized kernel is only
    computed then)."""
    if not (torch.is_grad_enabled() and inputs.requires_grad):
        return outputs
    return _InputsGradient.apply(outputs.detach(), inputs, float_kernel_fn(), equation)


def int8_einsum(equation, x, kernel):
    """Keras's torch einsum/matmul of two int8 tensors: exact int32 accumulation on CPU; other
    devices compute in float32 (as Keras does where torch has no integer kernels)."""
    if x.device.type == "cpu":
        return torch.einsum(equation, x.to(torch.int32), kernel.to(torch.int32))
    return torch.einsum(equation, x.float(), kernel.float()).to(torch.int32)


def should_quantize_layer(layer, filters):
    if filters is None:
        return True
    if isinstance(filters, str):
        return bool(re.search(filters, layer.name))
    if isinstance(filters, (list, tuple)):
        return any(re.search(pattern, layer.name) for pattern in filters)
    return filters(layer)


def quantize_model(model, mode=None, config=None, filters=None, type_check=True):
    """Keras's `Model.quantize`: quantize every leaf layer that implements it (warning for the
    others) whose name matches `filters` (regex, list of regexes, or a callable). Returns
    whether any layer was quantized."""
    from tkeras.layers.layer import Layer

    if filters is not None and not (isinstance(filters, (str, list, tuple)) or callable(filters)):
        raise ValueError("The `filters` argument must be a regex string, a list of regex "
                         f"strings, or a callable. Received: {type(filters)}")
    config = validate_and_resolve_config(mode, config)  # unsupported modes raise here
    modified = False
    for layer in model.modules():
        if not isinstance(layer, Layer) or layer._layers or not should_quantize_layer(
                layer, filters):
            continue
        quantize = getattr(layer, "quantize", None)
        if quantize is None:
            warnings.warn(f"Layer {type(layer).__name__} does not have a `quantize` method "
                          "implemented.", stacklevel=3)
            continue
        try:
            quantize(config.mode, type_check=type_check, config=config)
            modified = True
        except NotImplementedError as e:
            warnings.warn(str(e), stacklevel=3)
    return modified
