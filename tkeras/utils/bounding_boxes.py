"""`keras.utils.bounding_boxes`: box format conversion, clipping, cropping, padding, affine
transforms, anchor delta encoding/decoding, IoU and CIoU.

Pure `tkeras.ops` code, as Keras's torch path: results are torch tensors, `convert_format` casts
to `dtype` (default float32), a dict input has its `"boxes"` entry converted in place. Formats
(case-insensitive in `convert_format`): xyxy, yxyx, xywh, center_xywh, center_yxhw, rel_xyxy,
rel_yxyx, rel_xywh, rel_center_xywh. Keras's tf.data backend switch has no counterpart here.
"""

import math

from tkeras import ops
from tkeras.core.config import epsilon
from tkeras.core.registry import keras_export

SUPPORTED_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


def _corners(boxes):
    """The four last-axis columns of `boxes`, each of shape (..., 1)."""
    return ops.split(boxes, 4, axis=-1)


def _join(*columns):
    return ops.concatenate(list(columns), axis=-1)


# ---------------------------------------------------------------------------- to/from xyxy
# Each converter maps (boxes, height, width) -> boxes; the arithmetic follows Keras's
# `BoundingBox` converters operation for operation so float results match bit for bit.


def _yxyx_to_xyxy(boxes, height, width):
    y1, x1, y2, x2 = _corners(boxes)
    return _join(x1, y1, x2, y2)


def _xywh_to_xyxy(boxes, height, width):
    x1, y1, w, h = _corners(boxes)
    return _join(x1, y1, x1 + w, y1 + h)


def _center_to_xyxy(cx, cy, w, h):
    half_w, half_h = w / 2.0, h / 2.0
    return _join(cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def _center_xywh_to_xyxy(boxes, height, width):
    cx, cy, w, h = _corners(boxes)
    return _center_to_xyxy(cx, cy, w, h)


def _center_yxhw_to_xyxy(boxes, height, width):
    cy, cx, h, w = _corners(boxes)
    return _center_to_xyxy(cx, cy, w, h)


def _rel_xyxy_to_xyxy(boxes, height, width):
    x1, y1, x2, y2 = _corners(boxes)
    return _join(x1 * width, y1 * height, x2 * width, y2 * height)


def _rel_yxyx_to_xyxy(boxes, height, width):
    y1, x1, y2, x2 = _corners(boxes)
    return _join(x1 * width, y1 * height, x2 * width, y2 * height)


def _rel_xywh_to_xyxy(boxes, height, width):
    x1, y1, w, h = _corners(boxes)
    return _join(x1 * width, y1 * height, (x1 + w) * width, (y1 + h) * height)


def _rel_center_xywh_to_xyxy(boxes, height, width):
    cx, cy, w, h = _corners(boxes)
    half_w, half_h = w / 2.0, h / 2.0
    return _join((cx - half_w) * width, (cy - half_h) * height,
                 (cx + half_w) * width, (cy + half_h) * height)


def _xyxy_to_xyxy(boxes, height, width):
    return boxes


def _xyxy_to_yxyx(boxes, height, width):
    x1, y1, x2, y2 = _corners(boxes)
    return _join(y1, x1, y2, x2)


def _xyxy_to_xywh(boxes, height, width):
    x1, y1, x2, y2 = _corners(boxes)
    return _join(x1, y1, x2 - x1, y2 - y1)


def _xyxy_to_center_xywh(boxes, height, width):
    x1, y1, x2, y2 = _corners(boxes)
    return _join(x1 + ((x2 - x1) / 2.0), y1 + ((y2 - y1) / 2.0), x2 - x1, y2 - y1)


def _xyxy_to_center_yxhw(boxes, height, width):
    x1, y1, x2, y2 = _corners(boxes)
    return _join(y1 + ((y2 - y1) / 2.0), x1 + ((x2 - x1) / 2.0), y2 - y1, x2 - x1)


def _xyxy_to_rel_xyxy(boxes, height, width):
    x1, y1, x2, y2 = _corners(boxes)
    return _join(ops.divide(x1, width), ops.divide(y1, height), ops.divide(x2, width),
                 ops.divide(y2, height))


def _xyxy_to_rel_yxyx(boxes, height, width):
    x1, y1, x2, y2 = _corners(boxes)
    return _join(ops.divide(y1, height), ops.divide(x1, width), ops.divide(y2, height),
                 ops.divide(x2, width))


def _xyxy_to_rel_xywh(boxes, height, width):
    x1, y1, x2, y2 = _corners(boxes)
    return _join(x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height)


def _xyxy_to_rel_center_xywh(boxes, height, width):
    x1, y1, x2, y2 = _corners(boxes)
    return _join((x1 + ((x2 - x1) / 2.0)) / width, (y1 + ((y2 - y1) / 2.0)) / height,
                 (x2 - x1) / width, (y2 - y1) / height)


_TO_XYXY = {
    "xyxy": _xyxy_to_xyxy,
    "yxyx": _yxyx_to_xyxy,
    "xywh": _xywh_to_xyxy,
    "center_xywh": _center_xywh_to_xyxy,
    "center_yxhw": _center_yxhw_to_xyxy,
    "rel_xyxy": _rel_xyxy_to_xyxy,
    "rel_yxyx": _rel_yxyx_to_xyxy,
    "rel_xywh": _rel_xywh_to_xyxy,
    "rel_center_xywh": _rel_center_xywh_to_xyxy,
}
_FROM_XYXY = {
    "xyxy": _xyxy_to_xyxy,
    "yxyx": _xyxy_to_yxyx,
    "xywh": _xyxy_to_xywh,
    "center_xywh": _xyxy_to_center_xywh,
    "center_yxhw": _xyxy_to_center_yxhw,
    "rel_xyxy": _xyxy_to_rel_xyxy,
    "rel_yxyx": _xyxy_to_rel_yxyx,
    "rel_xywh": _xyxy_to_rel_xywh,
    "rel_center_xywh": _xyxy_to_rel_center_xywh,
}


@keras_export("keras.utils.bounding_boxes.convert_format")
def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """Convert boxes (`(..., 4)`, or a dict whose `"boxes"` is converted in place and which is
    returned) from `source` to `target` format, cast to `dtype`. Relative formats need
    `height` and `width`. Raises `ValueError` for a last axis other than 4, an unknown format,
    or a missing image size."""
    if isinstance(boxes, dict):
        boxes["boxes"] = convert_format(boxes["boxes"], source=source, target=target,
                                        height=height, width=width, dtype=dtype)
        return boxes
    boxes_shape = ops.shape(boxes)
    if boxes_shape[-1] != 4:
        raise ValueError("`boxes` must be a tensor with the last dimension of 4. "
                         f"Received: boxes.shape={boxes_shape}")
    source = source.lower()
    target = target.lower()
    if source not in SUPPORTED_FORMATS or target not in SUPPORTED_FORMATS:
        raise ValueError(f"Invalid source or target format. Supported formats: {SUPPORTED_FORMATS}")
    if (source.startswith("rel_") or target.startswith("rel_")) and (
            width is None or height is None):
        raise ValueError(
            "convert_format() must receive `height` and `width` transforming between relative "
            f"and absolute formats.convert_format() received source=`{source}`, "
            f"target=`{target}, but height={height} and width={width}.")
    boxes = ops.cast(boxes, dtype)
    if source == target:
        return boxes
    if width is not None:
        width = ops.cast(width, dtype)
    if height is not None:
        height = ops.cast(height, dtype)
    if source.startswith("rel_") and target.startswith("rel_"):
        source = source.replace("rel_", "", 1)
        target = target.replace("rel_", "", 1)
    return _FROM_XYXY[target](_TO_XYXY[source](boxes, height, width), height, width)


def _clip_xyxy(boxes, height, width, low=0):
    x1, y1, x2, y2 = _corners(boxes)
    return _join(ops.clip(x1, low, width), ops.clip(y1, low, height), ops.clip(x2, low, width),
                 ops.clip(y2, low, height))


@keras_export("keras.utils.bounding_boxes.clip_to_image_size")
def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """Clip `bounding_boxes["boxes"]` (xyxy to `[0, width] x [0, height]`, rel_xyxy to
    `[0, 1]`) and set `"labels"` (if any) of boxes left with no area to -1. Returns a new dict;
    other formats raise `NotImplementedError`, as in Keras."""
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError("`height` and `width` must be set if `format='xyxy'`.")
    boxes = bounding_boxes["boxes"]
    labels = bounding_boxes.get("labels", None)
    if width is not None:
        width = ops.cast(width, boxes.dtype)
    if height is not None:
        height = ops.cast(height, boxes.dtype)
    if bounding_box_format == "xyxy":
        boxes = _clip_xyxy(boxes, height, width)
    else:
        boxes = _clip_xyxy(boxes, 1.0, 1.0, low=0.0)
    if labels is not None:
        x1, y1, x2, y2 = _corners(boxes)
        areas = ops.squeeze((x2 - x1) * (y2 - y1), axis=-1)
        labels = ops.where(areas > 0, labels, -1)
    result = bounding_boxes.copy()
    result["boxes"] = boxes
    if labels is not None:
        result["labels"] = labels
    return result


def _inverse_affine_matrix(center_x, center_y, angle, translate_x, translate_y, scale, shear_x,
                           shear_y, height, width):
    """(batch, 3, 3) inverse affine matrices, Keras's (TF's `_get_inverse_affine_matrix`)."""
    batch_size = ops.shape(angle)[0]
    dtype = angle.dtype
    angle, shear_x, shear_y = -angle, -shear_x, -shear_y
    cx = ops.multiply(center_x, (width - 1))
    cy = ops.multiply(center_y, (height - 1))
    rot = ops.multiply(angle, 1.0 / 180.0 * math.pi)
    tx = ops.multiply(-translate_x, (width - 1))
    ty = ops.multiply(-translate_y, (height - 1))
    sx = ops.multiply(shear_x, 1.0 / 180.0 * math.pi)
    sy = ops.multiply(shear_y, 1.0 / 180.0 * math.pi)
    cos_sy = ops.cos(sy)
    tan_sx = ops.tan(sx)
    rot_minus_sy = rot - sy
    cx_plus_tx = cx + tx
    cy_plus_ty = cy + ty
    a = ops.cos(rot_minus_sy) / cos_sy
    b = a * tan_sx + ops.sin(rot)
    c = -ops.sin(rot_minus_sy) / cos_sy
    d = ops.cos(rot) - c * tan_sx
    a0 = ops.multiply(d, scale)
    a1 = ops.multiply(-b, scale)
    b0 = ops.multiply(-c, scale)
    b1 = ops.multiply(a, scale)
    a2 = cx - a0 * cx_plus_tx - a1 * cy_plus_ty
    b2 = cy - b0 * cx_plus_tx - b1 * cy_plus_ty
    zeros = ops.zeros([batch_size], dtype)
    matrix = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros, ops.ones([batch_size], dtype)],
                       axis=-1)
    return ops.reshape(matrix, [batch_size, 3, 3])


@keras_export("keras.utils.bounding_boxes.affine_transform")
def affine_transform(boxes, angle, translate_x, translate_y, scale, shear_x, shear_y, height,
                     width, center_x=None, center_y=None, bounding_box_format="xyxy"):
    """Transform batched xyxy `boxes` `(batch, N, 4)` by per-sample affine parameters (tensors
    of shape `(batch,)`; angles in degrees, translations and centers as image fractions) and
    return the axis-aligned boxes around the four transformed corners. As Keras, the matrix is
    the inverse affine matrix of the image transform, and only `"xyxy"` is implemented."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError
    batch_size, n_boxes = ops.shape(boxes)[:2]
    matrix = _inverse_affine_matrix(0.5 if center_x is None else center_x,
                                    0.5 if center_y is None else center_y, angle, translate_x,
                                    translate_y, scale, shear_x, shear_y, height, width)
    boxes = ops.cast(boxes, dtype=matrix.dtype)
    transposed_matrix = ops.transpose(matrix[:, :2, :], [0, 2, 1])
    points = ops.stack([boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 1],
                        boxes[..., 2], boxes[..., 3], boxes[..., 0], boxes[..., 3]], axis=-1)
    points = ops.reshape(points, [batch_size, n_boxes, 4, 2])
    points = ops.concatenate([points, ops.ones([batch_size, n_boxes, 4, 1], points.dtype)],
                             axis=-1)
    transformed = ops.einsum("bnxy,byz->bnxz", points, transposed_matrix)
    return ops.concatenate([ops.amin(transformed, axis=2), ops.amax(transformed, axis=2)],
                           axis=-1)


@keras_export("keras.utils.bounding_boxes.crop")
def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """Shift xyxy `boxes` by `(-left, -top)` and clip them to `[0, width] x [0, height]`.
    Only `"xyxy"` is implemented, as in Keras."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError
    x1, y1, x2, y2 = _corners(boxes)
    return _clip_xyxy(_join(x1 - left, y1 - top, x2 - left, y2 - top), height, width)


@keras_export("keras.utils.bounding_boxes.pad")
def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """Shift xyxy `boxes` by `(left, top)` (`height`/`width` are unused, as in Keras). Only
    `"xyxy"` is implemented."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError
    x1, y1, x2, y2 = _corners(boxes)
    return _join(x1 + left, y1 + top, x2 + left, y2 + top)


def _check_variance(variance):
    if variance is None:
        return None
    variance = ops.convert_to_tensor(variance, "float32")
    if variance.shape[-1] != 4:
        raise ValueError(f"`variance` must be length 4, got {variance}")
    return variance


def _image_size(image_shape):
    if image_shape is None:
        return None, None
    height, width, _ = image_shape
    return height, width


@keras_export("keras.utils.bounding_boxes.encode_box_to_deltas")
def encode_box_to_deltas(anchors, boxes, anchor_format, box_format, encoding_format="center_yxhw",
                         variance=None, image_shape=None):
    """Deltas of `boxes` (`(N, 4)` or `(B, N, 4)`) relative to `anchors` (`(N, 4)`): center
    offsets over anchor size and log size ratios, in `encoding_format` (center_yxhw or
    center_xywh), divided by `variance` when given."""
    variance = _check_variance(variance)
    if encoding_format not in ["center_xywh", "center_yxhw"]:
        raise ValueError("`encoding_format` should be one of 'center_xywh' or "
                         f"'center_yxhw', got {encoding_format}")
    height, width = _image_size(image_shape)
    encoded_anchors = convert_format(anchors, source=anchor_format, target=encoding_format,
                                     height=height, width=width)
    boxes = convert_format(boxes, source=box_format, target=encoding_format, height=height,
                           width=width)
    anchor_dimensions = ops.maximum(encoded_anchors[..., 2:], epsilon())
    box_dimensions = ops.maximum(boxes[..., 2:], epsilon())
    boxes_delta = ops.concatenate([
        (boxes[..., :2] - encoded_anchors[..., :2]) / anchor_dimensions,
        ops.log(box_dimensions / anchor_dimensions),
    ], axis=-1)
    if variance is not None:
        boxes_delta = boxes_delta / variance
    return boxes_delta


@keras_export("keras.utils.bounding_boxes.decode_deltas_to_boxes")
def decode_deltas_to_boxes(anchors, boxes_delta, anchor_format, box_format,
                           encoded_format="center_yxhw", variance=None, image_shape=None):
    """Inverse of `encode_box_to_deltas`: boxes in `box_format` from `boxes_delta` and
    `anchors`; both may be dicts of levels (the result is then a dict of the same keys)."""
    variance = _check_variance(variance)
    if encoded_format not in ["center_xywh", "center_yxhw"]:
        raise ValueError("`encoded_format` should be 'center_xywh' or 'center_yxhw', "
                         f"but got '{encoded_format}'.")
    height, width = _image_size(image_shape)

    def decode_single_level(anchor, box_delta):
        encoded_anchor = convert_format(anchor, source=anchor_format, target=encoded_format,
                                        height=height, width=width)
        if variance is not None:
            box_delta = box_delta * variance
        box = ops.concatenate([
            box_delta[..., :2] * encoded_anchor[..., 2:] + encoded_anchor[..., :2],
            ops.exp(box_delta[..., 2:]) * encoded_anchor[..., 2:],
        ], axis=-1)
        return convert_format(box, source=encoded_format, target=box_format, height=height,
                              width=width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {lvl: decode_single_level(anchor, boxes_delta[lvl])
                for lvl, anchor in anchors.items()}
    return decode_single_level(anchors, boxes_delta)


def _compute_area(box):
    y_min, x_min, y_max, x_max = ops.split(box[..., :4], 4, axis=-1)
    return ops.squeeze((y_max - y_min) * (x_max - x_min), axis=-1)


def _compute_intersection(boxes1, boxes2):
    y_min1, x_min1, y_max1, x_max1 = ops.split(boxes1[..., :4], 4, axis=-1)
    y_min2, x_min2, y_max2, x_max2 = ops.split(boxes2[..., :4], 4, axis=-1)
    perm = [1, 0] if len(boxes2.shape) == 2 else [0, 2, 1]
    intersect_ymax = ops.minimum(y_max1, ops.transpose(y_max2, perm))
    intersect_ymin = ops.maximum(y_min1, ops.transpose(y_min2, perm))
    intersect_xmax = ops.minimum(x_max1, ops.transpose(x_max2, perm))
    intersect_xmin = ops.maximum(x_min1, ops.transpose(x_min2, perm))
    zero = ops.cast(0, intersect_ymax.dtype)
    intersect_height = ops.maximum(zero, intersect_ymax - intersect_ymin)
    intersect_width = ops.maximum(zero, intersect_xmax - intersect_xmin)
    return intersect_height * intersect_width


@keras_export("keras.utils.bounding_boxes.compute_iou")
def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1,
                image_shape=None):
    """Pairwise IoU table of `boxes1` (`(M, 4)` or `(B, M, 4)`) and `boxes2` (`(N, 4)` or
    `(B, N, 4)`): `(M, N)` or `(B, M, N)`. With `use_masking`, pairs where either box has all
    coordinates negative get `mask_val`. Relative formats need `image_shape`."""
    boxes1_rank = len(ops.shape(boxes1))
    boxes2_rank = len(ops.shape(boxes2))
    for which, rank in (("boxes1", boxes1_rank), ("boxes2", boxes2_rank)):
        if rank not in [2, 3]:
            raise ValueError(
                f"compute_iou() expects {which} to be batched, or to be unbatched. "
                f"Received len(boxes1.shape)={boxes1_rank}, "
                f"len(boxes2.shape)={boxes2_rank}. Expected either "
                f"len({which}.shape)=2 AND or len({which}.shape)=3.")
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError("When using relative bounding box formats (e.g. `rel_yxyx`) the "
                         "`image_shape` argument must be provided."
                         f"Received `image_shape`: {image_shape}")
    height, width = _image_size(image_shape)
    boxes1 = convert_format(boxes1, source=bounding_box_format, target="yxyx", height=height,
                            width=width)
    boxes2 = convert_format(boxes2, source=bounding_box_format, target="yxyx", height=height,
                            width=width)
    intersect_area = _compute_intersection(boxes1, boxes2)
    boxes1_area = ops.expand_dims(_compute_area(boxes1), axis=-1)
    boxes2_area = _compute_area(boxes2)
    boxes2_area = ops.expand_dims(boxes2_area, axis=1 if len(boxes2_area.shape) == 2 else 0)
    union_area = boxes1_area + boxes2_area - intersect_area
    res = ops.divide(intersect_area, union_area + epsilon())
    if not use_masking:
        return res
    perm = [1, 0] if boxes1_rank == 2 else [0, 2, 1]
    mask_val_t = ops.cast(mask_val, res.dtype) * ops.ones_like(res)
    boxes1_mask = ops.less(ops.max(boxes1, axis=-1, keepdims=True), 0.0)
    boxes2_mask = ops.less(ops.max(boxes2, axis=-1, keepdims=True), 0.0)
    background_mask = ops.logical_or(boxes1_mask, ops.transpose(boxes2_mask, perm))
    return ops.where(background_mask, mask_val_t, res)


@keras_export("keras.utils.bounding_boxes.compute_ciou")
def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """Complete IoU of matching boxes (`(..., 4)` each, broadcast): IoU minus the normalised
    center distance and the aspect-ratio penalty. Relative formats raise `ValueError`, as in
    Keras (even with `image_shape`)."""
    if "rel" in bounding_box_format:
        raise ValueError("When using relative bounding box formats (e.g. `rel_yxyx`) the "
                         "`image_shape` argument must be provided."
                         f"Received `image_shape`: {image_shape}")
    height, width = _image_size(image_shape)
    boxes1 = convert_format(boxes1, source=bounding_box_format, target="xyxy", height=height,
                            width=width)
    boxes2 = convert_format(boxes2, source=bounding_box_format, target="xyxy", height=height,
                            width=width)
    eps = epsilon()
    x_min1, y_min1, x_max1, y_max1 = ops.split(boxes1[..., :4], 4, axis=-1)
    x_min2, y_min2, x_max2, y_max2 = ops.split(boxes2[..., :4], 4, axis=-1)
    width_1 = x_max1 - x_min1
    height_1 = y_max1 - y_min1 + eps
    width_2 = x_max2 - x_min2
    height_2 = y_max2 - y_min2 + eps
    intersection_area = (
        ops.maximum(ops.minimum(x_max1, x_max2) - ops.maximum(x_min1, x_min2), 0)
        * ops.maximum(ops.minimum(y_max1, y_max2) - ops.maximum(y_min1, y_min2), 0))
    union_area = width_1 * height_1 + width_2 * height_2 - intersection_area + eps
    iou = ops.squeeze(ops.divide(intersection_area, union_area + eps), axis=-1)
    convex_width = ops.maximum(x_max1, x_max2) - ops.minimum(x_min1, x_min2)
    convex_height = ops.maximum(y_max1, y_max2) - ops.minimum(y_min1, y_min2)
    convex_diagonal_squared = ops.squeeze(convex_width**2 + convex_height**2 + eps, axis=-1)
    centers_distance_squared = ops.squeeze(
        ((x_min1 + x_max1) / 2 - (x_min2 + x_max2) / 2) ** 2
        + ((y_min1 + y_max1) / 2 - (y_min2 + y_max2) / 2) ** 2, axis=-1)
    v = ops.squeeze((4 / math.pi**2) * ops.power(
        ops.arctan(width_2 / height_2) - ops.arctan(width_1 / height_1), 2), axis=-1)
    alpha = v / (v - iou + (1 + eps))
    return iou - (centers_distance_squared / convex_diagonal_squared + v * alpha)


__all__ = [
    "affine_transform",
    "clip_to_image_size",
    "compute_ciou",
    "compute_iou",
    "convert_format",
    "crop",
    "decode_deltas_to_boxes",
    "encode_box_to_deltas",
    "pad",
]
