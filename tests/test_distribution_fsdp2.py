"""Batch-axis sharding on torch's FSDP2 (`fully_shard`): 2 gloo processes forked from pytest.

Each run checks that the model really is FSDP2-managed (FSDP's state registry on every layer
owning weights, its DTensor parameters registered on the layers, the `KerasVariable`s sharing
the storage of FSDP's shards), that training equals one process on the full batch, and what
FSDP2 adds over tkeras's own ZeRO-3 path: gathered weights freed between forward and backward.
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


def _weights(model):
    return [w.numpy() for w in model.weights]


def _max_diff(a, b):
    assert len(a) == len(b)
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b))


def _unnamed(config):
    """A config without its `name`s (auto-numbered per model instance)."""
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [_unnamed(v) for v in config]
    return config


def _fsdp_report(model):
    """What FSDP2 holds for each layer, and whether each variable is bound to its shard."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor

    layers = {}
    for layer in model.layers:
        state = fully_shard.state(layer)
        group = state._fsdp_param_group if state is not None else None
        if group is None:
            continue
        bound = []
        for fsdp_param in group.fsdp_params:
            name = fsdp_param._module_info.param_name
            variable = next(v for v in layer.weights if v.name == name)
            registered = layer._parameters[name]
            bound.append({
                "name": name,
                "registered_is_dtensor": isinstance(registered, DTensor),
                "same_storage": variable.untyped_storage().data_ptr()
                == fsdp_param._sharded_param_data.untyped_storage().data_ptr(),
                "local_shape": list(variable.shape),
                "param_dtype": str(fsdp_param.param_dtype),
            })
        layers[layer.name] = {"class": type(layer).__name__, "params": bound}
    return layers


def _between_forward_and_backward(model, x, y):
    """One forward pass, then the gathered storage still held; then backward's gradients."""
    dm = sharding._distributed(model)
    out = model(torch.as_tensor(x))
    held = dm.fsdp.local_storage_bytes()
    loss = ((out - torch.as_tensor(y)) ** 2).mean()
    loss.backward()
    grads = [None if v.grad is None else v.grad.detach().clone().numpy()
             for v in model.trainable_weights]
    model.zero_grad()
    return held, grads


# ----------------------------------------------------------------------------- the MLP
def _mlp_body(options):
    D.set_distribution(D.FullyShardedDataParallel(devices=2, **options))
    rank = runtime.process_id()
    x, y = common.data()
    model = common.mlp(seed=rank, optimizer="adam")  # rank 0's initial weights are broadcast
    # predict first (inference mode): FSDP's buffers must still serve training afterwards
    first_predict = model.predict(x, batch_size=8, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    local = [w.numpy() for w in model.weights]
    held, grads = _between_forward_and_backward(model, x[rank::2], y[rank::2])
    return {"full": list(D.gather_full_state(model).values()), "local": local, "rank": rank,
            "fsdp": _fsdp_report(model), "held": held, "grads": grads,
            "model_class": type(model).__name__, "config": model.get_config(),
            "first_predict": first_predict, "loss": history.history["loss"],
            "slots": {v.path.rsplit("/", 1)[-1]: list(v.shape)
                      for v in model.optimizer.variables if v.ndim}}


@pytest.mark.parametrize("options", [{}, {"reshard_after_forward": False}],
                         ids=["reshard", "keep_gathered"])
def test_fsdp2_mlp_matches_single_process(options):
    x, y = common.data()
    reference = common.mlp(optimizer="adam")
    first_predict = reference.predict(x, verbose=0)
    history = reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    ref_weights = _weights(reference)
    # the full-batch gradient of the trained weights, which each rank's shard must equal
    out = reference(torch.as_tensor(x))
    torch.autograd.backward(((out - torch.as_tensor(y)) ** 2).mean())
    ref_grads = [w.grad.numpy() for w in reference.trainable_weights]
    reference.zero_grad()

    results = fork_run(_mlp_body, 2, (options,))
    for r in results:
        rank = r["rank"]
        assert _max_diff(r["full"], ref_weights) < TOL
        np.testing.assert_allclose(r["loss"], history.history["loss"], atol=TOL)
        np.testing.assert_allclose(r["first_predict"], first_predict, atol=TOL)
        # FSDP2 manages each Dense: its DTensor parameters registered on the layer, and the
        # KerasVariable holding this rank's shard in FSDP's own storage
        assert set(r["fsdp"]) == {"d1", "d2"}
        for name, layer in r["fsdp"].items():
            assert layer["class"] == "Dense"
            assert [p["name"] for p in layer["params"]] == ["kernel", "bias"]
            assert all(p["registered_is_dtensor"] and p["same_storage"]
                       for p in layer["params"])
        assert r["model_class"] == "Sequential"
        assert _unnamed(r["config"]) == _unnamed(reference.get_config())
        # each rank holds its half of dimension 0 (torch.chunk pieces), as do Adam's slots
        for local, full in zip(r["local"], ref_weights):
            assert np.allclose(local, np.array_split(full, 2)[rank], atol=TOL)
        assert [v for k, v in r["slots"].items() if k.endswith("_d1_kernel_momentum")] == \
            [[4, 16]]
        assert [v for k, v in r["slots"].items() if k.endswith("_d2_bias_velocity")] == [[3]]
        # between forward and backward, gathered weights are freed unless asked to keep them
        if options.get("reshard_after_forward", True):
            assert r["held"] == 0
        else:
            assert r["held"] > 0
        # the reduce-scattered gradient (averaged over the 2 half batches) is the local shard
        # of the full-batch gradient
        for g, full in zip(r["grads"], ref_grads):
            np.testing.assert_allclose(g, np.array_split(full, 2)[rank], atol=TOL)


# ----------------------------------------------------------------------------- a CNN with BN
def _cnn(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        # no bias before BN: its gradient is zero up to rounding, which Adam's normalization
        # would blow up to lr-sized steps of either sign (a rounding difference, not FSDP's)
        keras.layers.Conv2D(4, 3, use_bias=False, name="conv"),
        keras.layers.BatchNormalization(synchronized=True, name="bn"),
        keras.layers.ReLU(),
        keras.layers.Flatten(),
        keras.layers.Dense(3, name="head")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def _cnn_data():
    rng = np.random.default_rng(3)
    return (rng.normal(size=(16, 6, 6, 2)).astype("float32"),
            rng.normal(size=(16, 3)).astype("float32"))


def _cnn_body():
    D.set_distribution(D.FullyShardedDataParallel(devices=2))
    x, y = _cnn_data()
    model = _cnn(runtime.process_id())
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return {"full": list(D.gather_full_state(model).values()), "fsdp": _fsdp_report(model),
            "local": {w.path.split("/", 1)[1]: list(w.shape) for w in model.weights},
            "rank": runtime.process_id()}


def test_fsdp2_cnn_with_batch_normalization():
    x, y = _cnn_data()
    reference = _cnn(0)
    reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    results = fork_run(_cnn_body, 2)
    for r in results:
        # synchronized BN: statistics over the global batch, so equal to one process
        assert _max_diff(r["full"], _weights(reference)) < TOL
        assert set(r["fsdp"]) == {"conv", "bn", "head"}
        assert [p["name"] for p in r["fsdp"]["bn"]["params"]] == ["gamma", "beta"]
        # kernel (3, 3, 2, 4) split unevenly on dimension 0 (FSDP pads rank 1's piece);
        # BN statistics (non-trainable) replicated
        assert r["local"]["conv/kernel"] == [[2, 3, 2, 4], [1, 3, 2, 4]][r["rank"]]
        assert r["local"]["bn/gamma"] == [2]
        assert r["local"]["bn/moving_mean"] == [4]


# ----------------------------------------------------------------------------- bf16
def _bf16_body():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    D.set_distribution(D.FullyShardedDataParallel(devices=2))
    x, y = common.data()
    model = common.mlp(seed=runtime.process_id(), optimizer="adam")
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return {"full": list(D.gather_full_state(model).values()), "fsdp": _fsdp_report(model),
            "dtypes": [str(w.dtype) for w in model.weights]}


def test_fsdp2_mixed_bfloat16():
    x, y = common.data()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        reference = common.mlp(optimizer="adam")
        reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    float32 = common.mlp(optimizer="adam")
    float32.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    results = fork_run(_bf16_body, 2)
    bf16_effect = _max_diff(_weights(reference), _weights(float32))
    for r in results:
        assert r["dtypes"] == ["torch.float32"] * 4  # variables stay float32
        for layer in r["fsdp"].values():  # gathered in bfloat16
            assert all(p["param_dtype"] == "torch.bfloat16" for p in layer["params"])
        # Both runs compute in bfloat16 (8-bit mantissa); they differ only in where the
        # rounding falls: here each process's half-batch gradient is rounded to bfloat16 and
        # the halves are averaged in float32, there the full-batch gradient is rounded once.
        # After 8 Adam steps (lr 0.01) the weights differ by ~2e-4 (measured): a quarter of
        # bfloat16's resolution at 1 (2^-8 ~ 3.9e-3) bounds it, and it must stay well under
        # bfloat16's own effect on the weights (bf16 vs float32 training: ~1.2e-3 here).
        diff = _max_diff(r["full"], _weights(reference))
        assert diff < 2.0 ** -10
        assert diff < bf16_effect / 3


# ----------------------------------------------------------------------------- custom step
class _TorchGuideModel(keras.Sequential):
    """The custom `train_step` of Keras's torch guide: `loss.backward()`, `.value.grad`."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        return {m.name: m.result() for m in self.metrics}


def _regularized_mlp(seed, cls):
    keras.utils.set_random_seed(seed)
    model = cls([keras.Input((common.IN,)),
                 keras.layers.Dense(common.HID, activation="tanh", name="d1",
                                    kernel_regularizer=keras.regularizers.L2(0.01)),
                 keras.layers.Dense(common.OUT, name="d2")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def _custom_step_body():
    D.set_distribution(D.FullyShardedDataParallel(devices=2))
    x, y = common.data()
    model = _regularized_mlp(runtime.process_id(), _TorchGuideModel)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return list(D.gather_full_state(model).values())


def test_fsdp2_custom_train_step_with_regularizer():
    x, y = common.data()
    reference = _regularized_mlp(0, keras.Sequential)
    reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    # the regularizer's gradient (on each rank's shard) reaches `.grad` with FSDP's
    unregularized = common.mlp(optimizer="adam")
    unregularized.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert _max_diff(_weights(reference), _weights(unregularized)) > 1e-3
    for full in fork_run(_custom_step_body, 2):
        assert _max_diff(full, _weights(reference)) < TOL


# ----------------------------------------------------------------------------- LayoutMap
def _layout_map_body():
    mesh = D.DeviceMesh((2, 1), ("batch", "model"), devices=["cpu:0", "cpu:1"])
    layout_map = D.LayoutMap(mesh)
    layout_map[".*d1/kernel"] = (None, "batch")  # FSDP2 on dimension 1; the rest replicated
    D.set_distribution(D.ModelParallel(layout_map=layout_map, batch_dim_name="batch"))
    x, y = common.data()
    model = common.mlp(seed=runtime.process_id(), optimizer="adam")
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    dm = sharding._distributed(model)
    return {"full": list(D.gather_full_state(model).values()), "fsdp": _fsdp_report(model),
            "local": [list(w.shape) for w in model.weights],
            "replicated": [v.path.split("/", 1)[1] for v in dm.reducer.variables]}


def test_fsdp2_from_a_layout_map_naming_only_the_batch_axis():
    x, y = common.data()
    reference = common.mlp(optimizer="adam")
    reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for r in fork_run(_layout_map_body, 2):
        assert _max_diff(r["full"], _weights(reference)) < TOL
        assert list(r["fsdp"]) == ["d1"] and len(r["fsdp"]["d1"]["params"]) == 1
        assert r["local"] == [[8, 8], [16], [16, 6], [6]]
        # the variables the layout leaves whole are averaged by the DDP reducer
        assert r["replicated"] == ["d1/bias", "d2/kernel", "d2/bias"]


# ----------------------------------------------------------------------------- nested layers
def _transformer_body():
    D.set_distribution(D.FullyShardedDataParallel(devices=2))
    x, y = common.transformer_data()
    model = common.transformer_block(seed=runtime.process_id())
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return {"full": list(D.gather_full_state(model).values()),
            "groups": sorted(str(type(m).__name__) for m in model.modules()
                             if getattr(torch.distributed.fsdp.fully_shard.state(m),
                                        "_fsdp_param_group", None) is not None)}


def test_fsdp2_transformer_block_groups_nested_layers():
    x, y = common.transformer_data()
    reference = common.transformer_block()
    reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for r in fork_run(_transformer_body, 2):
        assert _max_diff(r["full"], _weights(reference)) < TOL
        # MultiHeadAttention's weights live in its 4 EinsumDense sub-layers: one group each
        assert r["groups"] == ["Dense", "Dense", "EinsumDense", "EinsumDense", "EinsumDense",
                               "EinsumDense", "LayerNormalization"]
