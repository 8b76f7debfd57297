"""LSTM / GRU / SimpleRNN vs torch.nn.LSTM / nn.GRU / nn.RNN, forward + backward.

Same sizes and sequences on both sides (batch-first); the masked rows give tkeras a
right-padded mask (packed sequences) and nn.* the equivalent `pack_padded_sequence`. Prints the
median step time of each and the ratio.

    python benchmarks/layers_rnn.py [--device cuda] [--steps 20]
"""

import argparse
import statistics
import time

import torch
from torch.nn.utils.rnn import pack_padded_sequence

import tkeras

CONFIGS = [
    # kind, batch, time, features, units, masked
    ("LSTM", 64, 50, 32, 128, False),
    ("LSTM", 64, 50, 32, 128, True),
    ("GRU", 64, 50, 32, 128, False),
    ("GRU", 64, 50, 32, 128, True),
    ("SimpleRNN", 64, 50, 32, 128, False),
]
REFERENCE = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}


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
    for kind, batch, steps, features, units, masked in CONFIGS:
        x = torch.randn(batch, steps, features, device=args.device, requires_grad=True)
        lengths = torch.randint(steps // 2, steps + 1, (batch,))
        lengths[0] = steps
        mask = (torch.arange(steps)[None] < lengths[:, None]).to(args.device)
        layer = getattr(tkeras.layers, kind)(units, return_sequences=True)
        layer(x[:1, :2].detach())
        layer.to(args.device)
        ref = REFERENCE[kind](features, units, batch_first=True).to(args.device)

        def ours():
            out = layer(x, mask=mask) if masked else layer(x)
            out.sum().backward()

        def theirs():
            if masked:
                packed = pack_padded_sequence(x, lengths, batch_first=True,
                                              enforce_sorted=False)
                ref(packed)[0].data.sum().backward()
            else:
                ref(x)[0].sum().backward()

        t_ours, t_ref = timed(ours, args.steps, args.device), timed(theirs, args.steps,
                                                                    args.device)
        label = f"{kind}{' masked' if masked else ''} b{batch} t{steps} {features}->{units}"
        print(f"{label:38s} tkeras {t_ours * 1e3:8.2f} ms   torch {t_ref * 1e3:8.2f} ms   "
              f"ratio {t_ours / t_ref:5.2f}")


if __name__ == "__main__":
    main()
