"""`tkeras.utils`: seeding, clear_session, array helpers (Keras parity), `get_file` (cache
layout and hashes compared with Keras; crafted archives that try to write outside the cache)."""

import hashlib
import inspect
import io
import json
import os
import random
import tarfile
import zipfile

import numpy as np
import pytest
import torch

import tkeras
import tkeras.config
import tkeras.utils as utils
from tkeras.core import registry
from keras_oracle import requires_keras, run_keras

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API = os.path.join(REPO, "..", "shared", "docs", "keras-api.json")


def test_namespace_signatures_match_keras():
    with open(API) as f:
        symbols = json.load(f)["namespaces"]["keras.utils"]["symbols"]
    present = [n for n in symbols if hasattr(utils, n)]
    for name in present:
        obj = getattr(utils, name)
        if symbols[name]["kind"] == "function" and name != "deserialize_keras_object":
            assert str(inspect.signature(obj)) == symbols[name]["signature"], name
    for name in ("set_random_seed", "get_file", "to_categorical", "normalize", "pad_sequences",
                 "Progbar", "clear_session", "pack_x_y_sample_weight", "unpack_x_y_sample_weight",
                 "register_keras_serializable", "get_registered_name", "get_registered_object",
                 "get_custom_objects", "CustomObjectScope", "custom_object_scope",
                 "serialize_keras_object", "deserialize_keras_object", "PyDataset", "Sequence",
                 "Config", "is_keras_tensor", "get_source_inputs", "standardize_dtype"):
        assert name in present, name
    assert utils.custom_object_scope is registry.CustomObjectScope
    assert utils.register_keras_serializable is registry.register_keras_serializable


# ----------------------------------------------------------------------------- seeding


def _draw():
    init = tkeras.initializers.GlorotUniform()  # seed=None: drawn from Python's random
    return (random.random(), float(np.random.rand()), torch.rand(3).tolist(),
            init((2, 2)).tolist(),
            tkeras.layers.Dropout(0.5)(torch.ones(8), training=True).tolist())


def test_set_random_seed_reproduces_everything():
    utils.set_random_seed(123)
    first = _draw()
    utils.set_random_seed(123)
    assert _draw() == first
    utils.set_random_seed(124)
    assert _draw()[:4] != first[:4]
    with pytest.raises(ValueError, match="integer"):
        utils.set_random_seed(1.5)


def test_set_random_seed_with_deterministic_ops_trains_identically():
    def train():
        utils.set_random_seed(7)
        model = tkeras.Sequential([tkeras.Input((4,)), tkeras.layers.Dense(8, "relu"),
                                   tkeras.layers.Dropout(0.3), tkeras.layers.Dense(1)])
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(32, 4), torch.randn(32, 1)
        model.train()
        for _ in range(3):
            opt.zero_grad()
            loss = ((model(x, training=True) - y) ** 2).mean()
            loss.backward()
            opt.step()
        return [w.detach().clone() for w in model.weights]

    tkeras.config.enable_deterministic_ops()
    try:
        a, b = train(), train()
    finally:
        tkeras.config.disable_deterministic_ops()
    assert all(torch.equal(u, v) for u, v in zip(a, b))


# ----------------------------------------------------------------------------- clear_session


def test_clear_session_restarts_names(monkeypatch):
    utils.clear_session()
    assert [tkeras.layers.Dense(1).name for _ in range(3)] == ["dense", "dense_1", "dense_2"]
    resets = []
    monkeypatch.setattr(torch._dynamo, "reset", lambda: resets.append(1))
    utils.clear_session(free_memory=False)
    assert tkeras.layers.Dense(1).name == "dense"
    assert resets == [1]  # torch.compile caches dropped, as Keras's torch backend does


# ----------------------------------------------------------------------------- small helpers


def test_pack_unpack_x_y_sample_weight():
    x, y, w = np.ones(2), np.zeros(2), np.full(2, 0.5)
    assert utils.unpack_x_y_sample_weight(x) == (x, None, None)
    assert utils.unpack_x_y_sample_weight((x,)) == (x, None, None)
    assert utils.unpack_x_y_sample_weight([x, y]) == (x, y, None)
    assert utils.unpack_x_y_sample_weight((x, y, w)) == (x, y, w)
    with pytest.raises(ValueError):
        utils.unpack_x_y_sample_weight((x, y, w, w))
    assert utils.pack_x_y_sample_weight(x) is x
    assert utils.pack_x_y_sample_weight([x, y]) == ([x, y],)
    assert utils.pack_x_y_sample_weight(x, y) == (x, y)
    assert utils.pack_x_y_sample_weight(x, y, w) == (x, y, w)


def test_is_keras_tensor_and_get_source_inputs():
    a, b = tkeras.Input((3,)), tkeras.Input((3,))
    h = tkeras.layers.Dense(2)(a)
    out = tkeras.layers.Dense(2)(h)
    assert utils.is_keras_tensor(a) and not utils.is_keras_tensor(torch.ones(1))
    assert utils.get_source_inputs(out) == [a]
    assert utils.get_source_inputs(b) == [b]


def test_config_container():
    c = utils.Config(learning_rate=0.1)
    c.seed = 3
    c["momentum"] = 0.9
    assert (c.seed, c["learning_rate"], list(c)) == (3, 0.1, ["learning_rate", "momentum", "seed"])
    assert json.loads(c.to_json()) == {"learning_rate": 0.1, "seed": 3, "momentum": 0.9}
    c.freeze()
    with pytest.raises(ValueError, match="frozen"):
        c.seed = 4
    with pytest.raises(AttributeError, match="seed"):
        c.sed


# ----------------------------------------------------------------------------- Keras parity

CATEGORICAL = {
    "vector": ([0, 1, 2, 3], 4),
    "inferred": ([2, 0, 1, 2], None),
    "column": ([[1], [2], [0]], None),
    "matrix": ([[0, 1], [2, 3]], 5),
    "negative": ([0, -1, 2], 3),
    "scalar": (3, 5),
}
CATEGORICAL_TENSOR = {"t_vector": ([0, 2, 1], 3), "t_column": ([[1], [0]], 2),
                      "t_negative": ([1, -1, 0], 3)}
RNG = np.random.default_rng(0)
NORMALIZE = {
    "l2_last": (RNG.normal(size=(4, 5)).astype("float32"), -1, 2),
    "l2_axis1": (RNG.normal(size=(3, 4, 2)).astype("float32"), 1, 2),
    "l1": (RNG.normal(size=(4, 5)).astype("float32"), -1, 1),
    "l3": (RNG.normal(size=(4, 5)).astype("float32"), -1, 3),
    "zero_row": (np.array([[0.0, 0.0], [3.0, 4.0]], "float32"), -1, 2),
    "vector": (np.array([3.0, 4.0], "float64"), -1, 2),
    "ints": (np.array([[1, 2], [3, 4]], "int64"), -1, 2),
}
NORMALIZE_TENSOR = {"t_l2": NORMALIZE["l2_last"], "t_l1": NORMALIZE["l1"],
                    "t_zero_row": NORMALIZE["zero_row"], "t_axis1": NORMALIZE["l2_axis1"]}
PAD = {
    "default": ([[1, 2, 3], [4, 5], [6]], {}),
    "post": ([[1, 2, 3], [4, 5], [6]], {"padding": "post"}),
    "truncate_pre": ([[1, 2, 3, 4], [5, 6]], {"maxlen": 3}),
    "truncate_post": ([[1, 2, 3, 4], [5, 6]], {"maxlen": 3, "truncating": "post",
                                                 "padding": "post"}),
    "value_float": ([[0.5, 1.5], [2.5]], {"dtype": "float32", "value": -1.0}),
    "empty_seq": ([[], [1, 2], [3]], {"maxlen": 4}),
    "vectors": ([[[1, 2], [3, 4]], [[5, 6]]], {"dtype": "float64", "maxlen": 3}),
    "strings": ([["a", "b"], ["c"]], {"dtype": "<U5", "value": "pad"}),
}

KERAS_CODE = """
import json
spec = json.loads(str(inputs["spec"]))
import torch
for k, (x, n) in spec["cat"].items():
    outputs["cat_" + k] = keras.utils.to_categorical(x, n)
for k, (x, n) in spec["cat_t"].items():
    out = keras.utils.to_categorical(keras.ops.convert_to_tensor(x), n)
    outputs["cat_" + k] = out
    outputs["catdtype_" + k] = str(out.dtype).replace("torch.", "")
for k, (axis, order) in spec["norm"].items():
    outputs["norm_" + k] = keras.utils.normalize(inputs["norm_" + k], axis, order)
for k, (axis, order) in spec["norm_t"].items():
    x = keras.ops.convert_to_tensor(inputs["norm_" + k])
    outputs["norm_" + k] = keras.utils.normalize(x, axis, order)
for k, (seqs, kw) in spec["pad"].items():
    outputs["pad_" + k] = keras.utils.pad_sequences(seqs, **kw)
for k, (seqs, kw) in spec["pad_err"].items():
    try:
        keras.utils.pad_sequences(seqs, **kw)
        outputs["paderr_" + k] = "no error"
    except ValueError as e:
        outputs["paderr_" + k] = "ValueError"
"""

PAD_ERRORS = {
    "str_value_int_dtype": ([[1]], {"value": "x"}),
    "bad_padding": ([[1]], {"padding": "middle", "maxlen": 2}),
    "bad_truncating": ([[1, 2, 3]], {"truncating": "middle", "maxlen": 2}),
    "ragged_items": ([[[1, 2]], [[1, 2, 3]]], {}),
}


@pytest.fixture(scope="module")
def keras_arrays():
    spec = {"cat": CATEGORICAL, "cat_t": CATEGORICAL_TENSOR,
            "norm": {k: v[1:] for k, v in NORMALIZE.items()},
            "norm_t": {k: v[1:] for k, v in NORMALIZE_TENSOR.items()},
            "pad": PAD, "pad_err": PAD_ERRORS}
    inputs = {"spec": np.array(json.dumps(spec))}
    inputs.update({"norm_" + k: v[0] for k, v in {**NORMALIZE, **NORMALIZE_TENSOR}.items()})
    return run_keras(KERAS_CODE, inputs)


@requires_keras
@pytest.mark.parametrize("case", list(CATEGORICAL))
def test_to_categorical_matches_keras(case, keras_arrays):
    x, n = CATEGORICAL[case]
    ours, theirs = utils.to_categorical(x, n), keras_arrays["cat_" + case]
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@requires_keras
@pytest.mark.parametrize("case", list(CATEGORICAL_TENSOR))
def test_to_categorical_tensor_matches_keras(case, keras_arrays):
    x, n = CATEGORICAL_TENSOR[case]
    ours = utils.to_categorical(torch.tensor(x), n)
    assert isinstance(ours, torch.Tensor)
    assert str(ours.dtype).replace("torch.", "") == keras_arrays["catdtype_" + case]
    np.testing.assert_array_equal(ours.numpy(), keras_arrays["cat_" + case])


def test_to_categorical_tensor_infers_num_classes():
    """Keras's torch backend needs `num_classes` for tensors; tkeras infers it like for NumPy."""
    np.testing.assert_array_equal(utils.to_categorical(torch.tensor([0, 2])).numpy(),
                                  utils.to_categorical([0, 2]))


@requires_keras
@pytest.mark.parametrize("case", list(NORMALIZE))
def test_normalize_matches_keras(case, keras_arrays):
    x, axis, order = NORMALIZE[case]
    ours, theirs = utils.normalize(x, axis, order), keras_arrays["norm_" + case]
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


@requires_keras
@pytest.mark.parametrize("case", list(NORMALIZE_TENSOR))
def test_normalize_tensor_matches_keras(case, keras_arrays):
    x, axis, order = NORMALIZE_TENSOR[case]
    ours = utils.normalize(torch.from_numpy(x), axis, order)
    assert isinstance(ours, torch.Tensor)
    np.testing.assert_allclose(ours.numpy(), keras_arrays["norm_" + case], rtol=1e-6, atol=1e-7)


def test_normalize_axis0_normalizes_columns():
    """Deliberate difference: Keras's NumPy path broadcasts the axis-0 norm wrongly."""
    x = np.array([[3.0, 1.0, 0.0], [4.0, 1.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x, axis=0),
                               [[0.6, 2 ** -0.5, 0.0], [0.8, 2 ** -0.5, 0.0]])


@requires_keras
@pytest.mark.parametrize("case", list(PAD))
def test_pad_sequences_matches_keras(case, keras_arrays):
    seqs, kw = PAD[case]
    ours, theirs = utils.pad_sequences(seqs, **kw), keras_arrays["pad_" + case]
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


@requires_keras
@pytest.mark.parametrize("case", list(PAD_ERRORS))
def test_pad_sequences_errors_match_keras(case, keras_arrays):
    seqs, kw = PAD_ERRORS[case]
    assert keras_arrays["paderr_" + case] == "ValueError"
    with pytest.raises(ValueError):
        utils.pad_sequences(seqs, **kw)


# ----------------------------------------------------------------------------- get_file


def _sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    f = d / "data.txt"
    f.write_text("hello keras")
    return f


def _tree(root):
    """Every path under `root` (links not followed) with its content or link target."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            elif os.path.isfile(p):
                out[rel] = open(p, "rb").read()
            else:
                out[rel] = "<dir>"
    return out


def test_get_file_cache_layout_file_url_and_local_path(tmp_path, src, monkeypatch):
    cache = tmp_path / "cache"  # does not exist yet: created (Keras would use /tmp/.keras)
    path = utils.get_file("a.txt", "file://" + str(src), cache_dir=str(cache))
    assert path == str(cache / "datasets" / "a.txt")
    assert open(path).read() == "hello keras"
    path = utils.get_file(origin=str(src), cache_dir=str(cache), cache_subdir="models")
    assert path == str(cache / "models" / "data.txt") and open(path).read() == "hello keras"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    path = utils.get_file("b.txt", str(src))
    assert path == str(tmp_path / "kh" / "datasets" / "b.txt") and os.path.isfile(path)
    assert not [p for p in _tree(tmp_path) if ".part" in p]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # as a plain download, not 0600


def test_get_file_uses_cache_and_force_download(tmp_path, src):
    cache = str(tmp_path / "cache")
    path = utils.get_file("a.txt", str(src), cache_dir=cache)
    src.write_text("new content")
    assert open(utils.get_file("a.txt", str(src), cache_dir=cache)).read() == "hello keras"
    path = utils.get_file("a.txt", str(src), cache_dir=cache, force_download=True)
    assert open(path).read() == "new content"


def test_get_file_hashes(tmp_path, src, capsys):
    cache = str(tmp_path / "cache")
    good_sha, good_md5 = _sha256(src), _md5(src)
    utils.get_file("s.txt", str(src), cache_dir=cache, file_hash=good_sha)
    utils.get_file("m.txt", str(src), cache_dir=cache, md5_hash=good_md5)
    utils.get_file("h.txt", str(src), cache_dir=cache, file_hash=good_md5, hash_algorithm="md5")
    with pytest.raises(ValueError, match=r"bad\.txt.*sha256|sha256.*bad\.txt"):
        utils.get_file("bad.txt", str(src), cache_dir=cache, file_hash="0" * 64)
    with pytest.raises(ValueError, match="md5"):
        utils.get_file("bad.txt", str(src), cache_dir=cache, md5_hash="0" * 32)
    names = os.listdir(os.path.join(cache, "datasets"))
    assert sorted(names) == ["h.txt", "m.txt", "s.txt"]  # nothing corrupted lands in the cache
    # A cached file whose hash no longer matches is fetched again.
    with open(os.path.join(cache, "datasets", "s.txt"), "w") as f:
        f.write("tampered")
    path = utils.get_file("s.txt", str(src), cache_dir=cache, file_hash=good_sha)
    assert open(path).read() == "hello keras"
    assert "re-download" in capsys.readouterr().out


def test_get_file_argument_errors(tmp_path, src):
    with pytest.raises(ValueError, match="origin"):
        utils.get_file("a.txt", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="cache_dir"):
        utils.get_file("sub/a.txt", str(src), cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="fname"):
        utils.get_file(origin="file:///", cache_dir=str(tmp_path))
    with pytest.raises(Exception, match="URL fetch failure"):
        utils.get_file("m.txt", "file://" + str(tmp_path / "missing"), cache_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError):
        utils.get_file("m.txt", str(tmp_path / "missing"), cache_dir=str(tmp_path))
    assert os.listdir(tmp_path / "datasets") == []


def test_get_file_falls_back_to_tmp_when_cache_not_writable(tmp_path, src, monkeypatch):
    cache = str(tmp_path / "readonly")
    os.makedirs(cache)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **kw: False if os.path.realpath(p) ==
                        os.path.realpath(cache) else real_access(p, m, **kw))
    subdir = f"tkeras_test_{os.getpid()}"
    existed = os.path.exists("/tmp/.keras")
    try:
        path = utils.get_file("a.txt", str(src), cache_dir=cache, cache_subdir=subdir)
        assert path == os.path.join("/tmp/.keras", subdir, "a.txt") and os.path.isfile(path)
    finally:
        import shutil
        shutil.rmtree("/tmp/.keras" if not existed else os.path.join("/tmp/.keras", subdir),
                      ignore_errors=True)
    assert os.listdir(cache) == []


# ----------------------------------------------------------------------------- archives


def _add(tar, name, data=b"x", **attrs):
    info = tarfile.TarInfo(name)
    for k, v in attrs.items():
        setattr(info, k, v)
    if info.isfile():
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def _make_tar(path, members, mode="w:gz"):
    with tarfile.open(path, mode) as tar:
        for name, data, attrs in members:
            _add(tar, name, data, **attrs)


def _make_zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name), data)


def _sandbox(tmp_path):
    """A victim file outside the cache that no archive may touch."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "victim.txt").write_text("original")
    return outside


def _extract(tmp_path, archive, fname, **kw):
    return utils.get_file(fname, str(archive), cache_dir=str(tmp_path / "cache"),
                          extract=True, **kw)


def test_extract_tar_and_zip(tmp_path):
    tar = tmp_path / "ds.tar.gz"
    _make_tar(tar, [("ds", b"", {"type": tarfile.DIRTYPE, "mode": 0o755}),
                    ("ds/a.txt", b"A", {}), ("ds/sub/b.txt", b"B", {}),
                    ("ds/link", b"", {"type": tarfile.SYMTYPE, "linkname": "a.txt"}),
                    ("ds/hard", b"", {"type": tarfile.LNKTYPE, "linkname": "ds/a.txt"})])
    out = _extract(tmp_path, tar, "ds.tar.gz")
    assert out == str(tmp_path / "cache" / "datasets" / "ds_extracted")
    tree = _tree(out)
    assert tree["ds/a.txt"] == b"A" and tree["ds/sub/b.txt"] == b"B"
    assert tree["ds/link"] == "-> a.txt" and tree["ds/hard"] == b"A"
    z = tmp_path / "z.zip"
    _make_zip(z, [("z/a.txt", b"A"), ("z/b/c.txt", b"C")])
    out = utils.get_file("zdir", str(z), cache_dir=str(tmp_path / "cache"), extract=True)
    assert out == str(tmp_path / "cache" / "datasets" / "zdir")
    assert _tree(out) == {"z": "<dir>", "z/a.txt": b"A", "z/b": "<dir>", "z/b/c.txt": b"C"}
    assert os.path.isfile(tmp_path / "cache" / "datasets" / "zdir_archive")
    plain = tmp_path / "plain.tar"
    _make_tar(plain, [("p.txt", b"P", {})], mode="w")
    out = utils.get_file("plain", str(plain), cache_dir=str(tmp_path / "cache"), untar=True)
    assert _tree(out) == {"p.txt": b"P"}


def _attack_cases(outside):
    victim = str(outside / "victim.txt")
    sym = {"type": tarfile.SYMTYPE}
    hard = {"type": tarfile.LNKTYPE}
    cases = {
        "dotdot": [("../../../outside/evil.txt", b"evil", {}), ("ok.txt", b"ok", {})],
        "absolute": [(str(outside / "abs_evil.txt"), b"evil", {}), ("ok.txt", b"ok", {})],
        "symlink_dir_out": [("esc", b"", {**sym, "linkname": str(outside)}),
                            ("esc/evil.txt", b"evil", {}), ("ok.txt", b"ok", {})],
        "symlink_rel_out": [("esc", b"", {**sym, "linkname": "../../../outside"}),
                            ("esc/evil.txt", b"evil", {}), ("ok.txt", b"ok", {})],
        "symlink_file_out": [("v", b"", {**sym, "linkname": "../../../outside/victim.txt"}),
                             ("v", b"overwritten", {}), ("ok.txt", b"ok", {})],
        "hardlink_out": [("h", b"", {**hard, "linkname": victim}),
                         ("h2", b"", {**hard, "linkname": "../../../outside/victim.txt"}),
                         ("h2", b"overwritten", {}), ("ok.txt", b"ok", {})],
        "link_chain": [("a", b"", {**sym, "linkname": "x/.."}),
                       ("x", b"", {**sym, "linkname": "."}),
                       ("a/../outside/evil.txt", b"evil", {}),
                       ("a/evil2.txt", b"evil", {}), ("ok.txt", b"ok", {})],
        "device": [("null", b"", {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}),
                   ("blk", b"", {"type": tarfile.BLKTYPE, "devmajor": 7, "devminor": 0}),
                   ("fifo", b"", {"type": tarfile.FIFOTYPE}), ("ok.txt", b"ok", {})],
    }
    assert list(cases) == ATTACKS
    return cases


ATTACKS = ["dotdot", "absolute", "symlink_dir_out", "symlink_rel_out", "symlink_file_out",
           "hardlink_out", "link_chain", "device"]


@pytest.mark.parametrize("case", ATTACKS)
def test_crafted_tar_never_writes_outside(tmp_path, case):
    outside = _sandbox(tmp_path)
    members = _attack_cases(outside)[case]
    before = _tree(outside)
    archive = tmp_path / f"{case}.tar.gz"
    _make_tar(archive, members)
    with pytest.warns(UserWarning, match="Skipping invalid path"):
        out = _extract(tmp_path, archive, f"{case}.tar.gz")
    assert _tree(outside) == before
    assert (outside / "victim.txt").read_text() == "original"
    tree = _tree(out)
    assert tree["ok.txt"] == b"ok"
    base = os.path.realpath(out)
    for rel in tree:  # nothing extracted resolves outside the extraction dir
        real = os.path.realpath(os.path.join(out, rel))
        assert os.path.commonpath([real, base]) == base, (rel, real)
    assert set(tmp_path.iterdir()) == {outside, tmp_path / "cache", archive}
    assert set(os.listdir(tmp_path / "cache" / "datasets")) == {archive.name, f"{case}_extracted"}


def test_crafted_zips_never_write_outside(tmp_path):
    outside = _sandbox(tmp_path)
    archive = tmp_path / "evil.zip"
    _make_zip(archive, [("../../../outside/evil.txt", b"evil"),
                        (str(outside / "abs.txt"), b"evil"), ("ok.txt", b"ok")])
    with pytest.warns(UserWarning, match="Skipping invalid path"):
        out = _extract(tmp_path, archive, "evil.zip")
    assert _tree(outside) == {"victim.txt": b"original"}
    assert _tree(out) == {"ok.txt": b"ok"}


@requires_keras
def test_get_file_layout_and_extraction_match_keras(tmp_path):
    """Same calls under real Keras: same cache paths, same files extracted (safe archives and
    the path/link attacks Keras also filters)."""
    outside = _sandbox(tmp_path)
    archives = tmp_path / "archives"
    archives.mkdir()
    _make_tar(archives / "ds.tar.gz", [("ds/a.txt", b"A", {}), ("ds/b/c.txt", b"C", {})])
    _make_zip(archives / "z.zip", [("z/a.txt", b"A")])
    cases = {k: v for k, v in _attack_cases(outside).items()
             if k in ("dotdot", "absolute", "symlink_dir_out", "symlink_rel_out")}
    for case, members in cases.items():
        _make_tar(archives / f"{case}.tar.gz", members)
    (archives / "plain.txt").write_text("plain")
    calls = [("plain.txt", "plain.txt", {}), (None, "plain.txt", {"cache_subdir": "models"}),
             ("ds.tar.gz", "ds.tar.gz", {"extract": True}),
             ("dsdir", "ds.tar.gz", {"extract": True}),
             (None, "z.zip", {"extract": True}),
             ("zz", "z.zip", {"untar": False, "extract": True, "archive_format": "zip"})]
    calls += [(f"{c}.tar.gz", f"{c}.tar.gz", {"extract": True}) for c in cases]

    def run(get_file, cache):
        out = []
        for fname, origin, kw in calls:
            path = get_file(fname, "file://" + str(archives / origin), cache_dir=cache, **kw)
            out.append([os.path.relpath(path, cache), sorted(_tree(path)) if os.path.isdir(path)
                        else open(path).read()])
        return out

    # Keras falls back to /tmp/.keras for a cache_dir that does not exist yet: create both.
    os.makedirs(tmp_path / "ours")
    os.makedirs(tmp_path / "theirs")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = run(utils.get_file, str(tmp_path / "ours"))
    code = f"""
import os, warnings
warnings.simplefilter("ignore")
_tree = {_tree_source()!r}
exec(_tree)
calls = {calls!r}
cache = {str(tmp_path / "theirs")!r}
archives = {str(archives)!r}
out = []
for fname, origin, kw in calls:
    path = keras.utils.get_file(fname, "file://" + os.path.join(archives, origin),
                                cache_dir=cache, **kw)
    out.append([os.path.relpath(path, cache), sorted(_tree(path)) if os.path.isdir(path)
                else open(path).read()])
outputs["out"] = out
"""
    theirs = run_keras(code)["out"]
    assert ours == theirs
    assert _tree(outside) == {"victim.txt": b"original"}


def _tree_source():
    return inspect.getsource(_tree)
