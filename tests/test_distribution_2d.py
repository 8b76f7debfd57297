"""2-D parallelism (batch axis x model axis) on a (2, 2) mesh: 4 gloo processes forked from pytest.

The model axis is tensor parallel (tkeras's DTensor views), the batch axis is FSDP2's
`fully_shard` on the batch axis's mesh, whose parameters are the variables' model-axes shards.
Each run checks that the batch axis really is FSDP2's (its state on the layers, its DTensor
parameters on the "batch" mesh registered on them, the `KerasVariable`s sharing its shards'
storage), that training equals one process on the full batch within 1e-5, that every rank holds
the piece of the whole value its layout says, that gathered weights are freed between forward
and backward, and that checkpoints hold (and restore) whole values.
"""

import os
import sys

import numpy as np
import pytest
import torch
import torch.distributed.fsdp  # noqa: F401  (imported before forking: paid once)
import torch.distributed.tensor  # noqa: F401

import tkeras as keras
import tkeras.distribution as D
from tkeras.parallel import runtime, sharding
from tkeras.parallel.launch import fork_run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "dist_scripts"))
import common  # noqa: E402

TOL = 1e-5
SHAPE = (2, 2)


def _mesh():
    return D.DeviceMesh(SHAPE, ("batch", "model"), devices=[f"cpu:{i}" for i in range(4)])


def _distribution(layout_map_fn):
    return D.ModelParallel(layout_map=layout_map_fn(_mesh()), batch_dim_name="batch")


def _key(path):
    """The last two parts of a variable path (`sequential_3/d1/kernel` -> `d1/kernel`)."""
    return "/".join(path.split("/")[-2:])


def _coords(model):
    """This process's (batch, model) coordinates on the mesh."""
    dm = sharding._distributed(model)
    return dm.batch_mesh.get_local_rank(), dm.model_mesh.get_local_rank()


def _piece(full, axes, coords):
    """The piece of the whole value `full` a process at `coords` holds under layout `axes`
    (2 pieces per mesh axis: `torch.chunk` and `np.array_split` agree)."""
    t = np.asarray(full)
    for dim, axis in enumerate(axes):
        if axis is not None:
            t = np.array_split(t, 2, axis=dim)[coords[("batch", "model").index(axis)]]
    return t


def _axes(layout_map_fn, variable):
    layout = layout_map_fn(_mesh())[variable.path]
    return (None,) * variable.ndim if layout is None else tuple(layout.axes)


def _fsdp_report(model):
    """For each module FSDP2 manages: its class and, per FSDP parameter, whether the registered
    parameter is FSDP's DTensor on the "batch" mesh sharing the variable's storage."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor

    variables = {id(p.variable): p.variable
                 for p in sharding._distributed(model).plans.values()}
    report = {}
    for module in model.modules():
        state = fully_shard.state(module)
        group = getattr(state, "_fsdp_param_group", None)
        if group is None:
            continue
        params = []
        for fsdp_param in group.fsdp_params:
            name = fsdp_param._module_info.param_name
            registered = module._parameters[name]
            variable = next(v for v in variables.values()
                            if getattr(v, "_tkeras_fsdp_param", None) is fsdp_param)
            params.append({
                "name": name,
                "mesh": list(registered.device_mesh.mesh_dim_names)
                if isinstance(registered, DTensor) else None,
                "same_storage": variable.untyped_storage().data_ptr()
                == registered.to_local().untyped_storage().data_ptr(),
            })
        report[module.name] = {"class": type(module).__name__, "params": params}
    return report


def _step_memory_and_grads(model, x, y):
    """One forward and backward pass outside `fit`: FSDP's gathered storage while the second
    Dense runs, after the forward pass, and the trainable variables' `.grad` afterwards."""
    dm = sharding._distributed(model)
    during = []
    handle = model.layers[1].register_forward_pre_hook(
        lambda module, args: during.append(dm.fsdp.local_storage_bytes()))
    out = model(torch.as_tensor(x))
    handle.remove()
    after_forward = dm.fsdp.local_storage_bytes()
    torch.autograd.backward(((out - torch.as_tensor(y)) ** 2).mean())
    grads = {_key(v.path): v.grad.detach().clone().numpy() for v in model.trainable_weights}
    model.zero_grad()
    return during[0], after_forward, grads


# ----------------------------------------------------------------------------- the MLP
def _mlp_body():
    D.set_distribution(_distribution(common.mlp_2d_layout_map))
    x, y = common.data()
    model = common.mlp(seed=runtime.process_id(), optimizer="adam")
    # predict first (inference mode): FSDP's buffers must still serve training afterwards
    first_predict = model.predict(x, batch_size=8, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    coords = _coords(model)
    local = {_key(w.path): w.numpy().copy() for w in model.weights}
    slots = {v.path: list(v.shape) for v in model.optimizer.variables if v.ndim}
    # this rank's half of the batch (both model ranks of a batch coordinate see the same)
    during, after_forward, grads = _step_memory_and_grads(model, x[coords[0]::2],
                                                          y[coords[0]::2])
    dm = sharding._distributed(model)
    return {"full": list(D.gather_full_state(model).values()), "local": local,
            "coords": coords, "fsdp": _fsdp_report(model), "slots": slots,
            "during": during, "after_forward": after_forward, "grads": grads,
            "replicated": [_key(v.path) for v in dm.reducer.variables],
            "first_predict": first_predict, "loss": history.history["loss"],
            "model_class": type(model).__name__}


def test_2d_mlp_on_fsdp2_matches_single_process():
    x, y = common.data()
    reference = common.mlp(optimizer="adam")
    first_predict = reference.predict(x, verbose=0)
    history = reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    ref_weights = [w.numpy() for w in reference.weights]
    out = reference(torch.as_tensor(x))
    torch.autograd.backward(((out - torch.as_tensor(y)) ** 2).mean())
    ref_grads = {_key(w.path): (w.grad.numpy(), _axes(common.mlp_2d_layout_map, w))
                 for w in reference.trainable_weights}
    reference.zero_grad()
    axes = {_key(w.path): _axes(common.mlp_2d_layout_map, w) for w in reference.weights}

    results = fork_run(_mlp_body, 4)
    assert sorted(tuple(r["coords"]) for r in results) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for r in results:
        assert max(float(np.abs(a - b).max()) for a, b in zip(r["full"], ref_weights)) < TOL
        np.testing.assert_allclose(r["loss"], history.history["loss"], atol=TOL)
        np.testing.assert_allclose(r["first_predict"], first_predict, atol=TOL)
        assert r["model_class"] == "Sequential"
        # the batch axis is FSDP2's: one group per Dense, its DTensor parameters on the
        # "batch" mesh registered on the layer, sharing the Keras variables' storage
        assert r["fsdp"] == {
            name: {"class": "Dense",
                   "params": [{"name": p, "mesh": ["batch"], "same_storage": True}
                              for p in params]}
            for name, params in [("d1", ["kernel"]), ("d2", ["kernel", "bias"])]}
        # d1's bias is whole on "batch" (its model-axis half): averaged by DDP's reducer
        assert r["replicated"] == ["d1/bias"]
        # each rank holds its layout's piece: batch halves of the model halves
        assert {k: list(v.shape) for k, v in r["local"].items()} == {
            "d1/kernel": [4, 8], "d1/bias": [8], "d2/kernel": [8, 3], "d2/bias": [3]}
        for (key, local), full in zip(r["local"].items(), ref_weights):
            np.testing.assert_allclose(local, _piece(full, axes[key], r["coords"]), atol=TOL)
        # Adam's slots are sharded like their variables
        for key, value in r["local"].items():
            suffix = "_" + key.replace("/", "_") + "_momentum"
            assert [s for k, s in r["slots"].items() if k.endswith(suffix)] == \
                [list(value.shape)]
        # the gathered weights exist while a layer runs and are freed after the forward pass
        assert r["during"] > 0
        assert r["after_forward"] == 0
        # the gradient (reduce-scattered by FSDP2 over "batch", reduced by DTensor over
        # "model") is the piece of the full-batch gradient
        for key, grad in r["grads"].items():
            full_grad, grad_axes = ref_grads[key]
            np.testing.assert_allclose(grad, _piece(full_grad, grad_axes, r["coords"]),
                                       atol=TOL)


# ----------------------------------------------------------------------------- transformer
def _transformer_body():
    D.set_distribution(_distribution(common.transformer_2d_layout_map))
    x, y = common.transformer_data()
    model = common.transformer_block(seed=runtime.process_id(), optimizer="adam")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return {"full": list(D.gather_full_state(model).values()), "coords": _coords(model),
            "local": {_key(w.path): w.numpy().copy() for w in model.weights},
            "groups": sorted(layer["class"] for layer in _fsdp_report(model).values())}


def test_2d_transformer_block_on_fsdp2_matches_single_process():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    x, y = common.transformer_data()
    reference = common.transformer_block(optimizer="adam")
    initial = [w.numpy().copy() for w in reference.weights]
    # The sharded run computes attention with the math kernel on CPU (DTensor has no rule for
    # the CPU flash-attention backward): the reference does too, so rounding matches.
    with sdpa_kernel([SDPBackend.MATH]):
        reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ref_weights = [w.numpy() for w in reference.weights]
    keys = [_key(w.path) for w in reference.weights]
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref_weights, initial)) > 1e-3
    axes = {_key(w.path): _axes(common.transformer_2d_layout_map, w) for w in reference.weights}
    # The key projection's bias adds the same q.b to every logit of a query's row, which
    # softmax ignores: its gradient is zero up to rounding, and Adam divides that rounding
    # noise by its epsilon (lr / eps = 1e5), so where the rounding falls (here: 2 processes'
    # half-batch gradients averaged over "batch", partial sums reduced over "model") moves it
    # by ~1.4e-5 (measured). It gets a bound far under a real gradient's Adam steps
    # (~lr = 1e-2 each); every other variable the 1e-5 one.
    with sdpa_kernel([SDPBackend.MATH]):
        out = reference(torch.as_tensor(x))
        torch.autograd.backward(((out - torch.as_tensor(y)) ** 2).mean())
    key_bias = keys.index("key/bias")
    assert float(reference.weights[key_bias].grad.abs().max()) < 1e-7
    reference.zero_grad()

    for r in fork_run(_transformer_body, 4):
        diffs = [float(np.abs(a - b).max()) for a, b in zip(r["full"], ref_weights)]
        assert diffs.pop(key_bias) < 1e-4
        assert max(diffs) < TOL
        # MultiHeadAttention's EinsumDense sub-layers, LayerNormalization and the Dense layers
        # are FSDP2 groups (ff2's batch-sharded kernel too)
        assert r["groups"] == ["Dense", "Dense", "EinsumDense", "EinsumDense", "EinsumDense",
                               "EinsumDense", "LayerNormalization"]
        shapes = {k: list(v.shape) for k, v in r["local"].items()}
        assert shapes["query/kernel"] == [4, 1, 4]  # (8, 2, 4): "batch" x heads over "model"
        assert shapes["value/bias"] == [1, 4]
        assert shapes["attention_output/kernel"] == [1, 4, 4]
        assert shapes["attention_output/bias"] == [4]
        assert shapes["ln/gamma"] == [4]
        assert shapes["ff1/kernel"] == [4, 8]
        assert shapes["ff2/kernel"] == [8, 4]
        assert shapes["ff2/bias"] == [8]
        for (key, local), full in zip(r["local"].items(), ref_weights):
            np.testing.assert_allclose(local, _piece(full, axes[key], r["coords"]),
                                       atol=1e-4 if key == "key/bias" else TOL)


# ----------------------------------------------------------------------------- checkpoints
class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("interrupted")


def _checkpoint_body(tmp):
    D.set_distribution(_distribution(common.mlp_2d_layout_map))
    rank = runtime.process_id()
    x, y = common.data()
    model = common.mlp(seed=rank, optimizer="adam")
    callbacks = [keras.callbacks.ModelCheckpoint(os.path.join(tmp, "epoch{epoch}.keras")),
                 keras.callbacks.BackupAndRestore(os.path.join(tmp, "backup")), _Interrupt()]
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                  callbacks=callbacks)
    model.save(os.path.join(tmp, "final.keras"))
    model.save_weights(os.path.join(tmp, "final.weights.h5"))
    # a fresh 2-D model (already sharded by a step) takes the file's whole weights
    restored = common.mlp(seed=7, optimizer="adam")
    restored.fit(x[:16], y[:16], batch_size=16, epochs=1, shuffle=False, verbose=0)
    restored.load_weights(os.path.join(tmp, "final.weights.h5"))
    restored_diff = max(float(np.abs(a - b).max()) for a, b in zip(
        D.gather_full_state(restored).values(), D.gather_full_state(model).values()))
    # another fresh model resumes the interrupted run from the backup (epochs 3 and 4)
    resumed = common.mlp(seed=rank + 10, optimizer="adam")
    history = resumed.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                          callbacks=[keras.callbacks.BackupAndRestore(
                              os.path.join(tmp, "backup"))])
    return {"restored": restored_diff,
            "restored_local": [list(w.shape) for w in restored.weights],
            "restored_groups": sorted(_fsdp_report(restored)),
            "resumed": list(D.gather_full_state(resumed).values()),
            "resumed_epochs": len(history.history["loss"]),
            "files": sorted(os.listdir(tmp))}


def test_2d_checkpoints_and_backup_and_restore(tmp_path):
    x, y = common.data()
    reference = common.mlp(optimizer="adam")
    reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    after_two = [w.numpy() for w in reference.weights]
    after_two_slots = [v.numpy() for v in reference.optimizer.variables]
    reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    after_four = [w.numpy() for w in reference.weights]

    out = fork_run(_checkpoint_body, 4, (str(tmp_path),))
    assert out[0]["files"] == ["epoch1.keras", "epoch2.keras", "final.keras",
                               "final.weights.h5"]  # the backup is removed when done
    for r in out:
        assert r["restored"] == 0.0
        assert r["restored_local"] == [[4, 8], [8], [8, 3], [3]]  # re-sharded on load
        assert r["restored_groups"] == ["d1", "d2"]
        assert r["resumed_epochs"] == 2
        assert max(float(np.abs(a - b).max()) for a, b in zip(r["resumed"], after_four)) < TOL
    for name in ("epoch2.keras", "final.keras"):
        loaded = keras.models.load_model(str(tmp_path / name))
        assert max(float(np.abs(w.numpy() - b).max())
                   for w, b in zip(loaded.weights, after_two)) < TOL
        # the optimizer state in the file is the whole state, as one process writes it
        slots = [v.numpy() for v in loaded.optimizer.variables]
        assert [s.shape for s in slots] == [s.shape for s in after_two_slots]
        assert max(float(np.abs(a - b).max()) for a, b in zip(slots, after_two_slots)) < TOL


# ----------------------------------------------------------------------------- the fallback
def _odd_mlp(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((common.IN,)),
                              keras.layers.Dense(common.HID, activation="tanh", name="d1"),
                              keras.layers.Dense(5, name="d2")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def _odd_layout_map(mesh):
    """d2's kernel (16, 5): its model-axis half (8, 5) split over "batch" on dimension 1,
    unevenly (3 + 2), which FSDP2 does not do."""
    layout_map = common.mlp_layout_map(mesh)
    del layout_map[".*d2/kernel"]
    layout_map[".*d2/kernel"] = ("model", "batch")
    return layout_map


def _fallback_body():
    D.set_distribution(_distribution(_odd_layout_map))
    x, y = common.data()
    y = y[:, :5]
    model = _odd_mlp(runtime.process_id())
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return {"full": list(D.gather_full_state(model).values()), "coords": _coords(model),
            "on_fsdp2": sharding._distributed(model).fsdp is not None,
            "local": [list(w.shape) for w in model.weights]}


def test_2d_uneven_non_zero_dim_falls_back_to_own_zero3():
    x, y = common.data()
    reference = _odd_mlp(0)
    reference.fit(x, y[:, :5], batch_size=16, epochs=2, shuffle=False, verbose=0)
    ref_weights = [w.numpy() for w in reference.weights]
    for r in fork_run(_fallback_body, 4):
        assert not r["on_fsdp2"]
        assert r["local"][2] == [[8, 3], [8, 2]][r["coords"][0]]
        assert max(float(np.abs(a - b).max()) for a, b in zip(r["full"], ref_weights)) < TOL
