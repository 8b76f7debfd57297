"""Batch-axis sharding on torch's FSDP2 (`fully_shard`), the Keras variables kept.

Used by `sharding.DistributedModel` when the distribution shards variables over the batch axis
(`FullyShardedDataParallel`, or a `LayoutMap` naming the batch axis, with or without other mesh
axes): every layer that owns batch-sharded trainable variables gets its own `fully_shard` group
on the batch axis's mesh, the model is the root group. So FSDP2's engine runs: one flat
all-gather per layer before its forward (prefetched), the gathered weights freed after the
forward (`reshard_after_forward`) and gathered again in the backward pass, one
reduce-scatter (averaged) of the layer's gradients, mixed-precision parameter / reduction
dtypes. (FSDP2's CPU offload is not offered: the Keras optimizer creates
its slots on its own device and updates every trainable variable in one step, so offloaded
shards would meet device-resident slots and replicated variables; untestable here without GPUs.)

How Keras's objects stay valid (the layers' weight lists, the optimizer and its slots,
callbacks and saving all hold the `KerasVariable`s):
- `fully_shard` registers its own DTensor parameters on the layer (the layer's `self.kernel` is
  FSDP's sharded / gathered parameter); each `KerasVariable` is re-pointed at the storage of
  its FSDP shard (`variable.data = sharded_param._local_tensor`, a view of FSDP's padded
  all-gather input), so `assign`, `numpy()`, optimizer updates and `load_weights` read and
  write the values FSDP gathers. Rank-local shapes are the Keras layout's shard (`Shard(dim)`
  of Keras's shape, via `shard_placement_fn`).
- After each backward pass (after FSDP's own final callback) the reduce-scattered gradient,
  a DTensor on FSDP's parameter, is handed to the variable as its `.grad` (a view of the
  same storage), so `loss.backward()` steps and `fit`'s default step both see it. Gradients
  reaching a variable directly (weight regularizers act on the local shard, as on the other
  sharded paths) are added to it.
- `fully_shard` changes each module's class to `FSDP<Class>`; tkeras restores the original
  class right away (configs and saving read it). FSDP's state stays in its registry
  (`torch.distributed.fsdp.fully_shard.state(layer)`), its hooks on the module: FSDP2 keeps
  working, but the `FSDPModule` methods (`unshard`, `set_requires_gradient_sync`, ...) are
  reached through that state, not the layer.
- Non-trainable variables (BatchNormalization statistics, seeds) are FSDP `ignored_params`:
  replicated and broadcast from the first data-parallel process at every training step.

With tensor parallel (a 2-D mesh: batch axis x model axes), FSDP2's parameter is the
variable's model-axes shard, a plain tensor: FSDP2 shards, all-gathers and reduce-scatters it
over the batch axis only, and the layer's tensor-parallel view (`sharding._ViewIn`) wraps the
all-gathered parameter as a DTensor on the model axes (`DTensor.from_local`). That is what
FSDP2 does itself for parameters that are DTensors on a tensor-parallel mesh (torch's 2-D
recipe: `FSDPParam.init_unsharded_param` wraps the all-gathered local tensor the same way), with
the same collectives; the Keras variables need not become DTensor parameters, and the
tensor-parallel path stays the one used without the batch axis.
"""

import torch


def supports(plans, model):
    """Whether FSDP2 can hold every batch-sharded variable: registered on a module of the
    model, and (FSDP2's rule) its model-axes shard evenly divisible when sharded on a
    dimension other than 0."""
    registered = {id(p) for m in model.modules() for p in m._parameters.values()
                  if p is not None}
    for plan in plans:
        if plan.batch_dim is None:
            continue
        v = plan.variable
        if id(v) not in registered or not v.is_contiguous():
            return False
        size = plan.model_local_shape[plan.batch_dim]
        if plan.batch_dim > 0 and size % plan.batch_mesh.size():
            return False
    return True


def _mixed_precision(module, variables):
    """FSDP's `MixedPrecisionPolicy` for a layer under a mixed dtype policy: parameters
    gathered in the compute dtype, gradients reduced in the variable dtype. Layers keeping
    float32 math (`autocast=False` variables, e.g. normalization) are gathered as they are."""
    from torch.distributed.fsdp import MixedPrecisionPolicy

    policy = getattr(module, "_dtype_policy", None)
    if (policy is None or not policy.autocasts or not getattr(module, "autocast", True)
            or not all(getattr(v, "autocast", True) for v in variables)):
        return MixedPrecisionPolicy(cast_forward_inputs=False)
    return MixedPrecisionPolicy(param_dtype=policy.compute_torch_dtype,
                                reduce_dtype=policy.variable_torch_dtype,
                                cast_forward_inputs=False)


class FullyShardedLayers:
    """`fully_shard` applied to a model's layers, with its `KerasVariable`s bound to FSDP's shards.

    `plans`: `VariablePlan`s (those with a `batch_dim` are sharded; those with a model mesh are
    first cut to their model-axes shard, which FSDP2 then shards); `mesh`: the batch axis's 1-D
    `DeviceMesh`. `reshard_after_forward` is FSDP2's option.
    """

    def __init__(self, model, plans, mesh, reshard_after_forward=True):
        from torch.distributed.fsdp import fully_shard
        from torch.distributed.tensor import Shard

        sharded = {id(p.variable): p for p in plans if p.batch_dim is not None}
        ignored = {p for p in model.parameters() if id(p) not in sharded}
        with torch.no_grad():
            for plan in sharded.values():
                if plan.model_mesh is not None:
                    plan.variable.data = plan.model_local(plan.variable.data).clone(
                        memory_format=torch.contiguous_format)
                plan.on_fsdp2 = True

        def placement(param):
            return Shard(sharded[id(param)].batch_dim)

        # Bottom-up (children before parents): each layer owning sharded variables is a group.
        owners = []
        for module in reversed(list(model.modules())):
            own = [p for p in module._parameters.values() if p is not None and id(p) in sharded]
            if own and module is not model:
                owners.append((module, own))
        self.variables = []  # [(KerasVariable, FSDPParam)]
        for module, own in owners + [(model, [p for p in model._parameters.values()
                                              if p is not None and id(p) in sharded])]:
            names = {n: p for n, p in module._parameters.items() if p is not None}
            cls = module.__class__
            fully_shard(module, mesh=mesh, shard_placement_fn=placement,
                        reshard_after_forward=reshard_after_forward if module is not model
                        else None,  # FSDP's default for the root: kept gathered for backward
                        mp_policy=_mixed_precision(module, own), ignored_params=ignored)
            module.__class__ = cls  # Keras configs and saving read the class
            group = fully_shard.state(module)._fsdp_param_group
            for fsdp_param in (group.fsdp_params if group is not None else ()):
                variable = names[fsdp_param._module_info.param_name]
                self._bind(variable, fsdp_param)
        self.root_state = fully_shard.state(model)
        self._direct = {}
        self._queued = False
        self._modes = []
        # before FSDP's own root hooks, and after them on the way out
        model.register_forward_pre_hook(self._leave_inference_mode, prepend=True)
        model.register_forward_hook(self._restore_inference_mode, always_call=True)

    def _leave_inference_mode(self, module, args):
        """FSDP keeps its all-gather buffers from the first forward pass: allocated under
        `torch.inference_mode()` (`predict`) they could not be written in training. A forward
        pass under inference mode runs under `no_grad` instead."""
        if not torch.is_inference_mode_enabled():
            self._modes.append(None)
            return
        modes = (torch.inference_mode(False), torch.no_grad())
        for mode in modes:
            mode.__enter__()
        self._modes.append(modes)

    def _restore_inference_mode(self, module, args, output):
        modes = self._modes.pop() if self._modes else None
        for mode in reversed(modes or ()):
            mode.__exit__(None, None, None)

    @torch.no_grad()
    def _bind(self, variable, fsdp_param):
        variable.data = fsdp_param.sharded_param._local_tensor
        variable._tkeras_fsdp_param = fsdp_param
        variable.register_hook(self._direct_hook(variable))
        self.variables.append((variable, fsdp_param))

    # -- gradients
    def _direct_hook(self, variable):
        """A gradient reaching the variable itself (a regularizer on the local shard) is kept
        aside and added to FSDP's gradient when the backward pass ends."""
        key = id(variable)

        def hook(grad):
            held = self._direct.get(key)
            self._direct[key] = grad if held is None else held + grad
            self.queue_publish()
            return torch.zeros_like(grad)

        return hook

    def queue_publish(self, grad=None):
        """Once per backward pass: publish the gradients when it ends (a tensor hook too)."""
        if not self._queued:
            self._queued = True
            torch.autograd.Variable._execution_engine.queue_callback(self._publish)
        return grad

    def _publish(self):
        # After FSDP's root callback, which runs the last post-backward reduce-scatters.
        if self.root_state._state_ctx.post_backward_final_callback_queued:
            torch.autograd.Variable._execution_engine.queue_callback(self._publish)
            return
        self._queued = False
        with torch.no_grad():
            for variable, fsdp_param in self.variables:
                grad = fsdp_param.sharded_param.grad
                direct = self._direct.pop(id(variable), None)
                if grad is not None:
                    grad = grad._local_tensor
                    if direct is not None:
                        grad.add_(direct.to(grad.device))
                elif direct is not None:
                    grad = direct
                if grad is not None or variable.grad is not None:
                    variable.grad = grad

    def register_output_hooks(self, output):
        """Queue the publishing from the model's outputs (the start of every backward pass)."""
        for t in _tensors(output):
            if t.requires_grad:
                t.register_hook(self.queue_publish)

    @staticmethod
    def clear_grad(variable):
        variable.grad = None
        fsdp_param = getattr(variable, "_tkeras_fsdp_param", None)
        if fsdp_param is not None:
            fsdp_param.sharded_param.grad = None

    @staticmethod
    def autograd_inputs(variable):
        """What the backward pass accumulates into for `variable`: FSDP's gathered parameter
        (once a forward pass created it) and the variable itself."""
        fsdp_param = getattr(variable, "_tkeras_fsdp_param", None)
        if fsdp_param is None or not hasattr(fsdp_param, "_unsharded_param"):
            return [variable]
        return [variable, fsdp_param._unsharded_param]

    # -- state
    def local_storage_bytes(self):
        """Bytes of gathered (unsharded) parameter storage FSDP holds right now."""
        total = 0
        for _, fsdp_param in self.variables:
            for t in fsdp_param.all_gather_outputs:
                total += t.untyped_storage().size()
        return total


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)
