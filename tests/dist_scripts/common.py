"""Models and data shared by the distribution tests and the scripts they launch."""

import numpy as np

import tkeras as keras
import tkeras.distribution  # noqa: F401  (keras.distribution)

N, IN, HID, OUT = 32, 8, 16, 6
SEQ, DIM = 6, 8


def data(n=N, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, IN)).astype("float32"),
            rng.normal(size=(n, OUT)).astype("float32"))


def mlp(seed=0, optimizer="sgd"):
    """Dense(16, tanh) -> Dense(6): variables `d1/kernel` (8, 16), `d1/bias`, `d2/kernel` (16, 6), ..."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((IN,)),
                              keras.layers.Dense(HID, activation="tanh", name="d1"),
                              keras.layers.Dense(OUT, name="d2")])
    opt = keras.optimizers.SGD(0.1) if optimizer == "sgd" else keras.optimizers.Adam(0.01)
    model.compile(optimizer=opt, loss="mse", metrics=["mae"])
    return model


def transformer_data(n=16, seed=2):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, SEQ, DIM)).astype("float32"),
            rng.normal(size=(n, SEQ, DIM)).astype("float32"))


def transformer_block(seed=0, optimizer="sgd"):
    """MultiHeadAttention (2 heads) + residual + LayerNormalization + Dense(16, relu) + Dense(8)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((SEQ, DIM))
    att = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(inp, inp)
    x = keras.layers.LayerNormalization(name="ln")(keras.layers.Add()([inp, att]))
    h = keras.layers.Dense(16, activation="relu", name="ff1")(x)
    model = keras.Model(inp, keras.layers.Dense(DIM, name="ff2")(h))
    opt = keras.optimizers.SGD(0.1) if optimizer == "sgd" else keras.optimizers.Adam(0.01)
    model.compile(optimizer=opt, loss="mse")
    return model


def mlp_layout_map(mesh):
    """Megatron MLP on Keras's (in, out) kernels: d1 column parallel, d2 row parallel.

    Patterns start with `.*`: Keras 3 prefixes paths with the enclosing layers
    (`sequential/d1/kernel`)."""
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*d1/kernel"] = (None, "model")
    layout_map[".*d1/bias"] = ("model",)
    layout_map[".*d2/kernel"] = ("model", None)
    return layout_map


def transformer_layout_map(mesh):
    """Heads split over "model" (q/k/v column, output projection row), then the MLP."""
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[r".*(query|key|value)/kernel"] = (None, "model", None)
    layout_map[r".*(query|key|value)/bias"] = ("model", None)
    layout_map[".*attention_output/kernel"] = ("model", None, None)
    layout_map[".*ff1/kernel"] = (None, "model")
    layout_map[".*ff1/bias"] = ("model",)
    layout_map[".*ff2/kernel"] = ("model", None)
    return layout_map


def mlp_2d_layout_map(mesh):
    """`mlp_layout_map` on a ("batch", "model") mesh, with the batch axis sharding (FSDP) one
    more dimension of d1's and d2's kernels and d2's bias; d1's bias stays whole on "batch"."""
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*d1/kernel"] = ("batch", "model")
    layout_map[".*d1/bias"] = ("model",)
    layout_map[".*d2/kernel"] = ("model", "batch")
    layout_map[".*d2/bias"] = ("batch",)
    return layout_map


def transformer_2d_layout_map(mesh):
    """`transformer_layout_map` with "batch" sharding another dimension of each kernel, the
    output projection's bias and the LayerNormalization weights; q/k/v biases and ff1/ff2's
    biases stay whole on "batch"."""
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[r".*(query|key|value)/kernel"] = ("batch", "model", None)
    layout_map[r".*(query|key|value)/bias"] = ("model", None)
    layout_map[".*attention_output/kernel"] = ("model", None, "batch")
    layout_map[".*attention_output/bias"] = ("batch",)
    layout_map[".*ln/(gamma|beta)"] = ("batch",)
    layout_map[".*ff1/kernel"] = ("batch", "model")
    layout_map[".*ff1/bias"] = ("model",)
    layout_map[".*ff2/kernel"] = ("model", "batch")
    return layout_map
