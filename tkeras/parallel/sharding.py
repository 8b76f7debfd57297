"""Distributing a model's Keras variables: data parallel, tensor parallel (DTensor), FSDP.

Each `KerasVariable` stays the same Python object (layers, optimizers and callbacks keep working
on it) and holds this process's part of the value:
- replicated (`DataParallel`, or `None` layout axes): the whole value; gradients are averaged
  over the data-parallel processes by torch's DDP reducer (`ReplicaReducer`: bucketed
  all-reduces overlapping the backward pass, into `.grad`);
- sharded on mesh axes other than the batch axis (tensor parallel): its DTensor shard. While its
  layer runs, the layer's attribute (`layer.kernel`) is a DTensor view of the variable
  (`DTensor.from_local`), so torch's DTensor ops insert the collectives; gradients flow back to
  the local shard. Inputs enter the model as replicated DTensors, outputs leave it as plain
  tensors (`full_tensor`);
- sharded on the batch axis (FSDP / ZeRO-3): its slice. torch's FSDP2 (`fully_shard` per
  layer on the batch axis's mesh, `tkeras.parallel.fsdp`) owns the layers' parameters and the
  variable shares the storage of its FSDP shard. With tensor parallel too (2-D), FSDP2's
  parameter is the variable's model-axes shard: the layer's DTensor view wraps FSDP's
  all-gathered parameter, as FSDP2 itself does for DTensor parameters (torch's 2-D recipe).
  Where FSDP2 cannot hold a variable (an uneven shard of a dimension other than 0), the model
  takes tkeras's own ZeRO-3: the layer sees the all-gathered value, whose gradient is
  reduce-scattered (averaged) back onto the slice (`VariablePlan.view`).
Gradients come from plain autograd through `.grad` (`loss.backward()`; `fit`'s step takes
them there through its strategy, `tkeras.parallel.strategy`), and the optimizer's state is sharded like the variables.

Differences from Keras on JAX: `variable.numpy()`/`get_weights()` return this process's part
(use `gather_full_state`/`full_weights` for whole values); regularizers and constraints act on
that part; `BatchNormalization` statistics are those of rank 0's slice of the batch (broadcast at
every training step, as DDP's `broadcast_buffers`) unless `synchronized=True`.
"""

import contextlib
import math
import warnings

import numpy as np
import torch
import torch.distributed as dist

from tkeras.parallel import runtime


# ----------------------------------------------------------------------------- layouts
def _chunk(t, dim, n, index):
    """DTensor's `Shard(dim)` piece `index` of `n` (torch.chunk sizes; trailing pieces may be empty)."""
    size = t.shape[dim]
    step = -(-size // n)
    start = min(index * step, size)
    return t.narrow(dim, start, min(step, size - start))


def _contiguous_stride(shape):
    stride, acc = [], 1
    for s in reversed(shape):
        stride.append(acc)
        acc *= s
    return tuple(reversed(stride))


def placements_for(axes, keras_mesh, exclude=()):
    """DTensor placements (one per mesh axis) of Keras layout `axes` on `keras_mesh`."""
    from torch.distributed.tensor import Replicate, Shard

    names = [n for n in keras_mesh.axis_names if n not in exclude]
    placements = [Replicate()] * len(names)
    for dim, axis in enumerate(axes):
        if axis is None or axis in exclude:
            continue
        if axis not in names:
            raise ValueError(f"Layout axis {axis!r} is not an axis of the mesh {keras_mesh}.")
        i = names.index(axis)
        if not isinstance(placements[i], Replicate):
            raise ValueError(f"Mesh axis {axis!r} shards two dimensions of layout {axes}.")
        placements[i] = Shard(dim)
    return placements


class VariablePlan:
    """Where one variable lives: its model-axes placements and its batch-axis (FSDP) dimension."""

    def __init__(self, variable, full_shape, placements, model_mesh, batch_dim, batch_mesh):
        self.variable = variable
        self.full_shape = tuple(full_shape)
        self.placements = placements
        self.model_mesh = model_mesh
        self.batch_dim = batch_dim
        self.batch_mesh = batch_mesh
        self.on_fsdp2 = False  # set when FSDP2 holds the batch-axis sharding
        self.model_local_shape = self.full_shape
        if model_mesh is not None:
            probe = torch.empty(self.full_shape, device="meta")
            self.model_local_shape = tuple(self.model_local(probe).shape)

    @property
    def sharded(self):
        from torch.distributed.tensor import Replicate

        return self.batch_dim is not None or (
            self.model_mesh is not None
            and any(not isinstance(p, Replicate) for p in self.placements))

    def model_local(self, full):
        """This process's part of `full` over the model axes only."""
        from torch.distributed.tensor import Shard

        t = full
        for i, p in enumerate(self.placements):
            if isinstance(p, Shard):
                t = _chunk(t, p.dim, self.model_mesh.size(i), self.model_mesh.get_local_rank(i))
        return t

    def local_of(self, full):
        """This process's part of the whole value `full`."""
        t = self.model_local(full) if self.model_mesh is not None else full
        if self.batch_dim is not None:
            t = _chunk(t, self.batch_dim, self.batch_mesh.size(), self.batch_mesh.get_local_rank())
        return t.contiguous()

    def _gathered_on_batch(self, local, grad=True):
        from torch.distributed.tensor import DTensor, Partial, Replicate, Shard

        d = DTensor.from_local(local, self.batch_mesh, [Shard(self.batch_dim)], run_check=False,
                               shape=self.model_local_shape,
                               stride=_contiguous_stride(self.model_local_shape))
        d = d.redistribute(self.batch_mesh, [Replicate()])
        return d.to_local(grad_placements=[Partial("avg")]) if grad else d.to_local()

    def view(self, registered):
        """What the layer computes with, from its registered parameter `registered` (the
        variable, or FSDP2's all-gathered parameter during the layer's pass): a DTensor on the
        model axes, or the tensor gathered over the batch axis."""
        from torch.distributed.tensor import DTensor

        t = registered
        if self.batch_dim is not None and not self.on_fsdp2:
            t = self._gathered_on_batch(t)
        if self.model_mesh is not None:
            t = DTensor.from_local(t, self.model_mesh, self.placements, run_check=False,
                                   shape=self.full_shape,
                                   stride=_contiguous_stride(self.full_shape))
        return t

    @torch.no_grad()
    def gather(self, local):
        """The whole value from this process's part `local` (a collective)."""
        from torch.distributed.tensor import DTensor

        t = local
        if self.batch_dim is not None:
            t = self._gathered_on_batch(t, grad=False)
        if self.model_mesh is not None:
            t = DTensor.from_local(t, self.model_mesh, self.placements, run_check=False,
                                   shape=self.full_shape,
                                   stride=_contiguous_stride(self.full_shape)).full_tensor()
        return t


# ----------------------------------------------------------------------------- gradient sync
class ReplicaReducer:
    """torch's DDP `Reducer` (bucketed all-reduces launched as backward produces gradients,
    averaged into `.grad` at its end) for the variables replicated over the data-parallel group.

    As `torch.distributed._composable.replicate` does, DDP is built over the variables
    themselves (an `nn.ParameterList` of the same `KerasVariable` objects) and driven from hooks
    on the model (`before_forward` / `after_forward`), so every `model(x)` with gradients enabled,
    in `fit` or in a custom `train_step`, prepares the reduction. (`replicate` itself is not
    used: it changes the model's class, which Keras configs and saving read.)

    Like DDP, it averages gradients accumulated into `.grad` (`loss.backward()`); gradients taken
    with `torch.autograd.grad` are not seen. `fit`'s step gets its gradients through
    `gradients()` below. DDP runs with `find_unused_parameters=True` (one walk of the autograd
    graph per training forward): Keras models may have variables outside the loss (an output
    without a loss), which plain DDP rejects; `static_graph=True` was tried and fails on the
    third step of such a model (reducer "Expected to have finished reduction"). DDP is
    rebuilt when the set of trainable variables changes (`layer.trainable = False`). Values are
    not broadcast by DDP (`init_sync=False`): `DistributedModel` broadcasts rank 0's first.
    """

    def __init__(self, variables, group):
        self.variables = [v for v in variables if v.is_floating_point()]
        self.group = group
        self._ddp = None
        self._trainable = None
        self._sentinel = None

    def _watch(self, params):
        """Warn when the first variable's gradient bypasses `.grad` (`torch.autograd.grad` in a
        custom step): DDP would silently leave it un-averaged."""
        if self._sentinel is not None:
            self._sentinel.remove()
        first = params[0]

        def check():
            if first.grad is None:
                warnings.warn("DataParallel averages gradients accumulated into `.grad` "
                              "(`loss.backward()`), as torch's DDP; gradients of the model's "
                              "variables taken with `torch.autograd.grad` are this process's "
                              "own, not averaged.", stacklevel=2)

        def hook(grad):
            torch.autograd.Variable._execution_engine.queue_callback(check)

        self._sentinel = first.register_hook(hook)

    def _current(self):
        trainable = tuple(v.requires_grad for v in self.variables)
        if trainable != self._trainable:
            from torch.nn.parallel import DistributedDataParallel

            params = torch.nn.ParameterList([v for v in self.variables if v.requires_grad])
            self._ddp = DistributedDataParallel(params, process_group=self.group,
                                                broadcast_buffers=False, init_sync=False,
                                                find_unused_parameters=True) if len(params) else None
            if len(params):
                self._watch(params)
            self._trainable = trainable
        return self._ddp

    def before_forward(self):
        if torch.is_grad_enabled() and self._current() is not None:
            self._ddp._pre_forward()

    def after_forward(self, output):
        if self._ddp is None or not torch.is_grad_enabled():
            return output
        return self._ddp._post_forward(output)


def uses_reducer(variables):
    """Whether gradients of `variables` must be taken through `.grad` (DDP-reduced)."""
    return bool(variables) and getattr(variables[0], "_tkeras_reducer", None) is not None


def gradients(loss, variables):
    """`torch.autograd.grad(loss, variables, allow_unused=True)` through `.grad`, so that DDP's
    reducer averages them and FSDP2 reduce-scatters them (the `.grad` fields, and FSDP's, are
    left empty again)."""
    from tkeras.parallel.fsdp import FullyShardedLayers

    inputs = [t for v in variables for t in FullyShardedLayers.autograd_inputs(v)]
    torch.autograd.backward(loss, inputs=inputs)
    grads = []
    for v in variables:
        grads.append(v.grad)
        FullyShardedLayers.clear_grad(v)
    return grads


# ----------------------------------------------------------------------------- the model
class _ViewIn:
    """Forward pre-hook: the layer's attributes become views of its distributed variables."""

    def __init__(self, entries):
        self.entries = entries

    def __call__(self, module, args):
        for key, plan in self.entries:
            module.__dict__[key] = plan.view(module._parameters[key])
        # DTensor's einsum/reshape rules read the global strides; a non-contiguous local shard
        # (e.g. attention heads transposed back) then fails to `view`: hand layers contiguous
        # inputs.
        return _map_tensors(_contiguous_dtensor, args)


def _contiguous_dtensor(t):
    from torch.distributed.tensor import DTensor

    if not isinstance(t, DTensor) or t._local_tensor.is_contiguous():
        return t
    return DTensor.from_local(t.to_local().contiguous(), t.device_mesh, t.placements,
                              run_check=False, shape=t.shape, stride=_contiguous_stride(t.shape))


class _ViewOut:
    """Forward hook (always run): the attributes are the variables again."""

    def __init__(self, entries):
        self.entries = entries

    def __call__(self, module, args, output):
        for key, _ in self.entries:
            module.__dict__.pop(key, None)


def _map_tensors(fn, obj):
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(fn, v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_tensors(fn, v) for v in obj)
    return obj


class DistributedModel:
    """The distribution applied to one model: variable plans, layer hooks, gradient hooks."""

    def __init__(self, model, distribution):
        if not model.built:
            raise ValueError("Build the model (call it on data, or give it an `Input`) before "
                             "distributing it.")
        self.model = model
        self.distribution = distribution
        keras_mesh = distribution.device_mesh
        mesh = runtime.torch_mesh(keras_mesh)
        batch = distribution.batch_dim_name
        names = tuple(keras_mesh.axis_names)
        self.batch_mesh = mesh[batch] if batch in names else None
        self.model_axes = tuple(n for n in names if n != batch)
        self.model_mesh = None
        if self.model_axes and math.prod(mesh[self.model_axes].shape) > 1:
            self.model_mesh = mesh[self.model_axes]
        self.data_size = self.batch_mesh.size() if self.batch_mesh is not None else 1
        self.data_rank = self.batch_mesh.get_local_rank() if self.batch_mesh is not None else 0
        self.data_group = self.batch_mesh.get_group() if self.data_size > 1 else None
        self._handles = []
        self._full = False
        self._broadcast_from_rank0()
        self.plans = {}
        for v in model.weights:
            self.plans[id(v)] = self._plan(v)
        self.fsdp = None
        if self._use_fsdp2():
            from tkeras.parallel.fsdp import FullyShardedLayers

            for plan in self.plans.values():  # ignored by FSDP: replicated, broadcast
                v = plan.variable
                if not (v.trainable and v.requires_grad):
                    plan.batch_dim = None
            self.fsdp = FullyShardedLayers(
                model, list(self.plans.values()), self.batch_mesh,
                reshard_after_forward=getattr(distribution, "reshard_after_forward", True))
        self._shard_variables()
        self._install_hooks()
        self._buffers = [v for v in model.weights if not v.trainable and v.is_floating_point()]

    # -- plans
    def _plan(self, variable):
        layout = self.distribution.get_variable_layout(variable)
        axes = tuple(layout.axes) if layout is not None else (None,) * variable.ndim
        if len(axes) != variable.ndim:
            raise ValueError(f"Layout {axes} has {len(axes)} axes but variable {variable.path} "
                             f"has shape {tuple(variable.shape)}.")
        batch = self.distribution.batch_dim_name
        batch_dim = axes.index(batch) if batch in axes and self.data_size > 1 else None
        placements = None
        if self.model_mesh is not None:
            placements = placements_for(axes, self.distribution.device_mesh, exclude=(batch,))
        return VariablePlan(variable, variable.shape, placements, self.model_mesh, batch_dim,
                            self.batch_mesh)

    def _use_fsdp2(self):
        """Batch-axis sharding runs on torch's FSDP2 (`tkeras.parallel.fsdp`), alone or with
        tensor parallel, when FSDP2 can hold every batch-sharded variable; else it is tkeras's
        own path (`VariablePlan._gathered_on_batch`)."""
        from tkeras.parallel import fsdp

        plans = list(self.plans.values())
        return (self.data_size > 1
                and any(p.batch_dim is not None for p in plans)
                and fsdp.supports(plans, self.model))

    @torch.no_grad()
    def _broadcast_from_rank0(self):
        """Every process starts from global rank 0's values (as DDP does)."""
        for v in self.model.weights:
            dist.broadcast(v.data, src=0)

    @torch.no_grad()
    def _shard_variables(self):
        slots = self._optimizer_slots()
        for plan in self.plans.values():
            if plan.sharded:
                v = plan.variable
                full = v.data
                if getattr(v, "_tkeras_fsdp_param", None) is None:  # (FSDP2 placed its own)
                    v.data = plan.local_of(full).clone()
                for slot in slots.get(id(v), ()):
                    if tuple(slot.shape) == plan.full_shape:
                        slot.data = plan.local_of(slot.data).clone()
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "_plain_slots"):
            optimizer._plain_slots = {}

    def _optimizer_slots(self):
        """`{id(model variable): [optimizer slot variables]}`, matched by Keras's slot names
        (`<variable path with _>_<slot>`; the longest matching path wins)."""
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "variables"):
            return {}
        refs = sorted(((p.variable.path.replace("/", "_"), p.variable)
                       for p in self.plans.values() if p.sharded), key=lambda r: -len(r[0]))
        found = {}
        for slot in optimizer.variables:
            name = getattr(slot, "name", "")
            for ref, v in refs:
                if name.startswith(ref + "_"):
                    found.setdefault(id(v), []).append(slot)
                    break
        return found

    # -- hooks
    def _install_hooks(self):
        needs_view = self.model_mesh is not None
        owners = {}
        for module in self.model.modules():
            for key, p in module._parameters.items():
                plan = self.plans.get(id(p))
                if plan is None:
                    continue
                if needs_view or (plan.batch_dim is not None and self.fsdp is None):
                    owners.setdefault(module, []).append((key, plan))
        if needs_view and self.fsdp is not None:  # registered there: FSDP2's parameters
            for variable, fsdp_param in self.fsdp.variables:
                info = fsdp_param._module_info
                owners.setdefault(info.module, []).append((info.param_name,
                                                           self.plans[id(variable)]))
        for module, entries in owners.items():
            self._handles.append(module.register_forward_pre_hook(_ViewIn(entries)))
            self._handles.append(module.register_forward_hook(_ViewOut(entries),
                                                              always_call=True))
        self.reducer = None
        if self.data_size > 1:
            self.reducer = ReplicaReducer(
                [p.variable for p in self.plans.values() if p.batch_dim is None],
                self.data_group)
            for v in self.model.weights:  # `gradients()` takes the model's through `.grad`
                v._tkeras_reducer = self.reducer
        self._handles.append(self.model.register_forward_pre_hook(self._model_in,
                                                                  with_kwargs=True))
        self._handles.append(self.model.register_forward_hook(self._model_out,
                                                              always_call=True))

    def _model_in(self, model, args, kwargs):
        if self.reducer is not None:
            self.reducer.before_forward()
        if model.training and self._buffers and self.data_size > 1:
            with torch.no_grad():
                for b in self._buffers:
                    dist.broadcast(b.data, src=dist.get_global_rank(self.data_group, 0),
                                   group=self.data_group)
        if self.model_mesh is None:
            return None
        from torch.distributed.tensor import DTensor, Replicate
        from torch.distributed.tensor.experimental import implicit_replication

        # Plain tensors met inside layers (constants, masks) are the same on every process of
        # the model axes: let DTensor ops treat them as replicated.
        self._context = contextlib.ExitStack()
        self._context.enter_context(implicit_replication())
        if self.model_mesh.device_type == "cpu":
            # torch has no DTensor rule for the CPU flash-attention backward: use the math
            # attention kernel (ops DTensor knows) on CPU.
            from torch.nn.attention import SDPBackend, sdpa_kernel

            self._context.enter_context(sdpa_kernel([SDPBackend.MATH]))
        replicate = [Replicate()] * self.model_mesh.ndim
        to_dtensor = (lambda t: t if isinstance(t, DTensor) else
                      DTensor.from_local(t, self.model_mesh, replicate, run_check=False))
        return _map_tensors(to_dtensor, args), kwargs

    def _model_out(self, model, args, output):
        if self.model_mesh is not None:
            from torch.distributed.tensor import DTensor

            context, self._context = getattr(self, "_context", None), None
            if context is not None:
                context.close()
            output = _map_tensors(lambda t: t.full_tensor() if isinstance(t, DTensor) else t,
                                  output)
        if self.reducer is not None:
            output = self.reducer.after_forward(output)
        if self.fsdp is not None and torch.is_grad_enabled():
            self.fsdp.register_output_hooks(output)
        return output

    # -- whole values
    @contextlib.contextmanager
    def full_weights(self, writeback=False, include_optimizer=True):
        if self._full:  # nested: the values are whole already
            yield
            return
        sharded = [p for p in self.plans.values() if p.sharded]
        slots = self._optimizer_slots() if include_optimizer else {}
        swapped = []
        with torch.no_grad():
            for plan in sharded:
                for t in [plan.variable] + [s for s in slots.get(id(plan.variable), ())
                                            if tuple(s.shape) == tuple(plan.variable.shape)]:
                    local = t.data
                    t.data = plan.gather(local)
                    swapped.append((plan, t, local))
        self._full = True
        try:
            yield
        finally:
            self._full = False
            with torch.no_grad():
                for plan, t, local in swapped:
                    if writeback:
                        local.copy_(plan.local_of(t.data.to(local.device, local.dtype)))
                    t.data = local


# ----------------------------------------------------------------------------- public helpers
def distribute_model(model, distribution):
    """Apply `distribution` to `model` (a collective: every process calls it). Idempotent."""
    current = getattr(model, "_tkeras_distributed", None)
    if current is not None:
        if current.distribution is distribution:
            return current
        raise ValueError("This model is already distributed with another distribution; build "
                         "a new model (or load its weights into one) for the new distribution.")
    dm = DistributedModel(model, distribution)
    object.__setattr__(model, "_tkeras_distributed", dm)
    return dm


def data_parallel_group():
    """The process group whose processes see different data: the current distribution's batch
    axis (`None` when the data is not split, e.g. tensor parallel alone); the whole world
    without a tkeras distribution (a process group the user started). Synchronized
    `BatchNormalization` reduces its statistics over it."""
    from tkeras.parallel import spec

    d = spec.distribution()
    if d is None or runtime.fabric() is None or d.device_mesh.device_type == "tpu":
        return dist.group.WORLD
    cached = _DATA_GROUPS.get(id(d))
    if cached is None or cached[0] is not d:
        mesh = runtime.torch_mesh(d.device_mesh)
        batch = d.batch_dim_name
        group = None
        if batch in mesh.mesh_dim_names and mesh[batch].size() > 1:
            group = mesh[batch].get_group()
        cached = _DATA_GROUPS[id(d)] = (d, group)
    return cached[1]


_DATA_GROUPS = {}


def all_reduce_sum(t, group):
    """Differentiable all-reduce (sum) of `t` over `group`: the backward pass sums the gradients
    over the group too, as `torch.nn.SyncBatchNorm` does for its statistics. A DTensor (inside a
    tensor-parallel model) is reduced through its local value."""
    from torch.distributed.nn.functional import all_reduce
    from torch.distributed.tensor import DTensor

    if isinstance(t, DTensor):
        local = all_reduce(t.to_local(grad_placements=t.placements), group=group)
        return DTensor.from_local(local, t.device_mesh, t.placements, run_check=False,
                                  shape=t.shape, stride=t.stride())
    return all_reduce(t, group=group)


def _distributed(model):
    return getattr(model, "_tkeras_distributed", None)


@contextlib.contextmanager
def full_weights(model, writeback=False, include_optimizer=True):
    """Within the block, sharded variables (and their optimizer slots) hold their whole value.

    A collective: every process enters it. With `writeback=True`, values assigned inside the
    block (e.g. `load_weights`) are re-sharded on exit. No-op for undistributed models.
    """
    dm = _distributed(model)
    if dm is None:
        yield
        return
    with dm.full_weights(writeback=writeback, include_optimizer=include_optimizer):
        yield


def gather_full_state(model, include_optimizer=False):
    """`{variable path: whole value as numpy}` on every process (a collective)."""
    with full_weights(model, include_optimizer=include_optimizer):
        state = {v.path: v.detach().cpu().numpy().copy() for v in model.weights}
        optimizer = getattr(model, "optimizer", None)
        if include_optimizer and optimizer is not None:
            for v in optimizer.variables:
                state[v.path] = v.detach().cpu().numpy().copy()
    return state


def shard_state_into(model, state):
    """Assign whole values `{path: array}` to the model's variables, re-sharding them (collective)."""
    optimizer = getattr(model, "optimizer", None)
    variables = list(model.weights) + list(getattr(optimizer, "variables", []) or [])
    with full_weights(model, writeback=True):
        for v in variables:
            if v.path in state:
                v.assign(np.asarray(state[v.path]))
