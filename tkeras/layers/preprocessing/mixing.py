"""Batch-mixing and policy augmentations: `MixUp`, `CutMix`, `AugMix`, `RandAugment`. All are
the identity at inference.

Keras behaviour kept (in training):
- `MixUp`: `w x + (1 - w) x[perm]` with `w ~ Beta(alpha, alpha)` per image and one random
  permutation of the batch; labels (dict input `{"images", "labels"}`) are mixed the same way.
- `CutMix`: a box of relative side `sqrt(1 - w)`, `w ~ Beta(a, a)`, `a ~ U(factor) + 1e-6`, is
  pasted from `x[perm]`; labels are mixed with the box's actual area fraction. Unbatched images
  are returned unchanged.
- `AugMix`: `num_chains` chains of up to `chain_depth` ops (each picked among Keras's op list
  plus "no op", with Python's `random` as Keras), mixed with Dirichlet(alpha) weights, then
  blended with the input by `w ~ Beta(alpha, alpha)` and clipped to `value_range`. The op choice
  is Python-level control flow, so training mode does not trace with `fullgraph=True`.
- `RandAugment`: `num_ops` op indices drawn with `randint(0, 11)`; each step runs every op and
  keeps the chosen one (as Keras, so the layer traces without graph breaks).
Sub-layers are built as in Keras (`factor` passed on; posterization with
`max(1, int(8 * factor[1]))` bits). Deliberate difference: each sub-layer draws from its own
stream (seeded `seed + i + 1` when `seed` is set; Keras draws all from the parent's stream),
with `num_ops > 1` RandAugment redraws an op's parameters at each step (Keras reuses one draw
per call), and no op changes its input in place (Keras's RandomBrightness adds its delta in
place, which inside RandAugment leaks the brightness change into every other op's result).
Dict inputs other than `{"images", "labels"}` (MixUp/CutMix) are not supported.
"""

import torch

from tkeras.core.registry import keras_export
from tkeras.layers.preprocessing.augmentation import RandomAugmentationLayer
from tkeras.layers.preprocessing.color import AutoContrast
from tkeras.layers.preprocessing.color import Equalization
from tkeras.layers.preprocessing.color import Solarization
from tkeras.layers.preprocessing.random_color import RandomBrightness
from tkeras.layers.preprocessing.random_color import RandomContrast
from tkeras.layers.preprocessing.random_color_ops import RandomColorDegeneration
from tkeras.layers.preprocessing.random_color_ops import RandomPosterization
from tkeras.layers.preprocessing.random_color_ops import RandomSharpness
from tkeras.layers.preprocessing.random_geometric import RandomRotation
from tkeras.layers.preprocessing.random_geometric import RandomTranslation
from tkeras.layers.preprocessing.random_warps import RandomShear
from tkeras.layers.preprocessing.random_warps import box_masks


class _LabelMixingLayer(RandomAugmentationLayer):
    """Also takes Keras's dict input `{"images": ..., "labels": ...}` (labels optional)."""

    def call(self, inputs, training=True):
        if not isinstance(inputs, dict):
            return super().call(inputs, training=training)
        unsupported = set(inputs) - {"images", "labels"}
        if unsupported:
            raise NotImplementedError(
                f"{self.__class__.__name__}: dict inputs with {sorted(unsupported)} are not "
                "supported by tkeras; pass `images` and optionally `labels`.")
        images = inputs["images"]
        unbatched = images.ndim == 3
        if unbatched:
            images = images.unsqueeze(0)
        transformation = self.get_random_transformation(images) if training else None
        outputs = dict(inputs)
        outputs["images"] = self.transform_images(images, transformation, training)
        if "labels" in inputs:
            labels = torch.as_tensor(inputs["labels"])
            labels = labels.unsqueeze(0) if unbatched else labels
            outputs["labels"] = self.transform_labels(labels, transformation, training)
        if unbatched:
            outputs = {k: v.squeeze(0) for k, v in outputs.items()}
        return outputs

    def transform_labels(self, labels, transformation, training=True):
        if not training or transformation is None:
            return labels
        weight = transformation["mix_weight"].reshape(-1, 1)
        others = labels[transformation["permutation_order"]]
        return weight * labels + (1.0 - weight) * others


@keras_export("keras.layers.MixUp")
class MixUp(_LabelMixingLayer):
    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.alpha = alpha
        self.seed = seed

    def get_random_transformation(self, images, training=True):
        batch = images.shape[0]
        permutation = self._permutation(batch, images.device)
        weight = self._beta((batch,), self.alpha, self.alpha, images.device)
        return {"mix_weight": weight, "permutation_order": permutation}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        transformation = self._draws(images, transformation)
        images = self._cast(images)
        weight = self._cast(transformation["mix_weight"].reshape(-1, 1, 1, 1))
        others = images[transformation["permutation_order"]]
        return weight * images + (1.0 - weight) * others

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "seed": self.seed}


@keras_export("keras.layers.CutMix")
class CutMix(_LabelMixingLayer):
    _USE_BASE_FACTOR = False
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.seed = seed

    def _height_width(self, images):
        h_axis, w_axis = self._spatial_axes()
        return images.shape[h_axis], images.shape[w_axis]

    def get_random_transformation(self, images, training=True):
        batch, dtype = images.shape[0], self._dtype()
        alpha = self._uniform((), self.factor[0], self.factor[1], images.device, dtype) + 1e-6
        weight = self._beta((batch,), alpha, alpha, images.device).to(dtype)
        ratio = torch.sqrt(1.0 - weight)
        masks, (x0, x1, y0, y1) = box_masks(self, images, torch.stack([ratio, ratio], dim=1))
        height, width = self._height_width(images)
        permutation = self._permutation(batch, images.device)
        return {"permutation_order": permutation, "batch_masks": masks,
                "mix_weight": 1.0 - (x1 - x0) * (y1 - y0) / (width * height)}

    def transform_images(self, images, transformation=None, training=True):
        images = self._cast(images)
        if not training:
            return images
        transformation = self._draws(images, transformation)
        others = images[transformation["permutation_order"]]
        return torch.where(transformation["batch_masks"], others, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "seed": self.seed}


def _build_ops(layer, names, value_range, seed, interpolation, data_format, dtype):
    """Keras's sub-layers of AugMix/RandAugment, as attributes named like Keras's."""
    factor = layer.factor
    common = {"data_format": data_format, "dtype": dtype}
    builders = {
        "random_shear": lambda s: RandomShear(x_factor=factor, y_factor=factor,
                                              interpolation=interpolation, seed=s, **common),
        "random_translation": lambda s: RandomTranslation(
            height_factor=factor, width_factor=factor, interpolation=interpolation, seed=s,
            **common),
        "random_rotation": lambda s: RandomRotation(factor=factor, interpolation=interpolation,
                                                    seed=s, **common),
        "random_posterization": lambda s: RandomPosterization(
            factor=max(1, int(8 * factor[1])), value_range=value_range, seed=s, **common),
        "solarization": lambda s: Solarization(addition_factor=factor, threshold_factor=factor,
                                               value_range=value_range, seed=s, **common),
        "auto_contrast": lambda s: AutoContrast(value_range=value_range, **common),
        "equalization": lambda s: Equalization(value_range=value_range, **common),
        "random_brightness": lambda s: RandomBrightness(factor=factor, value_range=value_range,
                                                        seed=s, **common),
        "random_color_degeneration": lambda s: RandomColorDegeneration(
            factor=factor, value_range=value_range, seed=s, **common),
        "random_contrast": lambda s: RandomContrast(factor=factor, value_range=value_range,
                                                    seed=s, **common),
        "random_sharpness": lambda s: RandomSharpness(factor=factor, value_range=value_range,
                                                      seed=s, **common),
    }
    for i, name in enumerate(names):
        setattr(layer, name, builders[name](None if seed is None else seed + i + 1))


AUGMENT_LAYERS_ALL = [
    "random_shear", "random_translation", "random_rotation", "random_posterization",
    "solarization", "auto_contrast", "equalization", "random_brightness",
    "random_color_degeneration", "random_contrast", "random_sharpness",
]
AUGMENT_LAYERS = AUGMENT_LAYERS_ALL[:7]


@keras_export("keras.layers.AugMix")
class AugMix(RandomAugmentationLayer):
    _USE_BASE_FACTOR = False
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3, alpha=1.0,
                 all_ops=True, interpolation="bilinear", seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range
        self.num_chains = num_chains
        self.chain_depth = chain_depth
        self._set_factor(factor)
        self.alpha = alpha
        self.all_ops = all_ops
        self.interpolation = interpolation
        self.seed = seed
        self._augment_layers = AUGMENT_LAYERS_ALL if all_ops else AUGMENT_LAYERS
        _build_ops(self, self._augment_layers, value_range, seed, interpolation, data_format,
                   kwargs.get("dtype"))

    def transform_images(self, images, transformation=None, training=True):
        images = self._cast(images)
        if not training:
            return images
        gamma = self._gamma((self.num_chains,), self.alpha, images.device)
        chain_weights = self._cast(gamma / torch.sum(gamma, dim=-1, keepdim=True))
        blend = self._cast(self._beta((), self.alpha, self.alpha, images.device))
        mixed = torch.zeros_like(images)
        for chain in range(self.num_chains):
            augmented = images
            for _ in range(self.chain_depth):
                name = self._choice(self._augment_layers + [None])
                if name is not None:
                    augmented = getattr(self, name).transform_images(augmented, training=True)
            mixed = mixed + augmented * chain_weights[chain]
        images = blend * images + (1 - blend) * mixed
        return self._cast(torch.clip(images, self.value_range[0], self.value_range[1]))

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "num_chains": self.num_chains, "chain_depth": self.chain_depth,
                "factor": self.factor, "alpha": self.alpha, "all_ops": self.all_ops,
                "interpolation": self.interpolation, "seed": self.seed}


@keras_export("keras.layers.RandAugment")
class RandAugment(RandomAugmentationLayer):
    _USE_BASE_FACTOR = False
    _FACTOR_BOUNDS = (0, 1)
    _AUGMENT_LAYERS = [
        "random_shear", "random_translation", "random_rotation", "random_brightness",
        "random_color_degeneration", "random_contrast", "random_sharpness",
        "random_posterization", "solarization", "auto_contrast", "equalization",
    ]

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear",
                 seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range
        self.num_ops = num_ops
        self._set_factor(factor)
        self.interpolation = interpolation
        self.seed = seed
        _build_ops(self, self._AUGMENT_LAYERS, value_range, seed, interpolation, data_format,
                   kwargs.get("dtype"))

    def transform_images(self, images, transformation=None, training=True):
        images = self._cast(images)
        if not training:
            return images
        chosen = self._randint((self.num_ops,), 0, len(self._AUGMENT_LAYERS), images.device)
        for step in range(self.num_ops):
            for index, name in enumerate(self._AUGMENT_LAYERS):
                augmented = getattr(self, name).transform_images(images, training=True)
                images = torch.where(chosen[step] == index, augmented, images)
        return self._cast(images)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "num_ops": self.num_ops, "factor": self.factor,
                "interpolation": self.interpolation, "seed": self.seed}
