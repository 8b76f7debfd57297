"""Dataset loaders vs real Keras 3.15.1 (TensorFlow pipelines, recorded once in
tests/fixtures/data_utils/keras_datasets.json by gen_data_utils.py, which also writes the image /
text / audio trees both sides read): `timeseries_dataset_from_array` batches, and for
`image/text/audio_dataset_from_directory` the class names, file order, split subsets for a seed,
labels, decoded and resized pixels, text contents and WAV samples; Keras's errors."""

import json
import os
import sys

import numpy as np
import pytest

import tkeras
import tkeras.preprocessing
from tkeras.utils.dataset_utils import BatchDataset

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "data_utils")
sys.path.insert(0, FIXTURES)
import gen_data_utils as gen  # noqa: E402

with open(os.path.join(FIXTURES, "keras_datasets.json")) as f:
    KERAS = json.load(f)

pytest.importorskip("PIL")


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    return gen.make_trees(str(tmp_path_factory.mktemp("trees")))


def _plain(value):
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind == "U":
        return {"values": list(array.reshape(-1)), "shape": list(array.shape), "dtype": "string"}
    return {"values": array.tolist(), "shape": list(array.shape), "dtype": str(array.dtype)}


def _batches(dataset):
    return [tuple(_plain(v) for v in b) if isinstance(b, tuple) else (_plain(b),)
            for b in dataset]


def _assert_batches_equal(ours, theirs, atol=0.0):
    assert len(ours) == len(theirs)
    for batch, expected in zip(ours, theirs):
        assert len(batch) == len(expected)
        for got, want in zip(batch, expected):
            assert got["shape"] == want["shape"]
            assert got["dtype"] == want["dtype"]
            if want["dtype"] == "string":
                assert got["values"] == want["values"]
            else:
                np.testing.assert_allclose(np.asarray(got["values"], dtype="float64"),
                                           np.asarray(want["values"], dtype="float64"),
                                           atol=atol, rtol=0)


@pytest.mark.parametrize("index", range(len(gen.TIMESERIES_CASES)))
def test_timeseries_matches_keras(index):
    kwargs = dict(gen.TIMESERIES_CASES[index])
    data, targets = gen.timeseries_inputs()
    ds = tkeras.utils.timeseries_dataset_from_array(data, kwargs.pop("targets", targets),
                                                    **kwargs)
    assert isinstance(ds, tkeras.utils.PyDataset)
    expected = KERAS["timeseries"][index]
    batches = _batches(ds)
    if "sorted_windows" in expected:
        windows = [[w, t] for b in batches for w, t in zip(b[0]["values"], b[1]["values"])]
        assert sorted(windows) == expected["sorted_windows"]
        assert len(batches) == expected["num_batches"] == len(ds)
    else:
        _assert_batches_equal(batches, expected["batches"])
        assert len(ds) == len(batches)


def test_timeseries_shuffle_order_is_numpy_seeded_and_reshuffled_per_epoch():
    data = np.arange(30)
    ds = tkeras.utils.timeseries_dataset_from_array(data, None, sequence_length=2, batch_size=4,
                                                    shuffle=True, seed=4)
    starts = np.arange(29)
    np.random.RandomState(4).shuffle(starts)
    first = np.concatenate(list(ds))
    np.testing.assert_array_equal(first[:, 0], starts)  # Keras's numpy-shuffled positions
    second = np.concatenate(list(ds))
    assert sorted(second[:, 0].tolist()) == list(range(29))
    assert second[:, 0].tolist() != first[:, 0].tolist()


@pytest.mark.parametrize("kwargs, message", [
    ({"start_index": 50}, "`start_index` must be lower"),
    ({"start_index": 10, "end_index": 5}, "`end_index` must be higher than `start_index`"),
    ({"end_index": 40}, "`end_index` must be lower"),
    ({"sampling_rate": 0}, "`sampling_rate` must be higher than 0"),
    ({"sequence_stride": 40}, "`sequence_stride` must be lower"),
    ({"format": "numpy"}, '`format` should be either "tf" or "grain"'),
])
def test_timeseries_argument_errors(kwargs, message):
    data, targets = gen.timeseries_inputs()
    with pytest.raises(ValueError, match=message):
        tkeras.utils.timeseries_dataset_from_array(data, targets, sequence_length=3, **kwargs)


def _check_directory_case(ours_fn, root, kwargs, expected, atol):
    kwargs = dict(kwargs, verbose=False)
    if "error" in expected:
        with pytest.raises(ValueError):
            ours_fn(root, **kwargs)
        return
    result = ours_fn(root, **kwargs)
    shuffled = kwargs.get("shuffle", True)
    if kwargs.get("subset") == "both":
        assert len(result) == 2
        parts = list(zip(result, expected["both"], (shuffled, False)))
    else:
        parts = [(result, expected, shuffled)]
    for dataset, want, part_shuffled in parts:
        assert isinstance(dataset, BatchDataset)
        assert dataset.class_names == want["class_names"]
        if "file_paths" in want:
            assert [os.path.relpath(p, root) for p in dataset.file_paths] == want["file_paths"]
        batches = _batches(dataset)
        if part_shuffled:
            labels = [v for b in batches if len(b) > 1
                      for v in np.asarray(b[1]["values"]).tolist()]
            assert sorted(labels, key=json.dumps) == want["sorted_labels"]
            assert len(batches) == want["num_batches"] == len(dataset)
        else:
            _assert_batches_equal(batches, want["batches"], atol=atol)


@pytest.mark.parametrize("index", range(len(gen.IMAGE_CASES)))
def test_image_dataset_matches_keras(trees, index):
    # Pixels: Pillow and TensorFlow decode PNG/BMP/GIF identically, and tkeras's bilinear /
    # nearest resize is TensorFlow's half-pixel sampling, but TensorFlow interpolates as
    # `top + (bottom - top) * frac` and PyTorch as a weighted sum: up to ~16 float32 ulps of
    # values near 255 (1.2e-4 seen).
    _check_directory_case(tkeras.utils.image_dataset_from_directory, trees["images"],
                          gen.IMAGE_CASES[index], KERAS["images"][index], atol=3e-4)


@pytest.mark.parametrize("index", range(len(gen.TEXT_CASES)))
def test_text_dataset_matches_keras(trees, index):
    _check_directory_case(tkeras.utils.text_dataset_from_directory, trees["texts"],
                          gen.TEXT_CASES[index], KERAS["texts"][index], atol=0.0)


@pytest.mark.parametrize("index", range(len(gen.AUDIO_CASES)))
def test_audio_dataset_matches_keras(trees, index):
    _check_directory_case(tkeras.utils.audio_dataset_from_directory, trees["audio"],
                          gen.AUDIO_CASES[index], KERAS["audio"][index], atol=0.0)


def test_shuffled_image_dataset_first_epoch_follows_file_paths(trees):
    ds = tkeras.utils.image_dataset_from_directory(trees["images"], image_size=(4, 4), seed=5,
                                                   batch_size=3, verbose=False)
    unshuffled = tkeras.utils.image_dataset_from_directory(
        trees["images"], image_size=(4, 4), shuffle=False, batch_size=None, verbose=False)
    by_path = {p: x for p, (x, _) in zip(unshuffled.file_paths, unshuffled)}
    images = np.concatenate([x for x, _ in ds])
    np.testing.assert_array_equal(images, np.stack([by_path[p] for p in ds.file_paths]))


def test_ragged_audio_batches_are_lists_of_own_length(trees):
    ds = tkeras.utils.audio_dataset_from_directory(trees["audio"], ragged=True, shuffle=False,
                                                   batch_size=4, verbose=False)
    audio, labels = ds[0]
    assert [a.shape for a in audio] == [(5, 1), (8, 1), (11, 1), (5, 2)]
    np.testing.assert_array_equal(labels, [0, 0, 0, 1])
    with pytest.raises(NotImplementedError, match="resample"):
        tkeras.utils.audio_dataset_from_directory(trees["audio"], sampling_rate=16000)


def test_image_dataset_trains_with_fit(trees):
    ds = tkeras.utils.image_dataset_from_directory(
        trees["images"], image_size=(4, 4), label_mode="categorical", batch_size=4, seed=1,
        verbose=False)
    model = tkeras.Sequential([tkeras.Input((4, 4, 3)), tkeras.layers.Rescaling(1 / 255),
                               tkeras.layers.Flatten(), tkeras.layers.Dense(3, "softmax")])
    model.compile("sgd", "categorical_crossentropy")
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.predict(ds, verbose=0).shape == (len(ds.file_paths), 3)


def test_preprocessing_namespace_matches_keras_names():
    assert tkeras.preprocessing.image_dataset_from_directory is (
        tkeras.utils.image_dataset_from_directory)
    assert tkeras.preprocessing.sequence.pad_sequences is tkeras.utils.pad_sequences
    assert sorted(tkeras.preprocessing.__all__) == [
        "image", "image_dataset_from_directory", "sequence", "text_dataset_from_directory",
        "timeseries_dataset_from_array"]
    assert sorted(tkeras.preprocessing.image.__all__) == [
        "array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]
