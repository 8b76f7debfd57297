"""`tkeras.applications` builders against `keras.applications`.

One Keras subprocess builds every selected architecture (`weights=None`, small inputs,
`classes=10` or `include_top=False`), calibrates its BatchNormalization statistics on the
test input (moving mean and variance := batch mean and mean square, see `calibrate`: with the
fresh (0, 1) statistics activations explode or vanish through the depth and a comparison would
be vacuous), saves `.weights.h5` and records predictions, `get_config()` and weight paths/shapes.
tkeras then builds the same architecture with `weights=<that file>` (the local-file branch of
the builders) and must give the same config, weights and predictions. The same subprocess also
gives the reference numbers for `preprocess_input` / `decode_predictions` and saves a ConvNeXt
and an InceptionResNetV2 `.keras` file (their custom layers must resolve in tkeras).

Only the architectures whose tests are selected are built in Keras; the big ones are slow.
"""

import json
import os

import numpy as np
import pytest
import torch

import tkeras
import tkeras.saving
from keras_oracle import requires_keras, run_keras
from tkeras import applications

pytestmark = requires_keras

# id: (constructor call, shared by Keras and tkeras; input size). Sizes keep the last feature
# map at least 2x2: BN statistics of a 1x1 map over a small batch are degenerate and make the
# network chaotic (float32 rounding differences then grow without bound).
ARCHS = {
    "resnet50": ("ResNet50(input_shape=(64, 64, 3), classes=10)", 64),
    "resnet101": ("ResNet101(input_shape=(64, 64, 3), include_top=False, pooling='max')", 64),
    "resnet152": ("ResNet152(input_shape=(64, 64, 3), classes=10)", 64),
    "resnet50v2": ("ResNet50V2(input_shape=(64, 64, 3), classes=10, "
                   "classifier_activation=None)", 64),
    "resnet101v2": ("ResNet101V2(input_shape=(64, 64, 3), include_top=False, pooling='avg')",
                    64),
    "resnet152v2": ("ResNet152V2(input_shape=(64, 64, 3), classes=10)", 64),
    "mobilenet": ("MobileNet(input_shape=(64, 64, 3), alpha=0.5, depth_multiplier=2, "
                  "classes=10, dropout=0.0)", 64),
    "mobilenetv2": ("MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, classes=10)", 96),
    "mobilenetv3small": ("MobileNetV3Small(input_shape=(64, 64, 3), classes=10, "
                         "dropout_rate=0.0)", 64),
    "mobilenetv3large": ("MobileNetV3Large(input_shape=(64, 64, 3), alpha=0.75, "
                         "minimalistic=True, include_top=False, pooling='avg')", 64),
    "efficientnetb0": ("EfficientNetB0(input_shape=(64, 64, 3), classes=10)", 64),
    "efficientnetb1": ("EfficientNetB1(input_shape=(64, 64, 3), include_top=False, "
                       "pooling='avg')", 64),
    "efficientnetb3": ("EfficientNetB3(input_shape=(64, 64, 3), classes=10)", 64),
    "efficientnetb7": ("EfficientNetB7(input_shape=(64, 64, 3), include_top=False)", 64),
    "efficientnetv2b0": ("EfficientNetV2B0(input_shape=(64, 64, 3), classes=10)", 64),
    "efficientnetv2b3": ("EfficientNetV2B3(input_shape=(64, 64, 3), include_top=False, "
                         "pooling='max', include_preprocessing=False)", 64),
    "efficientnetv2s": ("EfficientNetV2S(input_shape=(64, 64, 3), classes=10)", 64),
    "efficientnetv2l": ("EfficientNetV2L(input_shape=(64, 64, 3), include_top=False)", 64),
    "densenet121": ("DenseNet121(input_shape=(64, 64, 3), classes=10)", 64),
    "densenet169": ("DenseNet169(input_shape=(64, 64, 3), include_top=False, "
                    "pooling='avg')", 64),
    "densenet201": ("DenseNet201(input_shape=(64, 64, 3), include_top=False)", 64),
    "vgg16": ("VGG16(input_shape=(32, 32, 3), classes=10, classifier_activation=None)", 32),
    "vgg19": ("VGG19(input_shape=(32, 32, 3), include_top=False, pooling='max')", 32),
    "xception": ("Xception(input_shape=(96, 96, 3), classes=10)", 96),
    "inceptionv3": ("InceptionV3(input_shape=(128, 128, 3), classes=10)", 128),
    "inceptionresnetv2": ("InceptionResNetV2(input_shape=(128, 128, 3), classes=10)", 128),
    "convnexttiny": ("ConvNeXtTiny(input_shape=(64, 64, 3), classes=10)", 64),
    "convnextsmall": ("ConvNeXtSmall(input_shape=(64, 64, 3), include_top=False, "
                      "pooling='avg', include_preprocessing=False)", 64),
    "nasnetmobile": ("NASNetMobile(input_shape=(96, 96, 3), classes=10, "
                     "classifier_activation=None)", 96),
    "nasnetlarge": ("NASNetLarge(input_shape=(96, 96, 3), classes=10)", 96),
}
# Keras's NASNetMobile refuses its torch backend (a Keras bug there); Keras's NASNet builder
# with NASNetMobile's arguments is the same model.
KERAS_CTOR = {"nasnetmobile": (
    "keras.src.applications.nasnet.NASNet((96, 96, 3), penultimate_filters=1056, num_blocks=4, "
    "stem_block_filters=32, skip_reduction=False, filter_multiplier=2, weights=None, "
    "classes=10, default_size=224, classifier_activation=None, name='nasnet_mobile')")}
# EfficientNetV2 with random weights is chaotic: rounding differences grow much faster with
# depth (measured max|diff|/max|ref|: V2B0 6e-5, V2B3 8e-5, V2S 2e-4, V2L 6e-3).
RTOL = {"efficientnetv2b0": 5e-4, "efficientnetv2b3": 5e-4, "efficientnetv2s": 1e-3,
        "efficientnetv2l": 3e-2}
# VGG has no BatchNormalization: inputs of pixel scale keep its outputs far from 0.
INPUT_SCALE = {"vgg16": 100.0, "vgg19": 100.0}
# Fast enough for every run (a few seconds each on both sides); the rest are slow.
FAST = {"mobilenet", "mobilenetv2", "mobilenetv3small", "efficientnetb0", "vgg16",
        "convnexttiny"}
# Slow ones that CI also runs (one per family shape: residual, dense, inception, V2, V3); the
# other big builds (~10 min together on a 2-core machine) run with TKERAS_ALL_APPLICATIONS=1.
CI_SLOW = {"resnet50", "densenet121", "inceptionresnetv2", "efficientnetv2b0",
           "mobilenetv3large"}
ALL_APPLICATIONS = bool(os.environ.get("TKERAS_ALL_APPLICATIONS"))
# Their `.keras` files (custom layers LayerScale/StochasticDepth, CustomScaleLayer) also load.
KERAS_FILES = {"convnexttiny", "inceptionresnetv2"}
# Their weights also travel as a legacy (Keras 2 layout) `.h5` weights file, the format of the
# ImageNet files Keras downloads, given as `weights=<path>`.
LEGACY_H5 = {"mobilenetv2", "resnet50"}

KERAS_CODE = '''
import json, warnings
warnings.simplefilter("ignore")
import h5py
from keras.src.legacy.saving import legacy_h5_format
from keras.src.applications import imagenet_utils
d = str(inputs["dir"])
BN = keras.layers.BatchNormalization

CALIBRATING = []

def _calibrating_call(self, inputs, training=None, mask=None):
    if CALIBRATING:
        axes = [i for i in range(len(inputs.shape)) if i != self.axis % len(inputs.shape)]
        self.moving_mean.assign(keras.ops.mean(inputs, axis=axes))
        self.moving_variance.assign(keras.ops.mean(keras.ops.square(inputs), axis=axes))
        training = False
    return _bn_call(self, inputs, training=training, mask=mask)

_bn_call = BN.call
BN.call = _calibrating_call

def calibrate(model, x, sequential):
    """Moving mean := batch mean, moving variance := batch mean square (not the variance, which
    is near 0 in many channels and would amplify rounding), per BN. Default: the statistics of
    one training-mode call (momentum 0). `sequential`: one inference-mode call in which each BN
    takes the statistics of exactly what it sees at inference (upstream BNs already calibrated);
    EfficientNetV2 needs it (the training-mode statistics make its activations explode)."""
    if sequential:
        CALIBRATING.append(True)
        model(x, training=False)
        CALIBRATING.pop()
        return
    bns = [l for l in model._flatten_layers() if isinstance(l, BN)]
    saved = [l.momentum for l in bns]
    for l in bns:
        l.momentum = 0.0
    model(x, training=True)
    for l, m in zip(bns, saved):
        l.momentum = m
        l.moving_variance.assign(l.moving_variance + l.moving_mean ** 2)

for name in str(inputs["archs"]).split(","):
    if not name:
        continue
    keras.utils.clear_session()
    size = int(inputs[f"size_{name}"])
    x = inputs["x"][:, :size, :size].astype("float32") * float(inputs[f"scale_{name}"])
    model = eval(str(inputs[f"kctor_{name}"]))
    calibrate(model, x, name.startswith("efficientnetv2"))
    model.save_weights(f"{d}/{name}.weights.h5")
    if name in KERAS_FILES:
        model.save(f"{d}/{name}.keras")
    if name in LEGACY_H5:
        with h5py.File(f"{d}/{name}_legacy.h5", "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
    outputs[f"{name}_pred"] = keras.ops.convert_to_numpy(model(x, training=False))
    outputs[f"{name}_x"] = x
    outputs[f"{name}_config"] = json.dumps(model.get_config())
    outputs[f"{name}_weights"] = [[w.path, list(w.shape)] for w in model.weights]

# The public names: builders, and each submodule's exports.
public = [n for n in dir(keras.applications) if not n.startswith("_")]
outputs["builders"] = sorted(n for n in public if n[0].isupper())
outputs["submodules"] = sorted(n for n in public if n[0].islower())
for sub in outputs["submodules"]:
    outputs[f"names_{sub}"] = sorted(n for n in dir(getattr(keras.applications, sub))
                                     if not n.startswith("_"))

# decode_predictions with a (made-up) class index: Keras would download the real one.
imagenet_utils.CLASS_INDEX = json.loads(str(inputs["class_index"]))
outputs["decoded"] = [[list(map(str, t)) for t in row] for row in
                      keras.applications.resnet.decode_predictions(inputs["preds"], top=3)]
# preprocess_input of every family, on NumPy arrays and on tensors, both data formats.
img = inputs["img"]
for fam in PREPROCESS_FAMILIES:
    fn = getattr(keras.applications, fam).preprocess_input
    outputs[f"pre_{fam}_np"] = fn(img.copy())
    outputs[f"pre_{fam}_tensor"] = keras.ops.convert_to_numpy(
        fn(keras.ops.convert_to_tensor(img.copy())))
for mode in ("caffe", "tf", "torch"):
    for fmt in ("channels_first", "channels_last"):
        im = inputs["img_" + fmt]
        outputs[f"pre_{mode}_{fmt}"] = imagenet_utils.preprocess_input(
            im.copy(), data_format=fmt, mode=mode)
        outputs[f"pre_{mode}_{fmt}_3d"] = keras.ops.convert_to_numpy(
            imagenet_utils.preprocess_input(
                keras.ops.convert_to_tensor(im[0].copy()), data_format=fmt, mode=mode))

'''

PREPROCESS_FAMILIES = ["convnext", "densenet", "efficientnet", "efficientnet_v2",
                       "inception_resnet_v2", "inception_v3", "mobilenet", "mobilenet_v2",
                       "mobilenet_v3", "nasnet", "resnet", "resnet50", "resnet_v2", "vgg16",
                       "vgg19", "xception"]


def _class_index():
    return {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}


def _selected_archs(request):
    params = [item.callspec.params.get("arch") for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec")]
    return [name for name in ARCHS if name in params and _runs(name)]


def _runs(name):
    return name in FAST or name in CI_SLOW or ALL_APPLICATIONS


@pytest.fixture(scope="module")
def keras_ref(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp("applications_build")
    archs = _selected_archs(request)
    rng = np.random.default_rng(0)
    data = {"dir": np.array(str(directory)), "archs": np.array(",".join(archs)),
            "x": rng.uniform(-1, 1, (4, 128, 128, 3)).astype("float32"),
            "img": rng.uniform(0, 255, (2, 5, 6, 3)).astype("float32"),
            "preds": rng.uniform(0, 1, (2, 1000)).astype("float32"),
            "class_index": np.array(json.dumps(_class_index()))}
    data["img_channels_last"] = data["img"]
    data["img_channels_first"] = np.ascontiguousarray(data["img"].transpose(0, 3, 1, 2))
    for name in archs:
        data[f"kctor_{name}"] = np.array(KERAS_CTOR.get(name) or "keras.applications." + ARCHS[
            name][0].replace("(", "(weights=None, ", 1))
        data[f"size_{name}"] = np.array(ARCHS[name][1])
        data[f"scale_{name}"] = np.array(INPUT_SCALE.get(name, 1.0))
    code = (f"KERAS_FILES = {sorted(KERAS_FILES)!r}\nLEGACY_H5 = {sorted(LEGACY_H5)!r}\n"
            f"PREPROCESS_FAMILIES = {PREPROCESS_FAMILIES!r}\n" + KERAS_CODE)
    return directory, data, run_keras(code, data, timeout=3000)


def _predict(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x)), training=False).numpy()


def assert_close(got, ref, rtol=1e-4):
    # float32: torch's channels-last (tkeras) and NCHW (Keras) kernels round differently, and
    # the difference grows through the depth (measured max|diff|/max|ref|: 1e-6 to 5e-6 for
    # every architecture but EfficientNetV2, see RTOL); atol is relative to the output scale.
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * 0.1 * np.abs(ref).max())


def config_diffs(got, ref, path="", out=None):
    """Paths where two JSON-like configs differ (first 10), for readable failures."""
    out = [] if out is None else out
    if isinstance(got, dict) and isinstance(ref, dict):
        for k in sorted(set(got) | set(ref), key=str):
            config_diffs(got.get(k, "<missing>"), ref.get(k, "<missing>"), f"{path}/{k}", out)
    elif isinstance(got, (list, tuple)) and isinstance(ref, (list, tuple)) and len(got) == len(
            ref):
        for i, (a, b) in enumerate(zip(got, ref)):
            config_diffs(a, b, f"{path}[{i}]", out)
    elif got != ref:
        out.append(f"{path}: {got!r} != {ref!r}")
    return out[:10]


def comparable(config):
    """A model config without what tkeras's layer base writes differently from Keras for every
    model (not application-specific; see the applications section of docs/design.md): the
    `build_config` of weightless layers and Keras's recorded `training=False` call kwarg of
    Dropout. Everything else (names, classes, modules, registered names, layer configs, graph
    wiring, model inputs/outputs) must be identical."""
    layers = [{key: layer.get(key) for key in ("module", "class_name", "registered_name",
                                                "name", "config")}
              | {"inbound_nodes": [node["args"] for node in layer["inbound_nodes"]]}
              for layer in config["layers"]]
    return {**config, "layers": layers}


def _arch_params():
    skip_big = pytest.mark.skipif(
        not ALL_APPLICATIONS, reason="big application build: set TKERAS_ALL_APPLICATIONS=1")
    return [pytest.param(name, marks=[] if name in FAST else [pytest.mark.slow] + (
        [] if name in CI_SLOW else [skip_big]), id=name) for name in ARCHS]


@pytest.mark.parametrize("arch", _arch_params())
def test_architecture_matches_keras(arch, keras_ref):
    directory, data, ref = keras_ref
    ctor, size = ARCHS[arch]
    tkeras.utils.clear_session()  # auto-generated layer names count from 0, as in Keras
    call = ctor.replace("(", f"(weights={str(directory / f'{arch}.weights.h5')!r}, ", 1)
    model = eval("applications." + call)
    assert not config_diffs(comparable(model.get_config()),
                            comparable(json.loads(ref[f"{arch}_config"])))
    assert [[w.path, list(w.shape)] for w in model.weights] == [
        list(p) for p in ref[f"{arch}_weights"]]
    x = ref[f"{arch}_x"]
    pred = ref[f"{arch}_pred"]
    # Informative outputs: finite, not vanishing, not constant.
    assert np.isfinite(pred).all() and np.abs(pred).max() > 1e-2 and np.std(pred) > 1e-4
    rtol = RTOL.get(arch, 1e-4)
    assert_close(_predict(model, x), pred, rtol)
    if arch in LEGACY_H5:
        tkeras.utils.clear_session()
        legacy = eval("applications." + ctor.replace(
            "(", f"(weights={str(directory / f'{arch}_legacy.h5')!r}, ", 1))
        assert_close(_predict(legacy, x), pred, rtol)
    if arch in KERAS_FILES:
        loaded = tkeras.saving.load_model(directory / f"{arch}.keras")
        assert_close(_predict(loaded, x), pred, rtol)
        assert loaded.get_config() == model.get_config()


@pytest.mark.parametrize("family", PREPROCESS_FAMILIES)
def test_preprocess_input(family, keras_ref):
    _, data, ref = keras_ref
    fn = getattr(applications, family).preprocess_input
    np.testing.assert_allclose(fn(data["img"].copy()), ref[f"pre_{family}_np"], rtol=1e-6,
                               atol=1e-4)
    got = fn(torch.from_numpy(data["img"].copy()))
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), ref[f"pre_{family}_tensor"], rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
def test_imagenet_utils_preprocess_modes(mode, fmt, keras_ref):
    _, data, ref = keras_ref
    pre = applications.imagenet_utils.preprocess_input
    img = data["img_" + fmt]
    got = pre(img.copy(), data_format=fmt, mode=mode)
    np.testing.assert_allclose(got, ref[f"pre_{mode}_{fmt}"], rtol=1e-6, atol=1e-4)
    got = pre(torch.from_numpy(img[0].copy()), data_format=fmt, mode=mode)
    np.testing.assert_allclose(got.numpy(), ref[f"pre_{mode}_{fmt}_3d"], rtol=1e-6, atol=1e-4)


def test_decode_predictions_local_class_index(keras_ref, tmp_path):
    _, data, ref = keras_ref
    path = tmp_path / "imagenet_class_index.json"
    path.write_text(json.dumps(_class_index()))
    got = applications.resnet.decode_predictions(data["preds"], top=3, class_index_path=path)
    assert [[list(map(str, t)) for t in row] for row in got] == ref["decoded"]
    assert all(isinstance(t[2], np.float32) for row in got for t in row)


def test_decode_predictions_without_class_index(tmp_path, monkeypatch):
    monkeypatch.setattr(applications.imagenet_utils.config, "keras_home", lambda: str(tmp_path))
    monkeypatch.setattr(applications.imagenet_utils, "CLASS_INDEX", None)
    with pytest.raises(ValueError, match="does not download.*class_index_path"):
        applications.imagenet_utils.decode_predictions(np.zeros((1, 1000), "float32"))
    with pytest.raises(ValueError, match=r"shape: \(1, 10\)"):
        applications.imagenet_utils.decode_predictions(np.zeros((1, 10), "float32"))


@pytest.mark.parametrize("name", applications.__all__)
def test_imagenet_weights_raise_before_building(name, monkeypatch):
    built = []
    monkeypatch.setattr(tkeras.layers, "Input", lambda *a, **k: built.append(1))
    with pytest.raises(ValueError, match=r"weights='imagenet'.*weights=None.*local weights file"):
        getattr(applications, name)()  # Keras's default is weights="imagenet"
    assert not built
    with pytest.raises(ValueError, match="path to the weights file"):
        getattr(applications, name)(weights="/nonexistent/weights.h5")
    assert not built


def test_namespace_matches_keras(keras_ref):
    _, _, ref = keras_ref
    assert sorted(applications.__all__) == ref["builders"]
    for sub in ref["submodules"]:
        assert sorted(n for n in vars(getattr(applications, sub)) if n in ref[f"names_{sub}"]) \
            == ref[f"names_{sub}"]
