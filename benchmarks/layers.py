"""tkeras's heavy layers vs the equivalent hand-written torch code, forward + backward.

Each case builds a tkeras layer and a torch reference computing the SAME function (the benchmark
copies the tkeras weights into the reference and checks the outputs agree before timing). One
step is: forward, `backward(grad)` with a fixed random output gradient (what the next layer would
send), and all `.grad`s reset to None (as `zero_grad()` does). Inputs require grad (a layer in the
middle of a network).

The three variants of a case are timed in interleaved repetitions (order rotated each repetition,
each timed block ~`--block-ms` long), so machine noise hits them alike. The table shows median
times per step, `ratio` = median(tkeras) / median(torch), `paired` = the median and
`paired IQR` the interquartile range of the per-repetition ratios (the spread; a paired ratio
compares runs made moments apart, so it resists slow drifts and bimodal machine states that can
put the two medians in different modes), `call ratio` = median(`layer.call`) / median(torch),
the layer's `call()` invoked directly (no `Layer.__call__`: the cost of the layer's own torch
code), and `base us` = the median per-repetition difference `layer(x)` - `layer.call(x)`, the
microseconds `Layer.__call__` adds per step (noise-dominated when the step takes milliseconds).

Times are the process's CPU time by default (`--clock cpu`), which ignores time the process
spends descheduled on a shared machine; cache and memory-bandwidth contention still shows up,
so prefer many repetitions. With several threads, CPU time includes OpenMP spin-waiting.

References (a torch user holding the same data, Keras's default channels_last layout):
- Dense: `nn.Linear`.
- Conv2D / DepthwiseConv2D: NHWC input `.permute(0, 3, 1, 2)` (a view: an NCHW tensor in
  channels_last memory format), `nn.Conv2d` (`groups=C` for depthwise) whose weight is in
  channels_last memory format, output `.permute(0, 2, 3, 1)` back to NHWC (a view). Stride-1
  "same" is `padding=k // 2`; stride-2 "same" is TF's asymmetric padding, so the reference pads
  `(0, 1)` with `F.pad` and runs `padding=0`, as a torch user reproducing Keras would.
- Conv2DTranspose: the same permutes around `nn.ConvTranspose2d`; Keras's stride-2 "same"
  output keeps the first `L * s` positions of the full transposed convolution, so the reference
  runs `padding=0` and slices off the last row/column.
- BatchNormalization (training mode, momentum 0.99): `nn.BatchNorm2d(momentum=0.01)` in train
  mode, with the same permutes (channels_last view).
- LayerNormalization: `nn.LayerNorm` on the last axis.
- LSTM / GRU (return_sequences=True, zero initial state): `nn.LSTM` / `nn.GRU(batch_first=True)`.
- MultiHeadAttention (self-attention): four `nn.Linear` projections, `(B, T, H*D)` reshaped to
  `(B, H, T, D)`, `F.scaled_dot_product_attention`, back to `(B, T, H*D)` and the output
  `nn.Linear` (what `nn.MultiheadAttention` computes, with its separate-projection weights).
- Embedding: `nn.Embedding` on int64 indices.

    python benchmarks/layers.py                 # 1 thread and torch's default threads
    python benchmarks/layers.py --quick         # fewer/shorter repetitions
    python benchmarks/layers.py --threads 1 --only conv,lstm --reps 41
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

import tkeras


# ---------------------------------------------------------------------------------- cases
def nhwc_to_torch(x):
    return x.permute(0, 3, 1, 2)


def torch_to_nhwc(y):
    return y.permute(0, 2, 3, 1)


def conv_weight(kernel):
    """Keras conv kernel (kh, kw, in, out) as an nn.Conv2d weight (out, in, kh, kw)."""
    return kernel.detach().permute(3, 2, 0, 1)


class Case:
    """A tkeras layer, its torch reference module and a forward for each.

    `make_inputs()` returns the tkeras inputs; `ref_inputs` maps them to the reference's."""

    def __init__(self, name, layer, inputs, reference, ref_forward, copy_weights,
                 call_kwargs=None, ref_inputs=None):
        self.name = name
        self.layer = layer
        self.inputs = inputs
        self.reference = reference
        self.ref_forward = ref_forward
        self.call_kwargs = call_kwargs or {}
        self.ref_input_list = ref_inputs(inputs) if ref_inputs else inputs
        layer(*inputs, **self.call_kwargs)  # build
        copy_weights(layer, reference)
        self.ours_params = [p for p in layer.parameters() if p.requires_grad]
        self.ref_params = [p for p in reference.parameters() if p.requires_grad]
        out = layer(*inputs, **self.call_kwargs)
        self.grad = torch.randn_like(out)

    def _step(self, forward, inputs, params):
        out = forward(*inputs)
        out.backward(self.grad)
        for t in params:
            t.grad = None
        for t in inputs:
            t.grad = None

    def ours(self):
        self._step(lambda *a: self.layer(*a, **self.call_kwargs), self.inputs, self.ours_params)

    def ours_call(self):
        self._step(lambda *a: self.layer.call(*a, **self.call_kwargs), self.inputs,
                   self.ours_params)

    def ref(self):
        self._step(self.ref_forward, self.ref_input_list, self.ref_params)

    def check(self):
        """The two sides compute the same function (weights copied, same inputs)."""
        with torch.no_grad():
            ours = self.layer(*self.inputs, **self.call_kwargs)
            theirs = self.ref_forward(*self.ref_input_list)
        scale = max(1.0, theirs.abs().max().item())
        err = (ours - theirs).abs().max().item() / scale
        if err > 1e-4:
            raise AssertionError(f"{self.name}: tkeras and the reference differ ({err:.2e})")


def randn(*shape):
    return torch.randn(*shape, requires_grad=True)


def dense_case():
    layer = tkeras.layers.Dense(512)
    ref = nn.Linear(512, 512)

    def copy(layer, ref):
        with torch.no_grad():
            ref.weight.copy_(layer.kernel.t())
            ref.bias.copy_(layer.bias)

    return Case("Dense b64 512->512", layer, [randn(64, 512)], ref, ref, copy)


def conv_cases():
    cases = []
    for batch, size, cin, cout, stride in [(32, 32, 64, 64, 1), (32, 32, 32, 64, 2)]:
        layer = tkeras.layers.Conv2D(cout, 3, strides=stride, padding="same")
        pad = 1 if stride == 1 else 0
        ref = nn.Conv2d(cin, cout, 3, stride=stride, padding=pad).to(
            memory_format=torch.channels_last)

        def copy(layer, ref):
            with torch.no_grad():
                ref.weight.copy_(conv_weight(layer.kernel))
                ref.bias.copy_(layer.bias)

        if stride == 1:
            def forward(x, ref=ref):
                return torch_to_nhwc(ref(nhwc_to_torch(x)))
        else:
            def forward(x, ref=ref):
                return torch_to_nhwc(ref(F.pad(nhwc_to_torch(x), (0, 1, 0, 1))))

        cases.append(Case(f"Conv2D b{batch} {size}x{size} {cin}->{cout} k3 s{stride} same",
                          layer, [randn(batch, size, size, cin)], ref, forward, copy))
    return cases


def conv_transpose_case():
    batch, size, cin, cout = 32, 16, 64, 32
    layer = tkeras.layers.Conv2DTranspose(cout, 3, strides=2, padding="same")
    ref = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=0).to(
        memory_format=torch.channels_last)

    def copy(layer, ref):
        with torch.no_grad():  # Keras (kh, kw, out, in) -> torch (in, out, kh, kw)
            ref.weight.copy_(layer.kernel.detach().permute(3, 2, 0, 1))
            ref.bias.copy_(layer.bias)

    def forward(x):
        return torch_to_nhwc(ref(nhwc_to_torch(x))[:, :, :-1, :-1])

    return Case(f"Conv2DTranspose b{batch} {size}x{size} {cin}->{cout} k3 s2 same", layer,
                [randn(batch, size, size, cin)], ref, forward, copy)


def depthwise_case():
    batch, size, channels = 32, 32, 64
    layer = tkeras.layers.DepthwiseConv2D(3, padding="same")
    ref = nn.Conv2d(channels, channels, 3, padding=1, groups=channels).to(
        memory_format=torch.channels_last)

    def copy(layer, ref):
        with torch.no_grad():  # Keras (kh, kw, C, 1) -> torch (C, 1, kh, kw)
            ref.weight.copy_(layer.kernel.detach().permute(2, 3, 0, 1))
            ref.bias.copy_(layer.bias)

    def forward(x):
        return torch_to_nhwc(ref(nhwc_to_torch(x)))

    return Case(f"DepthwiseConv2D b{batch} {size}x{size} {channels} k3 same", layer,
                [randn(batch, size, size, channels)], ref, forward, copy)


def batch_norm_case():
    batch, size, channels = 32, 32, 64
    layer = tkeras.layers.BatchNormalization()
    ref = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01).train()

    def copy(layer, ref):
        with torch.no_grad():
            ref.weight.copy_(layer.gamma)
            ref.bias.copy_(layer.beta)

    def forward(x):
        return torch_to_nhwc(ref(nhwc_to_torch(x)))

    return Case(f"BatchNormalization train b{batch} {size}x{size}x{channels}", layer,
                [randn(batch, size, size, channels)], ref, forward, copy,
                call_kwargs={"training": True})


def layer_norm_case():
    layer = tkeras.layers.LayerNormalization()
    ref = nn.LayerNorm(512, eps=1e-3)

    def copy(layer, ref):
        with torch.no_grad():
            ref.weight.copy_(layer.gamma)
            ref.bias.copy_(layer.beta)

    return Case("LayerNormalization b32 t64 512", layer, [randn(32, 64, 512)], ref, ref, copy)


def rnn_cases():
    batch, steps, features, units = 64, 50, 128, 128

    def copy_lstm(layer, ref):
        cell = layer.cell
        with torch.no_grad():
            ref.weight_ih_l0.copy_(cell.kernel.t())
            ref.weight_hh_l0.copy_(cell.recurrent_kernel.t())
            ref.bias_ih_l0.copy_(cell.bias)
            ref.bias_hh_l0.zero_()

    def copy_gru(layer, ref):
        cell = layer.cell
        # Keras gates z, r, h -> torch r, z, n.
        perm = torch.cat([torch.arange(units, 2 * units), torch.arange(units),
                          torch.arange(2 * units, 3 * units)])
        with torch.no_grad():
            ref.weight_ih_l0.copy_(cell.kernel[:, perm].t())
            ref.weight_hh_l0.copy_(cell.recurrent_kernel[:, perm].t())
            ref.bias_ih_l0.copy_(cell.bias[0, perm])
            ref.bias_hh_l0.copy_(cell.bias[1, perm])

    cases = []
    for kind, ref_cls, copy in [("LSTM", nn.LSTM, copy_lstm), ("GRU", nn.GRU, copy_gru)]:
        layer = getattr(tkeras.layers, kind)(units, return_sequences=True)
        ref = ref_cls(features, units, batch_first=True)
        cases.append(Case(f"{kind} b{batch} t{steps} {features}->{units}", layer,
                          [randn(batch, steps, features)], ref, lambda x, ref=ref: ref(x)[0],
                          copy))
    return cases


class TorchMHA(nn.Module):
    """nn.MultiheadAttention's computation with separate projections, on SDPA."""

    def __init__(self, embed, heads, head_dim):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.q = nn.Linear(embed, heads * head_dim)
        self.k = nn.Linear(embed, heads * head_dim)
        self.v = nn.Linear(embed, heads * head_dim)
        self.out = nn.Linear(heads * head_dim, embed)

    def forward(self, x):
        b, t, _ = x.shape

        def split(y):
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        y = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
        return self.out(y.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


def mha_case():
    batch, steps, heads, head_dim = 32, 64, 8, 64
    embed = heads * head_dim
    layer = tkeras.layers.MultiHeadAttention(heads, head_dim)
    ref = TorchMHA(embed, heads, head_dim)

    def copy(layer, ref):
        with torch.no_grad():
            for dense, lin in [(layer.query_dense, ref.q), (layer.key_dense, ref.k),
                               (layer.value_dense, ref.v)]:
                lin.weight.copy_(dense.kernel.reshape(embed, -1).t())
                lin.bias.copy_(dense.bias.reshape(-1))
            ref.out.weight.copy_(layer.output_dense.kernel.reshape(-1, embed).t())
            ref.out.bias.copy_(layer.output_dense.bias)

    x = randn(batch, steps, embed)
    return Case(f"MultiHeadAttention b{batch} t{steps} {heads}x{head_dim}", layer, [x, x], ref,
                ref, copy, ref_inputs=lambda inputs: inputs[:1])


def embedding_case():
    layer = tkeras.layers.Embedding(10000, 128)
    ref = nn.Embedding(10000, 128)

    def copy(layer, ref):
        with torch.no_grad():
            ref.weight.copy_(layer.embeddings)

    ids = torch.randint(0, 10000, (64, 50))
    return Case("Embedding 10000x128 b64 t50", layer, [ids], ref, ref, copy)


CASE_GROUPS = {
    "dense": lambda: [dense_case()],
    "conv": conv_cases,
    "conv_transpose": lambda: [conv_transpose_case()],
    "depthwise": lambda: [depthwise_case()],
    "batchnorm": lambda: [batch_norm_case()],
    "layernorm": lambda: [layer_norm_case()],
    "lstm": lambda: rnn_cases()[:1],
    "gru": lambda: rnn_cases()[1:],
    "mha": lambda: [mha_case()],
    "embedding": lambda: [embedding_case()],
}


# ---------------------------------------------------------------------------------- timing
def quartiles(values):
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def measure(case, reps, block_s, warmup, clock):
    variants = [case.ours, case.ours_call, case.ref]
    for _ in range(warmup):
        for fn in variants:
            fn()
    # Calibrate the inner loop so one timed block lasts about `block_s`.
    t0 = time.perf_counter()
    case.ref()
    inner = max(1, round(block_s / max(time.perf_counter() - t0, 1e-6)))
    clock = CLOCKS[clock]
    times = [[] for _ in variants]
    for rep in range(reps):
        shift = rep % len(variants)
        for i in list(range(shift, len(variants))) + list(range(shift)):
            fn = variants[i]
            t0 = clock()
            for _ in range(inner):
                fn()
            times[i].append((clock() - t0) / inner)
    ours, call, ref = times
    ratios = [a / b for a, b in zip(ours, ref)]
    base = [a - b for a, b in zip(ours, call)]
    return {
        "ours_ms": statistics.median(ours) * 1e3,
        "ref_ms": statistics.median(ref) * 1e3,
        "ratio": statistics.median(ours) / statistics.median(ref),
        "paired": statistics.median(ratios),
        "ratio_iqr": quartiles(ratios),
        "call_ratio": statistics.median(call) / statistics.median(ref),
        "base_us": statistics.median(base) * 1e6,
    }


def run(groups, threads, reps, block_s, warmup, clock):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    print(f"\n## torch.set_num_threads({threads}): {reps} interleaved repetitions, "
          f"{clock} time\n")
    print(f"| {'layer':44s} | tkeras ms | torch ms | ratio | paired | paired IQR  | call ratio "
          f"| base us |")
    print(f"|{'-' * 46}|-----------|----------|-------|--------|-------------|------------|"
          f"---------|")
    results = []
    for group in groups:
        for case in CASE_GROUPS[group]():
            case.check()
            r = measure(case, reps, block_s, warmup, clock)
            results.append((case.name, r))
            lo, hi = r["ratio_iqr"]
            print(f"| {case.name:44s} | {r['ours_ms']:9.3f} | {r['ref_ms']:8.3f} | "
                  f"{r['ratio']:5.2f} | {r['paired']:6.2f} | {lo:4.2f} - {hi:4.2f} | "
                  f"{r['call_ratio']:10.2f} | "
                  f"{r['base_us']:7.1f} |", flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="7 repetitions of ~10 ms blocks (a rough check)")
    parser.add_argument("--reps", type=int, default=None,
                        help="interleaved repetitions (default 31, quick 7)")
    parser.add_argument("--block-ms", type=float, default=None,
                        help="length of one timed block (default 20, quick 10)")
    parser.add_argument("--threads", type=int, nargs="*", default=None,
                        help="thread counts to run (default: 1 and torch's default)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: the process's CPU time (all its threads; robust to other "
                             "processes on a shared machine), wall: elapsed time")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated groups out of {','.join(CASE_GROUPS)}")
    args = parser.parse_args()
    reps = args.reps or (7 if args.quick else 31)
    block_s = (args.block_ms or (10 if args.quick else 20)) / 1e3
    warmup = 2 if args.quick else 5
    threads = args.threads or sorted({1, torch.get_num_threads()})
    groups = args.only.split(",") if args.only else list(CASE_GROUPS)
    unknown = set(groups) - set(CASE_GROUPS)
    if unknown:
        parser.error(f"unknown groups {sorted(unknown)}; choose from {list(CASE_GROUPS)}")
    print(f"torch {torch.__version__}, default threads {torch.get_num_threads()}")
    for n in threads:
        run(groups, n, reps, block_s, warmup, args.clock)


if __name__ == "__main__":
    main()
