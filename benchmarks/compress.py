"""Compression benchmark: int8 LSTMs (lstmkit.quantize) against float32 and torch.ao's int8 torch.nn.LSTM.

Usage:
    python benchmarks/compress.py --out benchmarks/results/compress-cpu.md [--runs RUN ...] [--prune RUN ...]
    python benchmarks/compress.py --quick

Latency, one thread, inference: a 100-step sequence at batch 1 and at batch 32, and streaming one step at a time
at batch 1 (per step, the state carried). Implementations: torch.nn.LSTM (float32), torch.ao's dynamic int8
torch.nn.LSTM (quantize_dynamic, per-tensor weight scales), lstmkit float32 and int8 (per-row scales; vanilla runs
torch's int8 kernel), and a peephole + layer-norm variant in float32 and int8 (its kernel on the dequantized int8
weights). Rows are interleaved round-robin in one run; medians of CPU time per call in microseconds, ratios to
torch.ao's int8 LSTM on the same shape. Sizes are the bytes of the weights as saved. With --runs, each run's
models are quantized and scored on the run's test set beside the float ones; with --prune, each classifier
run's models are pruned (magnitude 50% and 80% of the LSTM weights; 25%, 50% and 75% of the hidden units),
fine-tuned on the run's training data and scored on its test set.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

import lstmkit

FEATURES = 40
VARIANT = {"peephole": True, "layer_norm": True}


def _bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values() if isinstance(t, torch.Tensor))


def _models(H: int) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    ref = torch.nn.LSTM(FEATURES, H).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ao = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(ref), {torch.nn.LSTM}, dtype=torch.qint8)[0]
    vanilla = lstmkit.LSTM.from_torch(ref).eval()
    variant = lstmkit.LSTM(FEATURES, H, **VARIANT).eval()
    return {"torch.nn.LSTM float32": ref, "torch.ao int8 nn.LSTM": ao, "lstmkit float32": vanilla,
            "lstmkit int8": lstmkit.quantize(vanilla), "lstmkit peephole+LN float32": variant,
            "lstmkit peephole+LN int8": lstmkit.quantize(variant)}


def _timed(fn: Callable[[], None]) -> float:
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) * 1e6


def bench(H: int, reps: int, steps: int) -> list[dict]:
    models = _models(H)
    x1, x32 = torch.randn(100, 1, FEATURES), torch.randn(100, 32, FEATURES)
    frames = torch.randn(steps, 1, FEATURES)

    def stream(m):
        hx = None
        for t in range(steps):
            _, hx = m(frames[t:t + 1], hx)

    cases = {"B=1, T=100": lambda m: m(x1), "B=32, T=100": lambda m: m(x32), "per step, B=1": stream}
    times = {(c, n): [] for c in cases for n in models}
    with torch.no_grad():
        for m in models.values():  # warm-up
            for run in cases.values():
                run(m)
        for _ in range(reps):
            for c, run in cases.items():
                for n, m in models.items():
                    t = _timed(lambda run=run, m=m: run(m))
                    times[(c, n)].append(t / steps if c.startswith("per step") else t)
    rows = []
    for c in cases:
        base = statistics.median(times[(c, "torch.ao int8 nn.LSTM")])
        for n, m in models.items():
            med = statistics.median(times[(c, n)])
            size = None if n.startswith("torch.ao") else _bytes(m)
            rows.append({"H": H, "case": c, "impl": n, "us": med, "ratio": med / base, "bytes": size})
    return rows


def accuracy(run_dirs: list[str]) -> list[str]:
    import numpy as np

    from lstmkit.recipes import get_recipe
    from lstmkit.recipes.base import Run, load_config, load_members

    lines = ["", "## Accuracy of quantized recipe models", "",
             "| run | test metric | float32 | int8 | change (points) |", "|---|---|---|---|---|"]
    for d in run_dirs:
        run = Run(Path(d), verbose=0)
        cfg = run.read_json("config.json")
        recipe = get_recipe(cfg["recipe"])
        x, y, _ = recipe.test_data(load_config(recipe, run), run)
        members = load_members(run)
        accs = []
        for models in (members, [lstmkit.quantize(m) for m in members]):
            p = np.mean([m.predict(x, batch_size=256) for m in models], axis=0)
            accs.append(float((p.argmax(-1) == np.asarray(y)).mean()) * 100)
        lines.append(f"| {Path(d).name} ({len(members)} models) | accuracy % | {accs[0]:.2f} | {accs[1]:.2f} | "
                     f"{accs[1] - accs[0]:+.2f} |")
    return lines


FORECAST_SERIES = ("airline", "co2", "sunspots", "sunspots_yearly")


def forecasting() -> list[str]:
    """LSTMForecaster's defaults fitted on each bundled series less its last 2 periods (at most 24 steps), then
    those steps forecast by the float and the int8 forecaster."""
    from lstmkit.data.series import SERIES, load_series
    from lstmkit.forecast import LSTMForecaster, metrics

    lines = ["", "## Forecasts of quantized LSTMForecasters (MASE on the held-out steps)", "",
             "| series | horizon | float32 MASE | int8 MASE | change |", "|---|---|---|---|---|"]
    for name in FORECAST_SERIES:
        if name not in SERIES:
            continue
        s = load_series(name)
        h = min(24, 2 * s.period) if s.period > 1 else 10
        train, truth = s.values[:-h], s.values[-h:]
        torch.manual_seed(0)
        fc = LSTMForecaster(h, period=s.period).fit(train)
        q = lstmkit.quantize(fc)
        m0 = metrics.mase(fc.predict(), truth, train, s.period)
        m1 = metrics.mase(q.predict(), truth, train, s.period)
        lines.append(f"| {name} | {h} | {m0:.4f} | {m1:.4f} | {100 * (m1 - m0) / m0:+.2f}% |")
    return lines


PRUNE_GRID = [(False, 0.5), (False, 0.8), (True, 0.25), (True, 0.5), (True, 0.75)]


def pruning(run_dirs: list[str], epochs: int) -> list[str]:
    import tempfile

    from lstmkit.recipes.base import Run
    from lstmkit.recipes.deploy import prune_run

    lines = ["", f"## Pruning recipe models (fine-tuned {epochs} epochs on the run's training data)", "",
             "| run | method | removed | parameters | LSTM zeros | test accuracy % (before -> after) | "
             "test-set prediction CPU s (before -> after) |", "|---|---|---|---|---|---|---|"]
    for d in run_dirs:
        for structured, share in PRUNE_GRID:
            with tempfile.TemporaryDirectory() as tmp:
                r = prune_run(Run(Path(d), verbose=0), share, structured, epochs, tmp)
            lines.append(f"| {Path(d).name} | {'units' if structured else 'magnitude'} | {share:.0%} | "
                         f"{r['params_before']} -> {r['params_after']} | {r['lstm_zeros_after']:.0%} | "
                         f"{100 * r['test_accuracy_before']:.2f} -> {100 * r['test_accuracy_after']:.2f} | "
                         f"{r['predict_cpu_seconds_before']:.2f} -> {r['predict_cpu_seconds_after']:.2f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", nargs="*", default=[], help="runs whose models are quantized and scored")
    ap.add_argument("--prune", nargs="*", default=[], help="classifier runs pruned (grid) and fine-tuned")
    ap.add_argument("--prune-epochs", type=int, default=3)
    ap.add_argument("--forecast", action="store_true", help="quantized LSTMForecasters on the bundled series")
    ap.add_argument("--no-latency", action="store_true", help="only the accuracy parts")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sizes, reps, steps = ([256], 3, 20) if args.quick else ([256, 512], 11, 100)
    rows = [] if args.no_latency else [r for H in sizes for r in bench(H, reps, steps)]
    lines = ["# int8 LSTMs: latency and size, one thread", "",
             f"`python benchmarks/compress.py{' --quick' if args.quick else ''}"
             f"{' --runs ' + ' '.join(args.runs) if args.runs else ''}"
             f"{' --prune ' + ' '.join(args.prune) if args.prune else ''}{' --forecast' if args.forecast else ''}"
             f"{' --no-latency' if args.no_latency else ''}`"
             f"; {platform.machine()}, Python "
             f"{platform.python_version()}, torch {torch.__version__}. {FEATURES} input features, one layer. "
             f"Medians of {reps} interleaved repetitions, CPU time per call (per step: {steps} steps fed one at a "
             "time); ratios to torch.ao's int8 torch.nn.LSTM on the same shape (lower is faster)."]
    if rows:
        lines += ["", "| H | case | implementation | time (us) | ratio to torch.ao int8 | weights (KiB) |",
                  "|---|---|---|---|---|---|"]
    for r in rows:
        size = "" if r["bytes"] is None else f"{r['bytes'] / 1024:.0f}"
        lines.append(f"| {r['H']} | {r['case']} | {r['impl']} | {r['us']:.0f} | {r['ratio']:.2f} | {size} |")
    if args.runs:
        lines += accuracy(args.runs)
    if args.prune:
        lines += pruning(args.prune, args.prune_epochs)
    if args.forecast:
        lines += forecasting()
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
