"""GPU speed: lstmkit's Triton backend (every variant) against torch.nn.LSTM on cuDNN and the reference loop.

Usage (on a machine with an NVIDIA or AMD GPU and triton installed):
    python benchmarks/speed_gpu.py --out benchmarks/results/speed-gpu.md
    python benchmarks/speed_gpu.py --quick        # two shapes, fewer repetitions (a few minutes)

Every number in a table is measured in the same run, the implementations interleaved round-robin so that clock
and thermal drift hit all of them alike; times are medians of CUDA-event timings in milliseconds, ratios are to
torch.nn.LSTM (cuDNN, vanilla) on the same shape and dtype (float32 and bfloat16). Forward is timed under
torch.no_grad(), forward+backward in training mode with the gradient of output.sum(). The reference loop is timed
on the smaller shapes only (it is the Python loop the backend replaces). Targets (issue 15): every variant's
forward+backward at most 2x cuDNN vanilla, and at least 20x faster than the reference loop.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

import lstmkit
from lstmkit.kernels.variants import BENCH_VARIANTS
from lstmkit.kernels.variants import VARIANTS as CATALOGUE


@dataclass
class Shape:
    name: str
    B: int
    T: int
    I: int
    H: int
    L: int = 1
    reference: bool = True  # also time the reference loop


SHAPES = [
    Shape("seed-mnist", 128, 28, 28, 128, L=2),
    Shape("char-lm", 64, 100, 128, 512, L=2),
    Shape("flashrnn", 16, 1024, 768, 768, reference=False),
    Shape("small-batch-1", 1, 1000, 256, 256, reference=False),
    Shape("small-batch-8", 8, 1000, 256, 256, reference=False),
]
VARIANTS = {name: CATALOGUE[name] for name in BENCH_VARIANTS}


def timed(fn, reps: int) -> float:
    """Median milliseconds of ``fn`` over ``reps`` CUDA-event timings (after it ran once)."""
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def make_runs(shape: Shape, dtype: torch.dtype) -> dict:
    """name -> (forward fn, forward+backward fn) for every implementation on ``shape``."""
    dev = torch.device("cuda")
    x = torch.randn(shape.T, shape.B, shape.I, device=dev, dtype=dtype)
    runs = {}

    def pair(model):
        def fwd():
            with torch.no_grad():
                model(x)

        def fwd_bwd():
            model.zero_grad(set_to_none=True)
            model(x)[0].float().sum().backward()
        return fwd, fwd_bwd

    cudnn = torch.nn.LSTM(shape.I, shape.H, shape.L).to(dev, dtype).train()
    runs["cuDNN vanilla (torch.nn.LSTM)"] = pair(cudnn)
    for name, kw in VARIANTS.items():
        model = lstmkit.LSTM(shape.I, shape.H, shape.L, backend="triton", **kw).to(dev, dtype).train()
        runs[f"triton {name}"] = pair(model)
    if shape.reference:
        model = lstmkit.LSTM(shape.I, shape.H, shape.L, backend="reference", peephole=True).to(dev, dtype).train()
        runs["reference loop (peephole)"] = pair(model)
    return runs


def bench(shape: Shape, dtype: torch.dtype, reps: int) -> list[tuple[str, float, float]]:
    runs = make_runs(shape, dtype)
    for fwd, fwd_bwd in runs.values():  # warm-up: compilation and cuDNN's plans are not timed
        fwd()
        fwd_bwd()
    torch.cuda.synchronize()
    samples = {name: ([], []) for name in runs}
    for _ in range(reps):  # round-robin: one timing of each implementation per round
        for name, (fwd, fwd_bwd) in runs.items():
            samples[name][0].append(timed(fwd, 1))
            samples[name][1].append(timed(fwd_bwd, 1))
    return [(name, statistics.median(f), statistics.median(fb)) for name, (f, fb) in samples.items()]


def table(shape: Shape, dtype: torch.dtype, rows: list[tuple[str, float, float]]) -> str:
    base_f, base_fb = rows[0][1], rows[0][2]
    lines = [f"### {shape.name}: B={shape.B} T={shape.T} I={shape.I} H={shape.H} L={shape.L}, {dtype}", "",
             "| implementation | forward ms | x cuDNN | forward+backward ms | x cuDNN |", "|---|---|---|---|---|"]
    for name, f, fb in rows:
        lines.append(f"| {name} | {f:.3f} | {f / base_f:.2f} | {fb:.3f} | {fb / base_fb:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=0, help="timings per implementation (default 20, quick 5)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("speed_gpu.py needs a CUDA (or ROCm) device; none is visible", file=sys.stderr)
        return 2
    reps = args.reps or (5 if args.quick else 20)
    shapes = SHAPES[:2] if args.quick else SHAPES
    parts = [f"# GPU speed: {torch.cuda.get_device_name()}, torch {torch.__version__}\n",
             f"Command: `python benchmarks/speed_gpu.py{' --quick' if args.quick else ''}`; medians of {reps} "
             "interleaved CUDA-event timings.\n"]
    for shape in shapes:
        for dtype in (torch.float32, torch.bfloat16):  # bf16: GEMMs in bf16, the cell in float32
            rows = bench(shape, dtype, reps)
            parts.append(table(shape, dtype, rows))
            print(parts[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
