"""Argument checks, "same"-padding arithmetic and layout helpers shared by conv and pooling layers.

Keras semantics kept: TF-style "same" padding (total padding `max(0, (ceil(L/s) - 1) * s +
(k - 1) * d + 1 - L)`, the odd pixel at the end), Keras's transposed-conv output sizes and
crops, and its argument validation messages.
"""

import torch.nn.functional as F


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
