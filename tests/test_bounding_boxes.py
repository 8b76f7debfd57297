"""keras.utils.bounding_boxes vs real Keras (one subprocess for the module).

Each case is a Python expression evaluated with `bb` bound to Keras's or tkeras's
`utils.bounding_boxes`, `x` to the shared input arrays and `torch`/`np`; results (tensors, dicts
of tensors, or the raised exception's type and message) are compared: values to 1e-6, dtypes
exactly, error types and messages exactly.
"""

import json

import numpy as np
import pytest
import torch

import tkeras
from keras_oracle import requires_keras, run_keras
from tkeras.utils import bounding_boxes as tk_bb

FORMATS = ["xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx",
           "rel_xywh", "rel_center_xywh"]


def _inputs():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-20, 120, size=(2, 5, 2))
    wh = rng.uniform(1, 60, size=(2, 5, 2))
    boxes = np.concatenate([xy, xy + wh], axis=-1).astype("float32")
    return {
        "boxes": boxes,  # (2, 5, 4) xyxy pixels, some outside a 100x120 image
        "boxes1": boxes[0],  # unbatched
        "boxes_rev": boxes[:, ::-1].copy(),
        "boxes64": boxes.astype("float64"),
        "boxes_int": np.round(boxes).astype("int64"),
        "rel": rng.uniform(0, 1, size=(3, 4)).astype("float32"),
        "labels": np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], dtype="int32"),
        "labels64": np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], dtype="int64"),
        "anchors": np.concatenate([xy[0] + 30, xy[0] + 30 + wh[1]], -1).astype("float32"),
        "deltas": rng.normal(0, 0.3, size=(2, 5, 4)).astype("float32"),
        "angle": np.array([15.0, -30.0], "float32"),
        "tx": np.array([0.1, -0.05], "float32"),
        "ty": np.array([-0.2, 0.0], "float32"),
        "scale": np.array([1.2, 0.8], "float32"),
        "shx": np.array([5.0, 0.0], "float32"),
        "shy": np.array([0.0, -8.0], "float32"),
        "cx": np.array([0.3, 0.6], "float32"),
        "bad": np.zeros((2, 3), "float32"),
        "rank1": np.zeros((4,), "float32"),
    }


CASES = {}
for _src in FORMATS:
    for _dst in FORMATS:
        _box = "x['rel']" if _src.startswith("rel_") else "x['boxes']"
        CASES[f"convert/{_src}->{_dst}"] = (
            f"bb.convert_format({_box}, {_src!r}, {_dst!r}, height=100, width=120)")
CASES.update({
    "convert/unbatched_xywh": "bb.convert_format(x['boxes1'], 'xyxy', 'xywh')",
    "convert/case_insensitive": "bb.convert_format(x['boxes'], 'XYXY', 'Center_YXHW')",
    "convert/float64_in": "bb.convert_format(x['boxes64'], 'xyxy', 'center_xywh')",
    "convert/int_in": "bb.convert_format(x['boxes_int'], 'xyxy', 'xywh')",
    "convert/dtype64": "bb.convert_format(x['boxes'], 'xyxy', 'yxyx', dtype='float64')",
    "convert/same_format_dtype": "bb.convert_format(x['boxes_int'], 'xyxy', 'xyxy')",
    "convert/torch_in": "bb.convert_format(torch.tensor(x['boxes']), 'xyxy', 'rel_xywh', "
                        "height=100, width=120)",
    "convert/rel_to_rel": "bb.convert_format(x['rel'], 'rel_xyxy', 'rel_center_xywh', "
                          "height=100, width=120)",
    "convert/dict": "bb.convert_format({'boxes': x['boxes'], 'labels': x['labels']}, 'xyxy', "
                    "'center_yxhw')",
    "convert/err_last_dim": "bb.convert_format(x['bad'], 'xyxy', 'xywh')",
    "convert/err_format": "bb.convert_format(x['boxes'], 'xyxy', 'cxcywh')",
    "convert/err_no_size": "bb.convert_format(x['boxes'], 'xyxy', 'rel_xyxy', height=10)",
    "clip/xyxy": "bb.clip_to_image_size({'boxes': x['boxes'], 'labels': x['labels']}, "
                 "height=100, width=120)",
    "clip/xyxy_labels64": "bb.clip_to_image_size({'boxes': x['boxes'], 'labels': "
                          "x['labels64']}, height=100, width=120)",
    "clip/int_boxes": "bb.clip_to_image_size({'boxes': x['boxes_int'], 'labels': x['labels']}, "
                      "height=100, width=120)",
    "clip/no_labels": "bb.clip_to_image_size({'boxes': x['boxes1']}, height=50, width=60)",
    "clip/extra_keys_kept": "bb.clip_to_image_size({'boxes': x['boxes1'], 'labels': "
                            "x['labels'][0], 'scores': x['tx']}, height=50, width=60)",
    "clip/rel_xyxy": "bb.clip_to_image_size({'boxes': x['rel'] * 1.6 - 0.3, 'labels': "
                     "x['labels'][0, :3]}, bounding_box_format='rel_xyxy')",
    "clip/err_format": "bb.clip_to_image_size({'boxes': x['boxes']}, 10, 10, 'xywh')",
    "clip/err_no_size": "bb.clip_to_image_size({'boxes': x['boxes']}, height=10)",
    "crop/float": "bb.crop(x['boxes'], 10, 20, 40, 30)",
    "crop/int": "bb.crop(x['boxes_int'], 10, 20, 40, 30)",
    "crop/torch": "bb.crop(torch.tensor(x['boxes1']), 5, -3, 80, 90)",
    "crop/err_format": "bb.crop(x['boxes'], 1, 1, 4, 4, bounding_box_format='yxyx')",
    "pad/float": "bb.pad(x['boxes'], 10, 20)",
    "pad/int": "bb.pad(x['boxes_int'], 3, 4, height=10, width=10)",
    "pad/err_format": "bb.pad(x['boxes'], 1, 1, bounding_box_format='xywh')",
    "affine/default_center": "bb.affine_transform(x['boxes'], T('angle'), T('tx'), T('ty'), "
                             "T('scale'), T('shx'), T('shy'), 100, 120)",
    "affine/center": "bb.affine_transform(x['boxes'], T('angle'), T('tx'), T('ty'), T('scale'), "
                     "T('shx'), T('shy'), 64, 48, center_x=T('cx'), center_y=0.25)",
    "affine/err_format": "bb.affine_transform(x['boxes'], T('angle'), T('tx'), T('ty'), "
                         "T('scale'), T('shx'), T('shy'), 64, 48, bounding_box_format='yxyx')",
    "iou/xyxy_unbatched": "bb.compute_iou(x['boxes1'], x['boxes'][1], 'xyxy')",
    "iou/batched": "bb.compute_iou(x['boxes'], x['boxes'], 'xyxy')",
    "iou/batched_vs_unbatched": "bb.compute_iou(x['boxes'], x['boxes1'][:3], 'xyxy')",
    "iou/unbatched_vs_batched": "bb.compute_iou(x['boxes1'][:3], x['boxes'], 'xyxy')",
    "iou/yxyx": "bb.compute_iou(x['boxes'], x['boxes_rev'], 'yxyx')",
    "iou/center_xywh": "bb.compute_iou(x['boxes1'], x['anchors'], 'center_xywh')",
    "iou/rel": "bb.compute_iou(x['rel'], x['rel'][[2, 0, 1]], 'rel_xyxy', "
               "image_shape=(100, 120, 3))",
    "iou/masking": "bb.compute_iou(x['boxes1'] - 60, x['boxes1'] - 40, 'xyxy', "
                   "use_masking=True, mask_val=-7)",
    "iou/masking_batched": "bb.compute_iou(x['boxes'] - 50, x['boxes1'] - 50, 'xyxy', "
                           "use_masking=True)",
    "iou/err_rank1": "bb.compute_iou(x['rank1'], x['boxes'], 'xyxy')",
    "iou/err_rank2": "bb.compute_iou(x['boxes'], x['boxes'][None], 'xyxy')",
    "iou/err_rel": "bb.compute_iou(x['rel'], x['rel'], 'rel_xyxy')",
    "ciou/xyxy": "bb.compute_ciou(x['boxes'], x['boxes_rev'], 'xyxy')",
    "ciou/center_yxhw": "bb.compute_ciou(x['boxes1'], x['anchors'], 'center_yxhw')",
    "ciou/broadcast": "bb.compute_ciou(x['boxes'], x['anchors'], 'xywh')",
    "ciou/err_rel": "bb.compute_ciou(x['rel'], x['rel'], 'rel_xyxy', image_shape=(4, 4, 3))",
    "encode/default": "bb.encode_box_to_deltas(x['anchors'], x['boxes'], 'xyxy', 'xyxy')",
    "encode/variance": "bb.encode_box_to_deltas(x['anchors'], x['boxes1'], 'xyxy', 'xywh', "
                       "encoding_format='center_xywh', variance=[0.1, 0.1, 0.2, 0.2])",
    "encode/rel": "bb.encode_box_to_deltas(x['anchors'], x['rel'][None].repeat(2, 0)[:, :1], "
                  "'xyxy', 'rel_xyxy', image_shape=(100, 120, 3))",
    "encode/err_variance": "bb.encode_box_to_deltas(x['anchors'], x['boxes'], 'xyxy', 'xyxy', "
                           "variance=[1, 1, 1])",
    "encode/err_format": "bb.encode_box_to_deltas(x['anchors'], x['boxes'], 'xyxy', 'xyxy', "
                         "encoding_format='xyxy')",
    "decode/default": "bb.decode_deltas_to_boxes(x['anchors'], x['deltas'], 'xyxy', 'xyxy')",
    "decode/variance": "bb.decode_deltas_to_boxes(x['anchors'], x['deltas'][0], 'xywh', "
                       "'yxyx', encoded_format='center_xywh', variance=[0.1, 0.1, 0.2, 0.2])",
    "decode/rel": "bb.decode_deltas_to_boxes(x['anchors'], x['deltas'], 'xyxy', "
                  "'rel_center_xywh', image_shape=(100, 120, 3))",
    "decode/dict_levels": "bb.decode_deltas_to_boxes({'P3': x['anchors'], 'P4': x['anchors'] * 2}, "
                          "{'P3': x['deltas'], 'P4': x['deltas'][0]}, 'xyxy', 'xywh')",
    "decode/roundtrip": "bb.decode_deltas_to_boxes(x['anchors'], bb.encode_box_to_deltas("
                        "x['anchors'], x['boxes'], 'xyxy', 'xyxy', variance=[.1, .1, .2, .2]), "
                        "'xyxy', 'xyxy', variance=[.1, .1, .2, .2])",
    "decode/err_variance": "bb.decode_deltas_to_boxes(x['anchors'], x['deltas'], 'xyxy', "
                           "'xyxy', variance=[1, 1])",
    "decode/err_format": "bb.decode_deltas_to_boxes(x['anchors'], x['deltas'], 'xyxy', 'xyxy', "
                         "encoded_format='yxyx')",
})

# Shared by both sides: evaluates every case into {id: encoded result}.
EVAL_CODE = """
def encode(value):
    if isinstance(value, dict):
        return {"dict": {k: encode(v) for k, v in value.items()}}
    if isinstance(value, torch.Tensor):
        return {"dtype": str(value.dtype).replace("torch.", ""),
                "value": value.detach().cpu().double().numpy().tolist()}
    arr = np.asarray(value)
    return {"dtype": str(arr.dtype), "value": arr.astype("float64").tolist()}


def T(key):
    return torch.tensor(x[key])


def evaluate(cases):
    results = {}
    for case_id, expr in cases.items():
        try:
            results[case_id] = encode(eval(expr))
        except Exception as e:  # noqa: BLE001 - error parity is part of the test
            results[case_id] = {"error": type(e).__name__, "message": str(e)}
    return results
"""

KERAS_CODE = """
import torch
bb = keras.utils.bounding_boxes
x = {k: v for k, v in inputs.items()}
CASES = json.loads(str(inputs["cases"]))
""" + EVAL_CODE + """
outputs["results"] = json.dumps(evaluate(CASES))
outputs["exported"] = sorted(n for n in dir(bb) if not n.startswith("_"))
"""


@pytest.fixture(scope="module")
def keras_results():
    inputs = _inputs()
    inputs["cases"] = np.array(json.dumps(CASES))
    out = run_keras(KERAS_CODE, inputs)
    return json.loads(str(out["results"])), out["exported"]


@pytest.fixture(scope="module")
def tkeras_results():
    scope = {"np": np, "torch": torch, "bb": tk_bb, "x": _inputs()}
    exec(EVAL_CODE, scope)
    return scope["evaluate"](CASES)


def _assert_same(ours, theirs, case_id):
    if "error" in theirs:
        assert ours == theirs, case_id
        return
    assert "error" not in ours, f"{case_id}: {ours}"
    if "dict" in theirs:
        assert list(ours["dict"]) == list(theirs["dict"]), case_id
        for key in theirs["dict"]:
            _assert_same(ours["dict"][key], theirs["dict"][key], f"{case_id}[{key}]")
        return
    assert ours["dtype"] == theirs["dtype"], case_id
    np.testing.assert_allclose(np.array(ours["value"]), np.array(theirs["value"]), rtol=1e-6,
                               atol=1e-6, err_msg=case_id)


@requires_keras
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_parity(case_id, keras_results, tkeras_results):
    _assert_same(tkeras_results[case_id], keras_results[0][case_id], case_id)


@requires_keras
def test_exported_names(keras_results):
    assert sorted(tk_bb.__all__) == list(keras_results[1])
    assert tkeras.utils.bounding_boxes is tk_bb


def test_convert_format_dict_in_place():
    boxes = {"boxes": np.array([[1.0, 2.0, 5.0, 6.0]]), "labels": np.array([3])}
    out = tk_bb.convert_format(boxes, "xyxy", "xywh")
    assert out is boxes
    torch.testing.assert_close(out["boxes"], torch.tensor([[1.0, 2.0, 4.0, 4.0]]))


def test_functions_compile_fullgraph():
    def iou_with_center_boxes(b):
        return tk_bb.compute_iou(b, tk_bb.convert_format(b, "xyxy", "center_xywh"), "xyxy")

    boxes = torch.rand(2, 6, 4) * 50
    compiled = torch.compile(iou_with_center_boxes, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(boxes), iou_with_center_boxes(boxes))
