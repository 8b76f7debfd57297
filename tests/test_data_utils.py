"""`split_dataset`, the image helpers (`load_img`, `img_to_array`, `array_to_img`, `save_img`,
`smart_resize`), `pad_sequences` and `keras.datasets` vs real Keras (torch backend, one batched
subprocess); datasets read small fake cache files written here, never unpickled."""

import gzip
import hashlib
import json
import os

import numpy as np
import pytest
import torch

import tkeras
import tkeras.datasets
import tkeras.preprocessing
from keras_oracle import requires_keras, run_keras
from tkeras.datasets import (boston_housing, california_housing, cifar10, cifar100,
                             fashion_mnist, imdb, mnist, reuters)

PIL = pytest.importorskip("PIL.Image")

RNG = np.random.RandomState(0)
ARRAYS = {
    "split_x": RNG.rand(20, 3).astype("float32"),
    "split_y": np.arange(20),
    "img_u8": RNG.randint(0, 256, (10, 7, 3)).astype("uint8"),
    "img_batch": RNG.rand(2, 9, 5, 3).astype("float32") * 255,
    "img_cf": RNG.rand(3, 8, 11).astype("float32"),
    "arr_rgb": RNG.rand(5, 4, 3).astype("float32") * 3 - 1,
    "arr_rgba": RNG.rand(5, 4, 4).astype("float32"),
    "arr_big": (RNG.rand(4, 6, 1) * 1000).astype("float32"),
    "arr_cf": RNG.rand(1, 6, 5).astype("float32"),
    "photo": RNG.randint(0, 256, (13, 17, 3)).astype("uint8"),
    "mnist_x_train": RNG.randint(0, 256, (5, 28, 28)).astype("uint8"),
    "mnist_y_train": RNG.randint(0, 10, 5).astype("uint8"),
    "mnist_x_test": RNG.randint(0, 256, (3, 28, 28)).astype("uint8"),
    "mnist_y_test": RNG.randint(0, 10, 3).astype("uint8"),
    "boston_x": RNG.rand(23, 13),
    "boston_y": RNG.rand(23),
    "california_x": RNG.rand(650, 8).astype("float32"),
    "california_y": RNG.rand(650).astype("float32"),
}
SEQUENCES = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10], [], [11]]
PAD_CASES = [{}, {"maxlen": 3}, {"maxlen": 4, "padding": "post", "truncating": "post"},
             {"maxlen": 2, "truncating": "pre", "value": -1.0, "dtype": "float32"}]
SPLIT_CASES = [  # (data key, kwargs): data "x" is an array, "xy" a tuple of two arrays
    ("x", {"left_size": 0.7, "shuffle": True, "seed": 3}),
    ("xy", {"right_size": 5, "shuffle": True, "seed": 8}),
    ("xy", {"left_size": 4, "right_size": 0.8, "shuffle": True, "seed": 1}),
]
SPLIT_ERRORS = [{"left_size": 0, "right_size": 0}, {"left_size": 0.6, "right_size": 0.6},
                {"left_size": "1"}, {"left_size": 20}, {}]

KERAS_CODE = f"""
import io, tempfile, torch
from keras.utils import split_dataset, load_img, img_to_array, array_to_img, save_img
from keras.preprocessing.image import smart_resize
from keras.preprocessing.sequence import pad_sequences
import keras.src.datasets.mnist as kmnist, keras.src.datasets.boston_housing as kboston
import keras.src.datasets.california_housing as kcal, keras.src.datasets.fashion_mnist as kfashion

for i, (data, kwargs) in enumerate({SPLIT_CASES!r}):
    ds = inputs["split_x"] if data == "x" else (inputs["split_x"], inputs["split_y"])
    left, right = split_dataset(ds, **kwargs)
    outputs[f"split{{i}}_left"] = list(left.indices)
    outputs[f"split{{i}}_right"] = list(right.indices)
for i, kwargs in enumerate({SPLIT_ERRORS!r}):
    try:
        split_dataset(inputs["split_x"], **kwargs)
        outputs[f"split_error{{i}}"] = None
    except Exception as e:
        outputs[f"split_error{{i}}"] = type(e).__name__

outputs["smart_u8"] = smart_resize(inputs["img_u8"], (4, 4))
outputs["smart_batch"] = smart_resize(inputs["img_batch"], (3, 6), interpolation="nearest")
outputs["smart_cf"] = smart_resize(inputs["img_cf"], (5, 5), data_format="channels_first")
outputs["smart_tensor"] = smart_resize(torch.from_numpy(inputs["img_batch"]), (7, 2),
                                       interpolation="bicubic").numpy()

outputs["a2i_rgb"] = np.asarray(array_to_img(inputs["arr_rgb"]))
outputs["a2i_rgb_noscale"] = np.asarray(array_to_img(inputs["arr_rgb"] * 100, scale=False))
outputs["a2i_rgba"] = np.asarray(array_to_img(inputs["arr_rgba"]))
img = array_to_img(inputs["arr_big"], scale=False)
outputs["a2i_big_mode"] = img.mode
outputs["a2i_big"] = np.asarray(img)
outputs["a2i_cf"] = np.asarray(array_to_img(inputs["arr_cf"], data_format="channels_first"))
outputs["i2a_cf"] = img_to_array(array_to_img(inputs["arr_rgb"]), data_format="channels_first")
outputs["i2a_gray"] = img_to_array(array_to_img(inputs["arr_cf"], data_format="channels_first"),
                                   dtype="float64")

tmp = tempfile.mkdtemp()
path = os.path.join(tmp, "photo.png")
save_img(path, inputs["photo"], scale=False)
outputs["png_bytes"] = np.frombuffer(open(path, "rb").read(), "uint8")
load_cases = [{{}}, {{"color_mode": "grayscale"}}, {{"color_mode": "rgba"}},
              {{"target_size": (6, 9), "interpolation": "bilinear"}},
              {{"target_size": (8, 8), "keep_aspect_ratio": True, "interpolation": "bicubic"}},
              {{"target_size": (5, 12), "keep_aspect_ratio": True}}]
for i, kwargs in enumerate(load_cases):
    outputs[f"load{{i}}"] = img_to_array(load_img(path, **kwargs))
outputs["load_bytesio"] = img_to_array(load_img(io.BytesIO(open(path, "rb").read())))
buf = io.BytesIO()
save_img(buf, inputs["arr_rgba"], file_format="png")
outputs["save_bytesio"] = np.frombuffer(buf.getvalue(), "uint8")

for i, kwargs in enumerate({PAD_CASES!r}):
    outputs[f"pad{{i}}"] = pad_sequences({SEQUENCES!r}, **kwargs)

np.savez(os.path.join(tmp, "mnist.npz"), x_train=inputs["mnist_x_train"],
         y_train=inputs["mnist_y_train"], x_test=inputs["mnist_x_test"],
         y_test=inputs["mnist_y_test"])
kmnist.get_file = lambda *a, **k: os.path.join(tmp, "mnist.npz")
(x, y), (xt, yt) = kmnist.load_data()
outputs.update(mnist_x=x, mnist_y=y, mnist_xt=xt, mnist_yt=yt)
np.savez(os.path.join(tmp, "boston.npz"), x=inputs["boston_x"], y=inputs["boston_y"])
kboston.get_file = lambda *a, **k: os.path.join(tmp, "boston.npz")
for i, kwargs in enumerate([{{}}, {{"test_split": 0.35, "seed": 4}}]):
    (x, y), (xt, yt) = kboston.load_data(**kwargs)
    outputs.update({{f"boston{{i}}_x": x, f"boston{{i}}_y": y, f"boston{{i}}_xt": xt,
                    f"boston{{i}}_yt": yt}})
np.savez(os.path.join(tmp, "cal.npz"), x=inputs["california_x"], y=inputs["california_y"])
kcal.get_file = lambda *a, **k: os.path.join(tmp, "cal.npz")
for i, kwargs in enumerate([{{}}, {{"version": "small", "test_split": 0.1}}]):
    (x, y), (xt, yt) = kcal.load_data(**kwargs)
    outputs.update({{f"cal{{i}}_x": x, f"cal{{i}}_y": y, f"cal{{i}}_xt": xt, f"cal{{i}}_yt": yt}})
"""


@pytest.fixture(scope="module")
def keras_out():
    return run_keras(KERAS_CODE, ARRAYS)


# ----------------------------------------------------------------------------- split_dataset


@requires_keras
@pytest.mark.parametrize("index", range(len(SPLIT_CASES)))
def test_split_dataset_matches_keras_torch_split(keras_out, index):
    data, kwargs = SPLIT_CASES[index]
    x, y = ARRAYS["split_x"], ARRAYS["split_y"]
    left, right = tkeras.utils.split_dataset(x if data == "x" else (x, y), **kwargs)
    assert isinstance(left, torch.utils.data.Subset)
    assert list(left.indices) == keras_out[f"split{index}_left"]
    assert list(right.indices) == keras_out[f"split{index}_right"]
    sample = right[0]
    np.testing.assert_array_equal(sample[0].numpy(), x[right.indices[0]])


@requires_keras
@pytest.mark.parametrize("index", range(len(SPLIT_ERRORS)))
def test_split_dataset_errors_match_keras(keras_out, index):
    expected = keras_out[f"split_error{index}"]
    with pytest.raises(Exception) as info:
        tkeras.utils.split_dataset(ARRAYS["split_x"], **SPLIT_ERRORS[index])
    assert type(info.value).__name__ == expected


def test_split_dataset_unshuffled_is_in_order_and_torch_datasets_work():
    left, right = tkeras.utils.split_dataset([ARRAYS["split_x"]], left_size=6, right_size=10)
    assert list(left.indices) == list(range(6))
    assert list(right.indices) == list(range(10, 20))
    base = torch.utils.data.TensorDataset(torch.arange(10))
    left, right = tkeras.utils.split_dataset(base, left_size=0.3)
    assert (len(left), len(right)) == (3, 7)
    with pytest.raises(TypeError, match="must be a `torch.utils.data.Dataset`"):
        tkeras.utils.split_dataset("data", left_size=0.5)
    with pytest.raises(ValueError, match="torch only"):
        tkeras.utils.split_dataset(ARRAYS["split_x"], left_size=0.5,
                                   preferred_backend="tensorflow")


# ----------------------------------------------------------------------------- image helpers


@requires_keras
def test_smart_resize_matches_keras(keras_out):
    smart = tkeras.preprocessing.image.smart_resize
    out = smart(ARRAYS["img_u8"], (4, 4))
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, keras_out["smart_u8"])
    # Same PyTorch kernels as Keras's torch backend; atol covers float32 rounding of 0..255.
    np.testing.assert_allclose(smart(ARRAYS["img_batch"], (3, 6), interpolation="nearest"),
                               keras_out["smart_batch"], atol=1e-4)
    np.testing.assert_allclose(smart(ARRAYS["img_cf"], (5, 5), data_format="channels_first"),
                               keras_out["smart_cf"], atol=1e-6)
    tensor_out = smart(torch.from_numpy(ARRAYS["img_batch"]), (7, 2), interpolation="bicubic")
    assert isinstance(tensor_out, torch.Tensor)
    np.testing.assert_allclose(tensor_out.numpy(), keras_out["smart_tensor"], atol=1e-4)
    with pytest.raises(ValueError, match="incorrect rank"):
        smart(np.zeros((4, 4)), (2, 2))
    with pytest.raises(TypeError, match="unexpected keyword"):
        smart(ARRAYS["img_u8"], (2, 2), antialias=True)


@requires_keras
def test_array_to_img_and_img_to_array_match_keras(keras_out):
    u = tkeras.utils
    np.testing.assert_array_equal(np.asarray(u.array_to_img(ARRAYS["arr_rgb"])),
                                  keras_out["a2i_rgb"])
    np.testing.assert_array_equal(
        np.asarray(u.array_to_img(ARRAYS["arr_rgb"] * 100, scale=False)),
        keras_out["a2i_rgb_noscale"])
    np.testing.assert_array_equal(np.asarray(u.array_to_img(ARRAYS["arr_rgba"])),
                                  keras_out["a2i_rgba"])
    big = u.array_to_img(ARRAYS["arr_big"], scale=False)
    assert big.mode == keras_out["a2i_big_mode"] == "I"
    np.testing.assert_array_equal(np.asarray(big), keras_out["a2i_big"])
    np.testing.assert_array_equal(
        np.asarray(u.array_to_img(ARRAYS["arr_cf"], data_format="channels_first")),
        keras_out["a2i_cf"])
    cf = u.img_to_array(u.array_to_img(ARRAYS["arr_rgb"]), data_format="channels_first")
    assert cf.dtype == keras_out["i2a_cf"].dtype
    np.testing.assert_array_equal(cf, keras_out["i2a_cf"])
    gray = u.img_to_array(u.array_to_img(ARRAYS["arr_cf"], data_format="channels_first"),
                          dtype="float64")
    assert gray.dtype == np.float64 and gray.shape == keras_out["i2a_gray"].shape
    np.testing.assert_array_equal(gray, keras_out["i2a_gray"])
    with pytest.raises(ValueError, match="rank 3"):
        u.array_to_img(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="Unsupported channel number: 2"):
        u.array_to_img(np.zeros((4, 4, 2)))


@requires_keras
def test_save_img_and_load_img_match_keras(keras_out, tmp_path):
    import io

    u = tkeras.utils
    path = str(tmp_path / "photo.png")
    u.save_img(path, ARRAYS["photo"], scale=False)
    with open(path, "rb") as f:
        assert f.read() == keras_out["png_bytes"].tobytes()
    load_cases = [{}, {"color_mode": "grayscale"}, {"color_mode": "rgba"},
                  {"target_size": (6, 9), "interpolation": "bilinear"},
                  {"target_size": (8, 8), "keep_aspect_ratio": True,
                   "interpolation": "bicubic"},
                  {"target_size": (5, 12), "keep_aspect_ratio": True}]
    for i, kwargs in enumerate(load_cases):
        np.testing.assert_array_equal(u.img_to_array(u.load_img(path, **kwargs)),
                                      keras_out[f"load{i}"], err_msg=str(kwargs))
    with open(path, "rb") as f:
        from_bytes = u.load_img(io.BytesIO(f.read()))
    np.testing.assert_array_equal(u.img_to_array(from_bytes), keras_out["load_bytesio"])
    buf = io.BytesIO()
    u.save_img(buf, ARRAYS["arr_rgba"], file_format="png")
    assert buf.getvalue() == keras_out["save_bytesio"].tobytes()
    with pytest.raises(ValueError, match="Invalid interpolation method"):
        u.load_img(path, target_size=(3, 3), interpolation="cubic")
    with pytest.raises(ValueError, match="color_mode must be"):
        u.load_img(path, color_mode="cmyk")
    with pytest.raises(TypeError, match="path-like"):
        u.load_img(3)


def test_jpeg_save_of_rgba_warns_and_drops_alpha(tmp_path):
    path = str(tmp_path / "x.jpg")
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        tkeras.utils.save_img(path, ARRAYS["arr_rgba"])
    assert tkeras.utils.load_img(path, color_mode="rgba").mode == "RGBA"
    assert PIL.open(path).mode == "RGB"


def test_missing_pillow_raises_keras_import_error(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("No module named 'PIL'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    with pytest.raises(ImportError, match="The use of `load_img` requires PIL"):
        tkeras.utils.load_img("x.png")
    with pytest.raises(ImportError, match="The use of `array_to_img` requires PIL"):
        tkeras.utils.array_to_img(np.zeros((2, 2, 3)))
    os.makedirs(tmp_path / "a")
    with pytest.raises(ImportError, match="requires PIL"):
        tkeras.utils.image_dataset_from_directory(str(tmp_path), verbose=False)


# ----------------------------------------------------------------------------- pad_sequences


@requires_keras
def test_pad_sequences_matches_keras(keras_out):
    for i, kwargs in enumerate(PAD_CASES):
        out = tkeras.preprocessing.sequence.pad_sequences(SEQUENCES, **kwargs)
        assert out.dtype == keras_out[f"pad{i}"].dtype
        np.testing.assert_array_equal(out, keras_out[f"pad{i}"])


# ----------------------------------------------------------------------------- keras.datasets


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """An empty `$KERAS_HOME`; returns its `datasets` directory."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    datasets = tmp_path / "keras_home" / "datasets"
    datasets.mkdir(parents=True)
    return datasets


def _write_npz(path, monkeypatch, module, **arrays):
    np.savez(path, **arrays)
    monkeypatch.setattr(module, "FILE_HASH", _sha256(path))


@requires_keras
def test_mnist_boston_california_match_keras(keras_out, cache, monkeypatch):
    _write_npz(cache / "mnist.npz", monkeypatch, mnist, x_train=ARRAYS["mnist_x_train"],
               y_train=ARRAYS["mnist_y_train"], x_test=ARRAYS["mnist_x_test"],
               y_test=ARRAYS["mnist_y_test"])
    (x, y), (xt, yt) = tkeras.datasets.mnist.load_data()
    for got, key in ((x, "mnist_x"), (y, "mnist_y"), (xt, "mnist_xt"), (yt, "mnist_yt")):
        assert got.dtype == keras_out[key].dtype
        np.testing.assert_array_equal(got, keras_out[key])

    _write_npz(cache / "boston_housing.npz", monkeypatch, boston_housing, x=ARRAYS["boston_x"],
               y=ARRAYS["boston_y"])
    for i, kwargs in enumerate([{}, {"test_split": 0.35, "seed": 4}]):
        (x, y), (xt, yt) = boston_housing.load_data(**kwargs)
        for got, key in ((x, "x"), (y, "y"), (xt, "xt"), (yt, "yt")):
            np.testing.assert_array_equal(got, keras_out[f"boston{i}_{key}"])

    _write_npz(cache / "california_housing.npz", monkeypatch, california_housing,
               x=ARRAYS["california_x"], y=ARRAYS["california_y"])
    for i, kwargs in enumerate([{}, {"version": "small", "test_split": 0.1}]):
        (x, y), (xt, yt) = california_housing.load_data(**kwargs)
        for got, key in ((x, "x"), (y, "y"), (xt, "xt"), (yt, "yt")):
            assert got.dtype == keras_out[f"cal{i}_{key}"].dtype
            np.testing.assert_array_equal(got, keras_out[f"cal{i}_{key}"])
    with pytest.raises(ValueError, match="Invalid `test_split`"):
        boston_housing.load_data(test_split=1.0)
    with pytest.raises(ValueError, match="must be one of 'small', 'large'"):
        california_housing.load_data(version="medium")


def test_fashion_mnist_reads_cached_idx_files(cache):
    folder = cache / "fashion-mnist"
    folder.mkdir()
    images = {"train": RNG.randint(0, 256, (4, 28, 28)).astype("uint8"),
              "t10k": RNG.randint(0, 256, (2, 28, 28)).astype("uint8")}
    labels = {"train": np.array([3, 1, 4, 1], "uint8"), "t10k": np.array([5, 9], "uint8")}
    for split in ("train", "t10k"):
        n = len(labels[split])
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(np.array([2049, n], ">i4").tobytes() + labels[split].tobytes())
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(np.array([2051, n, 28, 28], ">i4").tobytes() + images[split].tobytes())
    (x, y), (xt, yt) = fashion_mnist.load_data()
    np.testing.assert_array_equal(x, images["train"])
    np.testing.assert_array_equal(y, labels["train"])
    np.testing.assert_array_equal(xt, images["t10k"])
    np.testing.assert_array_equal(yt, labels["t10k"])


def test_missing_or_outdated_cache_file_is_fetched_through_get_file(cache, tmp_path,
                                                                    monkeypatch):
    origin = tmp_path / "origin"
    origin.mkdir()
    _write_npz(origin / "mnist.npz", monkeypatch, mnist, x_train=ARRAYS["mnist_x_train"],
               y_train=ARRAYS["mnist_y_train"], x_test=ARRAYS["mnist_x_test"],
               y_test=ARRAYS["mnist_y_test"])
    monkeypatch.setattr(mnist, "ORIGIN_FOLDER", f"{origin}/")
    (x, _), _ = mnist.load_data()  # not cached: copied from the (local) origin
    np.testing.assert_array_equal(x, ARRAYS["mnist_x_train"])
    assert (cache / "mnist.npz").exists()
    with open(cache / "mnist.npz", "wb") as f:
        f.write(b"truncated")  # hash mismatch: fetched again
    (x, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x, ARRAYS["mnist_x_train"])
    monkeypatch.setattr(mnist, "FILE_HASH", "0" * 64)  # origin does not match either
    with pytest.raises(ValueError):
        mnist.load_data()


def test_word_indices_and_label_names(cache, monkeypatch):
    for module, fname in ((imdb, "imdb_word_index.json"), (reuters, "reuters_word_index.json")):
        with open(cache / fname, "w") as f:
            json.dump({"the": 1, "and": 2}, f)
        with open(cache / fname, "rb") as f:
            monkeypatch.setattr(module, "WORD_INDEX_HASH", hashlib.md5(f.read()).hexdigest())
        assert module.get_word_index() == {"the": 1, "and": 2}
    names = reuters.get_label_names()
    assert len(names) == 46 and names[:3] == ("cocoa", "grain", "veg-oil")
    assert names[-1] == "lead"


@pytest.mark.parametrize("load, name", [
    (imdb.load_data, "imdb"), (reuters.load_data, "reuters"), (cifar10.load_data, "cifar10"),
    (cifar100.load_data, "cifar100")])
def test_pickled_datasets_are_refused(cache, load, name):
    with pytest.raises(ValueError, match=f"tkeras does not load `{name}`.*unpickling"):
        load()
    assert not any(cache.iterdir())  # refused before any download
    if name == "cifar100":
        with pytest.raises(ValueError, match="`label_mode` must be one of"):
            cifar100.load_data(label_mode="medium")


def test_datasets_namespace_matches_keras():
    assert sorted(tkeras.datasets.__all__) == [
        "boston_housing", "california_housing", "cifar10", "cifar100", "fashion_mnist", "imdb",
        "mnist", "reuters"]
