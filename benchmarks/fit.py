"""Speed of tkeras's fit/predict against a hand-written torch loop (and real Keras on torch).

Workloads (issue 4): MLP 784-256-256-10 batch 128; small CNN on 32x32x3 batch 64; LSTM(64)
over length-50 sequences batch 64; Dense(10->1) batch 32 (per-step overhead); predict with the
MLP at batch 32 and 128. Reference (a): a torch loop on the same architecture in plain torch
(pre-built tensors, index-sliced shuffled batches, torch Adam with eps=1e-7 -- on CPU torch's
default is its per-tensor loop; predict under `inference_mode`). Reference (b): the same loop
with `Adam(fused=True)` (training workloads). Each repetition times one epoch of every
contender back to back (interleaved); the table shows medians of time per step, `ratio` =
median / median of (a), and `paired` = the median of the per-repetition ratios to (a).

`--clock cpu` times with the process's CPU time instead of the wall clock: on a machine
shared with other jobs it leaves out the time spent waiting for a core (it still includes
their effect on caches), so it is much steadier there; the two clocks agree on an idle machine.

    python benchmarks/fit.py [--reps 5] [--threads 1] [--no-keras] [--device cpu|cuda]
                             [--clock wall|cpu] [--workloads mlp,tiny,...]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

WORKLOADS = {
    # name: (kind, batch, samples)
    "mlp": ("mlp", 128, 128 * 40),
    "cnn": ("cnn", 64, 64 * 20),
    "lstm": ("lstm", 64, 64 * 10),
    "tiny": ("tiny", 32, 32 * 200),
    "predict_mlp_b32": ("mlp", 32, 32 * 100),
    "predict_mlp_b128": ("mlp", 128, 128 * 40),
}


def make_data(kind, n, seed=0):
    rng = np.random.RandomState(seed)
    if kind == "mlp":
        return rng.rand(n, 784).astype("float32"), rng.randint(0, 10, n).astype("int64")
    if kind == "cnn":
        return rng.rand(n, 32, 32, 3).astype("float32"), rng.randint(0, 10, n).astype("int64")
    if kind == "lstm":
        return rng.rand(n, 50, 16).astype("float32"), rng.randint(0, 10, n).astype("int64")
    return rng.rand(n, 10).astype("float32"), rng.rand(n, 1).astype("float32")


def keras_model(K, kind):
    L = K.layers
    if kind == "mlp":
        layers = [K.Input((784,)), L.Dense(256, activation="relu"),
                  L.Dense(256, activation="relu"), L.Dense(10)]
    elif kind == "cnn":
        layers = [K.Input((32, 32, 3)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
                  L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                  L.Dense(10)]
    elif kind == "lstm":
        layers = [K.Input((50, 16)), L.LSTM(64), L.Dense(10)]
    else:
        layers = [K.Input((10,)), L.Dense(1)]
    model = K.Sequential(layers)
    loss = ("mse" if kind == "tiny" else
            K.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.compile(optimizer=K.optimizers.Adam(1e-3), loss=loss)
    return model


def torch_model(kind):
    nn = torch.nn
    if kind == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    if kind == "cnn":
        class CNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.c1, self.c2 = nn.Conv2d(3, 32, 3), nn.Conv2d(32, 64, 3)
                self.fc = nn.Linear(64 * 6 * 6, 10)

            def forward(self, x):
                x = x.permute(0, 3, 1, 2)
                x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
                x = torch.max_pool2d(torch.relu(self.c2(x)), 2)
                return self.fc(x.permute(0, 2, 3, 1).flatten(1))
        return CNN()
    if kind == "lstm":
        class RNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm, self.fc = nn.LSTM(16, 64, batch_first=True), nn.Linear(64, 10)

            def forward(self, x):
                return self.fc(self.lstm(x)[0][:, -1])
        return RNN()
    return nn.Linear(10, 1)


class TorchLoop:
    """Reference (a): the loop a torch user writes; (b) with `fused=True` Adam."""

    def __init__(self, kind, batch, x, y, device, fused=False):
        self.model = torch_model(kind).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-7,
                                    **({"fused": True} if fused else {}))
        self.loss = torch.nn.MSELoss() if kind == "tiny" else torch.nn.CrossEntropyLoss()
        self.x, self.y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        self.batch, self.device = batch, device

    def epoch(self):
        n, bs = self.x.shape[0], self.batch
        perm = torch.randperm(n, device=self.device)
        self.model.train()
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = self.loss(self.model(self.x.index_select(0, idx)), self.y.index_select(0, idx))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        _sync(self.device)

    def predict(self):
        self.model.eval()
        out = []
        with torch.inference_mode():
            for i in range(0, self.x.shape[0], self.batch):
                out.append(self.model(self.x[i:i + self.batch]))
        return torch.cat(out).cpu().numpy()


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def run_tkeras(names, reps, device, clock=time.perf_counter):
    import tkeras as keras
    import tkeras.losses  # noqa: F401
    import tkeras.optimizers  # noqa: F401

    available = set(dir(keras.layers))
    results = {}
    contenders = {}
    for name in names:
        kind, batch, n = WORKLOADS[name]
        if kind == "cnn" and "Conv2D" not in available or kind == "lstm" and "LSTM" not in \
                available:
            continue
        x, y = make_data(kind, n)
        model = keras_model(keras, kind)
        loop = TorchLoop(kind, batch, x, y, device)
        if name.startswith("predict"):
            model.predict(x[:batch], verbose=0)
            contenders[name] = {"(a) torch loop": loop.predict,
                                "tkeras": lambda m=model, x=x, b=batch: m.predict(
                                    x, batch_size=b, verbose=0)}
        else:
            model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, verbose=0)
            fused = TorchLoop(kind, batch, x, y, device, fused=True)
            contenders[name] = {"(a) torch loop": loop.epoch,
                                "(b) fused Adam": fused.epoch,
                                "tkeras": lambda m=model, x=x, y=y, b=batch: m.fit(
                                    x, y, batch_size=b, epochs=1, verbose=0)}
        for fn in contenders[name].values():
            fn()  # warm-up
        results[name] = {k: [] for k in contenders[name]}
    for _ in range(reps):
        for name, fns in contenders.items():
            steps = -(-WORKLOADS[name][2] // WORKLOADS[name][1])
            for label, fn in fns.items():
                t = clock()
                fn()
                _sync(device)
                results[name][label].append((clock() - t) / steps)
    return results


KERAS_SCRIPT = """
import os, sys, json, time
os.environ["KERAS_BACKEND"] = "torch"
sys.path.insert(0, {here!r})
import torch
torch.set_num_threads({threads})
import keras
import fit as bench
clock = time.process_time if {cpu_clock!r} else time.perf_counter
names, reps = {names!r}, {reps}
out = {{}}
for name in names:
    kind, batch, n = bench.WORKLOADS[name]
    x, y = bench.make_data(kind, n)
    model = bench.keras_model(keras, kind)
    if name.startswith("predict"):
        fn = lambda: model.predict(x, batch_size=batch, verbose=0)
    else:
        fn = lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    fn()
    times = []
    for _ in range(reps):
        t = clock(); fn(); times.append((clock() - t) / -(-n // batch))
    out[name] = times
print("RESULT" + json.dumps(out))
"""


def run_keras(names, reps, threads, cpu_clock=False):
    try:
        import importlib.util

        if importlib.util.find_spec("keras") is None:
            return {}
    except Exception:
        return {}
    code = KERAS_SCRIPT.format(here=HERE, threads=threads, names=names, reps=reps,
                               cpu_clock=cpu_clock)
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH="")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[len("RESULT"):])
    print("keras run failed:", proc.stderr[-2000:], file=sys.stderr)
    return {}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-keras", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.workloads.split(",")
    cpu_clock = args.clock == "cpu"
    if cpu_clock and args.device != "cpu":
        parser.error("--clock cpu measures CPU work only; use the wall clock with --device cuda")
    clock = time.process_time if cpu_clock else time.perf_counter
    results = run_tkeras(names, args.reps, torch.device(args.device), clock)
    if not args.no_keras and args.device == "cpu":
        for name, times in run_keras(list(results), args.reps, args.threads, cpu_clock).items():
            results[name]["keras 3 (torch)"] = times
    print(f"device={args.device} threads={args.threads} reps={args.reps} clock={args.clock} "
          "(medians)")
    print(f"{'workload':<18}{'contender':<18}{'ms/step':>10}{'ratio':>8}{'paired':>8}")
    for name, by_label in results.items():
        ref_times = by_label["(a) torch loop"]
        ref = statistics.median(ref_times)
        for label, times in by_label.items():
            med = statistics.median(times)
            # Keras runs in its own process, not interleaved: no paired ratio.
            paired = (f"{statistics.median(t / r for t, r in zip(times, ref_times)):>8.2f}"
                      if label != "keras 3 (torch)" else f"{'-':>8}")
            print(f"{name:<18}{label:<18}{med * 1e3:>10.3f}{med / ref:>8.2f}{paired}")


if __name__ == "__main__":
    main()
