"""The column split (small batches, wide layers: threads share the hidden units, one barrier per step) on an
idle machine and on one where another process keeps a core busy, against one thread.

    python benchmarks/threads.py --out benchmarks/results/threads-cpu.md

Each cell is the median CPU-independent wall time of ``--repeats`` forward+backward calls (B=1, H=256, T steps);
the rows alternate so that machine noise hits every configuration alike. "loaded" starts one busy-looping
process for the duration of the row.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

import torch

import lstmkit


def _spin(stop):
    x = 0
    while not stop.is_set():
        x += 1


def _time(m, x, repeats: int, threads: int) -> float:
    torch.set_num_threads(threads)
    ts = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        out, _ = m(x)
        out.sum().backward()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts[1:]) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    m = lstmkit.LSTM(32, args.hidden, backend="fused", peephole=True)
    x = torch.randn(args.steps, args.batch, 32)
    _time(m, x, 1, 2)  # build and warm up
    rows = []
    for load in ("idle", "loaded"):
        stop, procs = mp.Event(), []
        if load == "loaded":
            procs = [mp.Process(target=_spin, args=(stop,), daemon=True)]
            for p in procs:
                p.start()
            time.sleep(0.5)
        one = _time(m, x, args.repeats, 1)
        two = _time(m, x, args.repeats, 2)
        stop.set()
        for p in procs:
            p.join()
        rows.append((load, one, two))
    lines = [f"B={args.batch} H={args.hidden} T={args.steps}, peephole, fused forward+backward (median ms)", "",
             "| machine | 1 thread | 2 threads | 2 / 1 |", "|---|---|---|---|"]
    for load, one, two in rows:
        lines.append(f"| {load} | {one:.1f} | {two:.1f} | {two / one:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            options = " ".join(f"--{k} {v}" for k, v in vars(args).items() if k != "out")
            f.write(f"`python benchmarks/threads.py {options}`\n\n")
            f.write(text)


if __name__ == "__main__":
    main()
