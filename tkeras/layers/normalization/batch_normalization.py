"""`BatchNormalization`: normalize with batch statistics in training, moving ones in inference.

Keras behaviour kept: weights `gamma`, `beta`, `moving_mean`, `moving_variance` in that order
(the moving ones non-trainable; `renorm=True` adds `moving_stddev`, `renorm_mean`,
`renorm_stddev`); `training=True` uses the batch mean and BIASED batch variance and updates
`moving = moving * momentum + batch * (1 - momentum)`; a layer with `trainable=False` always runs
in inference mode; in training a mask `(batch, ..., )` of rank `ndim - 1` excludes masked steps
from the statistics (Keras's weighted moments, `count + 1e-7` in the denominator); half-precision
inputs are normalized in float32.

Speed: the unmasked, non-renorm paths run `F.batch_norm` (channel axis moved to dim 1: a
channels-last view, no copy). In training, the fused kernel updates `moving_mean` itself
(`momentum=1 - momentum`) and writes the weighted unbiased batch variance into a scratch buffer,
rescaled to the biased one for Keras's update of `moving_variance`.

Deliberate difference: `synchronized=True` (TensorFlow-only in Keras) is accepted; when
`torch.distributed` is initialized it all-reduces the batch statistics (sums of `x`, `x**2` and
counts) over the data-parallel processes (`tkeras.parallel.sharding.data_parallel_group`: the
distribution's batch axis, or the whole world), differentiably: the backward pass sums the
statistics' gradients over the same processes, as `torch.nn.SyncBatchNorm`. Every process then
normalizes with (and keeps moving statistics of) the global batch; training on N processes
equals one process on the whole batch. Otherwise it behaves as `synchronized=False`.
"""

import torch
import torch.nn.functional as F

from tkeras.core import constraints
from tkeras.core import initializers
from tkeras.core import regularizers
from tkeras.core.registry import keras_export
from tkeras.layers.layer import InputSpec
from tkeras.layers.layer import Layer
from tkeras.layers.normalization.layer_normalization import cast_like

_KERAS_EPSILON = 1e-7  # backend.epsilon() in Keras's masked moments


def _clone_initializer(initializer):
    if isinstance(initializer, initializers.Initializer):
        return initializer.__class__.from_config(initializer.get_config())
    return initializer


@keras_export("keras.layers.BatchNormalization")
class BatchNormalization(Layer):
    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.synchronized = synchronized
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.supports_masking = True
        self.renorm = renorm
        if renorm:
            renorm_clipping = renorm_clipping or {}
            keys = ["rmax", "rmin", "dmax"]
            if set(renorm_clipping) - set(keys):
                raise ValueError(
                    "Received invalid keys for `renorm_clipping` argument: "
                    f"{renorm_clipping}. Supported values: {keys}.")
            rmax, rmin = renorm_clipping.get("rmax"), renorm_clipping.get("rmin")
            dmax = renorm_clipping.get("dmax")
            if rmax is not None and rmin is not None and rmax < rmin:
                raise ValueError(
                    "rmax should be greater than rmin in the `renorm_clipping` argument. "
                    f"Received: rmax={rmax}, rmin={rmin}.")
            if dmax is not None and dmax < 0:
                raise ValueError(
                    "dmax should be non-negative in the `renorm_clipping` argument. "
                    f"Received: dmax={dmax}.")
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = renorm_momentum
        self._reduction_axes = None

    def build(self, input_shape):
        shape = (input_shape[self.axis],)
        if self.scale:
            self.gamma = self.add_weight(
                shape=shape, name="gamma", initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer, constraint=self.gamma_constraint,
                trainable=True, autocast=False)
        else:
            self.gamma = None
        if self.center:
            self.beta = self.add_weight(
                shape=shape, name="beta", initializer=self.beta_initializer,
                regularizer=self.beta_regularizer, constraint=self.beta_constraint,
                trainable=True, autocast=False)
        else:
            self.beta = None
        self.moving_mean = self.add_weight(
            shape=shape, name="moving_mean", initializer=self.moving_mean_initializer,
            trainable=False, autocast=False)
        self.moving_variance = self.add_weight(
            shape=shape, name="moving_variance", initializer=self.moving_variance_initializer,
            trainable=False, autocast=False)
        if self.renorm:
            def moving_stddev_initializer(shape, dtype=None):
                return torch.sqrt(_clone_initializer(self.moving_variance_initializer)(
                    shape, dtype=dtype))

            self.moving_stddev = self.add_weight(
                shape=shape, name="moving_stddev", initializer=moving_stddev_initializer,
                trainable=False, autocast=False)
            self.renorm_mean = self.add_weight(
                shape=shape, name="renorm_mean",
                initializer=_clone_initializer(self.moving_mean_initializer),
                trainable=False, autocast=False)
            self.renorm_stddev = self.add_weight(
                shape=shape, name="renorm_stddev", initializer=moving_stddev_initializer,
                trainable=False, autocast=False)
        self.input_spec = InputSpec(ndim=len(input_shape),
                                    axes={self.axis: input_shape[self.axis]})
        reduction_axes = list(range(len(input_shape)))
        del reduction_axes[self.axis]
        self._reduction_axes = reduction_axes
        self.built = True

    def compute_output_shape(self, input_shape):
        if self.axis >= len(input_shape) or self.axis < -len(input_shape):
            raise ValueError(
                f"Axis {self.axis} is out of bounds for input shape {input_shape}. "
                f"Received: axis={self.axis}")
        return input_shape

    # ------------------------------------------------------------------------------ call
    def call(self, inputs, training=None, mask=None):
        if mask is not None and mask.dim() != inputs.dim() - 1:
            raise ValueError(
                "The mask provided should be one dimension less than the inputs. Received: "
                f"mask.shape={tuple(mask.shape)}, inputs.shape={tuple(inputs.shape)}")
        compute_dtype = inputs.dtype
        x = inputs if inputs.dtype in (torch.float32, torch.float64) else inputs.float()
        if training and self.trainable:
            if self.renorm:
                outputs = self._renorm_train(x, mask)
            elif mask is not None or self._distributed():
                outputs = self._explicit_train(x, mask)
            else:
                outputs = self._fused_train(x)
        else:
            outputs = self._fused(x, self.moving_mean, self.moving_variance, training=False)
        return outputs.to(compute_dtype)

    def _channel_axis(self, x):
        return self.axis % x.dim()

    def _fused(self, x, mean, var, training, momentum=1.0):
        """F.batch_norm over the channel axis moved to dim 1 (a free view)."""
        axis = self._channel_axis(x)
        xc = x if axis == 1 or x.dim() < 2 else x.movedim(axis, 1)
        if xc.dim() < 2:
            xc = xc.unsqueeze(0)
        out = F.batch_norm(xc, cast_like(mean, x), cast_like(var, x),
                           cast_like(self.gamma, x), cast_like(self.beta, x), training=training,
                           momentum=momentum, eps=self.epsilon)
        if x.dim() < 2:
            return out.squeeze(0)
        return out if axis == 1 else out.movedim(1, axis)

    def _fused_train(self, x):
        n = x.numel() // x.shape[self.axis]
        if n < 2 or self.moving_mean.dtype != x.dtype:
            # torch refuses one value per channel (Keras gives variance 0); the kernel can only
            # update moving statistics of the input's dtype (a direct `call` in another dtype).
            return self._explicit_train(x, None)
        scratch = torch.zeros(x.shape[self.axis], dtype=x.dtype, device=x.device)
        weight = 1.0 - self.momentum
        # The kernel updates `moving_mean` in place (torch's momentum is Keras's `1 - momentum`) and
        # stores `weight * unbiased variance` in the zeroed scratch buffer; Keras's moving
        # variance takes the biased variance.
        outputs = self._fused(x, self.moving_mean, scratch, training=True, momentum=weight)
        with torch.no_grad():
            self.moving_variance.mul_(self.momentum).add_(scratch, alpha=(n - 1) / n)
        return outputs

    def _explicit_train(self, x, mask):
        mean, variance = self._moments(x, mask)
        self._update_moving(mean.detach(), variance.detach())
        return self._normalize(x, mean, variance, cast_like(self.gamma, x),
                               cast_like(self.beta, x))

    def _normalize(self, x, mean, variance, gamma, beta):
        """Keras's `ops.batch_normalization`: `(x - mean) * (rsqrt(var + eps) * gamma) + beta`."""
        shape = [1] * x.dim()
        shape[self.axis] = x.shape[self.axis]
        inv = torch.rsqrt(variance.reshape(shape) + self.epsilon)
        if gamma is not None:
            inv = inv * gamma.reshape(shape)
        out = (x - mean.reshape(shape)) * inv
        return out + beta.reshape(shape) if beta is not None else out

    def _moments(self, x, mask):
        axes = self._reduction_axes
        if mask is None:
            if self._distributed():
                return self._synced_moments(x, torch.ones_like(x), axes)
            mean = x.mean(dim=axes)
            # Keras's torch moments: E[x^2] - E[x]^2.
            variance = x.square().mean(dim=axes) - mean.square()
            return mean, variance
        weights = mask.unsqueeze(-1).expand(x.shape).to(torch.bool)
        if self._distributed():
            return self._synced_moments(x, weights.to(x.dtype), axes)
        count = weights.to(x.dtype).sum(dim=axes, keepdim=True)
        mean = torch.where(weights, x, 0).sum(dim=axes, keepdim=True) / (count + _KERAS_EPSILON)
        diff = torch.where(weights, x - mean, 0)
        variance = diff.square().sum(dim=axes, keepdim=True) / (count + _KERAS_EPSILON)
        return mean.reshape(-1), variance.reshape(-1)

    def _distributed(self):
        return (self.synchronized and torch.distributed.is_available()
                and torch.distributed.is_initialized())

    def _synced_moments(self, x, weights, axes):
        from tkeras.parallel import sharding

        stats = torch.stack([(x * weights).sum(dim=axes), (x.square() * weights).sum(dim=axes),
                             weights.sum(dim=axes)])
        group = sharding.data_parallel_group()
        if group is not None:
            stats = sharding.all_reduce_sum(stats, group)
        count = stats[2] + _KERAS_EPSILON
        mean = stats[0] / count
        return mean, stats[1] / count - mean.square()

    def _update_moving(self, mean, variance):
        """`moving = moving * momentum + batch * (1 - momentum)`, in place (one `lerp_` each)."""
        weight = 1.0 - self.momentum
        with torch.no_grad():
            self.moving_mean.lerp_(mean.to(self.moving_mean.dtype), weight)
            self.moving_variance.lerp_(variance.to(self.moving_variance.dtype), weight)

    def _renorm_train(self, x, mask):
        mean, variance = self._moments(x, mask)
        eps = self.epsilon
        stddev = torch.sqrt(variance + eps)
        renorm_mean = self.renorm_mean.to(mean.dtype)
        renorm_stddev = torch.maximum(self.renorm_stddev.to(mean.dtype),
                                      torch.sqrt(torch.tensor(eps, dtype=mean.dtype)))
        r = stddev / renorm_stddev
        d = (mean - renorm_mean) / renorm_stddev
        clipping = self.renorm_clipping
        if clipping.get("rmin") is not None:
            r = torch.clamp(r, min=clipping["rmin"])
        if clipping.get("rmax") is not None:
            r = torch.clamp(r, max=clipping["rmax"])
        if clipping.get("dmax") is not None:
            d = torch.clamp(d, -clipping["dmax"], clipping["dmax"])
        r, d = r.detach(), d.detach()
        gamma, beta = cast_like(self.gamma, x), cast_like(self.beta, x)
        eff_gamma = r * gamma if gamma is not None else r
        eff_beta = d * gamma if gamma is not None else d
        if beta is not None:
            eff_beta = eff_beta + beta
        self._update_renorm(mean.detach(), stddev.detach())
        return self._normalize(x, mean, variance, eff_gamma, eff_beta)

    def _update_renorm(self, mean, stddev):
        with torch.no_grad():
            rm = self.renorm_momentum
            self.renorm_mean.copy_(self.renorm_mean * rm + mean * (1.0 - rm))
            self.renorm_stddev.copy_(self.renorm_stddev * rm + stddev * (1.0 - rm))
            m = self.momentum
            self.moving_mean.copy_(self.moving_mean * m + mean * (1.0 - m))
            new_stddev = self.moving_stddev * m + stddev * (1.0 - m)
            self.moving_stddev.copy_(new_stddev)
            self.moving_variance.copy_(torch.relu(new_stddev * new_stddev - self.epsilon))

    def get_config(self):
        config = {
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(
                self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        }
        return {**super().get_config(), **config}

