"""`keras.ops` math ops: segment reductions, top-k, logsumexp, FFTs, STFT, erf family, ...

Semantics and dtypes follow Keras's torch backend (`keras/src/backend/torch/math.py`): segment
reductions run in float32 and cast back to the data dtype (ids out of range are dropped; with
`num_segments=None` the count is `max(segment_ids) + 1`); `top_k` indices are int64 as torch
returns them (Keras's symbolic spec says int32, and so does tkeras's); complex values travel as
`(real, imag)` pairs.
"""

import math as pymath

import torch

from tkeras.core.registry import keras_export
from tkeras.model.keras_tensor import KerasTensor
from tkeras.ops.core import _to_tensor
from tkeras.ops.operation import keras_op

__all__ = [
    "cdist", "erf", "erfc", "erfinv", "extract_sequences", "fft", "fft2", "ifft2", "in_top_k",
    "irfft", "istft", "logdet", "logsumexp", "rfft", "rsqrt", "segment_max", "segment_min",
    "segment_prod", "segment_sum", "stft", "top_k", "view_as_complex", "view_as_real",
]


def _spec(op):
    """Use the decorated function as `op`'s `compute_output_spec` (where running the op on
    placeholder values cannot tell Keras's static shape)."""

    def decorator(fn):
        op.operation_class.compute_output_spec = fn
        return fn

    return decorator


# ----------------------------------------------------------------------------- segments
def _check_segments(data, segment_ids):
    if len(segment_ids.shape) > 1:
        raise ValueError(
            "Argument `segment_ids` should be an 1-D vector, got shape: "
            f"{len(segment_ids.shape)}. Consider either flatten input with "
            "segment_ids.reshape((-1)) and "
            "data.reshape((-1, ) + data.shape[len(segment_ids.shape):]) or vectorize with vmap.")
    if (segment_ids.shape[0] is not None and data.shape[0] is not None
            and segment_ids.shape[0] != data.shape[0]):
        raise ValueError("Argument `segment_ids` and `data` should have same leading dimension. "
                         f"Got {tuple(segment_ids.shape)} v.s. {tuple(data.shape)}.")


_SEGMENT_INIT = {"sum": 0.0, "prod": 1.0, "amax": -float("inf"), "amin": float("inf")}


def _segment_reduce(data, segment_ids, reduction, num_segments):
    data = _to_tensor(data)
    segment_ids = _to_tensor(segment_ids).to(data.device)
    _check_segments(data, segment_ids)
    if num_segments is None:
        num_segments = int(segment_ids.max()) + 1
    rest = tuple(data.shape[1:])
    ids = segment_ids.long()
    ids = torch.where((ids >= 0) & (ids < num_segments), ids, num_segments)
    ids = ids.reshape((-1,) + (1,) * len(rest)).expand(data.shape)
    work = data if data.dtype == torch.float64 else data.float()
    result = torch.full((num_segments + 1,) + rest, _SEGMENT_INIT[reduction], dtype=work.dtype,
                        device=data.device)
    result = result.scatter_reduce(0, ids, work, reduction)
    return result[:-1].to(data.dtype)


def _segment_spec(self, data, segment_ids):
    num_segments = self._op_config["num_segments"]
    return KerasTensor((num_segments,) + tuple(data.shape[1:]), dtype=data.dtype)


@keras_op("math", tensors=("data", "segment_ids"))
def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    return _segment_reduce(data, segment_ids, "sum", num_segments)


@keras_op("math", tensors=("data", "segment_ids"))
def segment_max(data, segment_ids, num_segments=None, sorted=False):
    return _segment_reduce(data, segment_ids, "amax", num_segments)


@keras_op("math", tensors=("data", "segment_ids"))
def segment_min(data, segment_ids, num_segments=None, sorted=False):
    return _segment_reduce(data, segment_ids, "amin", num_segments)


@keras_op("math", tensors=("data", "segment_ids"))
def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    return _segment_reduce(data, segment_ids, "prod", num_segments)


for _op in (segment_sum, segment_max, segment_min, segment_prod):
    _op.operation_class.compute_output_spec = _segment_spec


# ----------------------------------------------------------------------------- top-k, logsumexp
@keras_op("math")
def top_k(x, k, sorted=True):
    return torch.topk(_to_tensor(x), k, sorted=sorted)


@_spec(top_k)
def _top_k_spec(self, x):
    shape = tuple(x.shape[:-1]) + (self._op_config["k"],)
    return KerasTensor(shape, dtype=x.dtype), KerasTensor(shape, dtype="int32")


@keras_op("math", tensors=("targets", "predictions"))
def in_top_k(targets, predictions, k):
    targets = _to_tensor(targets).long()[:, None]
    predictions = _to_tensor(predictions)
    topk_values = torch.topk(predictions, k).values
    target_values = torch.take_along_dim(predictions, targets.to(predictions.device), dim=-1)
    return torch.any(target_values >= topk_values, dim=-1)


@keras_op("math")
def logsumexp(x, axis=None, keepdims=False):
    x = _to_tensor(x)
    axis = tuple(range(x.dim())) if axis is None else axis
    return torch.logsumexp(x, dim=axis, keepdim=keepdims)


@keras_op("math", class_name="CDist", tensors=("x", "y"))
def cdist(x, y):
    x, y = _to_tensor(x), _to_tensor(y)
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError("`cdist` inputs must have rank >= 2")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError("Last dimension of inputs to `cdist` must match")
    diff = x.unsqueeze(-2) - y.unsqueeze(-3)
    return torch.sqrt(torch.sum(diff * diff, dim=-1))


@keras_op("math")
def extract_sequences(x, sequence_length, sequence_stride):
    return _to_tensor(x).unfold(-1, sequence_length, sequence_stride)


# ----------------------------------------------------------------------------- FFT family
def _complex(x):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"Input `x` should be a tuple of two tensors - real and imaginary."
                         f"Received: x={x}")
    real, imag = _to_tensor(x[0]), _to_tensor(x[1])
    if real.shape != imag.shape:
        raise ValueError(
            "Input `x` should be a tuple of two tensors - real and imaginary.Both the real and "
            f"imaginary parts should have the same shape. Received: x[0].shape = "
            f"{tuple(real.shape)}, x[1].shape = {tuple(imag.shape)}")
    if not torch.is_floating_point(real) or not torch.is_floating_point(imag):
        raise ValueError(f"At least one tensor in input `x` is not of type float.Received: x={x}.")
    return torch.complex(real, imag)


@keras_op("math", class_name="FFT")
def fft(x):
    out = torch.fft.fft(_complex(x))
    return out.real, out.imag


@keras_op("math", class_name="FFT2")
def fft2(x):
    out = torch.fft.fft2(_complex(x))
    return out.real, out.imag


@keras_op("math", class_name="IFFT2")
def ifft2(x):
    out = torch.fft.ifft2(_complex(x))
    return out.real, out.imag


@keras_op("math", class_name="RFFT")
def rfft(x, fft_length=None):
    out = torch.fft.rfft(_to_tensor(x), n=fft_length, dim=-1, norm="backward")
    return out.real, out.imag


@keras_op("math", class_name="IRFFT")
def irfft(x, fft_length=None):
    return torch.fft.irfft(_complex(x), n=fft_length, dim=-1, norm="backward")


def _window(window, sequence_length, dtype, device):
    if window is None:
        return None
    if isinstance(window, str):
        make = torch.hann_window if window == "hann" else torch.hamming_window
        win = make(sequence_length, periodic=True, dtype=dtype, device=device)
    else:
        win = _to_tensor(window, dtype=None).to(dtype=dtype, device=device)
    if len(win.shape) != 1 or win.shape[-1] != sequence_length:
        raise ValueError("The shape of `window` must be equal to [sequence_length]."
                         f"Received: window shape={tuple(win.shape)}")
    return win


def _check_stride(sequence_stride):
    if not isinstance(sequence_stride, int) or sequence_stride <= 0:
        raise ValueError("`sequence_stride` must be a positive integer. "
                         f"Received: sequence_stride={sequence_stride}")


@keras_op("math", class_name="STFT", export=False)
def _stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    x = _to_tensor(x)
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError("Invalid input type. Expected `float32` or `float64`. "
                        f"Received: input type={x.dtype}")
    if fft_length < sequence_length:
        raise ValueError("`fft_length` must equal or larger than `sequence_length`. Received: "
                         f"sequence_length={sequence_length}, fft_length={fft_length}")
    if isinstance(window, str) and window not in ("hann", "hamming"):
        raise ValueError('If a string is passed to `window`, it must be one of `"hann"`, '
                         f'`"hamming"`. Received: window={window}')
    win = _window(window, sequence_length, x.dtype, x.device)
    if win is None:
        win = torch.ones((sequence_length,), dtype=x.dtype, device=x.device)
    *batch_shape, samples = x.shape
    if len(x.shape) > 2:
        x = x.reshape(pymath.prod(batch_shape), samples)
    out = torch.stft(x, n_fft=fft_length, hop_length=sequence_stride, win_length=sequence_length,
                     window=win, center=center, return_complex=True)
    if len(batch_shape) > 1:
        out = out.reshape(*batch_shape, *out.shape[-2:])
    out = out.swapaxes(-2, -1)
    return out.real, out.imag


@keras_export("keras.ops.stft")
def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    _check_stride(sequence_stride)
    return _stft(x, sequence_length, sequence_stride, fft_length, window=window, center=center)


def _overlap_sequences(x, sequence_stride):
    *batch_shape, num_sequences, sequence_length = x.shape
    if sequence_stride > sequence_length:
        raise ValueError("`sequence_stride` must equal or less than x.shape[-1]. Received: "
                         f"sequence_stride={sequence_stride}, x.shape[-1]={sequence_length}")
    if sequence_stride < (sequence_length / num_sequences):
        raise ValueError(
            "`sequence_stride` must equal or greater than x.shape[-1] / x.shape[-2]. Received: "
            f"sequence_stride={sequence_stride}, x.shape[-1]={sequence_length}, "
            f"x.shape[-2]={num_sequences}")
    batch = pymath.prod(batch_shape)
    x = x.reshape(batch, num_sequences, sequence_length)
    output_size = sequence_stride * (num_sequences - 1) + sequence_length
    steps = 1 + (sequence_length - 1) // sequence_stride
    x = torch.nn.functional.pad(x, (0, steps * sequence_stride - sequence_length))
    x = x.reshape(batch, num_sequences, steps, sequence_stride).permute(0, 2, 1, 3)
    x = torch.nn.functional.pad(x, (0, 0, 0, num_sequences))
    shrinked = x.shape[2] - 1
    x = x.reshape(batch, -1)[:, : steps * shrinked * sequence_stride]
    x = x.reshape(batch, steps, shrinked * sequence_stride)
    x = torch.sum(x, dim=1)[:, :output_size]
    return x.reshape(tuple(batch_shape) + (-1,))


@keras_op("math", class_name="ISTFT", export=False)
def _istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
           center=True):
    spectrum = _complex(x)
    win = _window(window, sequence_length, spectrum.real.dtype, spectrum.device)
    if sequence_length == fft_length and center is True and win is not None:
        *batch_shape, num_sequences, bins = spectrum.shape
        if len(spectrum.shape) > 3:
            spectrum = spectrum.reshape(pymath.prod(batch_shape), num_sequences, bins)
        out = torch.istft(spectrum.swapaxes(-2, -1), n_fft=fft_length,
                          hop_length=sequence_stride, win_length=sequence_length, window=win,
                          center=center, length=length, return_complex=False)
        if len(batch_shape) > 1:
            out = out.reshape(*batch_shape, out.shape[-1])
        return out
    frames = irfft(x, fft_length)
    expected_output_len = fft_length + sequence_stride * (frames.shape[-2] - 1)
    if win is not None:
        l_pad = (fft_length - sequence_length) // 2
        r_pad = fft_length - sequence_length - l_pad
        win = torch.nn.functional.pad(win, (l_pad, r_pad))
        padded_length = sequence_length + l_pad + r_pad
        overlaps = -(-padded_length // sequence_stride)
        denom = torch.nn.functional.pad(torch.square(win),
                                        (0, overlaps * sequence_stride - padded_length))
        denom = denom.reshape(overlaps, sequence_stride).sum(0, keepdim=True)
        denom = denom.tile(overlaps, 1).reshape(overlaps * sequence_stride)
        frames = frames * (win / denom[:padded_length])
    out = _overlap_sequences(frames, sequence_stride)
    start = 0 if center is False else fft_length // 2
    if length is not None:
        end = start + length
    elif center is True:
        end = -(fft_length // 2)
    else:
        end = expected_output_len
    return out[..., start:end]


@keras_export("keras.ops.istft")
def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    _check_stride(sequence_stride)
    return _istft(x, sequence_length, sequence_stride, fft_length, length=length, window=window,
                  center=center)


# ----------------------------------------------------------------------------- elementwise
@keras_op("math")
def rsqrt(x):
    return torch.rsqrt(_to_tensor(x))


@keras_op("math")
def erf(x):
    return torch.erf(_to_tensor(x))


@keras_op("math")
def erfc(x):
    return torch.erfc(_to_tensor(x))


@keras_op("math")
def erfinv(x):
    return torch.erfinv(_to_tensor(x))


@keras_op("math")
def logdet(x):
    return torch.logdet(_to_tensor(x))


@keras_op("math")
def view_as_complex(x):
    x = _to_tensor(x)
    if len(x.shape) < 1 or x.shape[-1] != 2:
        raise ValueError("Last dimension of input must be size 2 (real and imaginary). "
                         f"Received shape: {tuple(x.shape)}")
    return x[..., 0].to(torch.complex64) + 1j * x[..., 1].to(torch.complex64)


@keras_op("math")
def view_as_real(x):
    x = _to_tensor(x)
    real, imag = (x.real, x.imag) if x.is_complex() else (x, torch.zeros_like(x))
    return torch.stack((real, imag), dim=-1)

