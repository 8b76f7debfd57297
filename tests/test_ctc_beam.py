"""`ops.ctc_decode(strategy="beam_search")` vs Keras's torch backend (one subprocess): decoded
paths equal, scores within float32 rounding, over beam widths below/above the class count,
several `top_paths`, blank index first/middle/last/None, ragged sequence lengths, float64 and
float16 inputs, and tied logits (tie-breaking)."""

import numpy as np
import pytest

from keras_oracle import requires_keras, run_keras
from tkeras import ops


def _cases():
    rng = np.random.default_rng(0)
    cases = {}

    def add(name, logits, lengths, **kwargs):
        cases[name] = (logits, np.asarray(lengths, dtype="int32"), kwargs)

    x = rng.normal(size=(3, 7, 5)).astype("float32")
    add("default", x, [7, 5, 1])
    add("narrow_beam_top3", x, [7, 6, 3], beam_width=3, top_paths=3)
    add("wide_beam_top4", x, [7, 7, 7], beam_width=12, top_paths=4)
    add("blank_last", x, [7, 4, 2], beam_width=4, top_paths=2, mask_index=4)
    add("blank_none", x, [6, 7, 3], beam_width=5, top_paths=2, mask_index=None)
    add("blank_middle", x, [7, 2, 5], beam_width=6, top_paths=3, mask_index=2)
    # Peaked probabilities: long paths with repeats and blanks in between.
    peaked = (rng.normal(size=(2, 12, 6)) * 4).astype("float32")
    add("peaked", peaked, [12, 9], beam_width=8, top_paths=3)
    add("float64", rng.normal(size=(2, 6, 4)), [6, 3], beam_width=4, top_paths=2)
    add("float16", rng.normal(size=(2, 5, 4)).astype("float16"), [5, 4], beam_width=3)
    # Integer-valued logits: many exactly equal scores, so tie-breaking decides the paths.
    add("ties", rng.integers(0, 3, size=(2, 6, 4)).astype("float32"), [6, 5], beam_width=3,
        top_paths=3)
    return cases


CASES = _cases()

KERAS_CODE = """
for name, kwargs in KWARGS.items():
    paths, scores = keras.ops.ctc_decode(inputs[name + "/x"], inputs[name + "/len"],
                                         strategy="beam_search", **kwargs)
    outputs[name + "/paths"] = paths
    outputs[name + "/scores"] = scores
"""


@pytest.fixture(scope="module")
def oracle():
    inputs = {}
    for name, (x, lengths, _) in CASES.items():
        inputs[name + "/x"] = x
        inputs[name + "/len"] = lengths
    kwargs = {name: kw for name, (_, _, kw) in CASES.items()}
    return run_keras(f"KWARGS = {kwargs!r}\n" + KERAS_CODE, inputs)


@requires_keras
@pytest.mark.parametrize("name", list(CASES))
def test_beam_search_parity(oracle, name):
    x, lengths, kwargs = CASES[name]
    paths, scores = ops.ctc_decode(x, lengths, strategy="beam_search", **kwargs)
    ref_paths, ref_scores = oracle[name + "/paths"], oracle[name + "/scores"]
    assert paths.dtype == ops.convert_to_tensor(ref_paths).dtype
    assert tuple(paths.shape) == ref_paths.shape
    assert tuple(scores.shape) == ref_scores.shape
    np.testing.assert_array_equal(paths.numpy(), ref_paths)
    np.testing.assert_allclose(scores.numpy(), ref_scores, rtol=1e-5, atol=1e-5)


def test_beam_search_decodes_a_clear_sequence():
    """Independent of Keras: a path with near-certain frames decodes to its labels, repeats
    merged unless a blank separates them; the best score is the path's log-probability."""
    frames = [1, 1, 0, 1, 2, 2, 0, 0, 3]  # blank = 0 -> labels 1, 1, 2, 3
    logits = np.full((1, len(frames), 4), -20.0, dtype="float32")
    logits[0, np.arange(len(frames)), frames] = 20.0
    paths, scores = ops.ctc_decode(logits, np.array([len(frames)]), strategy="beam_search",
                                   beam_width=4, top_paths=2)
    assert paths.shape == (2, 1, len(frames))
    np.testing.assert_array_equal(paths[0, 0].numpy(), [1, 1, 2, 3, -1, -1, -1, -1, -1])
    assert scores.shape == (1, 2) and scores[0, 0] > scores[0, 1]
    np.testing.assert_allclose(scores[0, 0].numpy(), 0.0, atol=1e-3)


def test_invalid_strategy():
    with pytest.raises(ValueError, match="Invalid strategy beam. Supported values"):
        ops.ctc_decode(np.zeros((1, 2, 3), "float32"), np.array([2]), strategy="beam")
