"""`tkeras.config` and `keras.json` handling, checked against real Keras.

keras.json is read once, at import. The scenario matrix runs the module-level code of
`tkeras/core/config.py` and of Keras's `keras/src/backend/config.py` afresh (`runpy.run_path`)
for each scenario, in two subprocesses (one per library), with HOME / KERAS_HOME pointing at
temporary dirs, and compares what each reads and writes. A few scenarios also run
`import tkeras` in a fresh interpreter. We run as root, where `os.access` is always True, so an
unwritable home is simulated by patching `os.access` in the subprocess.
"""

import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import tkeras
import tkeras.config
from tkeras.core import config as core_config
from tkeras.core import dtype_policies
from tkeras.core import registry
from keras_oracle import requires_keras, run_keras

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API = os.path.join(REPO, "..", "shared", "docs", "keras-api.json")

DEFAULTS_WRITTEN = {"floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow",
                    "image_data_format": "channels_last"}

# Each scenario: where keras.json lives ("home" = $HOME/.keras, "kh" = $KERAS_HOME), its text
# (None: absent), extra env vars, and whether $HOME is writable.
SCENARIOS = [
    {"id": "fresh_home"},
    {"id": "fresh_keras_home", "keras_home": True},
    {"id": "values", "keras_home": True, "text": json.dumps(
        {"floatx": "float64", "epsilon": 1e-5, "backend": "jax",
         "image_data_format": "channels_first"})},
    {"id": "values_in_home", "text": json.dumps(
        {"floatx": "float16", "image_data_format": "channels_first"})},
    {"id": "partial", "keras_home": True, "text": json.dumps({"epsilon": 0.001})},
    {"id": "malformed", "keras_home": True, "text": "{not json"},
    {"id": "empty_file", "keras_home": True, "text": ""},
    {"id": "int_epsilon", "keras_home": True, "text": json.dumps({"epsilon": 1})},
    {"id": "string_epsilon", "keras_home": True, "text": json.dumps({"epsilon": "1e-7"})},
    {"id": "bfloat16_floatx", "keras_home": True, "text": json.dumps({"floatx": "bfloat16"})},
    {"id": "bad_floatx", "keras_home": True, "text": json.dumps({"floatx": "float8"})},
    {"id": "bad_format", "keras_home": True, "text": json.dumps({"image_data_format": "NCHW"})},
    {"id": "unknown_keys", "keras_home": True,
     "text": json.dumps({"foo": 1, "nnx_enabled": False})},
    {"id": "max_epochs_env", "keras_home": True,
     "env": {"KERAS_MAX_EPOCHS": "3", "KERAS_MAX_STEPS_PER_EPOCH": "7"}},
    {"id": "home_not_writable", "home_writable": False},
]

# Runs in a subprocess: executes a config module's source once per scenario and reports.
RUNNER = r'''
import json, os, runpy, shutil, tempfile

def run_scenarios(config_path, scenarios):
    base = os.path.realpath(tempfile.mkdtemp(prefix="kcfg_"))
    saved_env = dict(os.environ)
    real_access = os.access
    tmp_keras_existed = os.path.exists("/tmp/.keras")
    results = {}
    for sc in scenarios:
        root = os.path.join(base, sc["id"])
        home = os.path.join(root, "home")
        os.makedirs(home)
        os.environ.clear()
        os.environ.update({k: v for k, v in saved_env.items()
                           if k not in ("KERAS_HOME", "KERAS_MAX_EPOCHS",
                                        "KERAS_MAX_STEPS_PER_EPOCH")})
        os.environ["HOME"] = home
        os.environ.update(sc.get("env", {}))
        cfg_dir = os.path.join(home, ".keras")
        if sc.get("keras_home"):
            cfg_dir = os.path.join(root, "kh")
            os.environ["KERAS_HOME"] = cfg_dir
        path = os.path.join(cfg_dir, "keras.json")
        if sc.get("text") is not None:
            os.makedirs(cfg_dir, exist_ok=True)
            with open(path, "w") as f:
                f.write(sc["text"])
        if not sc.get("home_writable", True):
            os.access = lambda p, mode, **kw: (False if os.path.realpath(p) == home
                                               else real_access(p, mode, **kw))
            path = "/tmp/.keras/keras.json"
        try:
            g = runpy.run_path(config_path)
            r = {"home": g["keras_home"]().replace(root, "<root>"), "floatx": g["floatx"](),
                 "epsilon": g["epsilon"](), "fmt": g["image_data_format"](),
                 "max_epochs": g["max_epochs"](),
                 "max_steps_per_epoch": g["max_steps_per_epoch"]()}
        except Exception as e:
            r = {"error": type(e).__name__, "message": str(e)}
        finally:
            os.access = real_access
        r["file"] = open(path).read() if os.path.exists(path) else None
        r["home_dot_keras_exists"] = os.path.exists(os.path.join(home, ".keras"))
        if not sc.get("home_writable", True) and not tmp_keras_existed:
            shutil.rmtree("/tmp/.keras", ignore_errors=True)
        results[sc["id"]] = r
    os.environ.clear()
    os.environ.update(saved_env)
    shutil.rmtree(base, ignore_errors=True)
    return results
'''


def _tkeras_results():
    code = RUNNER + textwrap.dedent(f"""
        import sys
        print(json.dumps(run_scenarios(sys.argv[1], json.loads(sys.argv[2]))))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code, os.path.join(REPO, "tkeras", "core", "config.py"),
         json.dumps(SCENARIOS)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tkeras_results():
    return _tkeras_results()


@pytest.fixture(scope="module")
def keras_results():
    code = RUNNER + textwrap.dedent(f"""
        import keras.src.backend.config as kc
        outputs["results"] = json.dumps(run_scenarios(kc.__file__, {SCENARIOS!r}))
    """)
    return json.loads(run_keras(code)["results"])


# ----------------------------------------------------------------------------- scenario matrix

# Where tkeras deliberately differs: nothing in this matrix (kept empty on purpose so that a
# new difference fails loudly). Keras's only difference outside it: a keras.json holding a
# JSON list/number crashes Keras's import (AttributeError); tkeras ignores it (tested below).
@requires_keras
@pytest.mark.parametrize("scenario", [s["id"] for s in SCENARIOS])
def test_keras_json_matches_keras(scenario, tkeras_results, keras_results):
    ours, theirs = tkeras_results[scenario], keras_results[scenario]
    if "error" in theirs:
        assert ours.get("error") == theirs["error"] == "ValueError", (ours, theirs)
        assert ours["file"] == theirs["file"]
        return
    assert ours == theirs


def test_keras_json_created_with_keras_defaults(tkeras_results):
    r = tkeras_results["fresh_home"]
    assert r["home"] == "<root>/home/.keras"
    assert json.loads(r["file"]) == DEFAULTS_WRITTEN
    assert r["file"] == json.dumps(DEFAULTS_WRITTEN, indent=4)
    r = tkeras_results["fresh_keras_home"]
    assert r["home"] == "<root>/kh" and json.loads(r["file"]) == DEFAULTS_WRITTEN
    assert not r["home_dot_keras_exists"]


def test_keras_json_values_applied_and_backend_ignored(tkeras_results):
    r = tkeras_results["values"]
    assert (r["floatx"], r["epsilon"], r["fmt"]) == ("float64", 1e-5, "channels_first")
    assert json.loads(r["file"])["backend"] == "jax"  # never rewritten
    assert tkeras_results["partial"]["epsilon"] == 0.001
    assert tkeras_results["partial"]["floatx"] == "float32"


def test_keras_json_malformed_ignored_and_left_alone(tkeras_results):
    for sid, text in (("malformed", "{not json"), ("empty_file", "")):
        r = tkeras_results[sid]
        assert (r["floatx"], r["epsilon"], r["fmt"]) == ("float32", 1e-7, "channels_last")
        assert r["file"] == text


@pytest.mark.parametrize("sid,field", [("int_epsilon", "epsilon"), ("string_epsilon", "epsilon"),
                                       ("bfloat16_floatx", "floatx"), ("bad_floatx", "floatx"),
                                       ("bad_format", "image_data_format")])
def test_keras_json_invalid_values_raise(tkeras_results, sid, field):
    r = tkeras_results[sid]
    assert r.get("error") == "ValueError" and field in r["message"], r


def test_unwritable_home_falls_back_to_tmp(tkeras_results):
    r = tkeras_results["home_not_writable"]
    assert r["home"] == "/tmp/.keras"
    assert not r["home_dot_keras_exists"]


def test_env_caps(tkeras_results):
    r = tkeras_results["max_epochs_env"]
    assert (r["max_epochs"], r["max_steps_per_epoch"]) == (3, 7)


def test_non_dict_json_is_ignored(tmp_path):
    """Deliberate difference: Keras crashes on `[1, 2]` (AttributeError); tkeras ignores it."""
    kh = tmp_path / "kh"
    kh.mkdir()
    (kh / "keras.json").write_text("[1, 2]")
    env = dict(os.environ, KERAS_HOME=str(kh), HOME=str(tmp_path))
    code = "import runpy, sys; g = runpy.run_path(sys.argv[1]); print(g['floatx']())"
    proc = subprocess.run([sys.executable, "-c", code,
                           os.path.join(REPO, "tkeras", "core", "config.py")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "float32"
    assert (kh / "keras.json").read_text() == "[1, 2]"


# ----------------------------------------------------------------------------- fresh interpreters

PROBE = ("import json, tkeras, tkeras.config as c; from tkeras.core import config as cc;"
         "print(json.dumps({'home': cc.keras_home(), 'backend': c.backend(), "
         "'floatx': c.floatx(), 'epsilon': c.epsilon(), 'fmt': c.image_data_format(), "
         "'policy': c.dtype_policy().name, 'std_fmt': cc.standardize_data_format(None)}))")


def test_import_tkeras_in_fresh_interpreters(tmp_path):
    """`import tkeras` reads keras.json: three fresh interpreters, run concurrently."""
    cases = {}
    # 1. fresh HOME, no KERAS_HOME.
    home1 = tmp_path / "home1"
    home1.mkdir()
    cases["fresh"] = dict(HOME=str(home1))
    # 2. KERAS_HOME with non-default values (and a foreign backend, which is ignored).
    kh = tmp_path / "kh"
    kh.mkdir()
    values = {"floatx": "float64", "epsilon": 1e-4, "backend": "jax",
              "image_data_format": "channels_first"}
    (kh / "keras.json").write_text(json.dumps(values))
    cases["values"] = dict(HOME=str(home1), KERAS_HOME=str(kh))
    # 3. an invalid epsilon stops the import.
    kh_bad = tmp_path / "kh_bad"
    kh_bad.mkdir()
    (kh_bad / "keras.json").write_text(json.dumps({"epsilon": 1}))
    cases["bad"] = dict(HOME=str(home1), KERAS_HOME=str(kh_bad))

    procs = {}
    for name, extra in cases.items():
        env = {k: v for k, v in os.environ.items() if k not in ("KERAS_HOME", "KERAS_BACKEND")}
        env.update(extra, PYTHONPATH=REPO)
        procs[name] = subprocess.Popen([sys.executable, "-c", PROBE], env=env, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = {name: p.communicate(timeout=120) + (p.returncode,) for name, p in procs.items()}

    stdout, stderr, rc = out["fresh"]
    assert rc == 0, stderr
    r = json.loads(stdout.strip().splitlines()[-1])
    assert r["home"] == str(home1 / ".keras") and r["backend"] == "torch"
    assert json.loads((home1 / ".keras" / "keras.json").read_text()) == DEFAULTS_WRITTEN
    assert (r["floatx"], r["epsilon"], r["fmt"]) == ("float32", 1e-7, "channels_last")

    stdout, stderr, rc = out["values"]
    assert rc == 0, stderr
    r = json.loads(stdout.strip().splitlines()[-1])
    assert r["backend"] == "torch"
    assert (r["floatx"], r["epsilon"], r["fmt"]) == ("float64", 1e-4, "channels_first")
    assert r["policy"] == "float64" and r["std_fmt"] == "channels_first"
    assert json.loads((kh / "keras.json").read_text()) == values

    stdout, stderr, rc = out["bad"]
    assert rc != 0 and "ValueError" in stderr and "epsilon" in stderr


# ----------------------------------------------------------------------------- the namespace


def test_namespace_matches_keras_api():
    with open(API) as f:
        symbols = json.load(f)["namespaces"]["keras.config"]["symbols"]
    for name, spec in symbols.items():
        assert hasattr(tkeras.config, name), name
        assert str(inspect.signature(getattr(tkeras.config, name))) == spec["signature"], name
    assert set(symbols) <= set(tkeras.config.__all__)


@pytest.fixture
def restore_config():
    saved = (core_config.floatx(), core_config.epsilon(), core_config.image_data_format(),
             core_config.max_epochs(), core_config.max_steps_per_epoch(),
             core_config.is_interactive_logging_enabled(),
             core_config.is_traceback_filtering_enabled(),
             core_config.is_flash_attention_enabled(), dtype_policies._GLOBAL_POLICY)
    yield
    c = tkeras.config
    c.set_floatx(saved[0])
    c.set_epsilon(saved[1])
    c.set_image_data_format(saved[2])
    c.set_max_epochs(saved[3])
    c.set_max_steps_per_epoch(saved[4])
    (c.enable_interactive_logging if saved[5] else c.disable_interactive_logging)()
    (c.enable_traceback_filtering if saved[6] else c.disable_traceback_filtering)()
    core_config._FLASH_ATTENTION = saved[7]
    dtype_policies._GLOBAL_POLICY = saved[8]  # may be unset (None), which the setter refuses


def test_getters_and_setters(restore_config):
    c = tkeras.config
    assert c.backend() == "torch"
    c.set_backend("torch")
    with pytest.raises(ValueError, match="jax"):
        c.set_backend("jax")
    c.set_floatx("float64")
    assert c.floatx() == "float64" and c.dtype_policy().name == "float64"
    c.set_floatx("bfloat16")  # accepted by the setter (not in keras.json), as in Keras
    with pytest.raises(ValueError, match="floatx"):
        c.set_floatx("int32")
    c.set_epsilon(1e-3)
    assert c.epsilon() == 1e-3
    c.set_image_data_format("channels_first")
    assert c.image_data_format() == "channels_first"
    with pytest.raises(ValueError, match="data_format"):
        c.set_image_data_format("NHWC")
    c.set_max_epochs(2)
    c.set_max_steps_per_epoch(5)
    assert (c.max_epochs(), c.max_steps_per_epoch()) == (2, 5)
    c.disable_interactive_logging()
    assert c.is_interactive_logging_enabled() is False
    c.enable_interactive_logging()
    assert c.is_interactive_logging_enabled() is True
    c.disable_traceback_filtering()
    assert c.is_traceback_filtering_enabled() is False
    c.enable_flash_attention()
    assert c.is_flash_attention_enabled() is True
    c.disable_flash_attention()
    assert c.is_flash_attention_enabled() is False
    assert c.is_nnx_enabled() is False


def test_dtype_policy(restore_config):
    c = tkeras.config
    c.set_dtype_policy("mixed_bfloat16")
    policy = c.dtype_policy()
    assert (policy.name, policy.compute_dtype, policy.variable_dtype) == (
        "mixed_bfloat16", "bfloat16", "float32")
    assert tkeras.layers.Dense(2).dtype_policy.name == "mixed_bfloat16"
    with pytest.raises(ValueError):
        c.set_dtype_policy(3)


def test_enable_unsafe_deserialization():
    saved = registry.in_safe_mode()
    try:
        tkeras.config.enable_unsafe_deserialization()
        assert registry.in_safe_mode() is False
    finally:
        registry._SAFE_MODE.value = saved


def test_deterministic_ops_switch(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    c = tkeras.config
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        torch.backends.cudnn.benchmark = True
        c.enable_deterministic_ops()
        assert c.is_deterministic_ops_enabled() is True
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic is True
        assert torch.backends.cudnn.benchmark is False
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        # Observable on CPU too: deterministic mode fills uninitialized memory with NaN.
        assert torch.isnan(torch.empty(8)).all()
        c.disable_deterministic_ops()
        assert c.is_deterministic_ops_enabled() is False
        assert torch.backends.cudnn.deterministic is False
        c.enable_deterministic_ops(warn_only=True)
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved
