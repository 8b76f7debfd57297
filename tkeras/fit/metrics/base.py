"""`Metric` base class and the reduction metrics `Sum`, `Mean`, `MeanMetricWrapper`.

State lives in tensors on the device of the data: every state is a non-trainable `KerasVariable`
(an `nn.Parameter` with `requires_grad=False`) created by `add_variable`, updated in place under
`torch.no_grad()`, with no host synchronization in `update_state`. The state moves to the device
of the first tensor it is updated with (or explicitly with `metric.to(device)`).

Distributed reduction: each state variable has an `aggregation` attribute, which is "sum" for
every built-in metric (counts, totals, confusion matrices, sums of weights). The result over
several processes is `result()` computed on states summed across processes:
`metric.synced_result(all_reduce)` does that without touching the local state, where
`all_reduce(tensor)` sums a tensor in place across processes (e.g.
`torch.distributed.all_reduce`).
"""

import torch

from tkeras.core import config as _config
from tkeras.core.naming import auto_name
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.core.variables import KerasVariable
from tkeras.core.variables import move_variables
from tkeras.core.variables import swap_value
from tkeras.fit import losses as _losses
from tkeras.fit.losses import apply_mask
from tkeras.fit.losses import convert_to_tensor
from tkeras.fit.losses import get_keras_mask
from tkeras.fit.losses import squeeze_or_expand_to_same_rank
from tkeras.fit.losses import standardize_dtype
from tkeras.fit.losses import torch_dtype


def _initial_value(initializer, shape, dtype):
    if initializer is None or initializer == "zeros":
        return torch.zeros(shape, dtype=dtype)
    if initializer == "ones":
        return torch.ones(shape, dtype=dtype)
    if isinstance(initializer, str):
        from tkeras import initializers

        initializer = initializers.get(initializer)
    return torch.as_tensor(initializer(shape, dtype=str(dtype).replace("torch.", "")),
                           dtype=dtype)


@keras_export("keras.metrics.Metric", "keras.Metric")
class Metric:
    """Encapsulates metric logic and state (Keras 3 API).

    Subclasses create state with `add_variable` in `__init__` (or lazily, at the first update),
    and implement `update_state(...)` and `result()`. `reset_state()` zeroes every variable.

    Args:
        dtype: Dtype of the metric's computations (defaults to `floatx()`).
        name: Name of the metric instance.
    """

    def __init__(self, dtype=None, name=None):
        self.name = name or auto_name(self.__class__.__name__)
        self._dtype = standardize_dtype(dtype)
        self._variables = []
        self._metrics = []
        self._device = torch.device("cpu")

    @property
    def dtype(self):
        return self._dtype

    # ---------------------------------------------------------------- state
    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """A non-trainable state variable on the metric's device; `aggregation` says how to
        combine it across processes ("sum" for every built-in metric)."""
        if not hasattr(self, "_variables"):
            raise RuntimeError(
                "You forgot to call `super().__init__()` in the `__init__()` method. Go add it!"
            )
        dtype = torch_dtype(dtype or self.dtype)
        shape = tuple(shape) if shape is not None else ()
        value = _initial_value(initializer, shape, dtype).to(self._device)
        variable = KerasVariable(value, trainable=False, name=name,
                                 path=f"{self.name.replace('/', '>')}/{name}")
        variable.aggregation = aggregation
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self):
        variables = list(self._variables)
        for metric in self._metrics:
            variables.extend(metric.variables)
        return variables

    def reset_state(self):
        with torch.no_grad():
            for v in self.variables:
                v.zero_()

    def to(self, device):
        """Move the state to `device` in place (the variable objects are kept; tensors are
        swapped, not assigned to `.data`, so XLA devices work too)."""
        self._device = torch.device(device)
        move_variables(self._variables, self._device)
        for metric in self._metrics:
            metric.to(device)
        return self

    def _follow(self, x):
        """Move the state to the device of tensor `x` when it differs (a Python-side check)."""
        if isinstance(x, torch.Tensor) and x.device != self._device:
            self.to(x.device)

    def _inputs(self, *values, dtype=None):
        """Inputs as detached tensors on the state device (the state follows tensor inputs)."""
        for x in values:
            self._follow(x)
        out = []
        for x in values:
            if x is None:
                out.append(None)
                continue
            t = convert_to_tensor(x, dtype=dtype, device=self._device)
            mask = get_keras_mask(x)
            if t.requires_grad:
                t = t.detach()
            if mask is not None and get_keras_mask(t) is None:
                t._keras_mask = mask
            out.append(t)
        return out

    # ---------------------------------------------------------------- API
    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def stateless_update_state(self, metric_variables, *args, **kwargs):
        """Run `update_state` on the given state tensors; return the new state tensors."""
        with self._swapped(metric_variables):
            self.update_state(*args, **kwargs)
            return [v.detach().clone() for v in self.variables]

    def stateless_result(self, metric_variables):
        with self._swapped(metric_variables):
            return self.result()

    def stateless_reset_state(self):
        return [torch.zeros_like(v) for v in self.variables]

    def synced_result(self, all_reduce):
        """`result()` over all processes: sums copies of the states with `all_reduce(tensor)`
        (in place, e.g. `torch.distributed.all_reduce`); the local state is left unchanged."""
        states = []
        for v in self.variables:
            if v.aggregation not in ("sum", None, "none"):
                raise ValueError(f"Cannot reduce a state with aggregation={v.aggregation!r}.")
            copy = v.detach().clone()
            if v.aggregation == "sum":
                all_reduce(copy)
            states.append(copy)
        return self.stateless_result(states)

    def _swapped(self, metric_variables):
        metric = self

        class _Swap:
            def __enter__(self):
                variables = metric.variables
                if len(metric_variables) != len(variables):
                    raise ValueError(
                        "Argument `metric_variables` must be a list of tensors corresponding "
                        f"1:1 to {metric.__class__.__name__}().variables. Received list with "
                        f"length {len(metric_variables)}, but expected {len(variables)} "
                        "variables."
                    )
                self.saved = [
                    swap_value(v, torch.as_tensor(new, dtype=v.dtype, device=v.device).clone())
                    for v, new in zip(variables, metric_variables)]

            def __exit__(self, *exc):
                for v, old in zip(metric.variables, self.saved):
                    swap_value(v, old)

        return _Swap()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __setattr__(self, name, value):
        # Metrics held as attributes are tracked (their state is part of `variables`), as Keras.
        if isinstance(value, Metric) and "_metrics" in self.__dict__:
            self._metrics.append(value)
        super().__setattr__(name, value)

    def __repr__(self):
        return f"<{self.__class__.__name__} name={self.name}>"

    __str__ = __repr__


def check_2d_inputs(metric_name, y_true_shape, y_pred_shape):
    """Keras's check of the metrics that take `(batch_size, output_dim)` inputs only."""
    if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
        raise ValueError(
            f"{metric_name} expects 2D inputs with shape (batch_size, output_dim). Received "
            f"input shapes: y_pred.shape={tuple(y_pred_shape)} and "
            f"y_true.shape={tuple(y_true_shape)}."
        )


def reduce_to_samplewise_values(values, sample_weight, reduce_fn, dtype):
    """Weighted per-sample values, and the per-sample weights (Keras's reduction_metrics)."""
    dtype = dtype or _config.floatx()
    mask = get_keras_mask(values)
    values = convert_to_tensor(values, dtype=dtype)
    if sample_weight is not None:
        sample_weight = convert_to_tensor(sample_weight, dtype=dtype, device=values.device)
        if mask is not None:
            sample_weight = apply_mask(sample_weight, mask, dtype=dtype, reduction="sum")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim = sample_weight.dim()
        if values.dim() > weight_ndim:
            values = reduce_fn(values, dim=tuple(range(weight_ndim, values.dim())))
        sample_weight = torch.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, dim=tuple(range(1, weight_ndim)))
    if values.dim() > 1:
        values = reduce_fn(values, dim=tuple(range(1, values.dim())))
    return values, sample_weight


@keras_export("keras.metrics.Sum")
class Sum(Metric):
    """The (weighted) sum of the given values. State: `total` (sum)."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype,
                                       name="total")

    def update_state(self, values, sample_weight=None):
        values, sample_weight = self._inputs(values, sample_weight)
        values, _ = reduce_to_samplewise_values(values, sample_weight, torch.sum, self.dtype)
        with torch.no_grad():
            self.total.add_(torch.sum(values))

    def result(self):
        return self.total.detach().clone()


@keras_export("keras.metrics.Mean")
class Mean(Metric):
    """The (weighted) mean of the given values. State: `total`, `count` (both sums)."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype,
                                       name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype,
                                       name="count")

    def update_state(self, values, sample_weight=None):
        values, sample_weight = self._inputs(values, sample_weight)
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, torch.mean,
                                                            self.dtype)
        if sample_weight is not None:
            num_samples = torch.sum(sample_weight)
        elif values.dim() >= 1:
            num_samples = values.shape[0]
        else:
            num_samples = 1
        with torch.no_grad():
            self.total.add_(torch.sum(values))
            self.count.add_(num_samples)

    def result(self):
        return _losses.divide_no_nan(self.total.detach(), self.count.detach())


@keras_export("keras.metrics.MeanMetricWrapper")
class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)` over all samples seen.

    Args:
        fn: The metric function, `fn(y_true, y_pred, **kwargs)`.
        name: Name of the metric instance.
        dtype: Dtype of the metric's computations.
        **kwargs: Keyword arguments passed to `fn`.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        if fn in _losses.ALL_OBJECTS or type(fn) in _losses.ALL_OBJECTS:
            self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        if (sample_weight is None and isinstance(y_pred, torch.Tensor)
                and isinstance(y_true, torch.Tensor) and get_keras_mask(y_pred) is None
                and y_pred.device == self._device and y_true.device == self._device):
            # Tensors on the state's device, no weights, no mask: what the general path below
            # computes, without re-checking and re-converting its inputs twice.
            with torch.no_grad():
                values = convert_to_tensor(self._fn(y_true, y_pred, **self._fn_kwargs),
                                           dtype=self.dtype)
                if values.dim() > 1:
                    values = torch.mean(values, dim=tuple(range(1, values.dim())))
                self.total.add_(torch.sum(values))
                self.count.add_(values.shape[0] if values.dim() >= 1 else 1)
            return None
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        mask = get_keras_mask(y_pred)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        sample_weight = apply_mask(sample_weight, mask, dtype=self.dtype, reduction="sum")
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        base_config = super().get_config()
        config = {"fn": serialize_keras_object(self._fn)}
        config.update(serialize_keras_object(self._fn_kwargs))
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        if "fn" in config:
            config = deserialize_keras_object(config, printable_module_name="metrics")
        return cls(**config)


class _FunctionMetric(MeanMetricWrapper):
    """Built-in mean metric around one function, called with the metric's other constructor
    arguments; those listed in `_config_keys` are also attributes, written to the config after
    name and dtype. Subclasses set `_direction = "up"` where higher is better; metrics of loss
    functions get "down" from `MeanMetricWrapper`."""

    _config_keys = ()

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(fn, name=name, dtype=dtype, **kwargs)
        for key in self._config_keys:
            setattr(self, key, kwargs[key])

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype}
        config.update({key: getattr(self, key) for key in self._config_keys})
        return config
