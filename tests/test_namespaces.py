"""`keras.backend`, `keras.mixed_precision`, `keras.dtype_policies`, `keras.tree` vs real Keras.

The same programs (TREE_CODE, REST_CODE) run on real Keras in one oracle subprocess and on tkeras
here; their results (reprs, dtype names, configs, exception types) must be equal.
"""

import collections
import json

import pytest
import torch

import tkeras
from tkeras.core import dtype_policies
from keras_oracle import requires_keras, run_keras

NAMESPACES = ("backend", "mixed_precision", "dtype_policies", "tree")

TREE_CODE = r'''
import collections, json, warnings
import numpy as np, torch

tree = keras.tree
NT = collections.namedtuple("NT", ["b", "a"])
OD, DD, DQ = collections.OrderedDict, collections.defaultdict, collections.deque

def attempt(fn):
    try:
        return repr(fn())
    except Exception as e:
        return "EXC " + type(e).__name__

STRUCTS = {
    "none": None, "int": 1, "str": "abc", "empty_list": [], "empty_tuple": (), "empty_dict": {},
    "list_none": [None, 1], "tuple1": (1,), "list_list": [[1]], "nested_empty": [(), {}, [None]],
    "dict": {"b": 1, "a": [2, None], "c": (3, [4])}, "dict_in_list": [{"b": 1, "a": (2, 3)}],
    "od": OD([("b", 1), ("a", 2)]), "nt": NT(1, 2), "nt_nested": [NT(a=1, b=(2, {"k": 3}))],
    "dd": DD(list, {"z": 1, "y": 2}), "deque": DQ([1, [2, 3]]), "set": {1, 2}, "bytes": b"x",
    "int_keys": {100: "w", 6: "h"}, "mixed_keys": {1: 1, "a": 2},
    "size": torch.Size([2, 3]), "deep": [1, [2, [3, [4, {"x": (5, None)}]]]],
    "od_in_dict": {"z": OD([("b", 1), ("a", 2)]), "y": 0},
    "dict_in_dict": {"b": 1, "a": [2, None], "c": {"z": 3, "y": (4, 5)}},
    "dict_in_list_in_dict": {"b": [{"q": 1, "p": 2}], "a": 0},
    "dd_in_dict": {"x": NT(1, [2]), "a": DD(int, {"q": 3, "p": 4})},
}
tag = lambda x: ("L", x)
out = {}
for name, s in STRUCTS.items():
    r = out[name] = {}
    r["is_nested"] = attempt(lambda: tree.is_nested(s))
    r["flatten"] = attempt(lambda: tree.flatten(s))
    r["fwp"] = attempt(lambda: tree.flatten_with_path(s))
    r["map"] = attempt(lambda: tree.map_structure(tag, s))
    r["map_nl"] = attempt(lambda: tree.map_structure(tag, s, none_is_leaf=False))
    r["map2"] = attempt(lambda: tree.map_structure(lambda x, y: (x, y), s, s))
    r["pack"] = attempt(lambda: tree.pack_sequence_as(s, list(range(len(tree.flatten(s))))))
    r["l2t"] = attempt(lambda: tree.lists_to_tuples(s))
    r["shape"] = attempt(lambda: tree.map_shape_structure(tag, s))
    # The same without dict key order (JSON with sorted keys; tuples become lists).
    unordered = lambda fn: attempt(lambda: json.dumps(fn(), sort_keys=True, default=repr))
    r["pack_unordered"] = unordered(
        lambda: tree.pack_sequence_as(s, list(range(len(tree.flatten(s))))))
    r["l2t_unordered"] = unordered(lambda: tree.lists_to_tuples(s))
    r["shape_unordered"] = unordered(lambda: tree.map_shape_structure(tag, s))
    r["same"] = attempt(lambda: tree.assert_same_structure(s, s))
    r["same_paths"] = attempt(lambda: tree.assert_same_paths(s, s))
    visited = []
    r["trav"] = attempt(lambda: tree.traverse(visited.append, s))
    r["trav_seen"] = repr(visited)
    visited_bu = []
    r["trav_bu"] = attempt(lambda: tree.traverse(visited_bu.append, s, top_down=False))
    r["trav_bu_seen"] = repr(visited_bu)

NT2 = collections.namedtuple("NT", ["b", "a"])
pair = lambda a, b: (a, b)
PAIRS = {
    "dict_od": ({"a": 1, "b": 2}, OD([("a", 1), ("b", 2)])),
    "od_dict": (OD([("b", 1), ("a", 2)]), {"a": 1, "b": 2}),
    "dict_order": ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
    "dd_dict": (DD(int, a=1), {"a": 2}),
    "dict_keys": ({"a": 1}, {"b": 2}),
    "list_tuple": ([1, 2], (1, 2)),
    "len": ([1, 2], [1, 2, 3]),
    "nt_nt2": (NT(1, 2), NT2(1, 2)),
    "nt_tuple": (NT(1, 2), (1, 2)),
    "deque_list": (DQ([1]), [1]),
    "leaf_list": (1, [1]),
    "list_leaf": ([1, [2]], [1, 2]),
    "deeper": ([1, 2], [1, [2]]),
    "none_1": ([None], [1]),
    "1_none": ([1], [None]),
    "none_list": (None, []),
    "leaves": (1, 2),
    "size_tuple": (torch.Size([2]), (2,)),
}
for name, (a, b) in PAIRS.items():
    out["pair_" + name] = [
        attempt(lambda: tree.map_structure(pair, a, b)),
        attempt(lambda: tree.map_structure(pair, a, b, none_is_leaf=False)),
        attempt(lambda: tree.assert_same_structure(a, b)),
        attempt(lambda: tree.assert_same_paths(a, b)),
    ]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    tree.assert_same_structure([1], [2], check_types=True)
    tree.assert_same_structure([1], [2], check_types=False)
out["check_types_warnings"] = [w.category.__name__ for w in caught]
out["map_nl_mismatch"] = attempt(
    lambda: tree.map_structure(pair, [None, 1], [2, 1], none_is_leaf=False))
out["map_nl_both_none"] = attempt(
    lambda: tree.map_structure(pair, [1, None], [2, None], none_is_leaf=False))
out["map_empty"] = attempt(lambda: tree.map_structure(tag))
out["map_nt_fields"] = attempt(
    lambda: tree.map_structure(lambda x: x, NT(b=[1], a={"q": 1, "p": 2})))
out["up_to"] = [
    attempt(lambda: tree.map_structure_up_to([None, None], len, [[1, 1], [2, 2]])),
    attempt(lambda: tree.map_structure_up_to([None, [None, None]], str, [[1, 1], [2, 2]])),
    attempt(lambda: tree.map_structure_up_to({"a": None, "b": [None]}, pair,
                                             {"b": [[1]], "a": (2, 3)}, {"a": 5, "b": [6]})),
    attempt(lambda: tree.map_structure_up_to([None, [None]], str, [1, 2])),
    attempt(lambda: tree.map_structure_up_to(None, str, [1, 2])),
    attempt(lambda: tree.map_structure_up_to([1], str, [None])),
    attempt(lambda: tree.map_structure_up_to([1], str)),
]
out["pack"] = [
    attempt(lambda: tree.pack_sequence_as([1, 2], [1])),
    attempt(lambda: tree.pack_sequence_as([1, 2], [1, 2, 3])),
    attempt(lambda: tree.pack_sequence_as(1, [5, 6])),
    attempt(lambda: tree.pack_sequence_as([1, 2], (7, 8))),
    attempt(lambda: tree.pack_sequence_as([1], 5)),
]
out["trav"] = [
    attempt(lambda: tree.traverse(lambda x: tree.MAP_TO_NONE if isinstance(x, tuple) else None,
                                  [(1, 2), [3], {"a": (4,)}])),
    attempt(lambda: tree.traverse(lambda x: "T" if isinstance(x, tuple) else (
        x * 10 if isinstance(x, int) else None), [(1, 2), [3], {"a": (4,)}], top_down=False)),
    attempt(lambda: tree.traverse(lambda x: x + 1 if isinstance(x, int) else None, 3)),
    attempt(lambda: tree.traverse(lambda x: tree.MAP_TO_NONE, [1])),
    attempt(lambda: tree.traverse(5, [1])),
]
out["shape"] = attempt(lambda: tree.map_shape_structure(
    tag, {"b": (None, 3), "a": [(2,), [4, 5]], "c": [[1, (2,)]], "d": [(), [], (1, "x")]}))
out["same_paths_msg"] = ""
try:
    tree.assert_same_paths([1, 2], {"a": 1})
except ValueError as e:
    out["same_paths_msg"] = str(e).split("\n")[0]

'''

REST_CODE = r'''
import collections, json, warnings
import numpy as np, torch

def attempt(fn):
    try:
        return repr(fn())
    except Exception as e:
        return "EXC " + type(e).__name__

out = {}
# ------------------------------------------------------------------ backend dtypes
DTYPES = ["bool", "uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "bfloat16",
          "float16", "float32", "float64", "complex64", "complex128", int, float, bool, None]
dname = lambda d: d if isinstance(d, str) or d is None else d.__name__
out["result_type"] = {f"{dname(a)},{dname(b)}": attempt(lambda: keras.backend.result_type(a, b))
                      for a in DTYPES for b in DTYPES}
out["result_type_more"] = [
    attempt(lambda: keras.backend.result_type()),
    attempt(lambda: keras.backend.result_type("int8")),
    attempt(lambda: keras.backend.result_type(int)),
    attempt(lambda: keras.backend.result_type(float, int)),
    attempt(lambda: keras.backend.result_type("int8", "uint8", "bool")),
    attempt(lambda: keras.backend.result_type("float8_e4m3fn", "float32")),
    attempt(lambda: keras.backend.result_type(torch.float16, np.dtype("int32"))),
    attempt(lambda: keras.backend.result_type("float32", "string")),
]
keras.backend.set_floatx("float16")
out["result_type_floatx16"] = [attempt(lambda: keras.backend.result_type(*d)) for d in
                               [(), ("int32", float), (int, float), (None,), ("int8", None)]]
keras.backend.set_floatx("float32")
STD = ["float32", "int", "float", "bool", "string", "uint16", "float8_e5m2", "complex128",
       torch.float16, torch.bfloat16, torch.int64, np.dtype("float64"), np.float32, np.int8, int,
       float, bool, str, None, "double", "nope", torch.uint8]
out["standardize"] = [attempt(lambda: keras.backend.standardize_dtype(d)) for d in STD]
out["is_float"] = [attempt(lambda: keras.backend.is_float_dtype(d)) for d in STD]
out["is_int"] = [attempt(lambda: keras.backend.is_int_dtype(d)) for d in STD]
out["backend"] = keras.backend.backend()
out["config"] = [keras.backend.floatx(), keras.backend.epsilon(), keras.backend.image_data_format()]

# ------------------------------------------------------------------ get_uid and clear_session
keras.backend.clear_session()
uids = [keras.backend.get_uid("x"), keras.backend.get_uid("x"), keras.backend.get_uid(),
        keras.backend.get_uid("y")]
uids.append(keras.layers.Dense(1).name)
uids.append(keras.backend.get_uid("dense"))
uids.append(keras.layers.Dense(1).name)
keras.backend.get_uid("relu")
uids.append(keras.layers.ReLU().name)
keras.backend.clear_session()
uids += [keras.backend.get_uid("x"), keras.layers.Dense(1).name, keras.backend.get_uid("dense")]
out["uids"] = uids
out["is_keras_tensor"] = [keras.backend.is_keras_tensor(keras.Input((2,))),
                          keras.backend.is_keras_tensor(torch.ones(2))]

# ------------------------------------------------------------------ dtype policies
dp = keras.dtype_policies
policies = {
    "float16": dp.DTypePolicy("float16"), "mixed": keras.mixed_precision.Policy("mixed_bfloat16"),
    "float_alias": dp.FloatDTypePolicy("float64"),
    "int8": dp.QuantizedDTypePolicy("int8", "float32"),
    "float8": dp.QuantizedFloat8DTypePolicy("float8", "mixed_bfloat16", 16),
    "int4": dp.Int4DTypePolicy("int4/128", "bfloat16"),
    "str_int4": dp.get("int4/-1_from_float32"),
}
pmap = dp.DTypePolicyMap()
pmap["enc/dense"] = "bfloat16"
pmap["enc/.*"] = dp.QuantizedDTypePolicy("int8", "float32")
pmap["dec"] = "float8_from_float32"
policies["map_no_default"] = pmap
policies["map_default"] = dp.DTypePolicyMap(
    default_policy="mixed_float16", policy_map={"a": dp.DTypePolicy("float16")})
policies["map_policy_default"] = dp.DTypePolicyMap(default_policy=dp.DTypePolicy("bfloat16"))
out["policy_props"] = {k: [p.name, p.compute_dtype, p.variable_dtype, p.quantization_mode]
                       for k, p in policies.items()}
out["policy_repr"] = {k: repr(p) for k, p in policies.items() if "map" not in k}
m = policies["map_default"]
out["map_ops"] = [repr(m["a"]), repr(m["zzz"]), len(m), list(m), "a" in m, "b" in m,
                  attempt(lambda: m.__setitem__("a", "float32")),
                  attempt(lambda: m.__setitem__("b", 3.5)),
                  repr(pmap["enc/dense"]), repr(pmap["enc/attention"]), repr(pmap["encoder"]),
                  attempt(lambda: dp.DTypePolicyMap(default_policy=m)),
                  attempt(lambda: dp.DTypePolicyMap(policy_map=[("a", "float32")]))]
pmap["enc/att.*"] = "float16"
out["map_ops"].append(attempt(lambda: pmap["enc/attention"]))
del pmap["enc/att.*"]
out["map_ops"].append(len(pmap))
# After the lookups: Keras's `DTypePolicyMap.get_config` clears the names of the policies it holds.
# FloatDTypePolicy is an alias of DTypePolicy in tkeras, so it is written as a DTypePolicy.
out["policy_configs"] = {k: dp.serialize(p) for k, p in policies.items() if k != "float_alias"}
out["get"] = [attempt(lambda: dp.get(x)) for x in
              [None, "float16", "mixed_float16", torch.float64, "int8_from_mixed_bfloat16",
               {"class_name": "DTypePolicy", "config": {"name": "bfloat16"}}, "nonsense"]]
keras.mixed_precision.set_global_policy("mixed_float16")
out["global"] = [keras.mixed_precision.global_policy().name, keras.config.dtype_policy().name,
                 keras.layers.Dense(2).compute_dtype, keras.layers.Dense(2).variable_dtype,
                 keras.mixed_precision.dtype_policy().name]
keras.mixed_precision.set_dtype_policy("float32")
out["global"].append(keras.mixed_precision.global_policy().name)
lso = keras.optimizers.serialize(keras.mixed_precision.LossScaleOptimizer(
    keras.optimizers.SGD(0.1), initial_scale=8.0))
for key in ("module", "registered_name"):  # Keras names its torch SGD's module; both load
    lso["config"]["inner_optimizer"].pop(key)
out["lso"] = lso
'''

# Cases where tkeras follows Keras's documentation and its optree backend rather than Keras on
# torch (see tkeras/tree.py): compared with Keras's tree API running on its optree implementation.
NESTED_DICT_CASES = ("dict_in_dict", "dict_in_list_in_dict", "dd_in_dict")
NAMEDTUPLE_PATH_CASES = ("nt", "nt_nested", "dd_in_dict")
OPTREE_CASES = tuple(sorted(set(NESTED_DICT_CASES + NAMEDTUPLE_PATH_CASES)))

KERAS_CODE = f"""
outputs["names"] = {{ns: sorted(n for n in dir(getattr(keras, ns)) if not n.startswith("_"))
                    for ns in {NAMESPACES!r}}}
outputs["shared"] = {{}}
for code in ({TREE_CODE!r}, {REST_CODE!r}):
    exec(code, ns := {{"keras": keras}})
    outputs["shared"].update(json.loads(json.dumps(ns["out"], default=repr)))
from keras.src.tree import optree_impl, tree_api
tree_api.tree_impl = optree_impl
exec({TREE_CODE!r}, ns := {{"keras": keras}})
outputs["optree"] = {{k: json.loads(json.dumps(ns["out"][k], default=repr))
                      for k in {OPTREE_CASES!r}}}
"""


def run_shared():
    """The programs on tkeras; the global floatx and dtype policy they set are restored after."""
    saved = tkeras.config.floatx(), dtype_policies._GLOBAL_POLICY
    out = {}
    try:
        for code in (TREE_CODE, REST_CODE):
            ns = {"keras": tkeras}
            exec(code, ns)
            out.update(ns["out"])
    finally:
        tkeras.config.set_floatx(saved[0])
        dtype_policies._GLOBAL_POLICY = saved[1]
    return json.loads(json.dumps(out, default=repr))


@pytest.fixture(scope="module")
def oracle():
    return run_keras(KERAS_CODE)


@pytest.fixture(scope="module")
def ours():
    return run_shared()


@requires_keras
@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_keras_name_exists(oracle, namespace):
    module = getattr(tkeras, namespace)
    missing = [n for n in oracle["names"][namespace] if not hasattr(module, n)]
    assert not missing
    assert set(oracle["names"][namespace]) <= set(module.__all__)


SECTIONS = ["result_type", "result_type_more", "result_type_floatx16", "standardize", "is_float",
            "is_int", "backend", "config", "uids", "is_keras_tensor", "policy_configs",
            "policy_props", "policy_repr", "map_ops", "get", "global", "lso",
            "check_types_warnings", "map_nl_mismatch", "map_nl_both_none", "map_empty",
            "map_nt_fields", "up_to", "pack", "trav", "shape", "same_paths_msg"]


@requires_keras
@pytest.mark.parametrize("section", SECTIONS)
def test_matches_keras(oracle, ours, section):
    assert ours[section] == oracle["shared"][section]


@requires_keras
def test_tree_structures_match_keras(oracle, ours):
    keys = [k for k in oracle["shared"] if k not in SECTIONS and k not in NESTED_DICT_CASES]
    assert len(keys) > 20 and sorted(keys + list(NESTED_DICT_CASES)) == sorted(
        k for k in ours if k not in SECTIONS)
    mismatches = {}
    for k in keys:
        mine, theirs = ours[k], oracle["shared"][k]
        if k in NAMEDTUPLE_PATH_CASES:
            mine, theirs = ({f: v for f, v in r.items() if f != "fwp"} for r in (mine, theirs))
        if mine != theirs:
            mismatches[k] = (mine, theirs)
    assert not mismatches


@requires_keras
@pytest.mark.parametrize("case", OPTREE_CASES)
def test_tree_documented_differences_match_keras_optree(oracle, ours, case):
    # Keras's optree backend keeps the input's key order in the dicts it rebuilds, Keras on torch
    # (and tkeras) sorts them: compare what does not depend on key order.
    fields = ["is_nested", "flatten", "fwp", "map", "map_nl", "map2", "same", "same_paths",
              "pack_unordered", "l2t_unordered", "shape_unordered"]
    assert {f: ours[case][f] for f in fields} == {f: oracle["optree"][case][f] for f in fields}
    differs = "flatten" if case in NESTED_DICT_CASES else "fwp"
    assert ours[case][differs] != oracle["shared"][case][differs]  # Keras on torch departs


def test_policy_map_config_round_trip():
    dp = tkeras.dtype_policies
    pmap = dp.DTypePolicyMap(default_policy="mixed_bfloat16")
    pmap["block/.*"] = "int8_from_mixed_bfloat16"
    pmap["head"] = dp.QuantizedFloat8DTypePolicy("float8", "float32", 32)
    again = dp.deserialize(json.loads(json.dumps(dp.serialize(pmap))))
    assert isinstance(again, dp.DTypePolicyMap) and again == pmap
    assert again["block/dense"].name == "int8_from_mixed_bfloat16"
    assert again["head"].amax_history_length == 32
    assert again["other"] == dp.DTypePolicy("mixed_bfloat16")
    # With no default policy, entries come back following the global policy (names not stored).
    bare = dp.DTypePolicyMap()
    bare["x"] = "bfloat16"
    assert dp.deserialize(dp.serialize(bare))["x"].name == tkeras.config.dtype_policy().name
    assert bare["x"].name == "bfloat16"  # serializing did not change the held policy


def test_policy_map_as_layer_dtype_uses_default_policy():
    pmap = tkeras.dtype_policies.DTypePolicyMap(default_policy="float64")
    layer = tkeras.layers.Dense(2, dtype=pmap)
    assert layer.compute_dtype == "float64"
    assert layer(torch.ones(1, 3, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("cls, mode", [("GPTQDTypePolicy", "gptq/4/128"),
                                       ("AWQDTypePolicy", "awq/4/128")])
def test_gptq_awq_policies_not_implemented(cls, mode):
    dp = tkeras.dtype_policies
    with pytest.raises(NotImplementedError, match=cls):
        getattr(dp, cls)(mode, "float32")
    with pytest.raises(NotImplementedError):
        dp.deserialize({"module": "keras.dtype_policies", "class_name": cls,
                        "config": {"mode": mode, "source_name": "float32"}})
    with pytest.raises(NotImplementedError):
        dp.get(f"{mode}_from_float32")


def test_tree_namedtuple_paths_use_field_index():
    NT = collections.namedtuple("NT", ["b", "a"])
    assert tkeras.tree.flatten_with_path([NT(a=1, b=(2, 3))]) == [
        ((0, 0, 0), 2), ((0, 0, 1), 3), ((0, 1), 1)]
    tkeras.tree.assert_same_paths(NT(1, 2), (3, 4))


def test_tree_torch_structures():
    result = torch.max(torch.ones(2, 3), 1)
    shapes = tkeras.tree.map_structure(lambda t: tuple(t.shape), result)
    assert type(shapes) is type(result) and shapes.values == (2,)
    assert tkeras.tree.flatten({"t": torch.ones(2)})[0].shape == (2,)
