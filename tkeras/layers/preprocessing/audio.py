"""Audio front ends: `MelSpectrogram` and `STFTSpectrogram`.

Keras behaviour kept:
- `MelSpectrogram` (no weights): Keras's torch `ops.stft` (`torch.stft`, centred with reflect
  padding; `hann`/`hamming` periodic windows, an array window, or None for a box window),
  magnitude to the power `mag_exp`, Keras's `linear_to_mel_weight_matrix` (HTK mel scale, the
  DC bin zeroed), and with `power_to_db` `10 log10(max(x, min_power))` relative to `ref_power`,
  floored at `max - top_db` over the whole batch. Output `(batch, num_mel_bins, frames)` (or
  without batch for a 1-D signal); `compute_output_shape` keeps Keras's frame-count formula.
- `STFTSpectrogram`: the STFT as a strided 1-D convolution with trainable `real_kernel` /
  `imag_kernel` weights (`keras.initializers.STFT`), per input channel; modes `log`,
  `magnitude`, `psd`, `real`, `imag`, `angle`, `stft`; `valid`/`same` padding (TF-style
  `same`); `expand_dims` gives `(batch, time, freq, channels)` (channels_last) or
  `(batch, channels, time, freq)`. Named windows are those `keras.initializers.STFT` supports in
  tkeras (hann, hamming, blackman, bartlett, cosine, nuttall; Keras accepts any scipy window).
"""

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from tkeras.core import dtype_policies
from tkeras.core.config import epsilon
from tkeras.core.config import standardize_data_format
from tkeras.core.initializers import STFT
from tkeras.core.registry import keras_export
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer

_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _linspace(start, stop, num):
    """Keras's torch `linspace` for tensor end points: `start + arange(num) / (num - 1) *
    (stop - start)`."""
    steps = torch.arange(num, dtype=torch.float32) / (num - 1)
    return start + steps * (stop - start)


def _hertz_to_mel(frequencies):
    return _MEL_HIGH_FREQUENCY_Q * torch.log(1.0 + frequencies / _MEL_BREAK_FREQUENCY_HERTZ)


def linear_to_mel_weight_matrix(num_mel_bins=20, num_spectrogram_bins=129, sampling_rate=8000,
                                lower_edge_hertz=125.0, upper_edge_hertz=3800.0):
    """Keras's `MelSpectrogram.linear_to_mel_weight_matrix` (float32),
    shape `(num_spectrogram_bins, num_mel_bins)`."""
    f32 = torch.float32
    sampling_rate = torch.tensor(sampling_rate, dtype=f32)
    zero = torch.tensor(0.0, dtype=f32)
    frequencies = _linspace(zero, sampling_rate / 2.0, num_spectrogram_bins)[1:]
    bins_mel = _hertz_to_mel(frequencies).unsqueeze(1)
    edges = _linspace(_hertz_to_mel(torch.tensor(lower_edge_hertz, dtype=f32)),
                      _hertz_to_mel(torch.tensor(upper_edge_hertz, dtype=f32)), num_mel_bins + 2)
    edges = edges.unfold(0, 3, 1)
    lower, center, upper = (e.reshape(1, num_mel_bins) for e in edges.unbind(1))
    lower_slopes = (bins_mel - lower) / (center - lower)
    upper_slopes = (upper - bins_mel) / (upper - center)
    weights = torch.maximum(zero, torch.minimum(lower_slopes, upper_slopes))
    return F.pad(weights, (0, 0, 1, 0))


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Keras's torch `ops.stft`: `(real, imag)` of shape `(..., frames, fft_length // 2 + 1)`."""
    if fft_length < sequence_length:
        raise ValueError("`fft_length` must equal or larger than `sequence_length`. Received: "
                         f"sequence_length={sequence_length}, fft_length={fft_length}")
    if isinstance(window, str):
        if window not in {"hann", "hamming"}:
            raise ValueError('If a string is passed to `window`, it must be one of `"hann"`, '
                             f'`"hamming"`. Received: window={window}')
        make = torch.hann_window if window == "hann" else torch.hamming_window
        win = make(sequence_length, periodic=True, dtype=x.dtype, device=x.device)
    elif window is not None:
        win = torch.as_tensor(np.asarray(window), dtype=x.dtype, device=x.device)
        if win.ndim != 1 or win.shape[-1] != sequence_length:
            raise ValueError("The shape of `window` must be equal to [sequence_length]."
                             f"Received: window shape={tuple(win.shape)}")
    else:
        win = torch.ones((sequence_length,), dtype=x.dtype, device=x.device)
    *batch_shape, samples = x.shape
    flat = x.reshape(-1, samples) if len(batch_shape) > 1 else x
    out = torch.stft(flat, n_fft=fft_length, hop_length=sequence_stride,
                     win_length=sequence_length, window=win, center=center, return_complex=True)
    if len(batch_shape) > 1:
        out = out.reshape(*batch_shape, *out.shape[-2:])
    out = out.transpose(-2, -1)
    return out.real, out.imag


@keras_export("keras.layers.MelSpectrogram")
class MelSpectrogram(Layer):
    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann",
                 sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None,
                 power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0,
                 **kwargs):
        self.fft_length = fft_length
        self.sequence_stride = sequence_stride
        self.sequence_length = sequence_length or fft_length
        if self.fft_length < self.sequence_length:
            raise ValueError("`fft_length` must be greater than or equal to   `sequence_length`. "
                             f"Received: `sequence_length`={self.sequence_length}, "
                             f"`fft_length`={self.fft_length}.")
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.power_to_db = power_to_db
        self.top_db = top_db
        self.mag_exp = mag_exp
        self.min_power = min_power
        self.ref_power = ref_power
        super().__init__(**kwargs)

    def call(self, inputs):
        dtype = self.compute_dtype if self.compute_dtype in ("float32", "float64") else "float32"
        x = torch.as_tensor(inputs).to(dtype_policies.torch_dtype(dtype))
        real, imag = stft(x, self.sequence_length, self.sequence_stride, self.fft_length,
                          self.window, center=True)
        spec = torch.pow(torch.sqrt(real.square() + imag.square()), self.mag_exp)
        matrix = linear_to_mel_weight_matrix(self.num_mel_bins, spec.shape[-1],
                                             self.sampling_rate, self.min_freq, self.max_freq)
        mel = torch.tensordot(spec, matrix.to(spec.device, spec.dtype), dims=1)
        if self.power_to_db:
            mel = self._dbscale(mel)
        out = mel.transpose(-1, -2)
        return out.to(dtype_policies.torch_dtype(self.compute_dtype))

    def _dbscale(self, inputs):
        log_spec = 10.0 * torch.log10(torch.clamp(inputs, min=self.min_power))
        ref = torch.abs(torch.tensor(self.ref_power, dtype=torch.float32))
        log_spec = log_spec - 10.0 * torch.log10(torch.clamp(ref, min=self.min_power)).to(
            log_spec.device)
        return torch.maximum(log_spec, torch.max(log_spec) - self.top_db)

    def compute_output_shape(self, input_shape):
        def frames(n):
            return None if n is None else (n + self.sequence_stride + 1) // self.sequence_stride

        if len(input_shape) == 1:
            return (self.num_mel_bins, frames(input_shape[0]))
        return (input_shape[0], self.num_mel_bins, frames(input_shape[1]))

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length,
                "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window,
                "sampling_rate": self.sampling_rate, "num_mel_bins": self.num_mel_bins,
                "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db,
                "mag_exp": self.mag_exp, "min_power": self.min_power,
                "ref_power": self.ref_power}


_MODES = ["log", "magnitude", "psd", "real", "imag", "angle", "stft"]


@keras_export("keras.layers.STFTSpectrogram")
class STFTSpectrogram(Layer):
    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None,
                 window="hann", periodic=False, scaling="density", padding="valid",
                 expand_dims=False, data_format=None, **kwargs):
        if frame_step is not None and (frame_step > frame_length or frame_step < 1):
            raise ValueError("`frame_step` should be a positive integer not greater than "
                             f"`frame_length`. Received frame_step={frame_step}, "
                             f"frame_length={frame_length}")
        if fft_length is not None and fft_length < frame_length:
            raise ValueError("`fft_length` should be not less than `frame_length`. Received "
                             f"fft_length={fft_length}, frame_length={frame_length}")
        if fft_length is not None and (fft_length & -fft_length) != fft_length:
            warnings.warn("`fft_length` is recommended to be a power of two. Received "
                          f"fft_length={fft_length}")
        if mode not in _MODES:
            raise ValueError(f"Output mode is invalid, it must be one of {', '.join(_MODES)}. "
                             f"Received: mode={mode}")
        if scaling is not None and scaling not in ["density", "spectrum"]:
            raise ValueError("Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={scaling}")
        if padding not in ["valid", "same"]:
            raise ValueError("Padding is invalid, it should be 'valid', 'same'. Received: "
                             f"padding={padding}")
        if isinstance(window, str):
            STFT("real", window, scaling, periodic)  # validates the window name
        super().__init__(**kwargs)
        self.mode = mode
        self.frame_length = frame_length
        self.frame_step = frame_step
        self._frame_step = frame_step or self.frame_length // 2
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window = window
        self.periodic = periodic
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = expand_dims
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        if self.mode != "imag":
            self.real_kernel = self.add_weight(
                name="real_kernel", shape=shape,
                initializer=STFT("real", self.window, self.scaling, self.periodic))
        if self.mode != "real":
            self.imag_kernel = self.add_weight(
                name="imag_kernel", shape=shape,
                initializer=STFT("imag", self.window, self.scaling, self.periodic))

    def _apply_conv(self, inputs, kernel):
        if self.data_format == "channels_last":
            inputs = inputs.transpose(1, 2)
        batch, channels, time = inputs.shape
        x = inputs.reshape(-1, 1, time)
        if self.padding == "same":
            out_len = (time + self._frame_step - 1) // self._frame_step
            total = max(0, (out_len - 1) * self._frame_step + self.frame_length - time)
            x = F.pad(x, (total // 2, total - total // 2))
        kernel = kernel.to(inputs.dtype).permute(2, 1, 0)
        outputs = F.conv1d(x, kernel, stride=self._frame_step)
        return outputs.reshape(batch, channels, outputs.shape[1], outputs.shape[2])

    def _adjust_shapes(self, outputs):
        batch, channels, freq, time = outputs.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return outputs.permute(0, 3, 2, 1)
            return outputs.reshape(batch, channels * freq, time).transpose(1, 2)
        if self.expand_dims:
            return outputs.transpose(2, 3)
        return outputs.reshape(batch, channels * freq, time)

    def call(self, inputs):
        if inputs.dtype not in (torch.float16, torch.float32, torch.float64):
            raise TypeError("Invalid input type. Expected `float16`, `float32` or `float64`. "
                            f"Received: input type={inputs.dtype}")
        real = None if self.mode == "imag" else self._apply_conv(inputs, self.real_kernel)
        imag = None if self.mode == "real" else self._apply_conv(inputs, self.imag_kernel)
        if self.mode == "real":
            return self._adjust_shapes(real)
        if self.mode == "imag":
            return self._adjust_shapes(imag)
        if self.mode == "angle":
            return self._adjust_shapes(torch.atan2(imag, real))
        if self.mode == "stft":
            return self._adjust_shapes(torch.cat([real, imag], dim=2))
        power = real.square() + imag.square()
        if self.mode == "psd":
            return self._adjust_shapes(power + F.pad(power[:, :, 1:-1, :], (0, 0, 1, 1)))
        linear = self._adjust_shapes(torch.sqrt(torch.clamp(power, min=epsilon())))
        if self.mode == "magnitude":
            return linear
        return torch.log(torch.clamp(linear, min=epsilon()))

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        time = input_shape[1] if self.data_format == "channels_last" else input_shape[-1]
        freq = self._fft_length // 2 + 1
        if self.mode == "stft":
            freq *= 2
        if time is not None:
            if self.padding == "valid":
                time = (time - self.frame_length) // self._frame_step + 1
            else:
                time = (time + self._frame_step - 1) // self._frame_step
        if self.expand_dims:
            if self.data_format == "channels_last":
                return (input_shape[0], time, freq, channels)
            return (input_shape[0], channels, time, freq)
        features = None if channels is None else freq * channels
        if self.data_format == "channels_last":
            return (input_shape[0], time, features)
        return (input_shape[0], features, time)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length,
                "window": self.window, "periodic": self.periodic, "scaling": self.scaling,
                "padding": self.padding, "data_format": self.data_format,
                "expand_dims": self.expand_dims}
