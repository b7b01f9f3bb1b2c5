"""Where "auto" should send a configuration that both native (oneDNN) and fused can run: a grid, side by side.

Usage:
    python benchmarks/dispatch.py --threads 2 --out benchmarks/results/dispatch-cpu.md

For each hidden size and batch (T=100, I=32, one layer) the vanilla LSTM is timed on the native and the fused
backend, forward under torch.no_grad() and forward+backward in training mode, interleaved round-robin
(medians, ms). The last column is what "auto" picks for a training call now, so the table shows whether
the rule in ``FusedCPUBackend.preferred_over`` still matches the measurements. Rows with proj_size time
torch's ATen loop, which it uses for projections on CPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import lstmkit

sys.path.insert(0, str(Path(__file__).parent))
from speed import fmt, machine, measure, report  # noqa: E402

HIDDEN = (16, 32, 64, 128, 256)
BATCH = (1, 8, 32, 128)
PROJ = ((32, 256, 64), (64, 512, 128))  # (B, H, proj_size)


def bench(B: int, H: int, P: int, args) -> str:
    torch.manual_seed(0)
    x = torch.randn(B, 100, 32)
    fns = {}
    for name in ("native", "fused"):
        torch.manual_seed(0)
        m = lstmkit.LSTM(32, H, proj_size=P, batch_first=True, backend=name)

        def fwd(m=m):
            with torch.no_grad():
                m(x)

        def fb(m=m):
            m(x)[0].sum().backward()

        fns[f"{name} f"], fns[f"{name} fb"] = fwd, fb
    t = measure(fns, args.budget, args.min_reps, args.max_reps)
    auto = lstmkit.LSTM(32, H, proj_size=P).backend_info(batch=B).split(":")[0]  # training mode, grad on
    ms = {k: v * 1e3 for k, v in t.items()}
    return (f"| {B} | {H} | {P or '-'} | {fmt(ms['native f'])} | {fmt(ms['fused f'])} | "
            f"{ms['fused f'] / ms['native f']:.2f} | {fmt(ms['native fb'])} | {fmt(ms['fused fb'])} | "
            f"{ms['fused fb'] / ms['native fb']:.2f} | {auto} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--budget", type=float, default=1.0, help="seconds per grid point")
    p.add_argument("--min-reps", type=int, default=7)
    p.add_argument("--max-reps", type=int, default=100)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    lines = ["| B | H | proj | native fwd | fused fwd | fused/native | native fwd+bwd | fused fwd+bwd | "
             "fused/native | auto (training) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for H in HIDDEN:
        for B in BATCH:
            lines.append(bench(B, H, 0, args))
            print(lines[-1], file=sys.stderr, flush=True)
    for B, H, P in PROJ:
        lines.append(bench(B, H, P, args))
        print(lines[-1], file=sys.stderr, flush=True)
    header = (f"Machine: {machine()}\n\nCommand: `python benchmarks/dispatch.py {' '.join(argv or sys.argv[1:])}`"
              "\n\nT=100, I=32, one layer, times in ms (medians, interleaved).\n\n")
    report(header + "\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
