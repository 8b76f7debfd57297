"""Data parallel training with `keras.distribution.DataParallel`: the same script everywhere.

    python examples/distributed_data_parallel.py                  # every local GPU, or 1 CPU
    python examples/distributed_data_parallel.py --devices 2      # tkeras starts 2 processes
    torchrun --nproc_per_node=8 examples/distributed_data_parallel.py
    torchrun --nnodes=2 --nproc_per_node=8 --node-rank=$NODE \\
        --rdzv-backend=c10d --rdzv-endpoint=$HOST:29500 examples/distributed_data_parallel.py
    srun python examples/distributed_data_parallel.py             # SLURM, one task per GPU
    python examples/distributed_data_parallel.py --devices 2 --fsdp   # FSDP2: sharded weights

`batch_size` is the global batch: each of the N processes trains on batch_size / N samples of
it, gradients are averaged, and every process ends with the same weights. Logs, the progress
bar and the checkpoint are written by rank 0 only. With `--fsdp`
(`FullyShardedDataParallel`), each process keeps only its shard of every weight and of the
optimizer state (torch's FSDP2 gathers each layer's weights for its forward and backward
passes); the checkpoint still holds the whole model.
"""

import argparse
import os
import tempfile

import numpy as np

import tkeras as keras
import tkeras.distribution  # noqa: F401  (keras.distribution)
import tkeras.parallel  # noqa: F401  (is_chief)


def make_data(n=4096, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 32)).astype("float32")
    w = rng.normal(size=(32, 1)).astype("float32")
    y = (x @ w > 0).astype("float32")
    return x, y


def main(devices=None, epochs=3, out_dir=None, fsdp=False):
    kind = (keras.distribution.FullyShardedDataParallel if fsdp
            else keras.distribution.DataParallel)
    keras.distribution.set_distribution(kind(devices=devices))
    x, y = make_data()
    model = keras.Sequential([keras.Input((32,)),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    out_dir = out_dir or tempfile.mkdtemp()
    checkpoint = keras.callbacks.ModelCheckpoint(os.path.join(out_dir, "model.keras"))
    model.fit(x, y, batch_size=256, epochs=epochs, validation_split=0.1,
              callbacks=[checkpoint], verbose=2)
    loss, accuracy = model.evaluate(x, y, batch_size=256, verbose=0)
    if keras.distribution.get_device_count() == 1 or tkeras.parallel.is_chief():
        print(f"devices={keras.distribution.get_device_count()} loss={loss:.4f} "
              f"accuracy={accuracy:.4f} checkpoint={checkpoint.filepath}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fsdp", action="store_true")
    args = parser.parse_args()
    main(args.devices, args.epochs, fsdp=args.fsdp)
