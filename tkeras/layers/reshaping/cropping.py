"""`Cropping1D/2D/3D`: trim `(before, after)` entries off each spatial axis.

`cropping` follows Keras: an int (same on both sides of every axis), a pair per axis (or, for
1D, one pair), or for 2D/3D one int per axis (symmetric). Cropping1D always crops axis 1
(Keras gives it no `data_format`).
"""

from tkeras.core.config import standardize_data_format
from tkeras.core.registry import keras_export
from tkeras.layers.convolutional.conv_utils import standardize_tuple
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer

_ORDINALS = ("1st", "2nd", "3rd")


def standardize_pairs(value, rank, name):
    """Keras's `((before, after),) * rank` normalization of `cropping`/`padding` arguments.

    Returns the value as Keras stores it: a flat pair for rank 1, a tuple of pairs otherwise.
    """
    if rank == 1:
        return standardize_tuple(value, 2, name, allow_zero=True)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"`{name}` cannot be negative. Received: {name}={value}.")
        return ((value, value),) * rank
    if not hasattr(value, "__len__") or len(value) != rank:
        raise ValueError(
            f"`{name}` should be either an int, a tuple of {rank} ints or a tuple of {rank} "
            f"tuples of 2 ints. Received: {name}={value}."
        )
    return tuple(standardize_tuple(v, 2, f"{_ORDINALS[i]} entry of {name}", allow_zero=True)
                 for i, v in enumerate(value))


class BaseCropping(Layer):
    """Shared N-D cropping; subclasses set `rank` and the argument defaults."""

    rank = None

    def __init__(self, cropping, data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.cropping = standardize_pairs(cropping, self.rank, "cropping")
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _pairs(self):
        return (self.cropping,) if self.rank == 1 else self.cropping

    def _first_spatial_axis(self):
        return 2 if self.data_format == "channels_first" else 1

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        first = self._first_spatial_axis()
        for i, (before, after) in enumerate(self._pairs()):
            size = shape[first + i]
            if size is not None:
                if before + after >= size:
                    raise ValueError(
                        "Values in `cropping` argument should be smaller than the corresponding "
                        f"spatial dimension of the input. Received: input_shape="
                        f"{tuple(input_shape)}, cropping={self.cropping}"
                    )
                shape[first + i] = size - before - after
        return tuple(shape)

    def call(self, inputs):
        self.compute_output_shape(tuple(inputs.shape))  # Keras's size check
        first = self._first_spatial_axis()
        index = [slice(None)] * inputs.ndim
        for i, (before, after) in enumerate(self._pairs()):
            index[first + i] = slice(before, inputs.shape[first + i] - after)
        return inputs[tuple(index)]

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


@keras_export("keras.layers.Cropping1D")
class Cropping1D(BaseCropping):
    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, "channels_last", **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        return config


@keras_export("keras.layers.Cropping2D")
class Cropping2D(BaseCropping):
    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


@keras_export("keras.layers.Cropping3D")
class Cropping3D(BaseCropping):
    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)
