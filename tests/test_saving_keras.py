"""Keras files both directions against real Keras 3.15.1 (run in one subprocess).

The same architecture code is executed under tkeras (here) and under real Keras (in the
subprocess). tkeras saves `.keras`, `.weights.h5`, legacy `.h5` (full and weights-only) and JSON
that Keras loads; Keras saves the same formats that tkeras loads. Outputs must match, and the
`.weights.h5` layouts (every dataset path and shape) must be identical.
"""

import json
import os
import textwrap

import h5py
import numpy as np
import pytest
import torch

import tkeras
import tkeras.optimizers
import tkeras.saving  # tkeras/__init__.py does not import it yet
from keras_oracle import requires_keras, run_keras

ARCH = textwrap.dedent('''
    import numpy as np
    layers = keras.layers


    @keras.saving.register_keras_serializable(package="tk_test", name="MyNet")
    class MyNet(keras.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.zeta = layers.Dense(units)
            self.blocks = [layers.Dense(6, activation="relu"), layers.Dense(units)]
            self.alpha = layers.Dense(2)

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return self.alpha(self.zeta(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}


    def build_seq_mlp():
        return keras.Sequential([keras.Input((6,)), layers.Dense(8, activation="relu"),
                                 layers.Dropout(0.3), layers.Dense(3, activation="softmax")])


    def build_mimo_shared():
        a = keras.Input((8,), name="in_a")
        b = keras.Input((8,), name="in_b")
        shared = layers.Dense(16, activation="relu", name="shared")
        out1 = layers.Dense(1, name="out1")(layers.Concatenate()([shared(a), shared(b)]))
        out2 = layers.Dense(3, activation="softmax", name="out2")(shared(b))
        return keras.Model([a, b], [out1, out2])


    def build_nested():
        inner_seq = keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="tanh")],
                                     name="inner_seq")
        i = keras.Input((5,))
        inner_func = keras.Model(i, layers.Dense(3)(i), name="inner_func")
        x = keras.Input((4,))
        return keras.Model(x, layers.Dense(2)(inner_func(inner_seq(x))))


    def build_nested_shared():
        i = keras.Input((5,))
        inner = keras.Model(i, layers.Dense(3, activation="relu")(i), name="inner")
        a = keras.Input((5,))
        b = keras.Input((5,))
        return keras.Model([a, b], [layers.Add()([inner(a), inner(b)]), inner(b)])


    def build_conv_bn():
        return keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, activation="relu"),
                                 layers.BatchNormalization(), layers.MaxPooling2D(),
                                 layers.Flatten(), layers.Dense(2)])


    def build_rnn():
        x = keras.Input((5, 3))
        h = layers.LSTM(4, return_sequences=True)(x)
        h = layers.Bidirectional(layers.GRU(3, return_sequences=True))(h)
        h = layers.TimeDistributed(layers.Dense(2))(h)
        return keras.Model(x, layers.SimpleRNN(3)(h))


    def build_embed():
        return keras.Sequential([keras.Input((6,), dtype="int32"), layers.Embedding(20, 4),
                                 layers.LayerNormalization(), layers.Reshape((4, 6)),
                                 layers.GlobalAveragePooling1D(), layers.Activation("tanh"),
                                 layers.Dense(2)])


    def build_subclassed():
        model = MyNet(units=4)
        model(np.zeros((3, 5), "float32"))
        return model


    BUILDERS = {"seq_mlp": build_seq_mlp, "mimo_shared": build_mimo_shared,
                "nested": build_nested, "nested_shared": build_nested_shared,
                "conv_bn": build_conv_bn, "rnn": build_rnn, "embed": build_embed,
                "subclassed": build_subclassed}
    NO_H5_MODEL = {"subclassed"}  # Keras's legacy .h5 cannot rebuild subclassed models


    def randomize(model, seed):
        rng = np.random.default_rng(seed)
        for w in model.weights:
            value = rng.uniform(-1, 1, size=tuple(w.shape)).astype("float32")
            if "variance" in w.path:
                value = np.abs(value) + 0.5
            w.assign(value)


    def h5_layout(path):
        import h5py
        found = []
        with h5py.File(path, "r") as f:
            f.visititems(lambda n, o: found.append([n, list(o.shape)])
                         if isinstance(o, h5py.Dataset) else None)
        return sorted(found)
''')


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.normal(size=s).astype("float32")  # noqa: E731
    return {
        "seq_mlp": [f(3, 6)], "mimo_shared": [f(3, 8), f(3, 8)], "nested": [f(3, 4)],
        "nested_shared": [f(3, 5), f(3, 5)], "conv_bn": [f(2, 8, 8, 3)], "rnn": [f(2, 5, 3)],
        "embed": [rng.integers(0, 20, size=(3, 6)).astype("int32")], "subclassed": [f(3, 5)],
    }


def _call(model, xs):
    out = model(xs[0] if len(xs) == 1 else list(xs), training=False)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [o.detach().cpu().numpy() if isinstance(o, torch.Tensor) else np.asarray(o)
            for o in outs]


KERAS_CODE = ARCH + textwrap.dedent('''
    import json, warnings
    warnings.simplefilter("ignore")
    d = DIR

    def call(model, name):
        xs = [inputs[f"x_{name}_{i}"] for i in range(int(inputs[f"n_{name}"]))]
        out = model(xs[0] if len(xs) == 1 else xs, training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        return [keras.ops.convert_to_numpy(o) for o in out]

    def put(key, outs):
        for i, o in enumerate(outs):
            outputs[f"{key}_{i}"] = np.asarray(o)

    for name, build in BUILDERS.items():
        t = f"{d}/t_{name}"
        put(f"{name}_kload_keras", call(keras.saving.load_model(t + ".keras"), name))
        m = build(); m.load_weights(t + ".weights.h5")
        put(f"{name}_kload_weights", call(m, name))
        m = build(); m.load_weights(t + "_w.h5")
        put(f"{name}_kload_legacy_weights", call(m, name))
        if name not in NO_H5_MODEL:
            put(f"{name}_kload_h5", call(keras.saving.load_model(t + ".h5"), name))
        with open(t + ".json") as fh:
            m = keras.models.model_from_json(fh.read())
        w = np.load(t + "_weights.npz")
        m.set_weights([w[f"w{i}"] for i in range(len(w.files))])
        put(f"{name}_kload_json", call(m, name))

        k = f"{d}/k_{name}"
        m = build()
        randomize(m, 1234)
        put(f"{name}_keras", call(m, name))
        m.save(k + ".keras")
        m.save_weights(k + ".weights.h5")
        if name not in NO_H5_MODEL:
            m.save(k + ".h5")
        with open(k + ".json", "w") as fh:
            fh.write(m.to_json())
        np.savez(k + "_weights.npz", **{f"w{i}": v for i, v in enumerate(m.get_weights())})
        outputs[f"{name}_klayout"] = h5_layout(k + ".weights.h5")

    # compiled model with optimizer state, both directions
    m = keras.saving.load_model(f"{d}/t_compiled.keras")
    outputs["compiled_kload_opt_class"] = type(m.optimizer).__name__
    outputs["compiled_kload_opt_vars"] = [np.asarray(v).tolist() for v in m.optimizer.variables]
    m = build_seq_mlp()
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="mean_squared_error", metrics=["mae"])
    m.fit(inputs["x_seq_mlp_0"], np.ones((3, 3), "float32"), epochs=2, verbose=0)
    m.save(f"{d}/k_compiled.keras")
    outputs["compiled_keras_opt_vars"] = [np.asarray(v).tolist() for v in m.optimizer.variables]

    # tf.keras 2 style files synthesized by the test: Keras 3's own reading
    for name in ("tfk2_model", "tfk2_weights"):
        if name == "tfk2_model":
            m = keras.saving.load_model(f"{d}/{name}.h5", compile=False)
        else:
            m = build_seq_mlp(); m.load_weights(f"{d}/{name}.h5")
        put(f"{name}_keras", call(m, "seq_mlp"))
''')


def _tf2_files(d, rng):
    """tf.keras 2 style `.h5` files (layout of tf.keras 2.15 hdf5_format), synthesized."""
    k1, b1 = rng.normal(size=(6, 8)).astype("f4"), rng.normal(size=(8,)).astype("f4")
    k2, b2 = rng.normal(size=(8, 3)).astype("f4"), rng.normal(size=(3,)).astype("f4")
    dense = lambda name, units, act: {  # noqa: E731
        "class_name": "Dense", "config": {
            "name": name, "trainable": True, "dtype": "float32", "units": units,
            "activation": act, "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}}
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "dense_input"}},
        dense("dense", 8, "relu"),
        {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True,
                                             "dtype": "float32", "rate": 0.3,
                                             "noise_shape": None, "seed": None}},
        dense("dense_1", 3, "softmax")]}, "keras_version": "2.15.0", "backend": "tensorflow"}
    training = {"loss": "mean_squared_error", "metrics": None, "weighted_metrics": None,
                "loss_weights": None, "optimizer_config": {"class_name": "Custom>Adam", "config": {
                    "name": "Adam", "weight_decay": None, "clipnorm": None,
                    "global_clipnorm": None, "clipvalue": None, "use_ema": False,
                    "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": True,
                    "is_legacy_optimizer": False, "learning_rate": 0.001, "beta_1": 0.9,
                    "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}}
    specs = [("dense", [("dense/kernel:0", k1), ("dense/bias:0", b1)]), ("dropout", []),
             ("dense_1", [("dense_1/kernel:0", k2), ("dense_1/bias:0", b2)])]

    def write_weights(group, names):
        group.attrs["layer_names"] = [n.encode() for n in names]
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = b"2.15.0"
        for name, ws in specs:
            g = group.create_group(name)
            g.attrs["weight_names"] = [wn.encode() for wn, _ in ws]
            for wn, arr in ws:
                g.create_dataset(wn, data=arr)

    with h5py.File(os.path.join(d, "tfk2_model.h5"), "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        f.attrs["training_config"] = json.dumps(training).encode()
        write_weights(f.create_group("model_weights"), ["dense", "dropout", "dense_1"])
        f["model_weights"].create_group("top_level_model_weights").attrs["weight_names"] = \
            np.asarray([], dtype="S1")
    with h5py.File(os.path.join(d, "tfk2_weights.h5"), "w") as f:
        write_weights(f, ["dense", "dropout", "dense_1"])
    x = np.random.default_rng(0).normal(size=(3, 6)).astype("f4")
    h = np.maximum(x @ k1 + b1, 0) @ k2 + b2
    e = np.exp(h - h.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _h5_layout(path):
    found = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: found.append([n, list(o.shape)])
                     if isinstance(o, h5py.Dataset) else None)
    return sorted(found)


def _adam_step(model, x, y):
    """One compiled-training step, so the optimizer has non-trivial state."""
    model.fit(x, y, epochs=2, verbose=0)


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("keras_io"))
    ns = {"keras": tkeras, "__name__": "tk_saving_arch"}
    exec(ARCH, ns)
    xs = make_inputs()
    ours = {}
    models = {}
    for name, build in ns["BUILDERS"].items():
        model = build()
        ns["randomize"](model, 7)
        ours[name] = _call(model, xs[name])
        models[name] = model
        t = os.path.join(d, f"t_{name}")
        model.save(t + ".keras")
        model.save_weights(t + ".weights.h5")
        model.save_weights(t + "_w.h5")
        if name not in ns["NO_H5_MODEL"]:
            model.save(t + ".h5")
        with open(t + ".json", "w") as f:
            f.write(model.to_json())
        np.savez(t + "_weights.npz", **{f"w{i}": v for i, v in enumerate(model.get_weights())})
    compiled = ns["build_seq_mlp"]()
    compiled.compile(optimizer=tkeras.optimizers.Adam(0.01), loss="mean_squared_error",
                     metrics=["mae"])
    _adam_step(compiled, xs["seq_mlp"][0], np.ones((3, 3), "float32"))
    compiled.save(os.path.join(d, "t_compiled.keras"))
    compiled_vars = [v.detach().cpu().numpy() for v in compiled.optimizer.variables]
    tf2_expected = _tf2_files(d, np.random.default_rng(5))
    arrays = {}
    for name, x in xs.items():
        arrays[f"n_{name}"] = np.asarray(len(x))
        for i, a in enumerate(x):
            arrays[f"x_{name}_{i}"] = a
    keras_out = run_keras(KERAS_CODE.replace("DIR", repr(d)), arrays)
    return {"dir": d, "ns": ns, "xs": xs, "ours": ours, "keras": keras_out,
            "compiled_vars": compiled_vars, "tf2_expected": tf2_expected}


NAMES = ["seq_mlp", "mimo_shared", "nested", "nested_shared", "conv_bn", "rnn", "embed",
         "subclassed"]


def _outs(result, key):
    return [result[f"{key}_{i}"] for i in range(10) if f"{key}_{i}" in result]


def _close(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-5 * max(1.0, float(np.abs(y).max())),
                                   rtol=1e-5)


@requires_keras
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fmt", ["keras", "weights", "legacy_weights", "h5", "json"])
def test_keras_loads_tkeras_files(both_ways, name, fmt):
    if fmt == "h5" and name in both_ways["ns"]["NO_H5_MODEL"]:
        return
    _close(_outs(both_ways["keras"], f"{name}_kload_{fmt}"), both_ways["ours"][name])


@requires_keras
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fmt", ["keras", "weights", "h5", "h5_weights", "json"])
def test_tkeras_loads_keras_files(both_ways, name, fmt):
    ns, d = both_ways["ns"], both_ways["dir"]
    if fmt.startswith("h5") and name in ns["NO_H5_MODEL"]:
        return
    k = os.path.join(d, f"k_{name}")
    if fmt == "keras":
        model = tkeras.saving.load_model(k + ".keras")
    elif fmt == "weights":
        model = ns["BUILDERS"][name]()
        model.load_weights(k + ".weights.h5")
    elif fmt == "h5":
        model = tkeras.saving.load_model(k + ".h5")
    elif fmt == "h5_weights":
        model = ns["BUILDERS"][name]()
        model.load_weights(k + ".h5")
    else:
        with open(k + ".json") as f:
            model = tkeras.models.model_from_json(f.read())
        w = np.load(k + "_weights.npz")
        model.set_weights([w[f"w{i}"] for i in range(len(w.files))])
    _close(_call(model, both_ways["xs"][name]), _outs(both_ways["keras"], f"{name}_keras"))


@requires_keras
@pytest.mark.parametrize("name", NAMES)
def test_weights_layout_identical(both_ways, name):
    ours = _h5_layout(os.path.join(both_ways["dir"], f"t_{name}.weights.h5"))
    assert ours == both_ways["keras"][f"{name}_klayout"]


@requires_keras
def test_compiled_optimizer_state_both_ways(both_ways):
    keras_out = both_ways["keras"]
    assert keras_out["compiled_kload_opt_class"] == "Adam"
    theirs = keras_out["compiled_kload_opt_vars"]
    assert len(theirs) == len(both_ways["compiled_vars"])
    for a, b in zip(theirs, both_ways["compiled_vars"]):
        np.testing.assert_allclose(np.asarray(a, dtype="float64"), b.astype("float64"),
                                   rtol=1e-6, atol=1e-7)
    model = tkeras.saving.load_model(os.path.join(both_ways["dir"], "k_compiled.keras"))
    assert type(model.optimizer).__name__ == "Adam"
    assert model.loss == "mean_squared_error"
    ours = [v.detach().cpu().numpy() for v in model.optimizer.variables]
    expected = keras_out["compiled_keras_opt_vars"]
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a.astype("float64"), np.asarray(b, dtype="float64"),
                                   rtol=1e-6, atol=1e-7)


@requires_keras
def test_tf_keras2_files(both_ways):
    d, ns = both_ways["dir"], both_ways["ns"]
    x = both_ways["xs"]["seq_mlp"]
    full = tkeras.saving.load_model(os.path.join(d, "tfk2_model.h5"))
    assert type(full.optimizer).__name__ == "Adam"  # Keras 3 itself fails on this config
    weights_only = ns["build_seq_mlp"]()
    weights_only.load_weights(os.path.join(d, "tfk2_weights.h5"))
    for model, key in ((full, "tfk2_model"), (weights_only, "tfk2_weights")):
        ours = _call(model, x)
        _close(ours, [both_ways["tf2_expected"]])
        _close(ours, _outs(both_ways["keras"], f"{key}_keras"))
