"""Tensor parallel (and FSDP) training of a transformer block from a Keras `LayoutMap`.

    torchrun --nproc_per_node=4 examples/distributed_model_parallel.py --mesh 2 2
    python examples/distributed_model_parallel.py --mesh 1 2      # tkeras starts 2 processes

The mesh is (batch, model). Attention heads and the MLP's hidden units are split over "model"
(Megatron style; Keras kernels are (in, out): `(None, "model")` splits the outputs,
`("model", None)` the inputs); data is split over "batch". Add `--fsdp` to also shard the
embedding-size dimension of the q/k/v kernels over "batch" (gathered for each forward pass).
"""

import argparse

import numpy as np

import tkeras as keras
import tkeras.distribution  # noqa: F401  (keras.distribution)
import tkeras.parallel  # noqa: F401  (is_chief)

SEQ, DIM, HEADS = 16, 32, 4


def layout_map(mesh, fsdp=False):
    lm = keras.distribution.LayoutMap(mesh)
    lm[r".*(query|key|value)/kernel"] = ("batch" if fsdp else None, "model", None)
    lm[r".*(query|key|value)/bias"] = ("model", None)
    lm[r".*attention_output/kernel"] = ("model", None, None)
    lm[r".*mlp_in/kernel"] = (None, "model")
    lm[r".*mlp_in/bias"] = ("model",)
    lm[r".*mlp_out/kernel"] = ("model", None)
    return lm


def block():
    inp = keras.Input((SEQ, DIM))
    att = keras.layers.MultiHeadAttention(HEADS, DIM // HEADS, name="attention")(inp, inp)
    x = keras.layers.LayerNormalization()(keras.layers.Add()([inp, att]))
    h = keras.layers.Dense(4 * DIM, activation="gelu", name="mlp_in")(x)
    h = keras.layers.Dense(DIM, name="mlp_out")(h)
    out = keras.layers.LayerNormalization()(keras.layers.Add()([x, h]))
    return keras.Model(inp, keras.layers.Dense(1, name="head")(out))


def main(mesh_shape=(1, 2), fsdp=False, epochs=2):
    devices = [f"{keras.distribution.list_devices()[0].split(':')[0]}:{i}"
               for i in range(mesh_shape[0] * mesh_shape[1])]
    mesh = keras.distribution.DeviceMesh(tuple(mesh_shape), ("batch", "model"), devices)
    keras.distribution.set_distribution(keras.distribution.ModelParallel(
        layout_map=layout_map(mesh, fsdp), batch_dim_name="batch"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, SEQ, DIM)).astype("float32")
    y = x.mean(axis=-1, keepdims=True)
    model = block()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    history = model.fit(x, y, batch_size=64, epochs=epochs, verbose=2)
    full = keras.distribution.gather_full_state(model)  # whole weights on every process
    if tkeras.parallel.is_chief():
        print({w.path: tuple(w.shape) for w in model.weights if "mlp" in w.path},
              "local shapes; whole:", {k: v.shape for k, v in full.items() if "mlp" in k})
    return history.history["loss"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mesh", type=int, nargs=2, default=(1, 2))
    parser.add_argument("--fsdp", action="store_true")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    main(tuple(args.mesh), args.fsdp, args.epochs)
