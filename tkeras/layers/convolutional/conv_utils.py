"""Convolution and pooling geometry, shared by the conv/pooling layers and `keras.ops.nn`.

Argument checks, layouts, "same"-padding arithmetic and output shapes, plus the channels-first
functional forms (`conv`, `depthwise_conv`, `separable_conv`, `conv_transpose`, `max_pool`,
`average_pool`) that take Keras-layout kernels and standardized tuples, so layers and ops run the
same code.

Keras semantics kept: TF-style "same" padding (total padding `max(0, (ceil(L/s) - 1) * s +
(k - 1) * d + 1 - L)`, the odd pixel at the end; `F.pad` only when asymmetric), "causal" (1D)
left-pads `dilation * (kernel - 1)`, Keras's transposed-conv output sizes and crops, and its
argument validation messages. Average pooling never counts padded positions (TF semantics).
"""

import torch.nn.functional as F

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def standardize_tuple(value, n, name, allow_zero=False):
    """An int or iterable of ints as a tuple of `n` ints (positive, or >= 0 with `allow_zero`)."""
    error_msg = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, int):
        value_tuple = (value,) * n
    else:
        try:
            value_tuple = tuple(value)
        except TypeError:
            raise ValueError(error_msg)
        if len(value_tuple) != n:
            raise ValueError(error_msg)
        for single_value in value_tuple:
            try:
                int(single_value)
            except (ValueError, TypeError):
                raise ValueError(
                    f"{error_msg}including element {single_value} of type {type(single_value)}")
    if allow_zero:
        bad, req = {v for v in value_tuple if v < 0}, ">= 0"
    else:
        bad, req = {v for v in value_tuple if v <= 0}, "> 0"
    if bad:
        raise ValueError(f"{error_msg}, including values {bad} that do not satisfy `value {req}`")
    return value_tuple


def standardize_padding(value, allow_causal=False):
    if isinstance(value, (list, tuple)):
        return value
    padding = value.lower()
    allowed = {"valid", "same", "causal"} if allow_causal else {"valid", "same"}
    if padding not in allowed:
        raise ValueError("The `padding` argument must be a list/tuple or one of "
                         f"{allowed}. Received: {padding}")
    return padding


# ---------------------------------------------------------------------------------- layouts
def to_channels_first(x, data_format):
    """NC* view of a channels_last tensor. A contiguous N*C tensor viewed this way is already in
    torch's channels_last memory format, so torch's kernels use it without a copy."""
    if data_format == "channels_first":
        return x
    return x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def to_data_format(x, data_format):
    """Inverse of `to_channels_first` (a view)."""
    if data_format == "channels_first":
        return x
    return x.permute(0, *range(2, x.ndim), 1)


def channel_axis(data_format):
    return -1 if data_format == "channels_last" else 1


def spatial_shape(shape, data_format):
    return tuple(shape[1:-1]) if data_format == "channels_last" else tuple(shape[2:])


def with_spatial(shape, spatial, channels, data_format):
    if data_format == "channels_last":
        return (shape[0], *spatial, channels)
    return (shape[0], channels, *spatial)


# ---------------------------------------------------------------------------------- padding
def same_padding(length, kernel_size, stride, dilation=1):
    """(left, right) TF "same" padding of one spatial dimension."""
    effective = (kernel_size - 1) * dilation + 1
    out = (length + stride - 1) // stride
    total = max(0, (out - 1) * stride + effective - length)
    return total // 2, total - total // 2


def same_paddings(x, kernel_size, strides, dilation):
    """(left, right) "same" paddings of each spatial dimension of a channels-first `x`."""
    return [same_padding(n, k, s, d)
            for n, k, s, d in zip(x.shape[2:], kernel_size, strides, dilation)]


def torch_pad_arg(pads):
    """`F.pad`'s flat argument (last dimension first) for per-dimension (left, right) pairs."""
    return [p for pair in reversed(pads) for p in pair]


def apply_same_padding(x, kernel_size, strides, dilation, value=0.0):
    """Pads a channels-first `x` for "same" and returns `(x, torch_padding)`.

    Symmetric paddings go to the op's own `padding` argument (no copy); asymmetric ones (stride >
    1, or even kernels) are applied with one `F.pad` and the op then runs unpadded.
    """
    pads = same_paddings(x, kernel_size, strides, dilation)
    if all(left == right for left, right in pads):
        return x, tuple(left for left, _ in pads)
    return F.pad(x, torch_pad_arg(pads), value=value), 0


def conv_output_shape(input_shape, filters, kernel_size, strides, padding, data_format,
                      dilation_rate):
    spatial = []
    for n, k, s, d in zip(spatial_shape(input_shape, data_format), kernel_size, strides,
                          dilation_rate):
        if n is None:
            spatial.append(None)
        elif padding == "valid":
            out = (n - d * (k - 1) - 1) // s + 1
            if out <= 0:
                raise ValueError(
                    "Computed output size would be zero or negative. Received "
                    f"`inputs shape={tuple(input_shape)}`, `kernel_size={kernel_size}`, "
                    f"`dilation_rate={dilation_rate}`, `strides={strides}`, "
                    f"`padding={padding}`.")
            spatial.append(out)
        else:  # same, causal
            spatial.append((n - 1) // s + 1)
    return with_spatial(input_shape, spatial, filters, data_format)


def conv_transpose_output_length(length, kernel_size, stride, padding, output_padding,
                                 dilation):
    if length is None:
        return None
    effective = (kernel_size - 1) * dilation + 1
    if padding == "valid":
        if output_padding is None:
            output_padding = max(effective, stride) - effective
        return (length - 1) * stride + effective + output_padding
    if output_padding is None:
        return length * stride
    return (length - 1) * stride + effective % 2 + output_padding


def conv_transpose_crops(kernel_size, stride, padding, output_padding, dilation):
    """(left, right) amounts Keras removes from the full transposed conv of one dimension
    (length `(L - 1) * s + effective_kernel`); negative amounts are zero padding instead."""
    effective = (kernel_size - 1) * dilation + 1
    if padding == "valid":
        if output_padding is None:
            output_padding = max(effective, stride) - effective
        left, right = effective - 1, effective - 1 + output_padding
    else:
        if output_padding is None:
            pad_len = stride + effective - 2
        else:
            pad_len = effective + effective % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, effective - 1)
        right = pad_len - left
    return effective - 1 - left, effective - 1 - right


def conv_transpose_padding(kernel_size, strides, padding, output_padding, dilation_rate):
    """Per dimension: torch `padding`, `output_padding`, and positions to trim at the end."""
    torch_padding, torch_output_padding, trims = [], [], []
    output_paddings = output_padding or (None,) * len(kernel_size)
    for k, s, op, d in zip(kernel_size, strides, output_paddings, dilation_rate):
        left, right = conv_transpose_crops(k, s, padding, op, d)
        torch_padding.append(left)
        torch_output_padding.append(max(0, left - right))
        trims.append(max(0, right - left))
    return tuple(torch_padding), tuple(torch_output_padding), trims


# ---------------------------------------------------------------------------------- functional
def torch_kernel(kernel, rank):
    """Keras `(*k, in, out)` kernel as torch's `(out, in, *k)` (a permuted view)."""
    return kernel.permute(rank + 1, rank, *range(rank))


def pad_input(x, padding, kernel_size, strides, dilation_rate):
    """A channels-first `x` padded for "same"/"causal", and the padding left to torch."""
    if padding == "same":
        return apply_same_padding(x, kernel_size, strides, dilation_rate)
    if padding == "causal":
        return F.pad(x, (dilation_rate[0] * (kernel_size[0] - 1), 0)), 0
    return x, 0


def conv(x, kernel, bias, strides, padding, dilation_rate, groups=1):
    """Convolution of a channels-first `x` with a Keras `(*k, in // groups, out)` kernel."""
    rank = x.ndim - 2
    x, torch_padding = pad_input(x, padding, kernel.shape[:-2], strides, dilation_rate)
    return CONV[rank](x, torch_kernel(kernel, rank), bias, strides, torch_padding, dilation_rate,
                      groups)


def depthwise_conv(x, kernel, bias, strides, padding, dilation_rate):
    """Depthwise convolution of a channels-first `x` with a Keras `(*k, in, dm)` kernel: torch's
    grouped conv with weight `(in * dm, 1, *k)` (output channel `c * dm + m`, as Keras)."""
    in_channels = kernel.shape[-2]
    kernel = kernel.reshape(*kernel.shape[:-2], 1, in_channels * kernel.shape[-1])
    return conv(x, kernel, bias, strides, padding, dilation_rate, groups=in_channels)


def separable_conv(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate):
    """Depthwise conv (strides, padding, dilation), then the 1x1 pointwise conv with `bias`.
    Keras passes `dilation_rate` to the pointwise conv too (a no-op for a 1x1 kernel)."""
    x = depthwise_conv(x, depthwise_kernel, None, strides, padding, dilation_rate)
    return CONV[x.ndim - 2](x, torch_kernel(pointwise_kernel, x.ndim - 2), bias)


def conv_transpose(x, kernel, bias, strides, padding, output_padding, dilation_rate):
    """Transposed conv of a channels-first `x` with a Keras `(*k, filters, in)` kernel; output
    sizes and crops as Keras (see `conv_transpose_crops`)."""
    rank = x.ndim - 2
    torch_padding, torch_output_padding, trims = conv_transpose_padding(
        kernel.shape[:-2], strides, padding, output_padding, dilation_rate)
    outputs = CONV_TRANSPOSE[rank](x, torch_kernel(kernel, rank), bias, strides, torch_padding,
                                   torch_output_padding, 1, dilation_rate)
    for dim, trim in enumerate(trims, start=2):
        if trim:
            outputs = outputs.narrow(dim, 0, outputs.shape[dim] - trim)
    return outputs


def max_pool(x, pool_size, strides, padding):
    """Max pooling of a channels-first `x`; "same" pads with -inf (0 for integer inputs)."""
    rank = x.ndim - 2
    torch_padding = 0
    if padding == "same":
        fill = float("-inf") if x.is_floating_point() else 0
        x, torch_padding = apply_same_padding(x, pool_size, strides, (1,) * rank, value=fill)
    return MAX_POOL[rank](x, pool_size, strides, torch_padding)


def average_pool(x, pool_size, strides, padding):
    """Average pooling of a channels-first `x`, never counting padded positions: symmetric
    paddings use `count_include_pad=False`, asymmetric ones divide zero-padded window sums by
    the number of real positions in each window."""
    rank = x.ndim - 2
    pool = AVG_POOL[rank]
    pads = same_paddings(x, pool_size, strides, (1,) * rank) if padding == "same" \
        else [(0, 0)] * rank
    if all(left == right for left, right in pads):
        torch_padding = tuple(left for left, _ in pads)
        return pool(x, pool_size, strides, torch_padding, count_include_pad=False)
    flat = torch_pad_arg(pads)
    sums = pool(F.pad(x, flat), pool_size, strides)
    counts = pool(F.pad(x.new_ones((1, 1) + tuple(x.shape[2:])), flat), pool_size, strides)
    return sums / counts
