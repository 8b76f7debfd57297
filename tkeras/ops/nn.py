"""`keras.ops.nn`: activations, convolutions, pooling, normalizations, losses and attention.

Numerics are those of Keras's torch backend (`keras/src/backend/torch/nn.py`). The activation
functions are `tkeras.core.activations`'s, the crossentropies `tkeras.fit.losses`'s, and
convolutions/pooling (kernel layouts, TF "same" padding, transposed-conv crops) run the same
channels-first functions as the conv and pooling layers
(`tkeras.layers.convolutional.conv_utils`).

Ops whose arguments Keras standardizes before building its graph node (`data_format`, `padding`,
`dtype`) do so here too, so node configs equal Keras's. Deliberate differences (see
docs/ops.md): asymmetric "same" `average_pool` never counts padded positions (TF semantics, as
tkeras's pooling layers; Keras 3.15.1 on torch counts replicated edge values), and
`layer_normalization`/`rms_normalization` over non-trailing contiguous axes normalize those axes
(Keras on torch hands them to `F.layer_norm` as if they were trailing).
"""

import warnings

import torch
import torch.nn.functional as F

from tkeras.core import activations as _activations
from tkeras.core import config as _config
from tkeras.core.registry import keras_export
from tkeras.fit import losses as _losses
from tkeras.layers.layer import _is_symbolic
from tkeras.layers.convolutional import conv_utils
from tkeras.layers.pooling.adaptive_pooling import ADAPTIVE_AVG
from tkeras.layers.pooling.adaptive_pooling import ADAPTIVE_MAX
from tkeras.ops import dtypes
from tkeras.ops.operation import keras_op
from tkeras.ops.operation import to_tensor

__all__ = [
    "relu", "relu6", "sigmoid", "sparse_sigmoid", "softplus", "softsign", "soft_shrink",
    "sparse_plus", "silu", "swish", "squareplus", "log_sigmoid", "leaky_relu", "hard_sigmoid",
    "hard_silu", "hard_swish", "elu", "selu", "gelu", "celu", "glu", "tanh_shrink", "hard_tanh",
    "hard_shrink", "threshold", "softmax", "log_softmax", "sparsemax", "max_pool",
    "adaptive_max_pool", "average_pool", "adaptive_average_pool", "conv", "depthwise_conv",
    "separable_conv", "conv_transpose", "one_hot", "multi_hot", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "moments",
    "batch_normalization", "ctc_loss", "ctc_decode", "normalize", "psnr",
    "dot_product_attention", "rms_normalization", "layer_normalization", "polar", "unfold",
    "fold", "depth_to_space", "space_to_depth",
]


# ----------------------------------------------------------------------------- activations
@keras_op("nn")
def relu(x):
    return F.relu(to_tensor(x))


@keras_op("nn")
def relu6(x):
    return _activations.relu6(to_tensor(x))


@keras_op("nn")
def sigmoid(x):
    return _activations.sigmoid(to_tensor(x))


@keras_op("nn")
def sparse_sigmoid(x):
    return _activations.sparse_sigmoid(to_tensor(x))


@keras_op("nn")
def softplus(x):
    return _activations.softplus(to_tensor(x))


@keras_op("nn")
def softsign(x):
    return _activations.softsign(to_tensor(x))


@keras_op("nn")
def soft_shrink(x, threshold=0.5):
    return _activations.soft_shrink(to_tensor(x), threshold)


@keras_op("nn")
def sparse_plus(x):
    return _activations.sparse_plus(to_tensor(x))


@keras_op("nn")
def silu(x):
    return _activations.silu(to_tensor(x))


@keras_op("nn")
def squareplus(x, b=4):
    return _activations.squareplus(to_tensor(x), b)


@keras_op("nn")
def log_sigmoid(x):
    return _activations.log_sigmoid(to_tensor(x))


@keras_op("nn")
def leaky_relu(x, negative_slope=0.2):
    return _activations.leaky_relu(to_tensor(x), negative_slope)


@keras_op("nn")
def hard_sigmoid(x):
    return _activations.hard_sigmoid(to_tensor(x))


@keras_op("nn")
def hard_silu(x):
    return _activations.hard_silu(to_tensor(x))


@keras_op("nn")
def elu(x, alpha=1.0):
    return _activations.elu(to_tensor(x), alpha)


@keras_op("nn")
def selu(x):
    return _activations.selu(to_tensor(x))


@keras_op("nn")
def gelu(x, approximate=True):
    return _activations.gelu(to_tensor(x), approximate)


@keras_op("nn")
def celu(x, alpha=1.0):
    return _activations.celu(to_tensor(x), alpha)


@keras_op("nn")
def glu(x, axis=-1):
    return _activations.glu(to_tensor(x), axis)


@keras_op("nn")
def tanh_shrink(x):
    return _activations.tanh_shrink(to_tensor(x))


@keras_op("nn")
def hard_tanh(x):
    return _activations.hard_tanh(to_tensor(x))


@keras_op("nn")
def hard_shrink(x, threshold=0.5):
    return _activations.hard_shrink(to_tensor(x), threshold)


@keras_op("nn")
def threshold(x, threshold, default_value):
    return _activations.threshold(to_tensor(x), threshold, default_value)


swish = silu
hard_swish = hard_silu


def _normalizer(activation, x, axis):
    """Softmax/log-softmax as Keras's torch backend: float16 computed in float32 on CPU."""
    x = to_tensor(x)
    if x.dtype == torch.float16 and x.device.type == "cpu":
        return activation(x.float(), axis).to(torch.float16)
    return activation(x, axis)


@keras_op("nn")
def softmax(x, axis=-1):
    x = to_tensor(x)
    if isinstance(axis, int) and -x.ndim <= axis < x.ndim and x.shape[axis] == 1:
        warnings.warn(
            f"You are using a softmax over axis {axis} of a tensor of shape {tuple(x.shape)}. "
            "This axis has size 1. The softmax operation will always return the value 1, which "
            "is likely not what you intended. Did you mean to use a sigmoid instead?")
    return _normalizer(_activations.softmax, x, axis)


@keras_op("nn")
def log_softmax(x, axis=-1):
    return _normalizer(_activations.log_softmax, x, axis)


@keras_op("nn")
def sparsemax(x, axis=-1):
    return _activations.sparsemax(to_tensor(x), axis)


# ----------------------------------------------------------------------------- geometry
def _spatial_rank(x, what):
    rank = x.ndim - 2
    if rank not in (1, 2, 3):
        raise ValueError(
            f"Inputs to {what} must have ndim=3, 4 or 5, corresponding to 1D, 2D and 3D "
            f"inputs. Received input shape: {tuple(x.shape)}.")
    return rank


def _standardized(padding, data_format):
    return padding.lower(), _config.standardize_data_format(data_format)


def _strides(strides, rank):
    return conv_utils.standardize_tuple(strides, rank, "strides", allow_zero=True)


def _dilation(dilation_rate, rank):
    return conv_utils.standardize_tuple(dilation_rate, rank, "dilation_rate")


def _pool(pool, inputs, pool_size, strides, padding, data_format):
    """`conv_utils.max_pool`/`average_pool` on a tensor in `data_format`."""
    x = to_tensor(inputs)
    rank = _spatial_rank(x, "pooling op")
    pool_size = conv_utils.standardize_tuple(pool_size, rank, "pool_size")
    strides = _strides(pool_size if strides is None else strides, rank)
    outputs = pool(conv_utils.to_channels_first(x, data_format), pool_size, strides, padding)
    return conv_utils.to_data_format(outputs, data_format)


# ----------------------------------------------------------------------------- pooling
@keras_op("nn", tensors=("inputs",), class_name="MaxPool", export=False)
def _max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    return _pool(conv_utils.max_pool, inputs, pool_size, strides, padding, data_format)


@keras_export("keras.ops.max_pool", "keras.ops.nn.max_pool")
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    padding, data_format = _standardized(padding, data_format)
    return _max_pool(inputs, pool_size, strides, padding, data_format)


@keras_op("nn", tensors=("inputs",), class_name="AveragePool", export=False)
def _average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    return _pool(conv_utils.average_pool, inputs, pool_size, strides, padding, data_format)


@keras_export("keras.ops.average_pool", "keras.ops.nn.average_pool")
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    padding, data_format = _standardized(padding, data_format)
    return _average_pool(inputs, pool_size, strides, padding, data_format)


def _adaptive_pool(pools, inputs, output_size, data_format):
    x = to_tensor(inputs)
    rank = _spatial_rank(x, "adaptive pooling")
    if isinstance(output_size, int):
        output_size = (output_size,) * rank
    else:
        output_size = conv_utils.standardize_tuple(output_size, rank, "output_size")
    x = conv_utils.to_channels_first(x, data_format)
    return conv_utils.to_data_format(pools[rank](x, output_size), data_format)


@keras_op("nn", tensors=("inputs",), class_name="AdaptiveMaxPool", export=False)
def _adaptive_max_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(ADAPTIVE_MAX, inputs, output_size, data_format)


@keras_export("keras.ops.adaptive_max_pool", "keras.ops.nn.adaptive_max_pool")
def adaptive_max_pool(inputs, output_size, data_format=None):
    return _adaptive_max_pool(inputs, output_size, data_format or _config.image_data_format())


@keras_op("nn", tensors=("inputs",), class_name="AdaptiveAveragePool", export=False)
def _adaptive_average_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(ADAPTIVE_AVG, inputs, output_size, data_format)


@keras_export("keras.ops.adaptive_average_pool", "keras.ops.nn.adaptive_average_pool")
def adaptive_average_pool(inputs, output_size, data_format=None):
    return _adaptive_average_pool(inputs, output_size,
                                  data_format or _config.image_data_format())


# ----------------------------------------------------------------------------- convolutions
@keras_op("nn", tensors=("inputs", "kernel"), class_name="Conv", export=False)
def _conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    x, kernel = to_tensor(inputs), to_tensor(kernel)
    rank = _spatial_rank(x, "conv operation")
    strides, dilation_rate = _strides(strides, rank), _dilation(dilation_rate, rank)
    x = conv_utils.to_channels_first(x, data_format)
    if x.shape[1] % kernel.shape[-2] != 0:
        raise ValueError(f"Input channels ({x.shape[1]}) must be divisible by kernel input "
                         f"channels ({kernel.shape[-2]})")
    outputs = conv_utils.conv(x, kernel, None, strides, padding, dilation_rate,
                              x.shape[1] // kernel.shape[-2])
    return conv_utils.to_data_format(outputs, data_format)


@keras_export("keras.ops.conv", "keras.ops.nn.conv")
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    padding, data_format = _standardized(padding, data_format)
    return _conv(inputs, kernel, strides, padding, data_format, dilation_rate)


def _check_depthwise_channels(x, kernel, data_format):
    channels = x.shape[conv_utils.channel_axis(data_format)]
    if channels != kernel.shape[-2]:
        raise ValueError(
            "The number of input channels must match the kernel's input channels. Received "
            f"input channels {channels} and kernel shape {tuple(kernel.shape)}.")


@keras_op("nn", tensors=("inputs", "kernel"), class_name="DepthwiseConv", export=False)
def _depthwise_conv_op(inputs, kernel, strides=1, padding="valid", data_format=None,
                       dilation_rate=1):
    x, kernel = to_tensor(inputs), to_tensor(kernel)
    rank = _spatial_rank(x, "conv operation")
    _check_depthwise_channels(x, kernel, data_format)
    strides, dilation_rate = _strides(strides, rank), _dilation(dilation_rate, rank)
    outputs = conv_utils.depthwise_conv(conv_utils.to_channels_first(x, data_format), kernel,
                                        None, strides, padding, dilation_rate)
    return conv_utils.to_data_format(outputs, data_format)


@keras_export("keras.ops.depthwise_conv", "keras.ops.nn.depthwise_conv")
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    padding, data_format = _standardized(padding, data_format)
    return _depthwise_conv_op(inputs, kernel, strides, padding, data_format, dilation_rate)


@keras_op("nn", tensors=("inputs", "depthwise_kernel", "pointwise_kernel"),
          class_name="SeparableConv", export=False)
def _separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                    data_format=None, dilation_rate=1):
    x = to_tensor(inputs)
    depthwise_kernel, pointwise_kernel = to_tensor(depthwise_kernel), to_tensor(pointwise_kernel)
    rank = _spatial_rank(x, "conv operation")
    _check_depthwise_channels(x, depthwise_kernel, data_format)
    strides, dilation_rate = _strides(strides, rank), _dilation(dilation_rate, rank)
    outputs = conv_utils.separable_conv(conv_utils.to_channels_first(x, data_format),
                                        depthwise_kernel, pointwise_kernel, None, strides,
                                        padding, dilation_rate)
    return conv_utils.to_data_format(outputs, data_format)


@keras_export("keras.ops.separable_conv", "keras.ops.nn.separable_conv")
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    padding, data_format = _standardized(padding, data_format)
    return _separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides, padding,
                           data_format, dilation_rate)


@keras_op("nn", tensors=("inputs", "kernel"), class_name="ConvTranspose", export=False)
def _conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                    data_format=None, dilation_rate=1):
    """Kernel `(*kernel_size, filters, in_channels)`; output sizes and crops as Keras."""
    x, kernel = to_tensor(inputs), to_tensor(kernel)
    rank = _spatial_rank(x, "conv transpose operation")
    channels = x.shape[conv_utils.channel_axis(data_format)]
    if channels != kernel.shape[-1]:
        raise ValueError(
            "The number of input channels must match the kernel's last dimension. Received "
            f"input channels {channels} and kernel shape {tuple(kernel.shape)}.")
    strides, dilation_rate = _strides(strides, rank), _dilation(dilation_rate, rank)
    if output_padding is not None:
        output_padding = conv_utils.standardize_tuple(output_padding, rank, "output_padding",
                                                      allow_zero=True)
    outputs = conv_utils.conv_transpose(conv_utils.to_channels_first(x, data_format), kernel,
                                        None, strides, padding, output_padding, dilation_rate)
    return conv_utils.to_data_format(outputs, data_format)


@keras_export("keras.ops.conv_transpose", "keras.ops.nn.conv_transpose")
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    padding, data_format = _standardized(padding, data_format)
    return _conv_transpose(inputs, kernel, strides, padding, output_padding, data_format,
                           dilation_rate)


# ----------------------------------------------------------------------------- encodings
@keras_op("nn", class_name="OneHot", export=False)
def _one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ValueError("Unsupported value `sparse=True` with torch backend")
    x = to_tensor(x).long()
    output = F.one_hot(torch.clamp(x, min=0), num_classes)
    output = output * (x >= 0).unsqueeze(-1)
    output = output.to(dtypes.torch_dtype(dtype))
    if axis != -1 and axis != output.ndim:
        output = torch.movedim(output, -1, axis)
    return output


@keras_export("keras.ops.one_hot", "keras.ops.nn.one_hot")
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    return _one_hot(x, num_classes, axis=axis, dtype=dtypes.standardize_dtype(dtype),
                    sparse=sparse)


@keras_op("nn", tensors=("inputs",), class_name="MultiHot", export=False)
def _multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False):
    x = to_tensor(inputs)
    encoded = _one_hot(x.to(torch.int32), num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return torch.amax(encoded, dim=1 if x.ndim > 1 else 0)


@keras_export("keras.ops.multi_hot", "keras.ops.nn.multi_hot")
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    if num_classes is None and "num_tokens" in kwargs:
        num_classes = kwargs.pop("num_tokens")
    if num_classes is None:
        raise ValueError("Argument `num_classes` must be specified.")
    return _multi_hot(inputs, num_classes, axis, dtypes.standardize_dtype(dtype), sparse)


# ----------------------------------------------------------------------------- losses
@keras_op("nn", tensors=("target", "output"))
def binary_crossentropy(target, output, from_logits=False):
    output = to_tensor(output)
    target = to_tensor(target).to(output.dtype)
    return _losses._binary_crossentropy(target, output, from_logits)


@keras_op("nn", tensors=("target", "output"))
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    return _losses.categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


@keras_op("nn", tensors=("target", "output"))
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    return _losses._sparse_crossentropy(to_tensor(target), to_tensor(output), from_logits, axis)


@keras_op("nn", tensors=("target", "output", "target_length", "output_length"),
          class_name="CTCLoss")
def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """Per-sequence CTC loss of `output` logits `(batch, time, classes)`; the computation runs in
    at least float32 (as TF's `ctc_loss`)."""
    output = to_tensor(output)
    output = output.to(dtypes.torch_dtype(dtypes.result_type(output.dtype, "float32")))
    log_probs = F.log_softmax(output.transpose(0, 1), dim=-1)
    return F.ctc_loss(log_probs, to_tensor(target), to_tensor(output_length),
                      to_tensor(target_length), blank=mask_index, reduction="none")


def _ctc_greedy_decode(inputs, sequence_lengths, merge_repeated, mask_index):
    batch_size, max_length, num_classes = inputs.shape
    if mask_index is None:
        mask_index = num_classes - 1
    scores, indices = torch.max(inputs, dim=-1)
    indices = indices.to(torch.int32)
    positions = torch.arange(max_length, device=inputs.device)
    beyond = positions[None, :] >= sequence_lengths[:, None]
    indices = torch.where(beyond, mask_index, indices)
    scores = torch.where(beyond, 0.0, scores)
    if merge_repeated:
        repeat = F.pad(indices[:, 1:] == indices[:, :-1], (1, 0, 0, 0))
        indices = torch.where(repeat, mask_index, indices)
    blank = indices == mask_index
    indices = torch.where(blank, -1, indices)
    # Move the blanks to the end, keeping the order of the decoded labels.
    order = torch.argsort(torch.where(blank, max_length, positions[None, :]), dim=-1)
    indices = torch.take_along_dim(indices, order, dim=-1)
    return indices.unsqueeze(0), -torch.sum(scores, dim=1)[:, None]


# Keras's torch beam search (a port of its JAX one) dedups paths by a polynomial hash with
# Knuth's constant; the hash order decides ties, so it is reproduced exactly (int64 wrap-around
# included).
_KNUTH_HASH_CONSTANT = 2654435769
_PAD = -1


def _unique_padded(paths, size):
    """Unique rows of `paths` (in hash order) padded with `_PAD` rows to `size`, and the index
    of each input row among them (like `jnp.unique(..., size, fill_value, return_inverse)`)."""
    n, t = paths.shape
    powers = _KNUTH_HASH_CONSTANT ** torch.arange(t, dtype=torch.int64, device=paths.device)
    hashes = ((paths.to(torch.int64) + 1) * powers).sum(dim=1)
    order = torch.argsort(hashes, stable=True)
    sorted_paths, sorted_hashes = paths[order], hashes[order]
    is_dup = (sorted_hashes[1:] == sorted_hashes[:-1]) & (
        sorted_paths[1:] == sorted_paths[:-1]).all(dim=1)
    is_first = torch.cat([torch.ones(1, dtype=torch.bool, device=paths.device), ~is_dup])
    inverse = torch.empty(n, dtype=torch.int64, device=paths.device)
    inverse[order] = torch.cumsum(is_first.to(torch.int64), dim=0) - 1
    unique = sorted_paths[is_first]
    if unique.shape[0] < size:
        unique = torch.cat([unique, unique.new_full((size - unique.shape[0], t), _PAD)])
    return unique, inverse


def _merge_scores(inverse, scores, num_uniques):
    """Log-space sum of `scores` per unique path."""
    scores_max = scores.max()
    out = torch.zeros(num_uniques, dtype=scores.dtype, device=scores.device)
    out.scatter_add_(0, inverse, torch.exp(scores - scores_max))
    return torch.log(out) + scores_max


def _ctc_beam_extend(paths, scores, masked, x, num_classes, mask_index):
    """Every beam extended by every class for one timestep (a blank or a repeat of the last
    label without a blank in between leaves the path as it is)."""
    paths = paths.repeat_interleave(num_classes, dim=0)
    scores = scores.repeat_interleave(num_classes)
    prev_masked = masked.repeat_interleave(num_classes)
    tail_index = (paths == _PAD).to(torch.int32).argmax(dim=1)
    rows = torch.arange(paths.shape[0], device=paths.device)
    tails = torch.where(tail_index == 0, _PAD, paths[rows, tail_index - 1])
    classes = torch.arange(num_classes, device=paths.device, dtype=paths.dtype)
    classes[mask_index] = _PAD
    classes = classes.repeat(paths.shape[0] // num_classes)
    masked = classes == _PAD
    classes = torch.where(~prev_masked & (tails == classes), _PAD, classes)
    paths[rows, tail_index] = classes
    return paths, scores + x.repeat(paths.shape[0] // num_classes), masked


def _ctc_beam_prune(paths, scores, masked, num_classes, beam_width):
    """Merge equal paths, keep the `beam_width` best as (emitting, blank-ended) score tracks."""
    unique, inverse = _unique_padded(paths, 2 * num_classes * beam_width)
    n = unique.shape[0]
    emit = _merge_scores(inverse, torch.where(masked, float("-inf"), scores), n)
    blank = _merge_scores(inverse, torch.where(masked, scores, float("-inf")), n)
    top = torch.argsort(torch.logaddexp(emit, blank), stable=True)[-beam_width:]
    masked = torch.cat([torch.zeros(beam_width, dtype=torch.bool, device=paths.device),
                        torch.ones(beam_width, dtype=torch.bool, device=paths.device)])
    return unique[top].repeat(2, 1), torch.cat([emit[top], blank[top]]), masked


def _ctc_beam_search_decode(inputs, sequence_lengths, beam_width, top_paths, mask_index):
    """Keras's torch-backend beam search (same tie-breaking and score merging): decoded
    `(top_paths, batch, time)` int32 with -1 padding and log-probability scores
    `(batch, top_paths)`. The batch is iterated in Python, as in Keras."""
    batch_size, max_seq_len, num_classes = inputs.shape
    inputs = F.log_softmax(inputs, dim=-1)
    if mask_index is None:
        mask_index = num_classes - 1
    # Classes are flipped so that ascending stable argsorts break ties as Keras's JAX original.
    inputs = torch.flip(inputs, dims=[2])
    mask_index = num_classes - mask_index - 1
    num_init_paths = min(num_classes, beam_width)
    all_paths, all_scores = [], []
    for b, seq_len in enumerate(sequence_lengths.detach().cpu().tolist()):
        x = inputs[b]
        paths = torch.full((2 * beam_width, max_seq_len), _PAD, dtype=torch.int32,
                           device=inputs.device)
        max_classes = torch.argsort(x[0], stable=True)[-num_init_paths:]
        paths[:num_init_paths, 0] = torch.where(max_classes == mask_index, _PAD,
                                                max_classes.to(torch.int32))
        scores = torch.full((2 * beam_width,), float("-inf"), dtype=inputs.dtype,
                            device=inputs.device)
        scores[:num_init_paths] = x[0, max_classes]
        masked = paths[:, 0] == _PAD
        for t in range(1, int(seq_len)):
            paths, scores, masked = _ctc_beam_extend(paths, scores, masked, x[t], num_classes,
                                                     mask_index)
            paths, scores, masked = _ctc_beam_prune(paths, scores, masked, num_classes,
                                                    beam_width)
        unique, inverse = _unique_padded(paths, 2 * num_classes * beam_width)
        scores = _merge_scores(inverse, scores, unique.shape[0])
        top = torch.argsort(scores, stable=True)[-top_paths:].flip(0)
        all_paths.append(unique[top])
        all_scores.append(scores[top])
    paths = torch.stack(all_paths, dim=0)
    paths = torch.where(paths == _PAD, _PAD, num_classes - paths - 1)
    return paths.permute(1, 0, 2), torch.stack(all_scores, dim=0)


@keras_op("nn", tensors=("inputs", "sequence_lengths"), class_name="CTCDecode")
def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    """CTC decoding as Keras's torch backend: greedy gives `(decoded (1, batch, time) int32
    with -1 padding, scores (batch, 1))`; beam search gives `(top_paths, batch, time)` paths
    and `(batch, top_paths)` log-probability scores."""
    inputs = to_tensor(inputs)
    inputs = inputs.to(dtypes.torch_dtype(dtypes.result_type(inputs.dtype, "float32")))
    sequence_lengths = to_tensor(sequence_lengths, "int32")
    if strategy == "greedy":
        return _ctc_greedy_decode(inputs, sequence_lengths, merge_repeated, mask_index)
    if strategy == "beam_search":
        return _ctc_beam_search_decode(inputs, sequence_lengths, beam_width, top_paths,
                                       mask_index)
    raise ValueError(
        f"Invalid strategy {strategy}. Supported values are 'greedy' and 'beam_search'.")


@keras_op("nn", tensors=("x1", "x2"), class_name="PSNR")
def psnr(x1, x2, max_val):
    x1, x2 = to_tensor(x1), to_tensor(x2)
    if x1.shape != x2.shape:
        raise ValueError(f"Input shapes {tuple(x1.shape)} and {tuple(x2.shape)} must match for "
                         "PSNR calculation. ")
    max_val = to_tensor(max_val, dtypes.standardize_dtype(x1.dtype))
    mse = torch.mean((x1 - x2) ** 2)
    return 20 * torch.log10(max_val) - 10 * torch.log10(mse)


# ----------------------------------------------------------------------------- normalization
@keras_op("nn")
def moments(x, axes, keepdims=False, synchronized=False):
    """Mean and variance (`E[x^2] - E[x]^2`, as Keras on torch) over `axes`; float16 inputs are
    reduced in float32."""
    if synchronized:
        raise NotImplementedError("Argument synchronized=True is not supported with PyTorch.")
    x = to_tensor(x)
    half = x.dtype == torch.float16
    if half:
        x = x.float()
    mean = torch.mean(x, dim=axes, keepdim=True)
    variance = torch.mean(torch.square(x), dim=axes, keepdim=True) - torch.square(mean)
    if not keepdims:
        mean, variance = torch.squeeze(mean, axes), torch.squeeze(variance, axes)
    if half:
        limit = torch.finfo(torch.float16).max
        mean = mean.clamp(-limit, limit).half()
        variance = variance.clamp(-limit, limit).half()
    return mean, variance


@keras_op("nn", tensors=("x", "mean", "variance", "offset", "scale"), class_name="BatchNorm",
          export=False)
def _batch_normalization(x, mean, variance, offset=None, scale=None, *, axis, epsilon=1e-3):
    """(Its node's call takes the tensors first, as Keras's `BatchNorm.call`.)"""
    x, mean, variance = to_tensor(x), to_tensor(mean), to_tensor(variance)
    shape = [1] * x.ndim
    shape[axis] = mean.shape[0]
    inv = torch.rsqrt(variance.reshape(shape) + epsilon)
    if scale is not None:
        inv = inv * to_tensor(scale).reshape(shape)
    outputs = (x - mean.reshape(shape)) * inv
    if offset is not None:
        outputs = outputs + to_tensor(offset).reshape(shape)
    return outputs


@keras_export("keras.ops.batch_normalization", "keras.ops.nn.batch_normalization")
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    return _batch_normalization(x, mean, variance, offset, scale, axis=axis, epsilon=epsilon)


def _is_trailing(axes, ndim):
    return axes == list(range(ndim - len(axes), ndim))


@keras_op("nn", tensors=("x", "scale"), class_name="RMSNorm", export=False)
def _rms_normalization(x, scale=None, axis=-1, epsilon=None):
    epsilon = _config.epsilon() if epsilon is None else epsilon
    x = to_tensor(x)
    original = x.dtype
    x = x.to(dtypes.torch_dtype(dtypes.result_type(x.dtype, "float32")))
    if scale is not None:
        scale = to_tensor(scale).to(x.dtype)
    if x.ndim == 0:
        x = x.unsqueeze(0)
    axes = sorted(a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis))
    if _is_trailing(axes, x.ndim):
        outputs = F.rms_norm(x, tuple(x.shape[a] for a in axes), scale, epsilon)
    else:
        outputs = x * torch.rsqrt(torch.mean(torch.square(x), dim=axes, keepdim=True) + epsilon)
        if scale is not None:
            outputs = outputs * scale
    return outputs.to(original)


@keras_export("keras.ops.rms_normalization", "keras.ops.nn.rms_normalization")
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    if _is_symbolic((x, scale), {}):  # Keras's node passes `scale` by keyword
        return _rms_normalization.operation_class(axis=axis, epsilon=epsilon)(x, scale=scale)
    return _rms_normalization(x, scale, axis=axis, epsilon=epsilon)


@keras_op("nn", tensors=("x", "gamma", "beta"), class_name="LayerNorm", export=False)
def _layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, rms_scaling=False):
    epsilon = _config.epsilon() if epsilon is None else epsilon
    x = to_tensor(x)
    original = x.dtype
    x = x.to(dtypes.torch_dtype(dtypes.result_type(x.dtype, "float32")))
    gamma = None if gamma is None else to_tensor(gamma).to(x.dtype)
    beta = None if beta is None else to_tensor(beta).to(x.dtype)
    axes = sorted(a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis))
    broadcast = [x.shape[d] if d in axes else 1 for d in range(x.ndim)]

    def expand(v):
        if v is not None and v.ndim != x.ndim and axes != [x.ndim - 1]:
            return v.reshape(broadcast)
        return v

    if rms_scaling:
        variance = torch.var(x, dim=axes, keepdim=True, unbiased=False)
        outputs = x * torch.rsqrt(variance + epsilon)
        if gamma is not None:
            outputs = outputs * expand(gamma)
    elif _is_trailing(axes, x.ndim):
        outputs = F.layer_norm(x, tuple(x.shape[a] for a in axes), gamma, beta, epsilon)
    else:
        mean, variance = moments(x, axes, keepdims=True)
        inv = torch.rsqrt(variance + epsilon)
        if gamma is not None:
            inv = inv * expand(gamma)
        shift = -mean * inv
        if beta is not None:
            shift = shift + expand(beta)
        outputs = x * inv + shift
    return outputs.to(original)


@keras_export("keras.ops.layer_normalization", "keras.ops.nn.layer_normalization")
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    rms_scaling = kwargs.pop("rms_scaling", False)
    if rms_scaling:
        warnings.warn(
            "You passed `rms_scaling=True`, which is deprecated. This argument incorrectly "
            "scales the input by the variance, not the root mean square. To correctly use RMS "
            "Normalization, please use `keras.ops.rms_normalization` / "
            "`keras.ops.nn.rms_normalization` instead.")
    return _layer_normalization(x, gamma, beta, axis=axis, epsilon=epsilon,
                                rms_scaling=rms_scaling)


@keras_op("nn")
def normalize(x, axis=-1, order=2, epsilon=None):
    """`x / max(norm(x, order), epsilon)` along `axis` (order 2: `x * min(rsqrt(sum(x^2)),
    1 / epsilon)`, as Keras)."""
    if not isinstance(order, int) or not order >= 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
    x = to_tensor(x)
    if x.ndim == 0:
        x = x.unsqueeze(0)
    epsilon = _config.epsilon() if epsilon is None else epsilon
    if order == 2:
        inv_norm = torch.rsqrt(torch.sum(torch.square(x), dim=axis, keepdim=True))
        return x * torch.clamp(inv_norm, max=1.0 / epsilon)
    from tkeras.ops.linalg import norm

    return x / torch.clamp(norm(x, ord=order, axis=axis, keepdims=True), min=epsilon)


# ----------------------------------------------------------------------------- attention
def _large_negative(dtype):
    return (65500.0 if dtype == torch.float16 else 3.38953e38) * -0.7


def _check_flash_attention(query, key, value, mask, is_causal):
    from torch.backends.cuda import SDPAParams
    from torch.backends.cuda import can_use_flash_attention

    params = SDPAParams(query, key, value, mask, 0.0, is_causal, False)
    if not can_use_flash_attention(params, True):
        raise RuntimeError("Flash attention is not supported with the provided inputs. Please "
                           "check the warnings for more details.")


@keras_op("nn", tensors=("query", "key", "value", "bias", "mask", "scale"),
          class_name="DotProductAttention", export=False)
def _dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """Attention over `(batch, seq, heads, dim)` inputs with `F.scaled_dot_product_attention`;
    a boolean `mask` becomes Keras's additive large negative, fewer key/value heads are
    repeated (grouped-query attention). `flash_attention=True` insists on torch's flash
    kernel; `attn_logits_soft_cap` is JAX-on-TPU only, as in Keras."""
    if attn_logits_soft_cap is not None:
        raise ValueError("attn_logits_soft_cap is only supported for JAX on TPU. Set "
                         "attn_logits_soft_cap=None when not using JAX on TPU.")
    query, key, value = to_tensor(query), to_tensor(key), to_tensor(value)
    if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
        raise ValueError(
            "`dot_product_attention` only supports 4D inputs. Received: "
            f"query.shape={tuple(query.shape)}, key.shape={tuple(key.shape)}, "
            f"value.shape={tuple(value.shape)}.")
    if bias is not None and mask is not None:
        raise ValueError("Only one of `bias` and `mask` can be provided. Received both.")
    compute = dtypes.torch_dtype(dtypes.result_type(query.dtype, key.dtype, value.dtype))
    query, key, value = query.to(compute), key.to(compute), value.to(compute)
    attn_mask = None
    if mask is not None:
        mask = to_tensor(mask).bool()
        if is_causal:
            causal = torch.ones((query.shape[1], key.shape[1]), dtype=torch.bool,
                                device=mask.device).tril()
            mask = mask & causal
        is_causal = False
        attn_mask = torch.where(mask, 0.0, _large_negative(compute)).to(compute)
    if bias is not None:
        attn_mask = to_tensor(bias).to(compute)
    query, key, value = (t.transpose(1, 2) for t in (query, key, value))
    heads, kv_heads = query.shape[1], key.shape[1]
    if heads > kv_heads > 1:
        key = torch.repeat_interleave(key, heads // kv_heads, dim=1)
        value = torch.repeat_interleave(value, heads // kv_heads, dim=1)
    if flash_attention:
        _check_flash_attention(query, key, value, attn_mask, is_causal)
        with torch.nn.attention.sdpa_kernel(backends=[torch.nn.attention.SDPBackend.FLASH_ATTENTION]):
            out = F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask,
                                                 is_causal=is_causal, scale=scale)
    else:
        if attn_mask is not None:
            attn_mask = attn_mask.contiguous()
        out = F.scaled_dot_product_attention(query.contiguous(), key.contiguous(),
                                             value.contiguous(), attn_mask=attn_mask,
                                             is_causal=is_causal, scale=scale)
    return out.transpose(1, 2)


@keras_export("keras.ops.dot_product_attention", "keras.ops.nn.dot_product_attention")
def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    config = {"is_causal": is_causal, "flash_attention": flash_attention,
              "attn_logits_soft_cap": attn_logits_soft_cap}
    if _is_symbolic((query, key, value), {}):  # Keras's node passes bias/mask/scale by keyword
        return _dot_product_attention.operation_class(**config)(
            query, key, value, bias=bias, mask=mask, scale=scale)
    return _dot_product_attention(query, key, value, bias, mask, scale, **config)


# ----------------------------------------------------------------------------- misc
@keras_op("nn", tensors=("abs_", "angle"))
def polar(abs_, angle):
    abs_, angle = to_tensor(abs_), to_tensor(angle)
    return torch.complex(abs_ * torch.cos(angle), abs_ * torch.sin(angle))


def _check_ndim(x, ndim):
    if x.ndim != ndim:
        raise ValueError(f"Input must be a {ndim}D tensor. Received: input.shape={tuple(x.shape)}")


@keras_op("nn")
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding `kernel_size` blocks of an NCHW `x` as `(N, C * kh * kw, L)` (`F.unfold`)."""
    x = to_tensor(x)
    _check_ndim(x, 4)
    return F.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)


@keras_op("nn")
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Inverse of `unfold` (`F.fold`): blocks `(N, C * kh * kw, L)` summed into NCHW."""
    x = to_tensor(x)
    _check_ndim(x, 3)
    return F.fold(x, output_size, kernel_size, dilation=dilation, padding=padding,
                  stride=stride)


def _check_block_size(block_size):
    if block_size < 2:
        raise ValueError(f"`block_size` must be at least 2. Received: block_size={block_size}")


@keras_op("nn", class_name="DepthToSpace", export=False)
def _depth_to_space(x, block_size, data_format="channels_last"):
    x, b = to_tensor(x), block_size
    if data_format == "channels_first":
        return F.pixel_shuffle(x, b)
    n, h, w, c = x.shape
    x = x.reshape(n, h, w, b, b, c // (b * b)).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h * b, w * b, c // (b * b))


@keras_export("keras.ops.depth_to_space", "keras.ops.nn.depth_to_space")
def depth_to_space(x, block_size, data_format="channels_last"):
    """TF's `depth_to_space` (channels_first is torch's `pixel_shuffle`)."""
    data_format = _config.standardize_data_format(data_format)
    _check_block_size(block_size)
    return _depth_to_space(x, block_size, data_format=data_format)


@keras_op("nn", class_name="SpaceToDepth", export=False)
def _space_to_depth(x, block_size, data_format="channels_last"):
    x, b = to_tensor(x), block_size
    if data_format == "channels_first":
        return F.pixel_unshuffle(x, b)
    n, h, w, c = x.shape
    x = x.reshape(n, h // b, b, w // b, b, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h // b, w // b, c * b * b)


@keras_export("keras.ops.space_to_depth", "keras.ops.nn.space_to_depth")
def space_to_depth(x, block_size, data_format="channels_last"):
    """TF's `space_to_depth` (channels_first is torch's `pixel_unshuffle`)."""
    data_format = _config.standardize_data_format(data_format)
    _check_block_size(block_size)
    return _space_to_depth(x, block_size, data_format=data_format)

