"""The Keras FAQ's model-level examples, run with `import tkeras as keras`."""

import numpy as np
import pytest
import torch

import tkeras as keras
from tkeras import layers
from tkeras.core import naming


def test_layer_names_are_uniquified_like_keras():
    naming.reset_names()
    assert [layers.Dense(1).name, layers.Dense(1).name, layers.Dropout(0.1).name] == [
        "dense", "dense_1", "dropout"]
    assert layers.BatchNormalization().name == "batch_normalization" if hasattr(
        layers, "BatchNormalization") else True


def test_trainable_attribute_faq():
    naming.reset_names()
    layer = layers.Dense(3)
    layer.build(input_shape=(None, 3))
    assert layer.trainable
    assert repr(layer.trainable_weights) == (
        "[<KerasVariable shape=(3, 3), dtype=float32, path=dense/kernel>, "
        "<KerasVariable shape=(3,), dtype=float32, path=dense/bias>]")
    layer.trainable = False
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 2


def test_freezing_a_base_model_is_recursive():
    base = keras.Sequential([keras.Input((8,)), layers.Dense(6), layers.Dense(5)])
    model = keras.Sequential([base, layers.Dense(10)])
    model.build((None, 8))
    model.layers[0].trainable = False
    assert model.layers[0].trainable_weights == []
    assert all(not l.trainable for l in base.layers)
    assert len(model.trainable_weights) == 2  # Dense's kernel and bias only
    assert len(model.weights) == 6
    # torch sees the same thing: frozen parameters need no gradient.
    assert sum(p.requires_grad for p in model.parameters()) == 2


class AutoScaleDropout(layers.Layer):
    """The FAQ's layer that is trainable and behaves differently in training."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, inputs, training=None):
        if training:
            inputs = torch.nn.functional.dropout(inputs, self.rate, training=True)
        return inputs * self.scale


def test_training_vs_trainable_faq():
    x = torch.ones(64, 8)
    layer = AutoScaleDropout(0.5)
    y = layer(x, training=True)
    assert len(layer.trainable_weights) == 1
    assert (y == 0).any()  # dropout applied in training mode
    y.sum().backward()
    assert layer.scale.grad is not None  # and the scale is learned
    layer = AutoScaleDropout(0.5)
    layer.trainable = False
    y = layer(x, training=True)
    assert (y == 0).any()
    assert layer.trainable_weights == []
    assert torch.equal(layer(x), x)  # inference by default


def test_training_flag_resolution_and_torch_modes():
    model = keras.Sequential([keras.Input((16,)), layers.Dropout(0.5), layers.Dense(4)])
    x = torch.ones(32, 16)
    assert torch.equal(model(x), model(x))  # Keras default: inference
    assert not torch.equal(model(x, training=True), model(x, training=True))  # propagated
    model.train()  # a torch user's training loop
    assert not torch.equal(model(x), model(x))
    assert torch.equal(model(x, training=False), model(x, training=False))  # explicit wins
    model.eval()
    assert torch.equal(model(x), model(x))


def test_feature_extraction_faq():
    model = keras.Sequential([keras.Input((10,)), layers.Dense(8, activation="relu"),
                              layers.Dense(6, activation="relu", name="my_layer"),
                              layers.Dense(2)])
    extractor = keras.Model(inputs=model.inputs, outputs=[l.output for l in model.layers])
    data = np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32)
    features = extractor(data)
    assert [tuple(f.shape) for f in features] == [(4, 8), (4, 6), (4, 2)]
    torch.testing.assert_close(features[-1], model(data))
    intermediate = keras.Model(inputs=model.input, outputs=model.get_layer("my_layer").output)
    torch.testing.assert_close(intermediate(data), features[1])
    assert intermediate.layers[-1] is model.get_layer("my_layer")  # weights are shared


class AttentionLayer(layers.Layer):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")

    def call(self, x):
        return torch.softmax(x @ self.w, dim=-1)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_custom_objects_and_scope_faq():
    inputs = keras.Input((5,))
    model = keras.Model(inputs, AttentionLayer(3)(inputs))
    json_string = model.to_json()
    with pytest.raises(ValueError, match="AttentionLayer"):
        keras.models.model_from_json(json_string)
    restored = keras.models.model_from_json(json_string,
                                            custom_objects={"AttentionLayer": AttentionLayer})
    assert isinstance(restored.layers[1], AttentionLayer) and restored.layers[1].units == 3
    from tkeras.core.registry import CustomObjectScope

    with CustomObjectScope({"AttentionLayer": AttentionLayer}):
        restored = keras.models.model_from_json(json_string)
    restored.set_weights(model.get_weights())
    x = np.ones((2, 5), np.float32)
    torch.testing.assert_close(restored(x), model(x))


def test_to_json_model_from_json_faq():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, activation="relu"),
                              layers.Dense(1)])
    json_string = model.to_json()
    rebuilt = keras.models.model_from_json(json_string)
    assert rebuilt.to_json() == json_string
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]


def test_registered_custom_layer_and_unknown_name_error():
    from tkeras.core.registry import register_keras_serializable

    @register_keras_serializable(package="faq")
    class Scale(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    inputs = keras.Input((2,))
    model = keras.Model(inputs, Scale(3.0)(inputs))
    entry = keras.models.model_from_json(model.to_json()).layers[1]
    assert type(entry) is Scale and entry.factor == 3.0
    config = model.to_json().replace('"registered_name": "faq>Scale"',
                                     '"registered_name": "nowhere>Scale"').replace(
        '"class_name": "Scale"', '"class_name": "Unheard"')
    with pytest.raises(ValueError, match="register_keras_serializable"):
        keras.models.model_from_json(config)


def test_config_never_imports_modules():
    import sys

    config = ('{"module": "os", "class_name": "system", "config": {"command": "echo hi"}, '
              '"registered_name": null}')
    with pytest.raises(ValueError, match="system"):
        keras.models.model_from_json(config)
    evil = ('{"module": "some_module_that_must_not_be_imported", "class_name": "Evil", '
            '"config": {}, "registered_name": null}')
    with pytest.raises(ValueError):
        keras.models.model_from_json(evil)
    assert "some_module_that_must_not_be_imported" not in sys.modules


def test_auto_get_config_for_simple_custom_layers():
    class Plain(layers.Layer):
        def __init__(self, units, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.units, self.scale = units, scale

    config = Plain(3, scale=0.5, name="p").get_config()
    assert config["units"] == 3 and config["scale"] == 0.5 and config["name"] == "p"
    assert Plain.from_config(config).units == 3


def test_sequential_add_pop_and_keras2_input_shape():
    model = keras.Sequential()
    model.add(layers.Dense(2, input_dim=3, name="dense_a"))
    model.add(layers.Dense(10, name="new_dense"))
    assert model.built and model.input_shape == (None, 3) and model.output_shape == (None, 10)
    popped = model.pop()
    assert popped.name == "new_dense" and model.output_shape == (None, 2)
    stateful = keras.Sequential([layers.Dense(4, input_shape=(10, 16), batch_size=32)])
    assert stateful.input_shape == (32, 10, 16)
    lazy = keras.Sequential([layers.Dense(4), layers.Dense(1)])
    assert not lazy.built
    lazy(np.zeros((2, 7), np.float32))
    assert lazy.built and lazy.layers[0].kernel.shape == (7, 4)


def test_clone_model_new_weights_same_architecture():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.Dense(2)])
    clone = keras.models.clone_model(model)
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert all(a is not b for a, b in zip(clone.weights, model.weights))
    clone.set_weights(model.get_weights())
    x = np.ones((1, 4), np.float32)
    torch.testing.assert_close(clone(x), model(x))
    a = keras.Input((4,))
    fn = keras.Model(a, layers.Dense(2)(layers.Dense(3)(a)))
    fn_clone = keras.models.clone_model(fn)
    fn_clone.set_weights(fn.get_weights())
    torch.testing.assert_close(fn_clone(x), fn(x))
