"""`keras.ops.image` (only under `keras.ops.image`, not at the top level of `keras.ops`).

The kernels shared with the image preprocessing layers (`resize`, colour conversions,
`affine_transform`, `perspective_transform`, `gaussian_blur`, `elastic_transform`) are
`tkeras.layers.preprocessing.image_ops`'s, with Keras's torch-backend numerics; these ops add
Keras's argument checks, unbatched (rank 3) images and `data_format` defaults. Node configs are
Keras's (the arguments as passed: `data_format=None` stays `None`).

Deliberate differences (docs/ops.md): `gaussian_blur` and `elastic_transform` honour
`data_format=None` as `image_data_format()` eagerly too (Keras's torch backend then treats the
images as channels_first); `affine_transform` ignores the projective terms `c0, c1` (Keras's
torch backend folds them into the channel coordinate); `elastic_transform` draws its noise from a
`torch.Generator` seeded with an integer `seed` (Keras on torch ignores the seed off the meta
device and uses the global generator, as tkeras does for `seed=None`).
"""

import functools
import itertools
import operator

import numpy as np
import torch
import torch.nn.functional as F

from tkeras.core import config as _config
from tkeras.core.registry import keras_export
from tkeras.layers.preprocessing import image_ops
from tkeras.ops import dtypes
from tkeras.ops import nn
from tkeras.ops.operation import keras_op
from tkeras.ops.operation import to_tensor

__all__ = [
    "rgb_to_grayscale", "rgb_to_hsv", "hsv_to_rgb", "resize", "affine_transform",
    "extract_patches", "extract_patches_3d", "map_coordinates", "pad_images", "crop_images",
    "perspective_transform", "gaussian_blur", "elastic_transform", "scale_and_translate",
    "sobel_edges", "ssim",
]


def _image_op(tensors=None, class_name=None):
    """`keras_op("image")`, exported only as `keras.ops.image.<name>` (as in Keras)."""

    def decorator(fn):
        op = keras_op("image", tensors=tensors, class_name=class_name, export=False)(fn)
        return keras_export(f"keras.ops.image.{fn.__name__}")(op)

    return decorator


def _check_rank(images, name="images"):
    if images.ndim not in (3, 4):
        raise ValueError(
            f"Invalid {name} rank: expected rank 3 (single image) or rank 4 (batch of images). "
            f"Received input with shape: {name}.shape={tuple(images.shape)}")


def _batched(fn, images, *args, **kwargs):
    """Run a batch kernel on a rank-3 or rank-4 `images`."""
    _check_rank(images)
    if images.ndim == 4:
        return fn(images, *args, **kwargs)
    return fn(images.unsqueeze(0), *args, **kwargs).squeeze(0)


def _check_float(images):
    if not images.is_floating_point():
        raise ValueError("Invalid images dtype: expected float dtype. Received: "
                         f"images.dtype={dtypes.standardize_dtype(images.dtype)}")


# ----------------------------------------------------------------------------- colour
@_image_op(tensors=("images",), class_name="RGBToGrayscale")
def rgb_to_grayscale(images, data_format=None):
    return image_ops.rgb_to_grayscale(to_tensor(images),
                                      _config.standardize_data_format(data_format))


@_image_op(tensors=("images",), class_name="RGBToHSV")
def rgb_to_hsv(images, data_format=None):
    """Float RGB in [0, 1] to HSV (hue in [0, 1))."""
    images = to_tensor(images)
    _check_rank(images)
    _check_float(images)
    return image_ops.rgb_to_hsv(images, _config.standardize_data_format(data_format))


@_image_op(tensors=("images",), class_name="HSVToRGB")
def hsv_to_rgb(images, data_format=None):
    images = to_tensor(images)
    _check_rank(images)
    _check_float(images)
    return image_ops.hsv_to_rgb(images, _config.standardize_data_format(data_format))


# ----------------------------------------------------------------------------- geometry
@_image_op(tensors=("images",))
def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers. Received: size={size}")
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"`size` must have positive height and width. Received: size={size}")
    return image_ops.resize(to_tensor(images), tuple(size), interpolation, antialias,
                            crop_to_aspect_ratio, pad_to_aspect_ratio, fill_mode, fill_value,
                            _config.standardize_data_format(data_format))


@_image_op(tensors=("images", "transform"))
def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    """Per image, output pixel `(y, x)` samples the input at
    `((b0 x + b1 y + b2), (a0 x + a1 y + a2))` for a transform row `[a0, a1, a2, b0, b1, b2,
    c0, c1]`."""
    if fill_mode not in image_ops._INDEX_FIXERS:
        raise ValueError(f"Invalid value for argument `fill_mode`. Expected of one "
                         f"{set(image_ops._INDEX_FIXERS)}. Received: fill_mode={fill_mode}")
    images, transform = to_tensor(images), to_tensor(transform)
    if transform.ndim not in (1, 2):
        raise ValueError(
            "Invalid transform rank: expected rank 1 (single transform) or rank 2 (batch of "
            f"transforms). Received input with shape: transform.shape={tuple(transform.shape)}")
    if transform.ndim == 1:
        transform = transform.unsqueeze(0)
    if images.ndim == 4 and transform.shape[0] == 1:
        transform = transform.expand(images.shape[0], -1)
    return _batched(image_ops.affine_transform, images, transform, interpolation, fill_mode,
                    fill_value, _config.standardize_data_format(data_format))


@_image_op(tensors=("images", "start_points", "end_points"))
def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):
    """Warp so that `end_points` (4 corners `(x, y)` per image) map to `start_points`."""
    images = to_tensor(images)
    start_points = to_tensor(start_points).to(images.dtype)
    end_points = to_tensor(end_points).to(images.dtype)
    for name, points in (("start_points", start_points), ("end_points", end_points)):
        if tuple(points.shape[-2:]) != (4, 2) or points.ndim not in (2, 3):
            raise ValueError(
                f"Invalid {name} shape: expected (4,2) for a single image or (N,4,2) for a "
                f"batch. Received shape: {tuple(points.shape)}")
    if start_points.shape != end_points.shape:
        raise ValueError(
            "start_points and end_points must have the same shape. Received "
            f"start_points.shape={tuple(start_points.shape)}, "
            f"end_points.shape={tuple(end_points.shape)}")
    if start_points.ndim == 2:
        start_points, end_points = start_points.unsqueeze(0), end_points.unsqueeze(0)
    return _batched(image_ops.perspective_transform, images, start_points, end_points,
                    interpolation, fill_value, _config.standardize_data_format(data_format))


def _perspective_spec(self, images, start_points, end_points):
    """Shape-only spec: the homography of the zero points used to infer specs is singular."""
    from tkeras.model.keras_tensor import KerasTensor

    _check_rank(images)
    return KerasTensor(images.shape, dtype=images.dtype)


perspective_transform.operation_class.compute_output_spec = _perspective_spec


def _nearest_nodes(coordinate):
    if coordinate.is_floating_point():
        coordinate = torch.round(coordinate)
    return [(coordinate.to(torch.int32), 1)]


def _linear_nodes(coordinate):
    lower = torch.floor(coordinate)
    upper_weight = coordinate - lower
    index = lower.to(torch.int32)
    return [(index, 1 - upper_weight), (index + 1, upper_weight)]


@_image_op(tensors=("inputs", "coordinates"))
def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """`scipy.ndimage.map_coordinates` for `order` 0 or 1: sample `inputs` (any rank) at
    `coordinates` (one array per input dimension), Keras's fill modes."""
    inputs = to_tensor(inputs)
    coordinates = [to_tensor(c) for c in coordinates]
    if len(coordinates) != inputs.ndim:
        raise ValueError(
            "First dim of `coordinates` must be the same as the rank of `inputs`. Received "
            f"inputs with shape: {tuple(inputs.shape)} and coordinate leading dim of "
            f"{len(coordinates)}")
    if coordinates[0].ndim < 1:
        raise ValueError("Invalid coordinates rank: expected at least rank 2. Received input "
                         f"with shape: {(len(coordinates),) + tuple(coordinates[0].shape)}")
    fix = image_ops._INDEX_FIXERS.get(fill_mode)
    if fix is None:
        raise ValueError("Invalid value for argument `fill_mode`. Expected one of "
                         f"{set(image_ops._INDEX_FIXERS)}. Received: fill_mode={fill_mode}")
    if order == 0:
        nodes = _nearest_nodes
    elif order == 1:
        nodes = _linear_nodes
    else:
        raise NotImplementedError("map_coordinates currently requires order<=1")
    integer = not inputs.is_floating_point() and not inputs.is_complex()
    if isinstance(fill_value, (int, float)) and integer:
        fill_value = int(fill_value)
    per_dim = []
    for coordinate, size in zip(coordinates, inputs.shape):
        per_dim.append([(fix(index, size), (index >= 0) & (index < size), weight)
                        for index, weight in nodes(coordinate)])
    outputs = []
    for items in itertools.product(*per_dim):
        indices, validities, weights = zip(*items)
        contribution = inputs[indices]
        if fill_mode == "constant":
            valid = functools.reduce(operator.and_, validities)
            contribution = torch.where(valid, contribution, fill_value)
        outputs.append(functools.reduce(operator.mul, weights) * contribution)
    result = functools.reduce(operator.add, outputs)
    if integer and result.is_floating_point():
        result = torch.round(result)
    return result.to(inputs.dtype)


def _validate_sides(a, b, target, names):
    if [a, b, target].count(None) != 1:
        raise ValueError(f"Must specify exactly two of {names[0]}, {names[1]}, {names[2]}. "
                         f"Received: {names[0]}={a}, {names[1]}={b}, {names[2]}={target}")
    for value, name in zip((a, b, target), names):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={value}")


def _spatial(images, data_format):
    return (images.shape[-3], images.shape[-2]) if data_format == "channels_last" else (
        images.shape[-2], images.shape[-1])


def _check_non_negative(**values):
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={value}")


@_image_op(tensors=("images",))
def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    """Zero-pad images to `target_height`/`target_width` or by the given amounts."""
    data_format = _config.standardize_data_format(data_format)
    images = to_tensor(images)
    if images.ndim not in (3, 4):
        raise ValueError("Invalid images rank: expected rank 3 (single image) or rank 4 (batch "
                         f"of images). Received: images.shape={tuple(images.shape)}")
    _validate_sides(top_padding, bottom_padding, target_height,
                    ("top_padding", "bottom_padding", "target_height"))
    _validate_sides(left_padding, right_padding, target_width,
                    ("left_padding", "right_padding", "target_width"))
    height, width = _spatial(images, data_format)
    if top_padding is None:
        top_padding = target_height - bottom_padding - height
    if bottom_padding is None:
        bottom_padding = target_height - top_padding - height
    if left_padding is None:
        left_padding = target_width - right_padding - width
    if right_padding is None:
        right_padding = target_width - left_padding - width
    _check_non_negative(top_padding=top_padding, left_padding=left_padding,
                        right_padding=right_padding, bottom_padding=bottom_padding)
    pads = (left_padding, right_padding, top_padding, bottom_padding)
    if data_format == "channels_last":
        pads = (0, 0) + pads
    return F.pad(images, pads)


@_image_op(tensors=("images",))
def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    """Crop images to `target_height`/`target_width` or by the given amounts."""
    data_format = _config.standardize_data_format(data_format)
    images = to_tensor(images)
    if images.ndim not in (3, 4):
        raise ValueError("Invalid images rank: expected rank 3 (single image) or rank 4 (batch "
                         f"of images). Received: images.shape={tuple(images.shape)}")
    _validate_sides(top_cropping, bottom_cropping, target_height,
                    ("top_cropping", "bottom_cropping", "target_height"))
    _validate_sides(left_cropping, right_cropping, target_width,
                    ("left_cropping", "right_cropping", "target_width"))
    height, width = _spatial(images, data_format)
    if top_cropping is None:
        top_cropping = height - target_height - bottom_cropping
    if target_height is None:
        target_height = height - bottom_cropping - top_cropping
    if left_cropping is None:
        left_cropping = width - target_width - right_cropping
    if target_width is None:
        target_width = width - right_cropping - left_cropping
    _check_non_negative(top_cropping=top_cropping, target_height=target_height,
                        left_cropping=left_cropping, target_width=target_width)
    axis = images.ndim - (3 if data_format == "channels_last" else 2)
    return images.narrow(axis, top_cropping, target_height).narrow(
        axis + 1, left_cropping, target_width)


# ----------------------------------------------------------------------------- patches
@_image_op(tensors=("images",))
def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    """Patches of `size` (2 ints, or 3 for volumes) flattened into the channel axis, as a
    convolution with an identity kernel (Keras's method, so the patch layout is Keras's)."""
    if not isinstance(size, int):
        if not isinstance(size, (tuple, list)):
            raise TypeError("Invalid `size` argument. Expected an int or a tuple. Received: "
                            f"size={size} of type {type(size).__name__}")
        if len(size) not in (2, 3):
            raise ValueError("Invalid `size` argument. Expected a tuple of length 2 or 3. "
                             f"Received: size={size} with length {len(size)}")
    images = to_tensor(images)
    size = (size, size) if isinstance(size, int) else tuple(size)
    rank = len(size)
    data_format = _config.standardize_data_format(data_format)
    channels = images.shape[-1] if data_format == "channels_last" else images.shape[-1 - rank]
    out_dim = int(np.prod(size)) * channels
    kernel = torch.eye(out_dim, dtype=images.dtype, device=images.device).reshape(
        *size, channels, out_dim)
    unbatched = images.ndim == rank + 1
    if unbatched:
        images = images.unsqueeze(0)
    patches = nn.conv(images, kernel, strides=strides or size, padding=padding,
                      data_format=data_format, dilation_rate=dilation_rate)
    return patches.squeeze(0) if unbatched else patches


def _extract_patches_config(self):
    """Keras's `ExtractPatches.get_config`: normalized `size`/`strides`/`data_format`, and no
    `name`."""
    config = self._op_config
    size = (config["size"],) * 2 if isinstance(config["size"], int) else config["size"]
    return {"size": size, "strides": size if config["strides"] is None else config["strides"],
            "dilation_rate": config["dilation_rate"], "padding": config["padding"],
            "data_format": _config.standardize_data_format(config["data_format"])}


extract_patches.operation_class.get_config = _extract_patches_config


@keras_export("keras.ops.image.extract_patches_3d")
def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    """`extract_patches` for volumes (its graph node is Keras's `ExtractPatches` too)."""
    if isinstance(size, int):
        size = (size, size, size)
    if strides is not None and not isinstance(strides, int) and len(strides) != 3:
        raise ValueError(f"Invalid `strides` argument. Got: {strides}")
    return extract_patches(volumes, size, strides, dilation_rate, padding, data_format)


# ----------------------------------------------------------------------------- filters
@_image_op(tensors=("images",))
def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    return _batched(image_ops.gaussian_blur, to_tensor(images), tuple(kernel_size),
                    tuple(float(s) for s in sigma),
                    _config.standardize_data_format(data_format))


@_image_op(tensors=("images",))
def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    """Random elastic deformation: standard-normal displacement fields (x then y), blurred and
    scaled by `alpha`, resampled with `map_coordinates`."""
    if fill_mode not in image_ops._INDEX_FIXERS:
        raise ValueError(f"Invalid value for argument `fill_mode`. Expected of one "
                         f"{set(image_ops._INDEX_FIXERS)}. Received: fill_mode={fill_mode}")
    images = to_tensor(images)
    _check_rank(images)
    data_format = _config.standardize_data_format(data_format)
    batched = images if images.ndim == 4 else images.unsqueeze(0)
    if data_format == "channels_last":
        shape = batched.shape[:3]
    else:
        shape = (batched.shape[0],) + tuple(batched.shape[2:])
    generator = None
    if isinstance(seed, int):
        generator = torch.Generator(device=images.device).manual_seed(seed)
    noise_x, noise_y = (torch.normal(0.0, 1.0, size=tuple(shape), generator=generator,
                                     dtype=images.dtype, device=images.device)
                        for _ in range(2))
    out = image_ops.elastic_transform(batched, noise_x, noise_y, float(alpha), float(sigma),
                                      interpolation, fill_mode, fill_value, data_format)
    return out if images.ndim == 4 else out.squeeze(0)


@_image_op(tensors=("images",))
def sobel_edges(images, data_format=None):
    """Sobel gradients `(..., 2)` = (vertical, horizontal) per channel, zero padding."""
    images = to_tensor(images)
    data_format = _config.standardize_data_format(data_format)
    x = images.permute(0, 3, 1, 2) if data_format == "channels_last" else images
    channels = x.shape[1]
    sobel_x = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=images.dtype,
                           device=images.device)
    kernel_x = sobel_x.view(1, 1, 3, 3).repeat(channels, 1, 1, 1)
    kernel_y = sobel_x.t().contiguous().view(1, 1, 3, 3).repeat(channels, 1, 1, 1)
    edges = torch.stack([F.conv2d(x, kernel_y, padding=1, groups=channels),
                         F.conv2d(x, kernel_x, padding=1, groups=channels)], dim=-1)
    return edges.permute(0, 2, 3, 1, 4) if data_format == "channels_last" else edges


def _gaussian_1d(size, sigma, dtype, device):
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    g = torch.exp(-(x ** 2) / (2.0 * sigma ** 2))
    return g / torch.sum(g)


@_image_op(tensors=("image1", "image2"), class_name="SSIM")
def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    """Mean structural similarity per image (Gaussian window, "valid" filtering, averaged
    over positions then channels), in the images' dtype."""
    data_format = _config.standardize_data_format(data_format)
    image1, image2 = to_tensor(image1), to_tensor(image2)
    _check_rank(image1, "image1")
    _check_rank(image2, "image2")
    original = image1.dtype
    compute = dtypes.torch_dtype(dtypes.result_type(image1.dtype, float))
    image1, image2 = image1.to(compute), image2.to(compute)
    unbatched = image1.ndim == 3
    if unbatched:
        image1, image2 = image1.unsqueeze(0), image2.unsqueeze(0)
    if data_format == "channels_last":
        image1, image2 = image1.permute(0, 3, 1, 2), image2.permute(0, 3, 1, 2)
    batch, channels, height, width = image1.shape
    g = _gaussian_1d(filter_size, filter_sigma, compute, image1.device)
    kernel = torch.outer(g, g).view(1, 1, filter_size, filter_size)

    def blur(v):
        return F.conv2d(v.reshape(-1, 1, height, width), kernel)

    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu1, mu2 = blur(image1), blur(image2)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = blur(image1 * image1) - mu1_sq
    sigma2_sq = blur(image2 * image2) - mu2_sq
    sigma12 = blur(image1 * image2) - mu1_mu2
    ssim_map = ((2.0 * mu1_mu2 + c1) * (2.0 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    result = ssim_map.mean(dim=(1, 2, 3)).reshape(batch, channels).mean(dim=-1)
    return (result.squeeze(0) if unbatched else result).to(original)


# ----------------------------------------------------------------------------- scale/translate
def _triangle_kernel(x):
    return torch.clamp(1 - torch.abs(x), min=0)


def _keys_cubic_kernel(x):
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = torch.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return torch.where(x >= 2.0, 0.0, out)


def _lanczos_kernel(radius, x):
    y = radius * torch.sin(np.pi * x) * torch.sin(np.pi * x / radius)
    out = torch.where(x > 1e-3, y / torch.where(x != 0, np.pi ** 2 * x ** 2, 1), 1)
    return torch.where(x > radius, 0.0, out)


_KERNELS = {
    "linear": _triangle_kernel,
    "cubic": _keys_cubic_kernel,
    "lanczos3": functools.partial(_lanczos_kernel, 3.0),
    "lanczos5": functools.partial(_lanczos_kernel, 5.0),
}
_METHOD_KERNELS = {"linear": "linear", "bilinear": "linear", "trilinear": "linear",
                   "cubic": "cubic", "bicubic": "cubic", "tricubic": "cubic",
                   "lanczos3": "lanczos3", "lanczos5": "lanczos5"}


def _weight_matrix(input_size, output_size, scale, translation, kernel, antialias):
    """`(input_size, output_size)` resampling weights of one dimension (JAX's algorithm)."""
    inv_scale = 1.0 / scale
    kernel_scale = torch.clamp(inv_scale, min=1.0) if antialias else 1.0
    sample_f = ((torch.arange(output_size, dtype=scale.dtype, device=scale.device) + 0.5)
                * inv_scale - translation * inv_scale - 0.5)
    x = torch.abs(sample_f[None, :] - torch.arange(input_size, dtype=scale.dtype,
                                                   device=scale.device)[:, None]) / kernel_scale
    weights = kernel(x)
    total = torch.sum(weights, dim=0, keepdim=True)
    weights = torch.where(torch.abs(total) > 1000.0 * float(np.finfo(np.float32).eps),
                          weights / torch.where(total != 0, total, 1), 0)
    inside = (sample_f >= -0.5) & (sample_f <= input_size - 0.5)
    return torch.where(inside[None, :], weights, 0)


@_image_op(tensors=("images", "output_shape", "scale", "translation"))
def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    """`jax.image.scale_and_translate`: resample `spatial_dims` to `output_shape` with
    `out = (in + 0.5) * scale + translation - 0.5` per dimension."""
    if method not in _METHOD_KERNELS:
        raise ValueError("Invalid value for argument `method`. Expected of one "
                         f"{set(_METHOD_KERNELS)}. Received: method={method}")
    kernel = _KERNELS[_METHOD_KERNELS[method]]
    images = to_tensor(images)
    scale, translation = to_tensor(scale), to_tensor(translation)
    dtype = dtypes.torch_dtype(dtypes.result_type(scale.dtype, translation.dtype))
    scale, translation = scale.to(dtype), translation.to(dtype)
    if len(spatial_dims) == 0:
        return images
    integer = not images.is_floating_point()
    output = images.to(torch.float32) if integer else images.clone()
    for i, d in enumerate(spatial_dims):
        d = d % images.ndim
        weights = _weight_matrix(images.shape[d], output_shape[d], scale[i], translation[i],
                                 kernel, antialias).to(output.dtype)
        output = torch.moveaxis(torch.tensordot(output, weights, dims=([d], [0])), -1, d)
    if integer:
        output = torch.clip(torch.round(output), images.min(), images.max()).to(images.dtype)
    return output
