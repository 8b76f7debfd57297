"""`tkeras.legacy.saving` / `tkeras.utils.legacy` against Keras's legacy (Keras 2 style)
serializers, on the same objects and configs; plus the config build cap of
`tkeras.saving.deserialize_keras_object`."""

import re

import pytest

import tkeras
from keras_oracle import requires_keras
from keras_oracle import run_keras
from tkeras import activations
from tkeras import initializers
from tkeras import layers
from tkeras import regularizers
from tkeras.compat import safety
from tkeras.legacy import saving as legacy_saving
from tkeras.utils import legacy as utils_legacy

DENSE_2 = {"class_name": "Dense", "config": {
    "name": "d2", "units": 4, "activation": "relu", "use_bias": False,
    "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": 3},
                           "__passive_serialization__": True},
    "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.5},
                           "__passive_serialization__": True}}}


# The same objects, built from the `layers`, `initializers`, ... of Keras or of tkeras.
OBJECTS = """
dense = layers.Dense(3, activation="tanh", kernel_initializer=initializers.GlorotUniform(seed=1),
                     kernel_regularizer=regularizers.L2(0.25), name="d1")
module_objects = {"Dense": layers.Dense, "GlorotUniform": initializers.GlorotUniform,
                  "L2": regularizers.L2, "relu": activations.relu, "Zeros": initializers.Zeros}
"""


def _cases(ser, de):
    """Checks written once, run under both libraries: `ser`/`de` are the legacy functions."""
    return f"""
import json
def config_of(obj):
    config = obj.get_config()
    config.pop("name", None)
    return json.loads(json.dumps(config))
res = {{}}
res["dense"] = {ser}(dense)
res["initializer"] = {ser}(initializers.GlorotUniform(seed=5))
res["function"] = {ser}(activations.relu)
obj = {de}(DENSE_2, module_objects=module_objects)
res["from_dense"] = [type(obj).__name__, obj.name, config_of(obj)]
res["string_function"] = {de}("relu", custom_objects=module_objects).__name__
zeros = {de}("Zeros", custom_objects=module_objects)
res["string_class"] = [type(zeros).__name__, config_of(zeros)]
for case, args in [("unknown", (DENSE_2,)), ("improper", ({{"config": {{}}}},))]:
    try:
        {de}(*args, printable_module_name="layer")
        res[case] = "no error"
    except ValueError as e:
        res[case] = str(e)
res["none"] = [{ser}(None), {de}(None)]
"""


@pytest.fixture(scope="module")
def keras_results():
    code = (f"from keras import layers, initializers, regularizers, activations\n"
            f"DENSE_2 = {DENSE_2!r}\n" + OBJECTS
            + _cases("keras.legacy.saving.serialize_keras_object",
                     "keras.legacy.saving.deserialize_keras_object")
            + "outputs['res'] = res\n")
    return run_keras(code)["res"]


def _tkeras_results(ser, de):
    scope = {"layers": layers, "initializers": initializers, "regularizers": regularizers,
             "activations": activations, "DENSE_2": DENSE_2, "ser": ser, "de": de}
    exec(OBJECTS + _cases("ser", "de"), scope)
    return scope["res"]


@requires_keras
@pytest.mark.parametrize("module", [legacy_saving, utils_legacy], ids=["legacy", "utils"])
def test_matches_keras(keras_results, module):
    ours = _tkeras_results(module.serialize_keras_object, module.deserialize_keras_object)
    assert set(ours) == set(keras_results)
    for key in keras_results:
        assert ours[key] == keras_results[key], key


def test_passive_items_and_names_are_deserialized():
    obj = legacy_saving.deserialize_keras_object(
        DENSE_2, module_objects={"Dense": layers.Dense, "GlorotUniform":
                                 initializers.GlorotUniform, "L2": regularizers.L2})
    assert isinstance(obj.kernel_regularizer, regularizers.L2)
    assert obj.kernel_regularizer.l2 == 0.5 and obj.name == "d2"
    assert "__passive_serialization__" in DENSE_2["config"]["kernel_initializer"]  # not mutated


def test_names_resolve_through_module_objects():
    """Keras 3.15.1 fails here with an AttributeError (it reads a registry attribute that no
    longer exists) unless `custom_objects` has the name; tkeras looks names up as documented."""
    assert legacy_saving.deserialize_keras_object(
        "relu", module_objects={"relu": activations.relu}) is activations.relu
    with pytest.raises(ValueError, match="Unknown activation: 'nope'"):
        legacy_saving.deserialize_keras_object("nope", printable_module_name="activation")


def test_custom_objects_and_scopes_resolve():
    class Twice(layers.Layer):
        def call(self, x):
            return 2 * x

    config = {"class_name": "Twice", "config": {"name": "t"}}
    assert isinstance(legacy_saving.deserialize_keras_object(
        config, custom_objects={"Twice": Twice}), Twice)
    with tkeras.saving.CustomObjectScope({"Twice": Twice}):
        assert legacy_saving.deserialize_keras_object(config).name == "t"


HUGE_DENSE = {"class_name": "Sequential", "config": {"name": "s", "layers": [
    {"class_name": "InputLayer", "config": {"batch_shape": [None, 1 << 24], "name": "in"}},
    {"class_name": "Dense", "config": {"name": "too_big", "units": 1 << 24}}]}}
HUGE_EMBEDDING = {"class_name": "Sequential", "config": {"name": "s", "layers": [
    {"class_name": "InputLayer", "config": {"batch_shape": [None, 3], "name": "in"}},
    {"class_name": "Embedding", "config": {"name": "huge_table", "input_dim": 1 << 50,
                                           "output_dim": 8}}]}}


@pytest.mark.parametrize("config, layer", [(HUGE_DENSE, "'too_big' (Dense)"),
                                           (HUGE_EMBEDDING, "'huge_table' (Embedding)")])
def test_config_build_is_capped(config, layer):
    """A config holds no weights: building more than the machine's memory is refused, naming
    the layer, before any allocation (1 PiB / 32 PiB here: more than any address space, so a
    missing cap fails fast instead of exhausting memory)."""
    with pytest.raises(ValueError, match=re.escape(f"layer {layer}")) as info:
        tkeras.saving.deserialize_keras_object(config)
    assert isinstance(info.value, safety.UnsafeFileError)
    assert "MAX_CONFIG_BUILD_BYTES" in str(info.value)


def test_config_cap_can_be_raised_and_allows_normal_models(monkeypatch):
    small = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 64], "name": "in"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 64}}]}}
    assert tkeras.saving.deserialize_keras_object(small).count_params() == 64 * 64 + 64
    monkeypatch.setattr(safety, "MAX_CONFIG_BUILD_BYTES", 1000)
    with pytest.raises(safety.UnsafeFileError, match="layer 'd' \\(Dense\\)"):
        tkeras.saving.deserialize_keras_object(small)


def test_model_from_json_is_capped():
    import json

    with pytest.raises(safety.UnsafeFileError, match=re.escape("layer 'huge_table' (Embedding)")):
        tkeras.models.model_from_json(json.dumps(HUGE_EMBEDDING))
