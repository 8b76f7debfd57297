"""tkeras.distribution on CPU: 2 (or 4) gloo processes forked from this pytest process.

Every parity check trains in the distributed run and in one process on the full batch (same
initial weights, same global batches) and compares the whole weights (gathered from the shards)
after training: within 1e-5, identical on every rank, and each rank holding only its shard
where the layout shards. Forking keeps each launch under a few seconds (torch/lightning/DTensor
are imported here, before the fork; see shared/docs/distributed-on-cpu.md).
"""

import io
import os
import re
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch
import torch.distributed.tensor  # noqa: F401  (imported before forking: paid once)
import torch.distributed.tensor.parallel  # noqa: F401

import tkeras as keras
import tkeras.distribution as D
from tkeras.parallel import data as dist_data
from tkeras.parallel import runtime
from tkeras.parallel.launch import fork_run
from tkeras.parallel.sharding import placements_for

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "dist_scripts"))
import common  # noqa: E402

from keras_oracle import requires_keras, run_keras  # noqa: E402

TOL = 1e-5


def _canon(path):
    """A variable path without the model's (instance-numbered) name: `sequential_3/d1/kernel`
    and optimizer slots `sequential_3_d1_kernel_momentum` -> `d1/kernel`, `d1_kernel_momentum`."""
    return re.sub(r"(^|/)sequential(_\d+)?[/_]", r"\1", path)


def _max_diff(full, reference):
    """Largest difference between two `{path: array}` dicts of the same architecture, paired in
    weight order (paths start with the model's name, which differs between instances)."""
    assert len(full) == len(reference)
    diffs = []
    for (path_a, a), (path_b, b) in zip(full.items(), reference.items()):
        assert _canon(path_a) == _canon(path_b), (path_a, path_b)
        diffs.append(float(np.abs(np.asarray(a) - np.asarray(b)).max()))
    return max(diffs)


def _weights(model):
    return {w.path: w.numpy() for w in model.weights}


# ----------------------------------------------------------------------------- spec objects
# One program, run on `d` = keras.distribution (in the oracle subprocess) and on
# `d` = tkeras.distribution (here).
SPEC_CODE = r"""
mesh = d.DeviceMesh((2, 4), ("batch", "model"), devices=[f"cpu:{i}" for i in range(8)])
lm = d.LayoutMap(mesh)
lm[".*dense.*kernel"] = (None, "model")
lm[".*dense.*bias"] = ("model",)
lm["exact/kernel"] = ("batch", None)
outputs["lookups"] = [None if lm[k] is None else list(lm[k].axes) for k in
                      ["dense_1/kernel", "dense_1/bias", "conv/kernel", "exact/kernel"]]
errors = []
for fn in [lambda: lm.__setitem__(".*dense.*kernel", (None, None)),
           lambda: lm.__setitem__("x", [None]),
           lambda: d.DeviceMesh((3,), ("a",), devices=["cpu:0", "cpu:1"]),
           lambda: d.DeviceMesh((2,), ("a", "b"), devices=["cpu:0", "cpu:1"]),
           lambda: d.TensorLayout(("nope",), mesh)]:
    try:
        fn()
        errors.append(None)
    except ValueError as e:
        errors.append(str(e))
lm2 = d.LayoutMap(mesh)
lm2["d.*"] = (None,)
lm2[".*1"] = (None,)
try:
    lm2["d1"]
    errors.append(None)
except ValueError as e:
    errors.append(str(e))
outputs["errors"] = errors
mp = d.ModelParallel(layout_map=lm)
outputs["mp"] = [mp.batch_dim_name, mp.num_model_replicas, repr(mesh), repr(lm["exact/kernel"])]
dp = d.DataParallel(devices=["cpu:0", "cpu:1", "cpu:2"])
outputs["dp"] = [dp.batch_dim_name, dp.num_model_replicas, list(dp.device_mesh.axis_names)]
"""


def _spec_outputs():
    outputs = {}
    exec(SPEC_CODE, {"d": D, "outputs": outputs})
    return outputs


@requires_keras
def test_spec_objects_match_keras():
    keras_out = run_keras("from keras import distribution as d\n" + SPEC_CODE, {})
    ours = _spec_outputs()
    assert ours["lookups"] == keras_out["lookups"]
    assert ours["mp"] == keras_out["mp"]
    assert ours["dp"] == keras_out["dp"]
    for mine, theirs in zip(ours["errors"], keras_out["errors"]):
        assert (mine is None) == (theirs is None)
        if theirs is not None:
            # same wording up to the printed values (sets print in hash order)
            assert mine.split(":")[0] == theirs.split(":")[0]


def test_layouts_map_to_shard_dims_of_keras_shapes():
    from torch.distributed.tensor import Replicate, Shard

    mesh = D.DeviceMesh((2, 4), ("batch", "model"), devices=[f"cpu:{i}" for i in range(8)])
    # Dense kernel (in, out): (None, "model") shards dim 1 = the output units (column parallel)
    assert placements_for((None, "model"), mesh) == [Replicate(), Shard(1)]
    assert placements_for(("model", None), mesh) == [Replicate(), Shard(0)]
    assert placements_for(("batch", "model"), mesh) == [Shard(0), Shard(1)]
    assert placements_for(("batch", "model"), mesh, exclude=("batch",)) == [Shard(1)]
    with pytest.raises(ValueError, match="shards two dimensions"):
        placements_for(("model", "model"), mesh)
    assert D.TensorLayout((None, "model"), mesh).backend_layout == [Replicate(), Shard(1)]


def test_set_distribution_single_device_is_plain_fit():
    """On one device `DataParallel()` starts nothing and `fit` is the single-process fit."""
    x, y = common.data()
    reference = common.mlp()
    reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert D.list_devices() == ["cpu:0"] and D.get_device_count("cpu") == 1
    try:
        D.set_distribution(D.DataParallel())
        assert runtime.fabric() is None
        model = common.mlp()
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    finally:
        D.set_distribution(None)
    assert _max_diff(_weights(model), _weights(reference)) == 0.0
    with pytest.raises(ValueError, match="Distribution"):
        D.set_distribution("data_parallel")


def test_data_split_rules():
    assert dist_data.interleaved_indices(10, 1, 4, pad=False).tolist() == [1, 5, 9]
    assert dist_data.interleaved_indices(10, 3, 4, pad=True).tolist() == [3, 7, 1]
    assert dist_data.local_batch_size(16, 2) == 8
    with pytest.raises(ValueError, match="divisible"):
        dist_data.local_batch_size(15, 2)
    x = np.arange(10)
    assert dist_data.contiguous_block(x, 2, 3, pad=True)[0].tolist() == [8, 9, 0, 0]  # 4 each


# ----------------------------------------------------------------------------- data parallel
def _reference_mlp(optimizer, x, y, **fit):
    model = common.mlp(optimizer=optimizer)
    history = model.fit(x, y, verbose=0, **fit)
    return model, history.history


def _dp_body(tmp):
    D.set_distribution(D.DataParallel(devices=2))
    rank = runtime.process_id()
    x, y = common.data(n=30)
    model = common.mlp(seed=rank)  # different initial weights: rank 0's are broadcast
    seen = []
    callbacks = [keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(logs)),
                 keras.callbacks.CSVLogger(os.path.join(tmp, "log.csv"))]
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        history = model.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=1,
                            validation_data=(x[:14], y[:14]), callbacks=callbacks)
    return {"weights": {k: v.tolist() for k, v in _weights(model).items()},
            "history": history.history, "seen": seen, "printed": stdout.getvalue(),
            "evaluate": model.evaluate(x, y, batch_size=10, verbose=0),
            "predict": model.predict(x, batch_size=4, verbose=0).tolist()}


def test_data_parallel_fit_evaluate_predict(tmp_path):
    x, y = common.data(n=30)
    reference, ref_history = _reference_mlp("sgd", x, y, batch_size=10, epochs=3, shuffle=False,
                                            validation_data=(x[:14], y[:14]))
    ref_weights = _weights(reference)
    out = fork_run(_dp_body, 2, (str(tmp_path),))
    for rank, result in enumerate(out):
        assert _max_diff(result["weights"], ref_weights) < TOL
        assert result["weights"] == out[0]["weights"]  # ranks identical
        # epoch logs are synced: every rank sees the full-batch numbers
        for key, values in ref_history.items():
            np.testing.assert_allclose(result["history"][key], values, atol=TOL)
        assert result["seen"][-1]["val_loss"] == pytest.approx(ref_history["val_loss"][-1],
                                                               abs=TOL)
        np.testing.assert_allclose(result["evaluate"],
                                   reference.evaluate(x, y, batch_size=10, verbose=0), atol=TOL)
        np.testing.assert_allclose(result["predict"], reference.predict(x, verbose=0), atol=TOL)
    assert "Epoch 3/3" in out[0]["printed"] and out[1]["printed"] == ""
    lines = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch")


def _dataset_body(kind):
    D.set_distribution(D.DataParallel(devices=2))
    x, y = common.data()
    model = common.mlp(seed=runtime.process_id())
    if kind == "dataset":
        source = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
        model.fit(source, batch_size=8, epochs=2, shuffle=False, verbose=0)
    else:
        def batches():
            for i in range(0, len(x), 8):
                yield x[i:i + 8], y[i:i + 8]

        model.fit(batches(), epochs=1, verbose=0)
    return {k: v.tolist() for k, v in _weights(model).items()}


@pytest.mark.parametrize("kind", ["dataset", "generator"])
def test_data_parallel_torch_dataset_and_generator(kind):
    x, y = common.data()
    epochs = 2 if kind == "dataset" else 1
    reference, _ = _reference_mlp("sgd", x, y, batch_size=8, epochs=epochs, shuffle=False)
    out = fork_run(_dataset_body, 2, (kind,))
    assert out[0] == out[1]
    assert _max_diff(out[0], _weights(reference)) < TOL


# ----------------------------------------------------------------------------- sharded
def _sharded_body(kind, optimizer):
    if kind == "fsdp":
        D.set_distribution(D.FullyShardedDataParallel(devices=2))
    else:
        shape = {"tp": (1, 2), "2d": (2, 2)}[kind]
        mesh = D.DeviceMesh(shape, ("batch", "model"),
                            devices=[f"cpu:{i}" for i in range(shape[0] * shape[1])])
        layout_map = common.mlp_layout_map(mesh)
        if kind == "2d":  # d1's kernel also sharded over "batch": FSDP x TP
            del layout_map[".*d1/kernel"]
            layout_map[".*d1/kernel"] = ("batch", "model")
        D.set_distribution(D.ModelParallel(layout_map=layout_map, batch_dim_name="batch"))
    x, y = common.data()
    model = common.mlp(seed=runtime.process_id(), optimizer=optimizer)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    local = {w.path.split("/", 1)[1]: list(w.shape) for w in model.weights}  # minus model name
    slots = {v.path: list(v.shape) for v in model.optimizer.variables if v.ndim}
    full = D.gather_full_state(model)
    return {"full": {k: v.tolist() for k, v in full.items()}, "local": local, "slots": slots,
            "history": history.history, "rank": runtime.process_id(),
            "evaluate": model.evaluate(x, y, batch_size=16, verbose=0),
            "predict": model.predict(x, batch_size=8, verbose=0).tolist()}


# The shapes each rank must hold (Keras kernels are (in, out)).
EXPECTED_LOCAL = {
    # FSDP: the first dimension at least as long as the 2 devices, halved
    "fsdp": {"d1/kernel": [4, 16], "d1/bias": [8], "d2/kernel": [8, 6], "d2/bias": [3]},
    # d1 column parallel (output units halved), d2 row parallel (input units halved)
    "tp": {"d1/kernel": [8, 8], "d1/bias": [8], "d2/kernel": [8, 6], "d2/bias": [6]},
    # and d1's kernel also halved over "batch" (its input dimension)
    "2d": {"d1/kernel": [4, 8], "d1/bias": [8], "d2/kernel": [8, 6], "d2/bias": [6]},
}


@pytest.mark.parametrize("kind,nprocs", [("fsdp", 2), ("tp", 2), ("2d", 4)])
def test_sharded_fit_matches_single_process(kind, nprocs):
    x, y = common.data()
    reference, ref_history = _reference_mlp("adam", x, y, batch_size=16, epochs=2,
                                            shuffle=False)
    ref_weights = _weights(reference)
    out = fork_run(_sharded_body, nprocs, (kind, "adam"))
    for result in out:
        assert _max_diff(result["full"], ref_weights) < TOL
        assert result["full"] == out[0]["full"]
        assert result["local"] == EXPECTED_LOCAL[kind]
        # Adam's slots are sharded like their variables
        for path, shape in result["local"].items():
            suffix = "_" + path.replace("/", "_") + "_momentum"
            assert [v for k, v in result["slots"].items() if k.endswith(suffix)] == [shape]
        np.testing.assert_allclose(result["history"]["loss"], ref_history["loss"], atol=TOL)
        np.testing.assert_allclose(result["evaluate"],
                                   reference.evaluate(x, y, batch_size=16, verbose=0), atol=TOL)
        np.testing.assert_allclose(result["predict"], reference.predict(x, verbose=0), atol=TOL)


def _transformer_body():
    mesh = D.DeviceMesh((1, 2), ("batch", "model"), devices=["cpu:0", "cpu:1"])
    D.set_distribution(D.ModelParallel(layout_map=common.transformer_layout_map(mesh),
                                       batch_dim_name="batch"))
    x, y = common.transformer_data()
    model = common.transformer_block(seed=runtime.process_id())
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return {"full": {k: v.tolist() for k, v in D.gather_full_state(model).items()},
            "local": {w.path.split("/", w.path.count("/") - 1)[-1]: list(w.shape)
                      for w in model.weights}}


def test_model_parallel_transformer_block():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    x, y = common.transformer_data()
    reference = common.transformer_block()
    # The sharded run computes attention with the math kernel on CPU (DTensor has no rule for
    # the CPU flash-attention backward): the reference does too, so rounding matches.
    with sdpa_kernel([SDPBackend.MATH]):
        reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    out = fork_run(_transformer_body, 2)
    ref_weights = _weights(reference)
    assert _max_diff(ref_weights, _weights(common.transformer_block())) > 1e-3  # it trained
    for result in out:
        assert _max_diff(result["full"], ref_weights) < TOL
        assert result["full"] == out[0]["full"]
        # keyed by the last two path parts (heads are dimension 1 of q/k/v kernels)
        assert result["local"]["query/kernel"] == [8, 1, 4]
        assert result["local"]["value/bias"] == [1, 4]
        assert result["local"]["attention_output/kernel"] == [1, 4, 8]
        assert result["local"]["ff1/kernel"] == [8, 8]
        assert result["local"]["ln/gamma"] == [8]


# ----------------------------------------------------------------------------- checkpoints
def _distribution(kind):
    if kind == "dp":
        return D.DataParallel(devices=2)
    if kind == "fsdp":
        return D.FullyShardedDataParallel(devices=2)
    mesh = D.DeviceMesh((1, 2), ("batch", "model"), devices=["cpu:0", "cpu:1"])
    return D.ModelParallel(layout_map=common.mlp_layout_map(mesh), batch_dim_name="batch")


def _checkpoint_body(kind, tmp):
    D.set_distribution(_distribution(kind))
    x, y = common.data()
    model = common.mlp(seed=runtime.process_id(), optimizer="adam")
    checkpoint = keras.callbacks.ModelCheckpoint(os.path.join(tmp, "epoch{epoch}.keras"))
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[checkpoint])
    model.save(os.path.join(tmp, "final.keras"))
    model.save_weights(os.path.join(tmp, "final.weights.h5"))
    # a fresh sharded model, restored from the file, continues exactly as the original
    restored = common.mlp(seed=7, optimizer="adam")
    restored.fit(x[:16], y[:16], batch_size=16, epochs=1, shuffle=False, verbose=0)
    restored.load_weights(os.path.join(tmp, "final.weights.h5"))
    return {"restored": _max_diff(D.gather_full_state(restored), D.gather_full_state(model)),
            "local": {_canon(w.path): list(w.shape) for w in restored.weights},
            "files": sorted(os.listdir(tmp))}


@pytest.mark.parametrize("kind", ["dp", "fsdp", "tp"])
def test_checkpoints_hold_whole_weights(kind, tmp_path):
    x, y = common.data()
    reference = common.mlp(optimizer="adam")
    reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    out = fork_run(_checkpoint_body, 2, (kind, str(tmp_path)))
    assert out[0]["files"] == ["epoch1.keras", "epoch2.keras", "final.keras",
                               "final.weights.h5"]
    assert all(r["restored"] == 0.0 for r in out)
    if kind != "dp":
        assert out[0]["local"]["d1/kernel"] != [8, 16]  # re-sharded on load
    for name in ("epoch2.keras", "final.keras"):
        loaded = keras.models.load_model(str(tmp_path / name))
        assert _max_diff(_weights(loaded), _weights(reference)) < TOL
        # the optimizer state in the file is the whole state, as one process writes it
        ours = {v.path.split("/", 1)[1]: v.numpy() for v in loaded.optimizer.variables}
        theirs = {v.path.split("/", 1)[1]: v.numpy() for v in reference.optimizer.variables}
        assert [_canon(k) for k in ours] == [_canon(k) for k in theirs]
        assert _max_diff(ours, theirs) < TOL


# ----------------------------------------------------------------------------- escape hatch
def _lightning_strategy_body():
    from lightning.fabric.strategies import DDPStrategy

    D.set_distribution(D.LightningStrategy(DDPStrategy(process_group_backend="gloo"),
                                           accelerator="cpu", devices=2))
    x, y = common.data()
    model = common.mlp(seed=runtime.process_id())
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return {"weights": {k: v.tolist() for k, v in _weights(model).items()},
            "strategy": type(runtime.fabric().strategy).__name__,
            "backend": torch.distributed.get_backend()}


def test_lightning_strategy_escape_hatch():
    x, y = common.data()
    reference, _ = _reference_mlp("sgd", x, y, batch_size=16, epochs=2, shuffle=False)
    out = fork_run(_lightning_strategy_body, 2)
    assert out[0]["weights"] == out[1]["weights"]
    assert out[0]["strategy"] == "DDPStrategy" and out[0]["backend"] == "gloo"
    assert _max_diff(out[0]["weights"], _weights(reference)) < TOL


def _initialize_body():
    # Keras's multi-host start-up: one process per "host", process 0 the coordinator
    rank = int(os.environ["RANK"])
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK"):
        del os.environ[name]
    D.initialize(job_addresses=f"127.0.0.1:{os.environ['MASTER_PORT']},127.0.0.1:1",
                 num_processes=2, process_id=rank)
    devices = D.list_devices()
    D.set_distribution(D.DataParallel())
    x, y = common.data()
    model = common.mlp(seed=rank)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    return {"devices": devices, "rank": torch.distributed.get_rank(),
            "weights": {k: v.tolist() for k, v in _weights(model).items()}}


def test_keras_initialize_multi_host():
    x, y = common.data()
    reference, _ = _reference_mlp("sgd", x, y, batch_size=16, epochs=1, shuffle=False)
    out = fork_run(_initialize_body, 2)
    assert [r["rank"] for r in out] == [0, 1]
    assert out[0]["devices"] == ["cpu:0", "cpu:1"]
    assert out[0]["weights"] == out[1]["weights"]
    assert _max_diff(out[0]["weights"], _weights(reference)) < TOL


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("interrupted")


def _backup_body(kind, tmp):
    D.set_distribution(_distribution(kind))
    x, y = common.data()
    model = common.mlp(seed=runtime.process_id(), optimizer="adam")
    backup = keras.callbacks.BackupAndRestore(os.path.join(tmp, "backup"))
    try:
        model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                  callbacks=[backup, _Interrupt()])
    except RuntimeError:
        pass
    # a new process group member would start from scratch: a fresh model resumes from the file
    model = common.mlp(seed=runtime.process_id() + 10, optimizer="adam")
    history = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                        callbacks=[keras.callbacks.BackupAndRestore(os.path.join(tmp, "backup"))])
    return {"full": {k: v.tolist() for k, v in D.gather_full_state(model).items()},
            "epochs": len(history.history["loss"])}


@pytest.mark.parametrize("kind", ["dp", "fsdp"])
def test_backup_and_restore_resumes(kind, tmp_path):
    x, y = common.data()
    reference = common.mlp(optimizer="adam")
    reference.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    out = fork_run(_backup_body, 2, (kind, str(tmp_path)))
    assert [r["epochs"] for r in out] == [2, 2]  # resumed at epoch 3 of 4
    for result in out:
        assert _max_diff(result["full"], _weights(reference)) < TOL
