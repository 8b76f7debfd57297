"""`Trainer`: Keras 3's `compile`/`fit`/`evaluate`/`predict` for `Model`, on Lightning Fabric.

Keras behaviour kept (keras/src/trainers/trainer.py and backend/torch/trainer.py): argument
names and defaults, `History` returned by `fit`, the loss reported as the running mean of the
epoch (a `Mean` weighted by batch size), regularization losses added to the compiled loss,
`training=True` passed explicitly in training, `val_` logs, `validation_freq`,
`steps_per_epoch`, `initial_epoch`, `class_weight`/`sample_weight`, `train_on_batch` (which
resets the metrics), overridable `train_step`/`test_step`/`predict_step`/`compute_loss`/
`compute_metrics`, `get_compile_config`/`compile_from_config`.

Devices and distribution: each call asks its strategy (`tkeras.fit.strategy.current()`: one
device on Lightning Fabric by default, the distribution's under `set_distribution`) to set the
model up, shard the data, wrap callbacks, take gradients, sync metric results at epoch and
evaluation ends, and assemble predictions.

Speed: on one device the step is a plain torch step with no Fabric call in it. The default step builds no dict of logs and reads no
value back from the device: the loss and the compiled metrics accumulate on the device, and
logs are computed only when a callback or the progress bar reads them (`LazyLogs`) and at the
end of an epoch. `jit_compile=True` runs the forward pass and loss under `torch.compile`.

Deliberate difference: `compile()` snapshots which weights are trainable (as Keras 2 and Keras
3's documentation say): a model compiled while a sub-model was trainable keeps training those
weights in its own `fit` even after `sub_model.trainable = False`, while a model compiled after
that change does not touch them (the Keras FAQ's GAN pattern). Recompile to pick up changes.
"""

import inspect
import warnings

import numpy as np
import torch

from tkeras.fit import data as data_utils
from tkeras.fit import strategy as strategy_lib
from tkeras.fit.data import unpack_x_y_sample_weight
# Fabric and gradient helpers, by their former names here (tests and users import them).
from tkeras.fit.strategy import autograd_gradients as _gradients  # noqa: F401
from tkeras.fit.strategy import fabric_precision  # noqa: F401
from tkeras.fit.strategy import get_fabric  # noqa: F401
from tkeras.fit.strategy import set_fabric_factory  # noqa: F401

# ----------------------------------------------------------------------------- logs
def _pythonify(value):
    if isinstance(value, torch.Tensor):
        value = value.detach()
        return value.item() if value.numel() == 1 else value.cpu().numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def flatten_logs(logs):
    """Nested dicts of logs spread into one level (a custom `train_step` returning
    `{m.name: m.result() for m in self.metrics}` gives `loss`, `mae`, ... as in Keras)."""
    if not any(isinstance(v, dict) for v in logs.values()):
        return dict(logs)
    flat = {}
    for key, value in logs.items():
        if isinstance(value, dict):
            flat.update(flatten_logs(value))
        else:
            flat[key] = value
    return flat


def pythonify_logs(logs):
    """Floats (or NumPy arrays for non-scalar results) from a dict of tensors, one sync."""
    if logs is None:
        return {}
    logs = flatten_logs(logs)
    scalars = [k for k, v in logs.items() if isinstance(v, torch.Tensor) and v.numel() == 1
               and v.is_floating_point()]
    if len(scalars) > 1 and len({logs[k].device for k in scalars}) == 1:
        values = torch.stack([logs[k].detach().reshape(()).float() for k in scalars]).tolist()
        logs.update(zip(scalars, values))
    return {k: _pythonify(v) for k, v in logs.items()}


class LazyLogs:
    """A read-only mapping of batch logs, computed (one device sync) on first access."""

    __slots__ = ("_fn", "_logs")

    def __init__(self, fn):
        self._fn = fn
        self._logs = None

    def _get(self):
        if self._logs is None:
            self._logs = pythonify_logs(self._fn())
        return self._logs

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self):
        return len(self._get())

    def __contains__(self, key):
        return key in self._get()

    def get(self, key, default=None):
        return self._get().get(key, default)

    def keys(self):
        return self._get().keys()

    def items(self):
        return self._get().items()

    def values(self):
        return self._get().values()

    def copy(self):
        return dict(self._get())

    def __repr__(self):
        return repr(self._get())


# ----------------------------------------------------------------------------- compile utils
def _get_metric_module():
    from tkeras.fit import metrics as metrics_module

    return metrics_module


class MetricsList:
    def __init__(self, metrics, output_name=None):
        self.metrics = metrics
        self.output_name = output_name

    def update_state(self, y_true, y_pred, sample_weight=None):
        for m in self.metrics:
            m.update_state(y_true, y_pred, sample_weight=sample_weight)


def _metrics_list(identifiers, y_true, y_pred, output_name):
    if identifiers is None:
        return None
    mm = _get_metric_module()
    if not isinstance(identifiers, (list, tuple)):
        identifiers = [identifiers]
    return MetricsList([mm.get_metric_for_compile(m, y_true, y_pred) for m in identifiers],
                       output_name=output_name)


def _flat_outputs(y, output_names):
    """List of per-output values of `y` (a tensor, list/tuple, or dict by output name)."""
    if isinstance(y, dict):
        names = output_names if output_names and set(output_names) == set(y) else list(y)
        return [y[n] for n in names], names
    if isinstance(y, (list, tuple)):
        return list(y), output_names
    return [y], output_names


def _per_output(spec, num_outputs, output_names, what):
    """Spread a compile() argument over the outputs: one value (losses only), a list with one
    entry per output, or a dict keyed by output name."""
    if num_outputs == 1:
        if isinstance(spec, dict) and len(spec) == 1:
            return [next(iter(spec.values()))]
        if isinstance(spec, (list, tuple)) and what != "metrics" and len(spec) == 1:
            return [spec[0]]
        return [spec]
    if isinstance(spec, dict):
        if not output_names or not set(spec) <= set(output_names):
            raise ValueError(
                f"Expected keys {output_names} in {what} dict, but found {what}.keys()="
                f"{list(spec.keys())}")
        return [spec.get(name) for name in output_names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != num_outputs:
            raise ValueError(
                f"For a model with {num_outputs} outputs, `{what}` should have one entry per "
                f"output (or be a dict keyed by output name {output_names}). Received: {spec}")
        return list(spec)
    if what == "metrics":
        raise ValueError(
            f"For a model with {num_outputs} outputs, `{what}` should be a list with one entry "
            f"per output or a dict keyed by output name {output_names}. Received: {spec}")
    return [spec] * num_outputs


def _flat_per_output(y, n, names):
    """Targets (or sample weights) as one entry per output, matching `_flat_outputs`."""
    if isinstance(y, dict):
        keys = names if names and set(names) <= set(y) else list(y)
        return [y.get(k) for k in keys]
    if isinstance(y, (list, tuple)) and n > 1:
        return list(y)
    if isinstance(y, (list, tuple)) and len(y) == 1:
        return [y[0]]
    return [y]


class CompileLoss:
    """The loss of `compile(loss=..., loss_weights=...)`, over one or several outputs.

    With several losses, each is also tracked by a `Mean` named `<output>_loss` (as Keras).
    """

    def __init__(self, loss, loss_weights=None, output_names=None):
        if loss_weights is not None and not isinstance(loss_weights, (list, tuple, dict, float,
                                                                      int)):
            raise ValueError(
                "Expected `loss_weights` argument to be a float (single output case) or a "
                "list, tuple, or dict (multiple output case). Received instead: "
                f"loss_weights={loss_weights} of type {type(loss_weights)}")
        self._user_loss = loss
        self._user_loss_weights = loss_weights
        self.output_names = output_names
        self.built = False
        self.metrics = []
        self._flat = None
        self._single = None

    def build(self, y_true, y_pred):
        from tkeras.fit.losses import get_loss_for_compile

        flat_pred, names = _flat_outputs(y_pred, self.output_names)
        n = len(flat_pred)
        flat_true = _flat_per_output(y_true, n, names)
        losses = _per_output(self._user_loss, n, names, "loss")
        weights = (_per_output(self._user_loss_weights, n, names, "loss_weights")
                   if self._user_loss_weights is not None else [None] * n)
        self._names = names
        self._flat = []
        for i, (identifier, weight) in enumerate(zip(losses, weights)):
            if identifier is None:
                continue
            loss_obj = get_loss_for_compile(identifier, flat_true[i], flat_pred[i])
            name = names[i] if names and n > 1 else getattr(loss_obj, "name", "loss")
            self._flat.append((i, loss_obj, weight, name))
        if len(self._flat) > 1:
            mm = _get_metric_module()
            self.metrics = [mm.Mean(name=f"{name}_loss") for _, _, _, name in self._flat]
        self._single = (n == 1 and len(self._flat) == 1)
        self.built = True

    def __call__(self, y_true, y_pred, sample_weight=None):
        if not self.built:
            self.build(y_true, y_pred)
        if self._single and not isinstance(y_pred, (list, tuple, dict)):
            _, loss_fn, weight, _ = self._flat[0]
            if isinstance(y_true, (list, tuple)) and len(y_true) == 1:
                y_true = y_true[0]
            if isinstance(sample_weight, (list, tuple)):
                sample_weight = sample_weight[0]
            value = loss_fn(y_true, y_pred, sample_weight)
            return value if weight is None else value * weight
        flat_pred, names = _flat_outputs(y_pred, self._names)
        flat_true = _flat_per_output(y_true, len(flat_pred), names)
        if isinstance(sample_weight, (list, tuple, dict)):
            flat_sw = _flat_per_output(sample_weight, len(flat_pred), names)
        else:
            flat_sw = [sample_weight] * len(flat_pred)
        total = None
        for k, (i, loss_fn, weight, _) in enumerate(self._flat):
            value = loss_fn(flat_true[i], flat_pred[i], flat_sw[i])
            if self.metrics:
                self.metrics[k].update_state(value.detach(), sample_weight=flat_pred[i].shape[0])
            if weight is not None:
                value = value * weight
            total = value if total is None else total + value
        return total


class CompileMetrics:
    """The metrics of `compile(metrics=..., weighted_metrics=...)`, built at the first update.

    `result()` is a dict named as Keras does: `<output>_<metric>` for several outputs,
    `weighted_<metric>` when a weighted metric's name is taken.
    """

    def __init__(self, metrics, weighted_metrics, output_names=None):
        for arg, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value and not isinstance(value, (list, tuple, dict)):
                raise ValueError(
                    f"Expected `{arg}` argument to be a list, tuple, or dict. Received instead: "
                    f"{arg}={value} of type {type(value)}")
        self._user_metrics = metrics
        self._user_weighted_metrics = weighted_metrics
        self.output_names = output_names
        self.name = "compile_metrics"
        self.built = False
        self._flat_metrics = []
        self._flat_weighted_metrics = []

    @property
    def metrics(self):
        out = []
        for mls in self._flat_metrics + self._flat_weighted_metrics:
            if mls is not None:
                out.extend(mls.metrics)
        return out

    @property
    def variables(self):
        return [v for m in self.metrics for v in m.variables]

    def build(self, y_true, y_pred):
        flat_pred, names = _flat_outputs(y_pred, self.output_names)
        n = len(flat_pred)
        flat_true = _flat_per_output(y_true, n, names)
        self._names = names
        self._n = n
        out_names = names if (n > 1 and names) else [None] * n

        def build_set(spec, what):
            if not spec:
                return [None] * n
            per_output = [spec] if n == 1 else _per_output(spec, n, names, what)
            return [_metrics_list(m, yt, yp, name) for m, yt, yp, name in
                    zip(per_output, flat_true, flat_pred, out_names)]

        self._flat_metrics = build_set(self._user_metrics, "metrics")
        self._flat_weighted_metrics = build_set(self._user_weighted_metrics, "metrics")
        self.built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self.built:
            self.build(y_true, y_pred)
        if self._n == 1 and not isinstance(y_pred, (list, tuple, dict)):
            if isinstance(y_true, (list, tuple)) and len(y_true) == 1:
                y_true = y_true[0]
            mls = self._flat_metrics[0]
            if mls is not None:
                for m in mls.metrics:
                    m.update_state(y_true, y_pred)
            wmls = self._flat_weighted_metrics[0]
            if wmls is not None:
                if isinstance(sample_weight, (list, tuple)):
                    sample_weight = sample_weight[0]
                for m in wmls.metrics:
                    m.update_state(y_true, y_pred, sample_weight=sample_weight)
            return
        flat_pred, names = _flat_outputs(y_pred, self._names)
        flat_true = _flat_per_output(y_true, len(flat_pred), names)
        if isinstance(sample_weight, (list, tuple, dict)):
            flat_sw = _flat_per_output(sample_weight, len(flat_pred), names)
        else:
            flat_sw = [sample_weight] * len(flat_pred)
        for mls, yt, yp in zip(self._flat_metrics, flat_true, flat_pred):
            if mls is not None:
                for m in mls.metrics:
                    m.update_state(yt, yp)
        for mls, yt, yp, sw in zip(self._flat_weighted_metrics, flat_true, flat_pred, flat_sw):
            if mls is not None:
                mls.update_state(yt, yp, sample_weight=sw)

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()

    def named_metrics(self):
        """`[(log name, metric)]` in Keras's order and naming."""
        named, seen = [], {}
        for mls in self._flat_metrics:
            if mls is None:
                continue
            for m in mls.metrics:
                name = f"{mls.output_name}_{m.name}" if mls.output_name else m.name
                if name not in seen:
                    seen[name] = 1
                else:
                    seen[name] += 1
                    name = f"{name}_{seen[name] - 1}"
                named.append((name, m))
        for mls in self._flat_weighted_metrics:
            if mls is None:
                continue
            for m in mls.metrics:
                name = f"{mls.output_name}_{m.name}" if mls.output_name else m.name
                if name in seen:
                    name = f"weighted_{m.name}"
                    if mls.output_name:
                        name = f"{mls.output_name}_{name}"
                    if name not in seen:
                        seen[name] = 1
                    else:
                        seen[name] += 1
                        name = f"{name}_{seen[name] - 1}"
                else:
                    seen[name] = 1
                named.append((name, m))
        return named

    def result(self):
        if not self.built:
            raise ValueError("Cannot get result() since the metric has not yet been built.")
        return {name: m.result() for name, m in self.named_metrics()}


# ----------------------------------------------------------------------------- torch optimizers
class TorchOptimizer:
    """A `torch.optim.Optimizer` passed to `compile`: stepped on the gradients already in `.grad`.

    Exposes `learning_rate` (first param group) and `iterations` for callbacks.
    """

    def __init__(self, optimizer):
        self.torch_optimizer = optimizer
        self.built = True
        self.iterations = 0
        self.variables = []
        self.name = type(optimizer).__name__.lower()

    @property
    def learning_rate(self):
        return self.torch_optimizer.param_groups[0]["lr"]

    @learning_rate.setter
    def learning_rate(self, value):
        for group in self.torch_optimizer.param_groups:
            group["lr"] = float(value)

    def build(self, variables):
        pass

    def apply(self, grads, variables=None):
        self.torch_optimizer.step()
        self.iterations += 1

    def apply_gradients(self, grads_and_vars):
        self.apply(None)

    def scale_loss(self, loss):
        return loss

    def finalize_variable_values(self, variables):
        pass


def _get_optimizer(optimizer):
    if isinstance(optimizer, torch.optim.Optimizer):
        return TorchOptimizer(optimizer)
    from tkeras.fit import optimizers

    if isinstance(optimizer, str) and optimizer.lower() in optimizers.ALL_OBJECTS_DICT:
        return optimizers.ALL_OBJECTS_DICT[optimizer.lower()]()
    return optimizers.get(optimizer)


def _first_batch_size(x):
    for leaf in data_utils.flatten(x):
        if leaf is not None and hasattr(leaf, "shape"):
            return leaf.shape[0]
    return 1


# ----------------------------------------------------------------------------- Trainer
class Trainer:
    """Mixin giving `Model` Keras's training API."""

    def _init_trainer(self):
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self._compile_config = None
        self._compile_loss = None
        self._compile_metrics = None
        self._loss_tracker = None
        self._compiled_trainable = None
        self.stop_training = False
        self.stop_evaluating = False
        self.stop_predicting = False
        self.history = None
        self.steps_per_execution = 1
        self._run_eagerly = False
        self._jit_compile = False
        self._initial_epoch = None
        self._initial_step = None
        self._fabric = None
        self._strategy = strategy_lib.SINGLE_DEVICE
        self._sync_metrics = False
        self._eval_iterator = None
        self._train_adapter = None
        self.train_function = None
        self.test_function = None
        self.predict_function = None
        self._has_extra_losses = None
        self._pending_count = 0

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True, **kwargs):
        if "experimental_steps_per_execution" in kwargs:
            steps_per_execution = kwargs.pop("experimental_steps_per_execution")
        if kwargs:
            raise TypeError(f"Invalid keyword argument(s) in `compile()`: {list(kwargs)}")
        from tkeras.fit.optimizers import LossScaleOptimizer

        self.optimizer = _get_optimizer(optimizer)
        if (auto_scale_loss and self.dtype_policy.name == "mixed_float16" and self.optimizer
                and not isinstance(self.optimizer, (LossScaleOptimizer, TorchOptimizer))):
            self.optimizer = LossScaleOptimizer(self.optimizer, name="loss_scale_optimizer")
        output_names = getattr(self, "output_names", None)
        if output_names is not None:
            output_names = list(output_names)
        self._compile_loss = None
        if loss is not None:
            self._compile_loss = CompileLoss(loss, loss_weights, output_names=output_names)
        self.loss = loss
        self._compile_metrics = None
        if metrics is not None or weighted_metrics is not None:
            self._compile_metrics = CompileMetrics(metrics, weighted_metrics,
                                                   output_names=output_names)
        if jit_compile == "auto":
            jit_compile = False
        if jit_compile and run_eagerly:
            warnings.warn("If `run_eagerly` is True, then `jit_compile` cannot also be True. "
                          "Disabling `jit_compile`.", stacklevel=2)
            jit_compile = False
        self._jit_compile = bool(jit_compile)
        self._run_eagerly = run_eagerly
        self.stop_training = False
        self._loss_tracker = _get_metric_module().Mean(name="loss")
        self.steps_per_execution = int(steps_per_execution or 1)
        self._compiled_trainable = None
        self._trainable_snapshot()
        self._has_extra_losses = None
        self.train_function = self.test_function = self.predict_function = None
        self.compiled = True
        self._compile_config = dict(
            optimizer=optimizer, loss=loss, loss_weights=loss_weights, metrics=metrics,
            weighted_metrics=weighted_metrics, run_eagerly=run_eagerly,
            steps_per_execution=steps_per_execution, jit_compile=jit_compile)

    @property
    def jit_compile(self):
        return self._jit_compile

    @jit_compile.setter
    def jit_compile(self, value):
        self._jit_compile = bool(value)
        self.train_function = self.test_function = self.predict_function = None

    @property
    def run_eagerly(self):
        return self._run_eagerly

    @run_eagerly.setter
    def run_eagerly(self, value):
        self._run_eagerly = value

    def get_compile_config(self):
        if self.compiled and self._compile_config is not None:
            from tkeras.core.registry import serialize_keras_object

            config = dict(self._compile_config)
            if isinstance(config["optimizer"], torch.optim.Optimizer):
                raise NotImplementedError("A torch optimizer has no Keras compile config.")
            return serialize_keras_object(config)
        return {}  # Keras writes "compile_config": {} for an uncompiled model

    def compile_from_config(self, config):
        if not config:
            return
        if type(self).compile is not Trainer.compile:
            warnings.warn(
                "`compile()` was not called as part of model loading because the model's "
                "`compile()` method is custom. All subclassed Models that have `compile()` "
                "overridden should also override `get_compile_config()` and "
                "`compile_from_config(config)`.", stacklevel=2)
            return
        from tkeras.core.registry import deserialize_keras_object

        config = dict(config)
        if isinstance(config.get("optimizer"), dict):
            from tkeras.fit import optimizers

            opt = config["optimizer"]
            cls = optimizers.ALL_OBJECTS_DICT.get(str(opt.get("class_name", "")).lower())
            if cls is not None and opt.get("module", "keras.optimizers") == "keras.optimizers":
                config["optimizer"] = cls.from_config(opt["config"])
            else:
                config["optimizer"] = optimizers.deserialize(opt)
        config = {k: (deserialize_keras_object(v) if k != "optimizer" and isinstance(v, dict)
                      and "class_name" in v else v) for k, v in config.items()}
        self.compile(**config)
        if self.built and not isinstance(self.optimizer, TorchOptimizer):
            self.optimizer.build(self._trainable_snapshot())

    # ------------------------------------------------------------------ metrics
    @property
    def metrics(self):
        if self.__dict__.get("_pending_count"):
            self._flush_loss_count()
        metrics = []
        if self.compiled:
            if self._loss_tracker is not None:
                metrics.append(self._loss_tracker)
            if self._compile_metrics is not None:
                metrics.append(self._compile_metrics)
            if self._compile_loss is not None:
                metrics.extend(self._compile_loss.metrics)
        mm = _get_metric_module()
        for value in self.__dict__.values():
            if isinstance(value, mm.Metric) and value not in metrics:
                metrics.append(value)
        return metrics

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    @property
    def metrics_variables(self):
        return [v for m in self.metrics for v in m.variables]

    def reset_metrics(self):
        self._pending_count = 0
        for m in self.metrics:
            m.reset_state()

    def _flush_loss_count(self):
        """The fast steps count samples on the host; add them to the loss tracker's count."""
        if self._pending_count:
            self._loss_tracker.count.add_(self._pending_count)
            self._pending_count = 0

    def _metric_result(self, metric):
        if self.__dict__.get("_sync_metrics") and hasattr(metric, "synced_result"):
            return self._strategy.synced_result(self, metric)
        return metric.result()

    def _final_logs(self, logs):
        """The logs at the end of an epoch, of `evaluate` or of an on-batch call: metric
        results synced over the processes by the strategy (per-batch logs are not)."""
        self.__dict__["_sync_metrics"] = True
        try:
            return pythonify_logs(self._get_metrics_result_or_logs(logs))
        finally:
            self.__dict__["_sync_metrics"] = False

    def get_metrics_result(self):
        self._flush_loss_count()
        results = {}
        for metric in self.metrics:
            if isinstance(metric, CompileMetrics):
                if metric.built:
                    for name, m in metric.named_metrics():
                        results[name] = self._metric_result(m)
                continue
            result = self._metric_result(metric)
            if isinstance(result, dict):
                results.update(result)
            else:
                results[metric.name] = result
        return results

    def _get_metrics_result_or_logs(self, logs):
        metric_logs = self.get_metrics_result()
        if isinstance(logs, dict):
            logs = flatten_logs(logs)
        if logs is None or (isinstance(logs, dict) and set(logs) == set(metric_logs)):
            return metric_logs
        return logs

    def _flatten_metrics_in_order(self, logs):
        names = []
        for metric in self.metrics:
            if isinstance(metric, CompileMetrics):
                names += [name for name, _ in metric.named_metrics()] if metric.built else []
            else:
                names.append(metric.name)
        results = [logs[n] for n in names if n in logs]
        results += [logs[k] for k in sorted(logs) if k not in names]
        return results[0] if len(results) == 1 else results

    # ------------------------------------------------------------------ loss
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        losses = []
        if self._compile_loss is not None:
            loss = self._compile_loss(y, y_pred, sample_weight)
            if loss is not None:
                losses.append(loss)
        for loss in self.losses:
            if not loss.is_floating_point():
                loss = loss.float()
            losses.append(torch.sum(loss))
        if not losses:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        total = losses[0]
        for loss in losses[1:]:
            total = total + loss
        return total

    def _compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if "training" in inspect.signature(self.compute_loss).parameters:
            return self.compute_loss(x, y, y_pred, sample_weight, training=training)
        return self.compute_loss(x, y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    # ------------------------------------------------------------------ Keras's steps
    def _call_model(self, x, training):
        from tkeras.model.model import _accepts_training

        if _accepts_training(self):
            return self(x, training=training)
        return self(x)

    def train_step(self, data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self._call_model(x, True)
        self.zero_grad()
        loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                  training=True)
        self._loss_tracker.update_state(loss.detach(), sample_weight=_first_batch_size(x))
        if self.optimizer is not None:
            loss = self.optimizer.scale_loss(loss)
        variables = self._trainable_snapshot()
        if variables:
            loss.backward()
            grads = [v.grad for v in variables]
            with torch.no_grad():
                self.optimizer.apply(grads, variables)
        else:
            warnings.warn("The model does not have any trainable weights.")
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self._call_model(x, False)
        loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                  training=False)
        self._loss_tracker.update_state(loss, sample_weight=_first_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        return self._call_model(x, False)

    # ------------------------------------------------------------------ fast steps
    def _trainable_snapshot(self):
        """The weights `compile()` saw as trainable (taken at the first step if unbuilt then)."""
        if self._compiled_trainable is None:
            if not self.built:
                return []
            self._compiled_trainable = [w for w in self.trainable_weights
                                        if w.is_floating_point()]
        return self._compiled_trainable

    def _overrides(self, name):
        return getattr(type(self), name) is not getattr(Trainer, name)

    def _extra_losses_present(self):
        """Whether `self.losses` can be non-empty (checked on the first step, then cached)."""
        if self._has_extra_losses is None:
            self._has_extra_losses = bool(self.losses) or any(
                getattr(w, "regularizer", None) is not None for w in self.weights)
        return self._has_extra_losses

    def _model_forward(self, training):
        """`x -> y_pred`, calling the model as `_call_model` does (signature checked once)."""
        from tkeras.model.model import _accepts_training

        if _accepts_training(self):
            return lambda x: self(x, training=training)
        return lambda x: self(x)

    def _make_forward_loss(self, training):
        """`(x, y, sw) -> (y_pred, loss)`; under `torch.compile` with `jit_compile=True`."""
        custom_loss = self._overrides("compute_loss")
        forward = self._model_forward(training)

        def forward_loss(x, y, sample_weight):
            if self._has_extra_losses is not False:
                self._clear_losses()
            y_pred = forward(x)
            if custom_loss or self._has_extra_losses is not False:
                loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                          training=training)
                if self._has_extra_losses is None:
                    self._extra_losses_present()
            else:
                if self._compile_loss is None:
                    raise ValueError(
                        "No loss to compute. Provide a `loss` argument in `compile()`.")
                loss = self._compile_loss(y, y_pred, sample_weight)
            return y_pred, loss

        if self._jit_compile:
            return torch.compile(forward_loss)
        return forward_loss

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        if self._overrides("train_step"):
            def one_step(data):
                return self.train_step(data)

            self.train_function = one_step
            return one_step

        forward_loss = self._make_forward_loss(True)
        custom_metrics = self._overrides("compute_metrics")
        tracker = self._loss_tracker
        optimizer = self.optimizer
        variables = self._trainable_snapshot()
        inputs = tuple(variables)
        scale = getattr(optimizer, "loss_scale_factor", None) is not None or hasattr(
            optimizer, "dynamic_scale") or hasattr(optimizer, "inner_optimizer")
        is_torch_opt = isinstance(optimizer, TorchOptimizer)
        attributes = self.__dict__  # the host sample count, without nn.Module.__setattr__

        def one_step(data):
            x, y, sample_weight = unpack_x_y_sample_weight(data)
            y_pred, loss = forward_loss(x, y, sample_weight)
            n = x.shape[0] if isinstance(x, torch.Tensor) else _first_batch_size(x)
            tracker.total.add_(loss.detach(), alpha=n)
            attributes["_pending_count"] += n
            if variables:
                if scale:
                    loss = optimizer.scale_loss(loss)
                if is_torch_opt:
                    loss.backward()
                    optimizer.apply(None)
                    optimizer.torch_optimizer.zero_grad(set_to_none=True)
                else:
                    # Gradients straight from autograd: no `.grad` to fill and clear again.
                    grads = attributes["_strategy"].gradients(loss, inputs)
                    optimizer.apply(grads, variables)
            if custom_metrics:
                return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
            if self._compile_metrics is not None:
                self._compile_metrics.update_state(y, y_pred, sample_weight)
            return None

        self.train_function = one_step
        return one_step

    def make_test_function(self, force=False):
        if self.test_function is not None and not force:
            return self.test_function
        if self._overrides("test_step"):
            def one_step(data):
                return self.test_step(data)

            self.test_function = one_step
            return one_step
        forward_loss = self._make_forward_loss(False)
        custom_metrics = self._overrides("compute_metrics")
        tracker = self._loss_tracker
        attributes = self.__dict__

        def one_step(data):
            x, y, sample_weight = unpack_x_y_sample_weight(data)
            y_pred, loss = forward_loss(x, y, sample_weight)
            n = x.shape[0] if isinstance(x, torch.Tensor) else _first_batch_size(x)
            tracker.total.add_(loss, alpha=n)
            attributes["_pending_count"] += n
            if custom_metrics:
                return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
            if self._compile_metrics is not None:
                self._compile_metrics.update_state(y, y_pred, sample_weight)
            return None

        self.test_function = one_step
        return one_step

    def _predict_grad_mode(self):
        """`inference_mode` unless a layer keeps state across calls (stateful RNNs), whose
        tensors must stay usable by autograd later, or the model is on torch-xla (slicing an
        XLA batch under `inference_mode` fails: "Cannot set version_counter for inference
        tensor")."""
        stateful = any(getattr(m, "stateful", False) for m in self.modules())
        on_xla = any(w.device.type == "xla" for w in self.weights[:1])
        return torch.no_grad() if stateful or on_xla else torch.inference_mode()

    def make_predict_function(self, force=False):
        """`data -> outputs`; `predict` runs it under `_predict_grad_mode()`, and `evaluate`
        runs the test function under `no_grad` (one context per loop, not per step)."""
        if self.predict_function is not None and not force:
            return self.predict_function
        if self._overrides("predict_step"):
            def one_step(data):
                return self.predict_step(data)
        else:
            forward = self._model_forward(False)
            if self._jit_compile:
                forward = torch.compile(forward)

            def one_step(data):
                return forward(data[0] if type(data) is tuple else data)

        self.predict_function = one_step
        return one_step

    # ------------------------------------------------------------------ setup
    def _assert_compile_called(self, method_name):
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before calling `{method_name}()`.")

    def _setup_device(self, x=None):
        """Take the current strategy (`tkeras.fit.strategy.current()`: one device, or the
        distribution's) and let it set the model up on its device (`x`: the data, from which
        a distributed strategy builds the model before distributing it)."""
        strategy = strategy_lib.current()
        self._strategy = strategy
        self._fabric, device = strategy.setup(self, x)
        return device

    def _keras_peeks(self):
        """Whether Keras's `_symbolic_build` would take a first batch from the epoch iterator
        (which starts an epoch of the data: `PyDataset.on_epoch_begin`)."""
        return (not self.built
                or (self._compile_metrics is not None and not self._compile_metrics.built)
                or (self._compile_loss is not None and not self._compile_loss.built))

    def _peek_batch(self, adapter):
        if isinstance(adapter, data_utils.ArrayAdapter):
            return adapter._take(0, min(adapter.batch_size, adapter.num_samples))
        return adapter.peek()

    def _symbolic_build(self, iterator=None, data_batch=None):
        """Build the model (on a first batch) and the optimizer before callbacks start.

        As Keras, a first batch taken from `iterator` begins an epoch of the data, which the
        caller's `iterator.reset()` ends (a PyDataset's hooks run once more than the epochs)."""
        if iterator is not None and self._keras_peeks():
            iterator.adapter.on_epoch_begin()
        if not self.built:
            batch = data_batch if data_batch is not None else self._peek_batch(iterator.adapter)
            if batch is not None:
                x, _, _ = unpack_x_y_sample_weight(batch)
                with torch.no_grad():
                    self._call_model(x, False)
                self._clear_losses()
        if self.built and self.compiled:
            variables = self._trainable_snapshot()
            opt = self.optimizer
            if opt is not None and not opt.built and variables:
                opt.build(variables)

    def _train_grad_flags(self):
        """Make exactly the compiled trainable weights require grad; returns an undo list."""
        snapshot = {id(v) for v in self._trainable_snapshot()}
        undo = []
        for v in self.weights:
            if not v.is_floating_point():
                continue
            want = id(v) in snapshot
            if v.requires_grad != want:
                undo.append((v, v.requires_grad))
                v.requires_grad_(want)
        return undo

    def _make_callbacks(self, callbacks, verbose, epochs, steps, **extra):
        from tkeras.fit.callbacks import CallbackList

        if isinstance(callbacks, CallbackList):
            return callbacks
        return CallbackList(callbacks, add_history=extra.pop("add_history", False),
                            add_progbar=verbose != 0, model=self, verbose=verbose,
                            epochs=epochs, steps=steps)

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        self._assert_compile_called("fit")
        device = self._setup_device(x)
        strategy = self._strategy
        if validation_split and validation_data is None:
            if not data_utils.is_array_data(x):
                raise ValueError(
                    "`validation_split` is only supported for tensors or NumPy arrays (it takes "
                    f"the last fraction of the samples). Received: x of type {type(x).__name__}. "
                    "Pass `validation_data` instead.")
            (x, y, sample_weight), validation_data = data_utils.train_validation_split(
                (x, y, sample_weight), validation_split=validation_split)
        validation_batch_size = validation_batch_size or batch_size  # global, as batch_size
        x, y, sample_weight, batch_size = strategy.shard(self, x, y, sample_weight, batch_size,
                                                         training=True)
        adapter = data_utils.get_adapter(x, y, sample_weight, batch_size=batch_size,
                                         steps=steps_per_epoch, shuffle=shuffle,
                                         class_weight=class_weight, device=device)
        iterator = data_utils.EpochIterator(adapter, steps_per_epoch)
        self._train_adapter = adapter
        val = None
        if validation_data is not None:
            vx, vy, vsw = unpack_x_y_sample_weight(validation_data)
            *val, validation_batch_size = strategy.shard(
                self, vx, vy, vsw, validation_batch_size, training=False)
            self._eval_iterator = None
        self._symbolic_build(iterator)
        iterator.reset()
        callbacks, verbose = strategy.callbacks(self, callbacks, verbose)
        callbacks = self._make_callbacks(callbacks, verbose, epochs, iterator.num_batches,
                                         add_history=True)
        self.stop_training = False
        train_function = self.make_train_function()
        undo = self._train_grad_flags()
        try:
            self._initial_epoch = self._initial_step = None
            callbacks.on_train_begin()
            initial_epoch = self._initial_epoch or initial_epoch
            if self._initial_step:
                iterator.resume_at(self._initial_step)
            begin_hooks, end_hooks = callbacks._batch_hooks("train")
            spe = self.steps_per_execution
            training_logs = {}
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                callbacks.on_epoch_begin(epoch)
                self.train()
                logs = None
                for step, batch in iterator:
                    if begin_hooks and step % spe == 0:
                        callbacks.on_train_batch_begin(step)
                    logs = train_function(batch)
                    if end_hooks and ((step + 1) % spe == 0 or step + 1 == iterator.num_batches):
                        callbacks.on_train_batch_end(step, self._lazy_logs(logs))
                    if self.stop_training:
                        break
                epoch_logs = self._final_logs(logs)
                self.eval()
                if val is not None and self._should_eval(epoch, validation_freq):
                    val_logs = self._evaluate(
                        val, batch_size=validation_batch_size,
                        steps=validation_steps, callbacks=callbacks, cached=True,
                        device=device)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                callbacks.on_epoch_end(epoch, epoch_logs)
                training_logs = epoch_logs
                if self.stop_training:
                    break
            if epochs > 0 and self.optimizer is not None:
                self.optimizer.finalize_variable_values(self._trainable_snapshot())
            self._eval_iterator = None
            callbacks.on_train_end(logs=training_logs)
        finally:
            for v, flag in undo:
                v.requires_grad_(flag)
            self._initial_epoch = self._initial_step = None
            self._train_adapter = None
        return self.history

    def _lazy_logs(self, logs):
        if logs is not None:
            return LazyLogs(lambda: logs)
        return LazyLogs(self.get_metrics_result)

    @staticmethod
    def _should_eval(epoch, validation_freq):
        epoch = epoch + 1
        if isinstance(validation_freq, int):
            return epoch % validation_freq == 0
        if isinstance(validation_freq, (list, tuple)):
            return epoch in validation_freq
        raise ValueError("Expected `validation_freq` to be a list or int. Received: "
                         f"validation_freq={validation_freq} of the type "
                         f"{type(validation_freq)}.")

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, **kwargs):
        self._assert_compile_called("evaluate")
        if kwargs:
            raise ValueError(f"Arguments not recognized: {kwargs}")
        device = self._setup_device(x)
        *data, batch_size = self._strategy.shard(self, x, y, sample_weight, batch_size,
                                                 training=False)
        callbacks, verbose = self._strategy.callbacks(self, callbacks, verbose)
        logs = self._evaluate(data, batch_size=batch_size, steps=steps,
                              callbacks=callbacks, verbose=verbose, device=device)
        if return_dict:
            return logs
        return self._flatten_metrics_in_order(logs)

    def _evaluate(self, data, batch_size, steps, callbacks, device, cached=False,
                  verbose="auto"):
        x, y, sample_weight = data
        if cached and self._eval_iterator is not None:
            iterator = self._eval_iterator
        else:
            adapter = data_utils.get_adapter(x, y, sample_weight, batch_size=batch_size,
                                             steps=steps, shuffle=False, device=device)
            iterator = data_utils.EpochIterator(adapter, steps)
            if cached:
                self._eval_iterator = iterator
        self._symbolic_build(iterator)
        iterator.reset()
        callbacks = self._make_callbacks(callbacks, verbose, 1, iterator.num_batches)
        self.eval()
        test_function = self.make_test_function()
        self.stop_evaluating = False
        callbacks.on_test_begin()
        self.reset_metrics()
        begin_hooks, end_hooks = callbacks._batch_hooks("test")
        logs = None
        with torch.no_grad():
            for step, batch in iterator:
                if begin_hooks:
                    callbacks.on_test_batch_begin(step)
                logs = test_function(batch)
                if end_hooks:
                    callbacks.on_test_batch_end(step, self._lazy_logs(logs))
                if self.stop_evaluating:
                    break
        logs = self._final_logs(logs)
        callbacks.on_test_end(logs)
        return logs

    # ------------------------------------------------------------------ predict
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        device = self._setup_device(x)
        callbacks, verbose = self._strategy.callbacks(self, callbacks, verbose)
        x, batch_size, finish = self._strategy.predict_inputs(self, x, batch_size)
        adapter = data_utils.get_adapter(x, batch_size=batch_size, steps=steps, shuffle=False,
                                         device=device)
        iterator = data_utils.EpochIterator(adapter, steps)
        callbacks = self._make_callbacks(callbacks, verbose, 1, iterator.num_batches)
        self.eval()
        predict_function = self.make_predict_function()
        self.stop_predicting = False
        callbacks.on_predict_begin()
        begin_hooks, end_hooks = callbacks._batch_hooks("predict")
        outputs = []
        with self._predict_grad_mode():
            for step, batch in iterator:
                if begin_hooks:
                    callbacks.on_predict_batch_begin(step)
                out = predict_function(batch)
                outputs.append(out)
                if end_hooks:
                    callbacks.on_predict_batch_end(step, {"outputs": out})
                if self.stop_predicting:
                    break
        callbacks.on_predict_end()
        if not outputs:
            raise ValueError("Unexpected result of `predict_function` (Empty batch_outputs). "
                             "Please use `Model.compile(..., run_eagerly=True)`, or "
                             "`tf.config.run_functions_eagerly(True)` for more information "
                             "of where went wrong, or file a issue/bug to `keras`.")
        return finish(_concat_outputs(outputs))

    # ------------------------------------------------------------------ on batch
    def _on_batch_data(self, x, y, sample_weight):
        device = self._setup_device(x)
        data = data_utils.to_device(
            data_utils.map_structure(data_utils.to_tensor, (x, y, sample_weight)), device)
        self._symbolic_build(data_batch=data)
        return data

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        self._assert_compile_called("train_on_batch")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError(
                    "Arguments `sample_weight` and `class_weight` cannot be specified at the "
                    f"same time. Received: sample_weight={sample_weight}, "
                    f"class_weight={class_weight}")
            sample_weight = data_utils.class_weight_to_sample_weights(y, class_weight)
        data = self._on_batch_data(x, y, sample_weight)
        train_function = self.make_train_function()
        self.reset_metrics()
        undo = self._train_grad_flags()
        was_training = self.training
        self.train()
        try:
            logs = train_function(data)
        finally:
            self.train(was_training)
            for v, flag in undo:
                v.requires_grad_(flag)
        logs = self._final_logs(logs)
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compile_called("test_on_batch")
        data = self._on_batch_data(x, y, sample_weight)
        test_function = self.make_test_function()
        self.reset_metrics()
        with torch.no_grad():
            logs = test_function(data)
        logs = self._final_logs(logs)
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def predict_on_batch(self, x):
        device = self._setup_device(x)
        x = data_utils.to_device(data_utils.map_structure(data_utils.to_tensor, x), device)
        with self._predict_grad_mode():
            out = self.make_predict_function()((x,))
        return data_utils.map_structure(to_numpy, out)


def _concat_outputs(outputs):
    first = outputs[0]
    if isinstance(first, dict):
        return {k: _concat_outputs([o[k] for o in outputs]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_concat_outputs([o[i] for o in outputs]) for i in range(len(first)))
    if isinstance(first, torch.Tensor):
        return to_numpy(torch.cat(outputs))
    return np.concatenate([np.asarray(o) for o in outputs])


def to_numpy(tensor):
    """NumPy copy of a tensor; bfloat16 becomes `ml_dtypes.bfloat16` (as Keras), or float32
    when ml_dtypes is not installed."""
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        array = tensor.float().numpy()
        try:
            import ml_dtypes
        except ImportError:
            return array
        return array.astype(ml_dtypes.bfloat16)
    return tensor.numpy()
