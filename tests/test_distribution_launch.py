"""The same script (tests/dist_scripts/train_mlp.py) on 1 process, launched by tkeras from a
plain `python` run, and as 2 nodes on loopback (two torchrun launches). Subprocesses: each
rank imports torch and lightning itself (10-20 s a run on 2 cores)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "dist_scripts"))
import common  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(__file__), "dist_scripts", "train_mlp.py")
TOL = 1e-5


@pytest.fixture(scope="module")
def reference():
    x, y = common.data()
    model = common.mlp()
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    # Keyed without the model's name: it depends on how many models this process built before.
    return {"weights": {w.path.split("/", 1)[1]: w.numpy() for w in model.weights},
            "history": history.history,
            "evaluate": model.evaluate(x, y, batch_size=16, verbose=0),
            "predict": model.predict(x, verbose=0)}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
         env.get("PYTHONPATH", "")]), **extra)
    return env


def _run_all(commands, envs, timeout=300):
    procs = [subprocess.Popen(c, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for c, e in zip(commands, envs)]
    outputs = []
    for p in procs:
        try:
            outputs.append(p.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]


def _check(out_dir, reference, world):
    results = [json.load(open(os.path.join(out_dir, f"rank{r}.json"))) for r in range(world)]
    for result in results:
        assert result["world"] == world
        assert result["weights"] == results[0]["weights"]
        for path, value in reference["weights"].items():
            np.testing.assert_allclose(result["weights"][path], value, atol=TOL)
        for key, values in reference["history"].items():
            np.testing.assert_allclose(result["history"][key], values, atol=TOL)
        np.testing.assert_allclose(result["evaluate"], reference["evaluate"], atol=TOL)
        np.testing.assert_allclose(result["predict"], reference["predict"], atol=TOL)


def test_one_process(tmp_path, reference):
    _run_all([[sys.executable, SCRIPT, "--out", str(tmp_path)]], [_env()])
    _check(tmp_path, reference, 1)


def test_plain_python_launches_the_processes(tmp_path, reference):
    """`python train_mlp.py --devices 2`: DataParallel(devices=2) re-runs the script as rank 1."""
    _run_all([[sys.executable, SCRIPT, "--devices", "2", "--out", str(tmp_path)]], [_env()])
    _check(tmp_path, reference, 2)


def test_two_nodes_torchrun_loopback(tmp_path, reference):
    port = _free_port()
    commands = [[sys.executable, "-m", "torch.distributed.run", "--nnodes=2",
                 "--nproc_per_node=1", f"--node-rank={i}", "--rdzv-backend=c10d",
                 f"--rdzv-endpoint=127.0.0.1:{port}", f"--rdzv-id=tk{port}", SCRIPT,
                 "--out", str(tmp_path)] for i in range(2)]
    _run_all(commands, [_env(), _env()])
    _check(tmp_path, reference, 2)


@pytest.mark.slow
def test_two_nodes_by_hand_loopback(tmp_path, reference):
    """Two plain launches with MASTER_ADDR/MASTER_PORT/NODE_RANK/NUM_NODES (no launcher)."""
    port = str(_free_port())
    commands = [[sys.executable, SCRIPT, "--devices", "2", "--out", str(tmp_path)]] * 2
    envs = [_env(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, NODE_RANK=str(i), NUM_NODES="2")
            for i in range(2)]
    _run_all(commands, envs)
    _check(tmp_path, reference, 2)


@pytest.mark.slow
def test_torchrun_one_node_two_processes(tmp_path, reference):
    _run_all([[sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", SCRIPT, "--out", str(tmp_path)]], [_env()])
    _check(tmp_path, reference, 2)
