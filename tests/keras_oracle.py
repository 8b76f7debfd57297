"""Run real Keras 3 (torch backend) in a subprocess and bring numbers back.

tkeras and keras never share a process. A test writes a snippet that reads `inputs` (a dict of
NumPy arrays) and fills `outputs` (a dict of NumPy arrays, lists, numbers or strings); the result
comes back as a dict. Tests are skipped with a clear reason only when keras is not installed
(CI installs it, so CI never skips them).
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

_PRELUDE = """
import os, sys, json
import numpy as np
os.environ["KERAS_BACKEND"] = "torch"
import keras
inputs = dict(np.load(sys.argv[1], allow_pickle=False))
outputs = {}
"""

_EPILOGUE = """
arrays = {k: np.asarray(v) for k, v in outputs.items() if isinstance(v, np.ndarray) or hasattr(v, "numpy")}
arrays = {k: (v.numpy() if hasattr(v, "numpy") and not isinstance(v, np.ndarray) else v) for k, v in arrays.items()}
plain = {k: v for k, v in outputs.items() if k not in arrays}
np.savez(sys.argv[2], **{k: np.asarray(v) for k, v in arrays.items()})
with open(sys.argv[3], "w") as f:
    json.dump(plain, f)
"""


def keras_available():
    try:
        import importlib.util

        return importlib.util.find_spec("keras") is not None
    except Exception:
        return False


requires_keras = pytest.mark.skipif(not keras_available(), reason="real keras (oracle) not installed")


def run_keras(code, inputs=None, timeout=300, cwd=None):
    """Execute `code` under real Keras; return `outputs` as a dict."""
    inputs = inputs or {}
    with tempfile.TemporaryDirectory() as tmp:
        in_path = os.path.join(tmp, "in.npz")
        out_path = os.path.join(tmp, "out.npz")
        json_path = os.path.join(tmp, "out.json")
        np.savez(in_path, **{k: np.asarray(v) for k, v in inputs.items()})
        script = _PRELUDE + textwrap.dedent(code) + _EPILOGUE
        env = dict(os.environ, KERAS_BACKEND="torch", KERAS_HOME=os.path.join(tmp, "keras_home"))
        env.pop("PYTHONPATH", None)
        proc = subprocess.run(
            [sys.executable, "-c", script, in_path, out_path, json_path],
            capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd or tmp,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"Keras oracle failed:\n{proc.stderr[-4000:]}")
        result = dict(np.load(out_path, allow_pickle=False))
        with open(json_path) as f:
            result.update(json.load(f))
        return result
