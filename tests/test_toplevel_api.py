"""Keras's top-level names (`keras.Loss`, `keras.name_scope`, `keras.device`, `keras.remat`, ...)."""

import torch

import tkeras as keras
from keras_oracle import requires_keras, run_keras


@requires_keras
def test_toplevel_names_and_name_scope_paths_match_keras():
    code = """
names = sorted(n for n in dir(keras) if not n.startswith("_"))
with keras.name_scope("block"):
    d = keras.layers.Dense(2, name="outer"); d.build((None, 3))
    with keras.name_scope("inner"):
        e = keras.layers.Dense(2, name="deep"); e.build((None, 3))
outputs["names"] = names
outputs["paths"] = [d.kernel.path, e.bias.path]
"""
    ref = run_keras(code, {})
    ours = set(n for n in dir(keras) if not n.startswith("_"))
    # Keras-only namespaces that tkeras deliberately leaves out: `export` (TF SavedModel /
    # ONNX / LiteRT archives) and Keras's internals.
    expected = set(ref["names"]) - {"_tf_keras", "export", "src"}
    assert expected - ours == set()
    with keras.name_scope("block"):
        d = keras.layers.Dense(2, name="outer")  # explicit names: auto names depend on test order
        d.build((None, 3))
        with keras.name_scope("inner"):
            e = keras.layers.Dense(2, name="deep")
            e.build((None, 3))
    assert [d.kernel.path, e.bias.path] == ref["paths"]


def test_device_and_remat():
    with keras.device("cpu"):
        assert torch.zeros(1).device.type == "cpu"
    x = torch.randn(5, requires_grad=True)
    keras.remat(lambda t: (t.sin() * 2).sum())(x).backward()
    torch.testing.assert_close(x.grad, 2 * x.detach().cos())
    assert issubclass(keras.Metric, torch.nn.Module) or hasattr(keras.Metric, "update_state")
    assert keras.Loss.__name__ == "Loss" and keras.Optimizer.__name__ == "Optimizer"
