"""TPUs through torch-xla: one device, or SPMD sharding from the same `LayoutMap`.

torch-xla runs one process driving every local TPU core with GSPMD (`xr.use_spmd()`): a
`DataParallel` or `ModelParallel` distribution becomes `xs.mark_sharding` of every variable
(its Keras layout's axis names, on an `xs.Mesh` with the Keras mesh's shape and names) and of
every batch (dimension 0 on the batch axis); XLA inserts the collectives. Also runs on torch-xla's
CPU device (`PJRT_DEVICE=CPU`, `CPU_NUM_DEVICES=N`), which is how it is tested.

Keras variables must stay the same Python objects when moved to the XLA device (`module.to`
would replace them with plain Parameters, and torch refuses `variable.data = xla_tensor`): the
model, its optimizer and its metrics move with `torch.utils.swap_tensors`
(`tkeras.core.variables.move_model`, `Metric.to`). `torch_xla.sync()` runs at the start of each
model call (cutting the lazy graph at step boundaries).
Multi-process XLA (`xmp.spawn`) is not used: its collectives do not run on the CPU device, so it
could not be tested (pytorch/xla#5342).
"""

import numpy as np
import torch

from tkeras.core.variables import move_model


def device_count():
    import torch_xla.runtime as xr

    return xr.global_runtime_device_count()


def device():
    import torch_xla

    return torch_xla.device()


class SPMDModel:
    """A model whose variables and batches are sharded by GSPMD on an `xs.Mesh`."""

    def __init__(self, model, distribution):
        import torch_xla.distributed.spmd as xs
        import torch_xla.runtime as xr

        xr.use_spmd()
        keras_mesh = distribution.device_mesh
        self.mesh = xs.Mesh(np.asarray(keras_mesh.ranks).reshape(-1),
                            tuple(keras_mesh.shape), tuple(keras_mesh.axis_names))
        self.batch = distribution.batch_dim_name
        self.model = model
        move_model(model, device())
        for v in model.weights:
            layout = distribution.get_variable_layout(v)
            xs.mark_sharding(v, self.mesh, tuple(layout.axes))
        self._handle = model.register_forward_pre_hook(self._shard_batch)

    def _shard_batch(self, model, args):
        import torch_xla
        import torch_xla.distributed.spmd as xs

        torch_xla.sync()
        for t in args:
            if isinstance(t, torch.Tensor) and t.dim() > 0:
                xs.mark_sharding(t, self.mesh, (self.batch,) + (None,) * (t.dim() - 1))


def distribute_model(model, distribution):
    """Apply `distribution` with GSPMD (idempotent)."""
    current = getattr(model, "_tkeras_spmd", None)
    if current is None:
        current = SPMDModel(model, distribution)
        object.__setattr__(model, "_tkeras_spmd", current)
    return current


class DeviceView:
    """What the fit loop uses of Fabric, for the one-process XLA run: the XLA device."""

    world_size = 1

    def __init__(self, xla_device):
        self.device = xla_device

    def all_reduce(self, tensor, group=None, reduce_op="mean"):
        return tensor
