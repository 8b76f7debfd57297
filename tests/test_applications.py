"""Whole architectures both directions: Keras applications saved by Keras load in tkeras, and
tkeras's saves of them load back in Keras, with the same predictions.

Keras builds ResNet50, MobileNetV2, EfficientNetB0 and DenseNet121 (`weights=None`, small
inputs) in one subprocess. With `weights=None`, BatchNormalization's moving statistics are
(0, 1), so activations shrink or saturate through the depth (MobileNetV2's features come out
near 1e-11) and a comparison would be vacuous; the subprocess therefore calibrates every
BatchNormalization on the fixed input (one training-mode call with momentum 0, momentum then
restored; the moving variance becomes the mean square), which keeps activations O(1) through
the whole network without the catastrophic cancellation a near-zero variance would cause.

Phase 1 (Keras): save `.keras` for each model, MobileNetV2 also as legacy `.h5`, and for
EfficientNetB0 a second weight set (calibrated on another input) as `.weights.h5`; record
predictions, layer names and weight paths/shapes. Then tkeras loads every file and must agree.
Phase 2: tkeras saves each model (`.keras`; `.h5` and `.weights.h5` for the same two models)
and a second Keras subprocess loads them.

ResNet50 and DenseNet121 are marked slow (the biggest files and the most layers); the Keras
subprocesses only build the architectures whose tests are selected.
"""

import os

import numpy as np
import pytest
import torch

import tkeras
import tkeras.saving  # tkeras/__init__.py does not import it yet
from keras_oracle import requires_keras, run_keras

pytestmark = requires_keras

ARCHS = {
    # name: (Keras constructor call, input size)
    "resnet50": ("ResNet50(weights=None, input_shape=(64, 64, 3), classes=10, "
                 "classifier_activation=None)", 64),
    "mobilenetv2": ("MobileNetV2(weights=None, input_shape=(96, 96, 3), include_top=False, "
                    "pooling='avg')", 96),
    "efficientnetb0": ("EfficientNetB0(weights=None, input_shape=(64, 64, 3), classes=10, "
                       "classifier_activation=None)", 64),
    "densenet121": ("DenseNet121(weights=None, input_shape=(64, 64, 3), include_top=False, "
                    "pooling='avg')", 64),
}
SLOW = {"resnet50", "densenet121"}
LEGACY_H5 = "mobilenetv2"  # also saved as a legacy full-model .h5, both directions
WEIGHTS_H5 = "efficientnetb0"  # a second weight set travels as .weights.h5, both directions

KERAS_SAVE = '''
import warnings
warnings.simplefilter("ignore")
d = str(inputs["dir"])
BN = keras.layers.BatchNormalization

def calibrate(model, x):
    """Moving mean := batch mean of `x`, moving variance := batch mean square (not variance,
    which is near 0 in many channels of two small images and would amplify rounding)."""
    bns = [l for l in model._flatten_layers() if isinstance(l, BN)]
    saved = [l.momentum for l in bns]
    for l in bns:
        l.momentum = 0.0
    model(x, training=True)
    for l, m in zip(bns, saved):
        l.momentum = m
        l.moving_variance.assign(l.moving_variance + l.moving_mean ** 2)

def predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))

for name in str(inputs["archs"]).split(","):
    size = int(inputs[f"size_{name}"])
    x = inputs["x"][:, :size, :size]
    model = eval("keras.applications." + str(inputs[f"ctor_{name}"]))
    calibrate(model, x)
    model.save(f"{d}/k_{name}.keras")
    outputs[f"{name}_pred"] = predict(model, x)
    outputs[f"{name}_layers"] = [l.name for l in model.layers]
    outputs[f"{name}_weights"] = [[w.path, list(w.shape)] for w in model.weights]
    if name == LEGACY_H5:
        model.save(f"{d}/k_{name}.h5")
    if name == WEIGHTS_H5:
        calibrate(model, inputs["x2"][:, :size, :size])
        model.save_weights(f"{d}/k_{name}.weights.h5")
        outputs[f"{name}_pred2"] = predict(model, x)
'''

KERAS_LOAD = '''
import warnings
warnings.simplefilter("ignore")
d = str(inputs["dir"])

def predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))

for name in str(inputs["archs"]).split(","):
    size = int(inputs[f"size_{name}"])
    x = inputs["x"][:, :size, :size]
    outputs[f"{name}_pred"] = predict(keras.saving.load_model(f"{d}/t_{name}.keras"), x)
    if name == LEGACY_H5:
        outputs[f"{name}_pred_h5"] = predict(keras.saving.load_model(f"{d}/t_{name}.h5"), x)
    if name == WEIGHTS_H5:
        model = keras.saving.load_model(f"{d}/k_{name}.keras")
        model.load_weights(f"{d}/t_{name}.weights.h5")
        outputs[f"{name}_pred_weights"] = predict(model, x)
'''

_CONSTANTS = f"LEGACY_H5 = {LEGACY_H5!r}\nWEIGHTS_H5 = {WEIGHTS_H5!r}\n"


def _inputs(directory, archs):
    rng = np.random.default_rng(0)
    data = {"dir": np.array(str(directory)), "archs": np.array(",".join(archs)),
            "x": rng.uniform(-1, 1, (2, 96, 96, 3)).astype("float32"),
            "x2": rng.uniform(-1, 1, (2, 96, 96, 3)).astype("float32")}
    for name in archs:
        data[f"ctor_{name}"] = np.array(ARCHS[name][0])
        data[f"size_{name}"] = np.array(ARCHS[name][1])
    return data


def _x(data, name):
    size = ARCHS[name][1]
    return data["x"][:, :size, :size]


def _predict(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x)), training=False).numpy()


def assert_close(got, ref):
    # float32 through 50-120 conv/BN layers, with BN rescaling calibrated on only two images:
    # torch's channels-last (tkeras) and NCHW (Keras) conv kernels round differently, and the
    # relative error stays ~1e-6; atol is relative to the output scale.
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(ref).max()))


def _selected_archs(request):
    params = [item.callspec.params.get("arch") for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec")]
    return [name for name in ARCHS if name in params] or list(ARCHS)


@pytest.fixture(scope="module")
def keras_saved(request, tmp_path_factory):
    """Keras phase 1: the selected applications saved by Keras, with reference numbers."""
    directory = tmp_path_factory.mktemp("applications")
    archs = _selected_archs(request)
    data = _inputs(directory, archs)
    ref = run_keras(_CONSTANTS + KERAS_SAVE, data, timeout=900)
    return directory, archs, data, ref


@pytest.fixture(scope="module")
def tk_models(keras_saved):
    """Each Keras `.keras` file loaded once in tkeras (shared by the tests below)."""
    directory, archs, _, _ = keras_saved
    return {name: tkeras.saving.load_model(directory / f"k_{name}.keras") for name in archs}


@pytest.fixture(scope="module")
def keras_reloaded(keras_saved, tk_models):
    """Keras phase 2: tkeras saves every model, Keras loads the files back."""
    directory, archs, data, _ = keras_saved
    tk_preds = {}
    for name in archs:
        model = tk_models[name]
        model.save(directory / f"t_{name}.keras")
        if name == LEGACY_H5:
            model.save(directory / f"t_{name}.h5")
        if name == WEIGHTS_H5:
            other = tkeras.saving.load_model(directory / f"k_{name}.keras")
            other.load_weights(directory / f"k_{name}.weights.h5")
            other.save_weights(directory / f"t_{name}.weights.h5")
            tk_preds[name] = _predict(other, _x(data, name))
    return run_keras(_CONSTANTS + KERAS_LOAD, data, timeout=900), tk_preds


def _arch_params():
    return [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else [], id=name)
            for name in ARCHS]


@pytest.mark.parametrize("arch", _arch_params())
def test_keras_file_loads_in_tkeras(arch, keras_saved, tk_models):
    _, _, data, ref = keras_saved
    model = tk_models[arch]
    assert [layer.name for layer in model.layers] == list(ref[f"{arch}_layers"])
    assert [[w.path, list(w.shape)] for w in model.weights] == [list(p) for p in
                                                                ref[f"{arch}_weights"]]
    assert_close(_predict(model, _x(data, arch)), ref[f"{arch}_pred"])


@pytest.mark.parametrize("arch", _arch_params())
def test_tkeras_file_loads_in_keras(arch, keras_saved, tk_models, keras_reloaded):
    _, _, data, ref = keras_saved
    back, _ = keras_reloaded
    assert_close(back[f"{arch}_pred"], ref[f"{arch}_pred"])
    # And tkeras's own reload of its file agrees with Keras's.
    directory = keras_saved[0]
    again = tkeras.saving.load_model(directory / f"t_{arch}.keras")
    assert_close(_predict(again, _x(data, arch)), back[f"{arch}_pred"])


@pytest.mark.parametrize("arch", [LEGACY_H5])
def test_legacy_h5_both_directions(arch, keras_saved, keras_reloaded):
    directory, _, data, ref = keras_saved
    model = tkeras.saving.load_model(directory / f"k_{arch}.h5")
    assert [layer.name for layer in model.layers] == list(ref[f"{arch}_layers"])
    assert len(model.weights) == len(ref[f"{arch}_weights"])
    assert_close(_predict(model, _x(data, arch)), ref[f"{arch}_pred"])
    back, _ = keras_reloaded
    assert_close(back[f"{arch}_pred_h5"], ref[f"{arch}_pred"])


@pytest.mark.parametrize("arch", [WEIGHTS_H5])
def test_weights_h5_both_directions(arch, keras_saved, keras_reloaded):
    _, _, _, ref = keras_saved
    # The second weight set really differs from the first (the test would be vacuous otherwise).
    assert np.abs(ref[f"{arch}_pred2"] - ref[f"{arch}_pred"]).max() > 1e-2
    back, tk_preds = keras_reloaded
    assert_close(tk_preds[arch], ref[f"{arch}_pred2"])  # Keras's .weights.h5 read by tkeras
    assert_close(back[f"{arch}_pred_weights"], ref[f"{arch}_pred2"])  # and tkeras's by Keras
