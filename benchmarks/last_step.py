"""Training on the last step only (forecasting, classification): the gradient reaches early steps through
the whole recurrence, decays geometrically and, past a few hundred steps, enters float32's subnormal range,
where x86 cores slow down by tens of times. lstmkit's fused kernel flushes subnormals to zero inside its
calls (kernels/csrc/fused_cpu.cpp, FlushSubnormals); torch.nn.LSTM does not.

Usage:
    python benchmarks/last_step.py --out benchmarks/results/last-step-cpu.md

Side by side in one run, one thread, interleaved: forward (training mode) and backward of ``out[:, -1].sum()``,
batch 64, input 1, hidden 32 (the forecaster's networks), medians of 15 in CPU milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from speed import machine, report  # noqa: E402

import lstmkit  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=[24, 104, 208, 416])
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    lines = [f"Machine: {machine()}", "", f"Command: `python benchmarks/last_step.py {' '.join(sys.argv[1:])}`", "",
             "| steps | torch fwd | torch bwd | lstmkit fwd | lstmkit bwd | bwd ratio (torch / lstmkit) |",
             "|---|---|---|---|---|---|"]
    for T in args.lengths:
        x = torch.randn(64, T, 1)
        models = {"torch": torch.nn.LSTM(1, 32, batch_first=True),
                  "lstmkit": lstmkit.LSTM(1, 32, batch_first=True, backend="fused")}
        times = {k: ([], []) for k in models}
        for _ in range(2):  # warm-up
            for m in models.values():
                m(x)[0][:, -1].sum().backward()
        for _ in range(args.reps):
            for name, m in models.items():
                t0 = time.process_time()
                loss = m(x)[0][:, -1].sum()
                t1 = time.process_time()
                loss.backward()
                t2 = time.process_time()
                times[name][0].append(t1 - t0)
                times[name][1].append(t2 - t1)
        med = {k: (1e3 * statistics.median(f), 1e3 * statistics.median(b)) for k, (f, b) in times.items()}
        lines.append(f"| {T} | {med['torch'][0]:.2f} | {med['torch'][1]:.2f} | {med['lstmkit'][0]:.2f} | "
                     f"{med['lstmkit'][1]:.2f} | {med['torch'][1] / med['lstmkit'][1]:.1f}x |")
    report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
