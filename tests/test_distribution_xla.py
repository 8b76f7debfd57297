"""torch-xla (TPU path) on the XLA CPU device; skipped unless torch_xla imports.

By hand, in an environment with torch-xla (see docs/distributed.md):
    python -m pytest tests/test_distribution_xla.py -q
runs the single-device fit and GSPMD sharding from a LayoutMap (`CPU_NUM_DEVICES=2`), each
compared with eager CPU training of the same model (Adam, a loss and a metric): weights, history,
evaluate, predict, and a `.keras` file saved from the XLA model and loaded back. Last run by hand
with torch 2.9 + torch-xla 2.9 (PJRT CPU): both pass, differences <= 6e-6.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch_xla")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "dist_scripts"))
import common  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(__file__), "dist_scripts", "xla_fit.py")


def _reference():
    x, y = common.data()
    model = common.mlp(optimizer="adam")
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    # Keyed without the model's name: it depends on how many models this process built before.
    return {"weights": {w.path.split("/", 1)[1]: w.numpy() for w in model.weights},
            "history": history.history,
            "evaluate": model.evaluate(x, y, batch_size=16, verbose=0),
            "predict": model.predict(x, verbose=0)}


@pytest.mark.parametrize("mode,devices", [("single", "1"), ("spmd", "2")])
def test_xla_cpu_fit_matches_eager(mode, devices, tmp_path):
    out = tmp_path / "out.json"
    env = {**os.environ, "PJRT_DEVICE": "CPU", "CPU_NUM_DEVICES": devices,
           "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    proc = subprocess.run([sys.executable, SCRIPT, mode, str(out)], env=env, timeout=300,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["device"].startswith("xla")
    if mode == "spmd":  # d1's kernel split on its output units over the 2 devices
        assert result["sharding"].startswith("{devices=[1,2]"), result["sharding"]
    reference = _reference()
    for path, value in reference["weights"].items():
        np.testing.assert_allclose(result["weights"][path], value, atol=1e-5)
    for key, values in reference["history"].items():
        np.testing.assert_allclose(result["history"][key], values, atol=1e-5)
    np.testing.assert_allclose(result["evaluate"], reference["evaluate"], atol=1e-5)
    np.testing.assert_allclose(result["predict"], reference["predict"], atol=1e-5)
    np.testing.assert_allclose(result["reloaded_predict"], reference["predict"], atol=1e-5)
