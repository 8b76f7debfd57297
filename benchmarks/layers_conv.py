"""Conv2D (channels_last) vs torch.nn.Conv2d, forward + backward.

tkeras gets NHWC input; nn.Conv2d gets the same data as an NCHW tensor in channels_last memory
format (the fastest torch layout on CPU/GPU). Prints the median step time of each and the ratio.

    python benchmarks/layers_conv.py [--device cuda] [--steps 30]
"""

import argparse
import statistics
import time

import torch

import tkeras

CONFIGS = [
    # batch, size, in, out, kernel, stride, padding
    (32, 56, 64, 64, 3, 1, "same"),
    (32, 28, 128, 128, 3, 2, "same"),
    (32, 14, 256, 256, 1, 1, "valid"),
]


def timed(step, steps, device):
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    for batch, size, cin, cout, k, s, padding in CONFIGS:
        x_nhwc = torch.randn(batch, size, size, cin, device=args.device, requires_grad=True)
        layer = tkeras.layers.Conv2D(cout, k, strides=s, padding=padding)
        layer(x_nhwc[:1])
        layer.to(args.device)
        ref = torch.nn.Conv2d(cin, cout, k, stride=s, padding=(k // 2 if padding == "same" else 0))
        ref = ref.to(args.device).to(memory_format=torch.channels_last)
        x_nchw = x_nhwc.detach().permute(0, 3, 1, 2).requires_grad_(True)  # channels_last NCHW

        def ours():
            layer(x_nhwc).sum().backward()

        def theirs():
            ref(x_nchw).sum().backward()

        t_ours, t_ref = timed(ours, args.steps, args.device), timed(theirs, args.steps, args.device)
        print(f"Conv2D b{batch} {size}x{size} {cin}->{cout} k{k} s{s} {padding:5s} "
              f"tkeras {t_ours * 1e3:8.2f} ms  nn.Conv2d {t_ref * 1e3:8.2f} ms  "
              f"ratio {t_ours / t_ref:5.2f}")


if __name__ == "__main__":
    main()
