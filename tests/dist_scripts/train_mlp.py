"""The same Keras script on 1 device, under torchrun (one or several nodes) or launched by tkeras.

    python train_mlp.py --out DIR                  # one process (or tkeras launches --devices N)
    python train_mlp.py --devices 2 --out DIR      # plain python: tkeras starts rank 1
    torchrun --nproc_per_node=2 train_mlp.py --out DIR
Every rank writes DIR/rank<r>.json (weights, history, evaluate, predict, world size).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

import tkeras as keras  # noqa: E402
import tkeras.distribution  # noqa: E402,F401
from tkeras.parallel import runtime  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=args.devices))
    x, y = common.data()
    rank = runtime.process_id()
    model = common.mlp(seed=rank)  # every rank starts from rank 0's weights
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    result = {
        "world": keras.distribution.get_device_count(),
        "weights": {w.path.split("/", 1)[1]: w.numpy().tolist() for w in model.weights},
        "history": history.history,
        "evaluate": model.evaluate(x, y, batch_size=16, verbose=0),
        "predict": model.predict(x, batch_size=8, verbose=0).tolist(),
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
