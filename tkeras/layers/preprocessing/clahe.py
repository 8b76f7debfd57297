"""`ContrastLimitedAdaptiveHistogramEqualization` (CLAHE), applied in training and inference.

Keras behaviour kept: values are mapped from `value_range` to [0, 255]; each channel is cut into
`tile_grid_size` tiles (the image padded at the bottom/right to whole tiles by repeating the
edge, which is what Keras's `symmetric` padding does on torch); per tile a 256-bin histogram of
the truncated values, clipped at `int(clip_limit * tile_pixels / 256)` (Keras's integer
histogram truncates the limit) with the excess spread evenly (when `clip_limit > 0`), turned
into a CDF mapped to [0, 255]; each pixel interpolates bilinearly between the lookups of its
four nearest tile centres (edge tiles repeated). The result is mapped back to `value_range` and
cast to the input dtype (truncating, as Keras's cast).
"""

import torch
import torch.nn.functional as F

from tkeras.core.registry import keras_export
from tkeras.layers.preprocessing.base import BaseImagePreprocessingLayer
from tkeras.layers.preprocessing.base import transform_value_range


@keras_export("keras.layers.ContrastLimitedAdaptiveHistogramEqualization")
class ContrastLimitedAdaptiveHistogramEqualization(BaseImagePreprocessingLayer):
    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8),
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range
        self.clip_limit = clip_limit
        self.tile_grid_size = tile_grid_size

    def transform_images(self, images, training=True):
        if self.data_format == "channels_first":
            images = images.permute(0, 2, 3, 1)
        original_dtype = images.dtype
        images = transform_value_range(images, self.value_range, (0, 255)).to(torch.float32)
        images = self._clahe(images)
        images = transform_value_range(images, (0, 255), self.value_range).to(original_dtype)
        if self.data_format == "channels_first":
            images = images.permute(0, 3, 1, 2)
        return images

    def _clahe(self, images):
        batch, height, width, channels = images.shape
        grid_h, grid_w = self.tile_grid_size
        tile_h = (height + grid_h - 1) // grid_h
        tile_w = (width + grid_w - 1) // grid_w
        pad_h, pad_w = tile_h * grid_h - height, tile_w * grid_w - width
        padded = images
        if pad_h or pad_w:
            padded = F.pad(images.permute(0, 3, 1, 2), (0, pad_w, 0, pad_h), mode="replicate")
            padded = padded.permute(0, 2, 3, 1)
        tiles = padded.reshape(batch, grid_h, tile_h, grid_w, tile_w, channels)
        tiles = tiles.permute(0, 1, 3, 5, 2, 4).reshape(batch, grid_h, grid_w, channels, -1)
        bins = tiles.to(torch.int32).clamp(0, 255).long()
        hists = torch.zeros(*bins.shape[:-1], 256, dtype=torch.int64,
                            device=images.device).scatter_add_(-1, bins, torch.ones_like(bins))
        if self.clip_limit > 0:
            # Integer counts, so the limit is truncated to an integer (as Keras on torch).
            limit = int(self.clip_limit * (tile_h * tile_w) / 256.0)
            clipped = torch.clip(hists, 0, limit)
            excess = torch.sum(hists - clipped, dim=-1, keepdim=True)
            hists = clipped + excess / 256.0
        cdf = torch.cumsum(hists, dim=-1)
        cdf_min = torch.amin(cdf, dim=-1, keepdim=True)
        denominator = tile_h * tile_w - cdf_min
        denominator = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
        cdf = torch.clip((cdf - cdf_min) * 255.0 / denominator, 0, 255)
        # Repeat the edge tiles so every pixel has four neighbouring tile centres.
        cdf = torch.cat([cdf[:, :1], cdf, cdf[:, -1:]], dim=1)
        cdf = torch.cat([cdf[:, :, :1], cdf, cdf[:, :, -1:]], dim=2)

        def axis_nodes(size, tile, grid):
            pos = (torch.arange(size, dtype=torch.float32, device=images.device) - tile / 2.0)
            pos = pos / tile + 1.0
            lower = torch.floor(pos)
            weight = pos - lower
            return (lower.clamp(0, grid + 1).long(), (lower + 1.0).clamp(0, grid + 1).long(),
                    weight)

        y0, y1, wy = axis_nodes(tile_h * grid_h, tile_h, grid_h)
        x0, x1, wx = axis_nodes(tile_w * grid_w, tile_w, grid_w)
        pixels = torch.clip(padded, 0, 255).to(torch.int32).long()
        b = torch.arange(batch, device=images.device).view(-1, 1, 1, 1)
        c = torch.arange(channels, device=images.device).view(1, 1, 1, -1)
        y0, y1, wy = y0.view(1, -1, 1, 1), y1.view(1, -1, 1, 1), wy.view(1, -1, 1, 1)
        x0, x1, wx = x0.view(1, 1, -1, 1), x1.view(1, 1, -1, 1), wx.view(1, 1, -1, 1)
        top = cdf[b, y0, x0, c, pixels] * (1.0 - wx) + cdf[b, y0, x1, c, pixels] * wx
        bottom = cdf[b, y1, x0, c, pixels] * (1.0 - wx) + cdf[b, y1, x1, c, pixels] * wx
        result = top * (1.0 - wy) + bottom * wy
        return result[:, :height, :width, :]

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "clip_limit": self.clip_limit, "tile_grid_size": self.tile_grid_size,
                "data_format": self.data_format}
