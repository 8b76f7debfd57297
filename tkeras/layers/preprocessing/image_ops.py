"""Image kernels of the preprocessing layers, with the numerics of Keras's torch backend.

- `resize`: Keras's torch `ops.image.resize` (`F.interpolate` with `align_corners=False` for
  bilinear/bicubic, `nearest-exact` for nearest, optional antialias, crop/pad to aspect ratio).
  As in Keras on torch, `area`, `lanczos3` and `lanczos5` raise `ValueError`.
- `affine_transform`: Keras's torch `ops.image.affine_transform` (output pixel `(y, x)` samples the
  input at `(b0*x + b1*y + b2, a0*x + a1*y + a2)`, nearest or bilinear, fill modes constant /
  nearest / wrap / mirror / reflect). Keras loops over images and samples a 3-D
  `map_coordinates`; here one batched gather per interpolation corner gives the same sums in the
  same order. The projective terms `c0, c1` are ignored (every Keras layer sets them to 0).
- `smart_resize`: `keras.utils.smart_resize` (central crop to the target aspect ratio, then
  bilinear resize), used by `CenterCrop` when the image is smaller than the crop.
"""

import math

import torch
import torch.nn.functional as F

_RESIZE_MODES = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic"}
_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _aspect_crop_box(height, width, target_height, target_width):
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    return (int(float(height - crop_height) / 2), int(float(width - crop_width) / 2),
            crop_height, crop_width)


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
           data_format="channels_last"):
    """Resize a batch (rank 4) or one image (rank 3) to `size = (height, width)`."""
    if interpolation in ("lanczos3", "lanczos5"):
        raise ValueError(
            "Resizing with Lanczos interpolation is not supported by the PyTorch backend. "
            f"Received: interpolation={interpolation}.")
    if interpolation not in _RESIZE_MODES:
        raise ValueError(
            f"Invalid value for argument `interpolation`. Expected of one {_RESIZE_MODES}. "
            f"Received: interpolation={interpolation}")
    if fill_mode != "constant":
        raise ValueError("Invalid value for argument `fill_mode`. Only `'constant'` is "
                         f"supported. Received: fill_mode={fill_mode}")
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError(
            "Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`.")
    if images.ndim not in (3, 4):
        raise ValueError("Invalid images rank: expected rank 3 (single image) or rank 4 (batch "
                         f"of images). Received input with shape: images.shape={images.shape}")
    squeeze = images.ndim == 3
    if squeeze:
        images = images.unsqueeze(0)
    out_dtype = images.dtype
    if out_dtype not in (torch.float32, torch.float64):
        images = images.to(torch.float32)
    if data_format == "channels_last":
        images = images.permute(0, 3, 1, 2)
    height, width = images.shape[-2], images.shape[-1]
    target_height, target_width = size
    if crop_to_aspect_ratio:
        h0, w0, ch, cw = _aspect_crop_box(height, width, target_height, target_width)
        images = images[:, :, h0:h0 + ch, w0:w0 + cw]
    elif pad_to_aspect_ratio:
        pad_height = max(height, int(float(width * target_height) / target_width))
        pad_width = max(width, int(float(height * target_width) / target_height))
        h0, w0 = int(float(pad_height - height) / 2), int(float(pad_width - width) / 2)
        if h0 > 0 or w0 > 0:
            images = F.pad(images, (w0, w0, h0, h0), value=fill_value)
    if antialias and interpolation not in ("bilinear", "bicubic"):
        antialias = False
    align_corners = False if interpolation in ("bilinear", "bicubic") else None
    resized = F.interpolate(images, size=tuple(size), mode=_RESIZE_MODES[interpolation],
                            align_corners=align_corners, antialias=antialias)
    if interpolation == "bicubic" and out_dtype == torch.uint8:
        resized = resized.clamp(0, 255)
    if data_format == "channels_last":
        resized = resized.permute(0, 2, 3, 1)
    if squeeze:
        resized = resized.squeeze(0)
    if resized.dtype != out_dtype:
        if out_dtype in _INT_DTYPES:
            resized = torch.round(resized)
        resized = resized.to(out_dtype)
    return resized


def smart_resize(images, size, data_format="channels_last"):
    height_axis = -3 if data_format == "channels_last" else -2
    height, width = images.shape[height_axis], images.shape[height_axis + 1]
    h0, w0, ch, cw = _aspect_crop_box(height, width, size[0], size[1])
    images = images.narrow(height_axis, h0, ch).narrow(height_axis + 1, w0, cw)
    return resize(images, size, data_format=data_format)


def saturate_cast(x, dtype):
    """Round and clip a float result into an integer dtype (Keras's `_saturate_cast` after
    `round`); float dtypes are cast directly."""
    if x.dtype == dtype:
        return x
    if dtype in _INT_DTYPES:
        info = torch.iinfo(dtype)
        x = torch.round(x).clamp(info.min, info.max)
    return x.to(dtype)


def _fix_mirror(index, size):
    s = size - 1
    return torch.abs((index + s) % (2 * s) - s)


_INDEX_FIXERS = {
    "constant": lambda index, size: index.clamp(0, size - 1),
    "nearest": lambda index, size: index.clamp(0, size - 1),
    "wrap": lambda index, size: index % size,
    "mirror": _fix_mirror,
    "reflect": lambda index, size: torch.div(_fix_mirror(2 * index + 1, 2 * size + 1) - 1, 2,
                                             rounding_mode="floor"),
}


def map_coordinates(images, coord_y, coord_x, interpolation="bilinear", fill_mode="constant",
                    fill_value=0.0):
    """Sample channels-last `images` (batch, height, width, channels) at the float coordinates
    `coord_y, coord_x` of shape (batch, out_height, out_width): Keras's torch `map_coordinates`
    (order 0 or 1, its index fixers and constant-fill validity), batched with one gather per
    interpolation corner (same sums in the same order as Keras's per-image loop)."""
    if fill_mode not in _INDEX_FIXERS:
        raise ValueError(f"Invalid value for argument `fill_mode`. Expected of one "
                         f"{set(_INDEX_FIXERS)}. Received: fill_mode={fill_mode}")

    def nodes(coord):
        if interpolation == "nearest":
            return [(torch.round(coord).long(), None)]
        lower = torch.floor(coord)
        upper_weight = coord - lower
        index = lower.long()
        return [(index, 1 - upper_weight), (index + 1, upper_weight)]

    batch, height, width, _ = images.shape
    fix = _INDEX_FIXERS[fill_mode]
    batch_index = torch.arange(batch, device=images.device).view(batch, 1, 1)
    out = None
    for iy, wy in nodes(coord_y):
        for ix, wx in nodes(coord_x):
            value = images[batch_index, fix(iy, height), fix(ix, width)]
            if fill_mode == "constant":
                valid = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
                value = torch.where(valid.unsqueeze(-1), value, fill_value)
            if wy is not None:
                value = (wy * wx).unsqueeze(-1) * value
            out = value if out is None else out + value
    return out


def _check_interpolation(interpolation):
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError("Invalid value for argument `interpolation`. Expected of one "
                         f"{{'nearest', 'bilinear'}}. Received: interpolation={interpolation}")


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0.0, data_format="channels_last"):
    """Apply one affine `transform` row `[a0, a1, a2, b0, b1, b2, c0, c1]` per image of a batch."""
    _check_interpolation(interpolation)
    if data_format == "channels_first":
        images = images.permute(0, 2, 3, 1)
    batch, height, width, _ = images.shape
    t = transform.reshape(batch, -1, 1, 1)
    ys = torch.arange(height, dtype=t.dtype, device=t.device).view(1, height, 1)
    xs = torch.arange(width, dtype=t.dtype, device=t.device).view(1, 1, width)
    coord_y = ys * t[:, 4] + xs * t[:, 3] + t[:, 5]
    coord_x = ys * t[:, 1] + xs * t[:, 0] + t[:, 2]
    out = map_coordinates(images, coord_y, coord_x, interpolation, fill_mode, fill_value)
    if data_format == "channels_first":
        out = out.permute(0, 3, 1, 2)
    return out


def rotation_matrix(angle_degrees, height, width):
    """Keras's `_compute_affine_matrix` for a rotation about the image centre (no translation,
    shear or scaling): rows `[a0, a1, a2, b0, b1, b2, 0, 0]`."""
    angle = angle_degrees * (math.pi / 180.0)
    cx = 0.5 * (width - 1)
    cy = 0.5 * (height - 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    a0, a1 = cos + 0.0 * sin, -sin + 0.0 * cos
    b0, b1 = 0.0 * cos + sin, 0.0 * -sin + cos
    a2 = cx - cx * a0 - cy * a1
    b2 = cy - cx * b0 - cy * b1
    zeros = torch.zeros_like(angle)
    return torch.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], dim=1)


# ------------------------------------------------------------------------------- colour
def _channel_axis(data_format):
    return -1 if data_format == "channels_last" else -3


def rgb_to_grayscale(images, data_format="channels_last"):
    """Keras's `ops.image.rgb_to_grayscale`: `0.2989 r + 0.587 g + 0.114 b` as one channel
    (a one-channel image is returned as a copy)."""
    axis = _channel_axis(data_format)
    if images.ndim not in (3, 4):
        raise ValueError("Invalid images rank: expected rank 3 (single image) or rank 4 (batch of "
                         f"images). Received input with shape: images.shape={images.shape}")
    if images.shape[axis] not in (1, 3):
        raise ValueError("Invalid channel size: expected 3 (RGB) or 1 (Grayscale). Received "
                         f"input with shape: images.shape={images.shape}")
    if images.shape[axis] == 1:
        return images.clone()
    r, g, b = images.unbind(dim=axis)
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(images.dtype).unsqueeze(axis)


def rgb_to_hsv(images, data_format="channels_last"):
    """Keras's torch `ops.image.rgb_to_hsv` (float images in [0, 1]; hue in [0, 1))."""
    axis = _channel_axis(data_format)
    eps = torch.finfo(images.dtype).eps
    images = torch.where(torch.abs(images) < eps, 0.0, images)
    r, g, b = images.unbind(dim=axis)
    value = torch.maximum(torch.maximum(r, g), b)
    range_ = value - torch.minimum(torch.minimum(r, g), b)
    safe_value = torch.where(value > 0, value, 1.0)
    safe_range = torch.where(range_ > 0, range_, 1.0)
    saturation = torch.where(value > 0, range_ / safe_value, 0.0)
    norm = 1.0 / (6.0 * safe_range)
    hue = torch.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = torch.where(value == r, norm * (g - b), hue)
    hue = torch.where(range_ > 0, hue, 0.0) + (hue < 0.0).to(hue.dtype)
    return torch.stack([hue, saturation, value], dim=axis)


def hsv_to_rgb(images, data_format="channels_last"):
    """Keras's torch `ops.image.hsv_to_rgb`."""
    axis = _channel_axis(data_format)
    hue, saturation, value = images.unbind(dim=axis)
    dh = torch.remainder(hue, 1.0) * 6.0
    dr = torch.clip(torch.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = torch.clip(2.0 - torch.abs(dh - 2.0), 0.0, 1.0)
    db = torch.clip(2.0 - torch.abs(dh - 4.0), 0.0, 1.0)
    one_minus_s = 1.0 - saturation
    return torch.stack([value * (one_minus_s + saturation * dr),
                        value * (one_minus_s + saturation * dg),
                        value * (one_minus_s + saturation * db)], dim=axis)


# ------------------------------------------------------------------------------- filters
def gaussian_blur(images, kernel_size, sigma, data_format="channels_last"):
    """Keras's torch `ops.image.gaussian_blur` on a batch: the 2-D kernel
    `outer(k1d(kernel_size[1], sigma[1]), k1d(kernel_size[0], sigma[0]))` viewed as
    `(kernel_size[0], kernel_size[1])`, depthwise, zero padding `kernel_size[0] // 2`."""
    def kernel1d(size, s):
        x = torch.arange(size, dtype=images.dtype, device=images.device) - (size - 1) / 2
        k = torch.exp(-0.5 * (x / s) ** 2)
        return k / torch.sum(k)

    if data_format == "channels_last":
        images = images.permute(0, 3, 1, 2)
    channels = images.shape[1]
    kernel = torch.outer(kernel1d(kernel_size[1], sigma[1]), kernel1d(kernel_size[0], sigma[0]))
    kernel = kernel.reshape(1, 1, kernel_size[0], kernel_size[1]).expand(
        channels, 1, kernel_size[0], kernel_size[1])
    blurred = F.conv2d(images, kernel, padding=int(kernel_size[0] // 2), groups=channels)
    if data_format == "channels_last":
        blurred = blurred.permute(0, 2, 3, 1)
    return blurred


# ------------------------------------------------------------------------------- warps
def homography_matrix(start_points, end_points):
    """Keras's `ops.image.compute_homography_matrix`: per batch row the 8 coefficients
    `[a0..a7]` mapping `end_points` onto `start_points` (solved in float32 or wider)."""
    dtype = torch.promote_types(start_points.dtype, torch.float32)
    sx, sy = start_points[..., 0].to(dtype), start_points[..., 1].to(dtype)
    ex, ey = end_points[..., 0].to(dtype), end_points[..., 1].to(dtype)
    zeros, ones = torch.zeros_like(ex), torch.ones_like(ex)
    rows = []
    for i in range(4):
        rows.append(torch.stack([ex[:, i], ey[:, i], ones[:, i], zeros[:, i], zeros[:, i],
                                 zeros[:, i], -sx[:, i] * ex[:, i], -sx[:, i] * ey[:, i]], -1))
        rows.append(torch.stack([zeros[:, i], zeros[:, i], zeros[:, i], ex[:, i], ey[:, i],
                                 ones[:, i], -sy[:, i] * ex[:, i], -sy[:, i] * ey[:, i]], -1))
    coefficients = torch.stack(rows, dim=1)
    target = torch.stack([sx[:, 0], sy[:, 0], sx[:, 1], sy[:, 1], sx[:, 2], sy[:, 2], sx[:, 3],
                          sy[:, 3]], dim=-1).unsqueeze(-1)
    return torch.linalg.solve(coefficients, target).reshape(-1, 8).to(start_points.dtype)


def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0.0, data_format="channels_last"):
    """Keras's torch `ops.image.perspective_transform` (constant fill) on a batch."""
    _check_interpolation(interpolation)
    if data_format == "channels_first":
        images = images.permute(0, 2, 3, 1)
    _, height, width, _ = images.shape
    t = homography_matrix(start_points, end_points).to(images.dtype).reshape(-1, 8, 1, 1)
    ys = torch.arange(height, dtype=images.dtype, device=images.device).view(1, height, 1)
    xs = torch.arange(width, dtype=images.dtype, device=images.device).view(1, 1, width)
    denom = t[:, 6] * xs + t[:, 7] * ys + 1.0
    coord_x = (t[:, 0] * xs + t[:, 1] * ys + t[:, 2]) / denom
    coord_y = (t[:, 3] * xs + t[:, 4] * ys + t[:, 5]) / denom
    out = map_coordinates(images, coord_y, coord_x, interpolation, "constant", fill_value)
    if data_format == "channels_first":
        out = out.permute(0, 3, 1, 2)
    return out


def elastic_transform(images, noise_x, noise_y, alpha, sigma, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, data_format="channels_last"):
    """Keras's torch `ops.image.elastic_transform` with its standard-normal displacement noise
    `noise_x, noise_y` (batch, height, width) given: the noise times `sigma` is blurred with a
    `int(6 sigma) | 1` Gaussian kernel, scaled by `alpha` and added to the sampling grid."""
    _check_interpolation(interpolation)
    if data_format == "channels_first":
        images = images.permute(0, 2, 3, 1)
    _, height, width, _ = images.shape
    size = int(6 * sigma) | 1
    sigmas = (sigma, sigma)

    def displacement(noise):
        blurred = gaussian_blur((noise * sigma).to(images.dtype).unsqueeze(-1), (size, size),
                                sigmas)
        return blurred.squeeze(-1)

    ys = torch.arange(height, device=images.device).view(1, height, 1)
    xs = torch.arange(width, device=images.device).view(1, 1, width)
    coord_x = xs + alpha * displacement(noise_x)
    coord_y = ys + alpha * displacement(noise_y)
    out = map_coordinates(images, coord_y, coord_x, interpolation, fill_mode, fill_value)
    if data_format == "channels_first":
        out = out.permute(0, 3, 1, 2)
    return out.to(images.dtype)
