"""Load time and peak memory of a ResNet50-sized `.keras` file: tkeras against real Keras.

Real Keras (torch backend) writes `keras.applications.ResNet50(weights=None)` (224x224x3,
25.6M parameters, ~100 MB) once; then every measurement runs in a fresh subprocess that imports
its library (and h5py, which Keras imports anyway) and times only the `load_model` call, so
import costs are excluded and no cache carries over. Repetitions interleave the two libraries
(tkeras, keras, tkeras, keras, ...) so machine load affects both alike; the table shows medians.

Memory: `ru_maxrss` growth during `load_model` (peak resident memory of the process, all
allocators), measured in the timing runs; and the `tracemalloc` peak (Python-visible
allocations: NumPy arrays, h5py buffers, Python objects; not torch's own allocator), measured in
one extra run per library because tracing slows the load.

    python benchmarks/io.py [--reps 7] [--threads N] [--file model.keras] [--no-keras]
                            [--baseline DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

MAKE_FILE = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import keras
keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3)).save(sys.argv[1])
"""

WORKER = """
import json, math, os, resource, sys, time, tracemalloc
lib, path, threads, trace = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
if lib == "keras":
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    load_model = keras.saving.load_model
else:
    import tkeras.saving
    load_model = tkeras.saving.load_model
import h5py, torch
if threads:
    torch.set_num_threads(threads)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if trace:
    tracemalloc.start()
t0 = time.perf_counter()
model = load_model(path)
seconds = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1] if trace else None
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rss_mb": (rss1 - rss0) / 1024,
                  "trace_mb": None if peak is None else peak / 2**20,
                  "params": sum(math.prod(w.shape) for w in model.weights)}))
"""


def run_worker(lib, path, threads, trace=False, root=ROOT):
    env = dict(os.environ, PYTHONPATH=root)
    if lib == "tkeras":
        env.pop("KERAS_BACKEND", None)
    proc = subprocess.run([sys.executable, "-c", WORKER, lib, path, str(threads),
                           "1" if trace else "0"], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        raise RuntimeError(f"{lib} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--file", help="an existing .keras file (default: write ResNet50)")
    parser.add_argument("--no-keras", action="store_true", help="time tkeras only")
    parser.add_argument("--baseline", help="also time the tkeras package found under this "
                        "directory (e.g. an exported older commit), as 'tkeras@base'")
    args = parser.parse_args()
    # label -> (library, sys.path root)
    contenders = {"tkeras": ("tkeras", ROOT)}
    if args.baseline:
        contenders["tkeras@base"] = ("tkeras", os.path.abspath(args.baseline))
    if not args.no_keras:
        contenders["keras"] = ("keras", ROOT)
    libs = list(contenders)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = os.path.join(tmp, "resnet50.keras")
            env = dict(os.environ, KERAS_BACKEND="torch", KERAS_HOME=os.path.join(tmp, "kh"))
            subprocess.run([sys.executable, "-c", MAKE_FILE, path], check=True, env=env,
                           capture_output=True)
        size_mb = os.path.getsize(path) / 2**20
        runs = {lib: [] for lib in libs}
        for _ in range(args.reps):
            for lib in libs:
                runs[lib].append(run_worker(contenders[lib][0], path, args.threads,
                                            root=contenders[lib][1]))
        traced = {lib: run_worker(contenders[lib][0], path, args.threads, trace=True,
                                  root=contenders[lib][1]) for lib in libs}

    params = {lib: runs[lib][0]["params"] for lib in libs}
    if len(set(params.values())) != 1:
        raise RuntimeError(f"the libraries loaded different parameter counts: {params}")
    print(f"file: {os.path.basename(path)}, {size_mb:.1f} MiB, {params['tkeras']:,} parameters; "
          f"{args.reps} interleaved runs per library, fresh process each; torch threads: "
          f"{args.threads or 'default'}")
    header = (f"{'library':11s} {'median s':>9s} {'min s':>7s} {'max s':>7s} "
              f"{'ru_maxrss +MiB':>15s} {'tracemalloc peak MiB':>21s} {'time / keras':>13s}")
    print(header)
    print("-" * len(header))
    medians = {lib: statistics.median(r["seconds"] for r in runs[lib]) for lib in libs}
    for lib in libs:
        seconds = [r["seconds"] for r in runs[lib]]
        rss = statistics.median(r["rss_mb"] for r in runs[lib])
        ratio = f"{medians[lib] / medians['keras']:.2f}" if "keras" in medians else "-"
        print(f"{lib:11s} {medians[lib]:9.3f} {min(seconds):7.3f} {max(seconds):7.3f} "
              f"{rss:15.1f} {traced[lib]['trace_mb']:21.1f} {ratio:>13s}")


if __name__ == "__main__":
    main()
