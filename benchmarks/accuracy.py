"""Accuracy table: run every recipe in full and write docs/RESULTS.md.

Usage:
    python benchmarks/accuracy.py                       # every run below, then the table (2-3 hours on 2 cores)
    python benchmarks/accuracy.py --only sentiment      # one run (others keep their recorded results)
    python benchmarks/accuracy.py --table-only          # rebuild docs/RESULTS.md from the recorded JSON

Each run is the real command line, `lstmkit train NAME [--set ...] --out benchmarks/runs/KEY`, in a fresh
process with 2 threads; its metrics.json is copied to benchmarks/results/accuracy/KEY.json with the command and
the wall time, so the table can be rebuilt and every number traced to the command that made it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lstmkit.recipes import get_recipe

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "accuracy"
RUNS = ROOT / "benchmarks" / "runs"

# key -> (recipe, overrides, how its main metric (the recipe's main_metric) is judged)
RUNS_TABLE = {
    "mnist-rows": ("mnist-rows", [], ">= 0.990"),
    "forecast-airline": ("forecast", ["data.series=airline"], "< both baselines"),
    "forecast-co2": ("forecast", ["data.series=co2"], "< both baselines"),
    "forecast-sunspots": ("forecast", ["data.series=sunspots"], "< both baselines"),
    "forecast-electricity": ("forecast", ["data.series=electricity"], "< both baselines"),
    "sentiment": ("sentiment", [], ">= 0.80"),
    "shakespeare": ("shakespeare", [], "<= 1.5"),
    "japanese-vowels": ("japanese-vowels", [], ">= 0.985"),
    "activity": ("activity", [], "none set"),
}


def command(key: str) -> list[str]:
    recipe, sets, _ = RUNS_TABLE[key]
    cmd = ["lstmkit", "train", recipe, "--out", f"benchmarks/runs/{key}"]
    for s in sets:
        cmd += ["--set", s]
    return cmd + ["--set", "train.threads=2"]


def run_one(key: str) -> dict:
    out = RUNS / key
    if out.exists():
        shutil.rmtree(out)
    cmd = command(key)
    exe = shutil.which("lstmkit") or str(Path(sys.executable).with_name("lstmkit"))
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run([exe, *cmd[1:]], cwd=ROOT, env=env, check=True)
    wall = time.perf_counter() - start
    metrics = json.loads((out / "metrics.json").read_text())
    record = {"key": key, "command": " ".join(cmd), "process_seconds": round(wall, 1),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "date": time.strftime("%Y-%m-%d"), "metrics": metrics}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{key}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def table() -> str:
    lines = ["# Accuracy of the recipes on real data", "",
             "Written by `python benchmarks/accuracy.py` from `benchmarks/results/accuracy/*.json`; each row's "
             "command reproduces it. Wall time is the whole process (data, training, evaluation, plots) on 2 "
             "threads of the build machine. Test data is never used to choose an epoch: it is picked on a "
             "validation split, or is the last one.", "",
             "| run | metric | result | target | baseline | met | wall time | command |",
             "|---|---|---|---|---|---|---|---|"]
    for key, (recipe, _, judge) in RUNS_TABLE.items():
        metric = get_recipe(recipe).main_metric
        f = RESULTS / f"{key}.json"
        if not f.exists():
            lines.append(f"| {key} | {metric} | not run yet | {judge} | | | | `{' '.join(command(key))}` |")
            continue
        rec = json.loads(f.read_text())
        m = rec["metrics"]
        value = m[metric]
        if metric == "lstm_mase":
            base = f"seasonal naive {m['seasonal_naive_mase']:.3f}, Holt-Winters {m['ets_mase']:.3f}"
            met = value < min(m["seasonal_naive_mase"], m["ets_mase"])
        elif metric == "val_nats_per_char":
            base = f"uniform {m['uniform_nats_per_char']:.3f}; test {m['test_nats_per_char']:.3f} " \
                   f"({m['test_bits_per_char']:.3f} bits)"
            met = value <= 1.5
        else:
            base = f"majority class {m.get('majority_class_accuracy', float('nan')):.3f}"
            if key == "activity":
                base += f"; per segment {m['test_accuracy']:.3f}"
            met = {"mnist-rows": value >= 0.99, "sentiment": value >= 0.80,
                   "japanese-vowels": value >= 0.985}.get(key)
        met_s = "n/a" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {key} | {metric} | {_fmt(value)} | {judge} | {base} | {met_s} | "
                     f"{rec['process_seconds'] / 60:.1f} min | `{rec['command']}` |")
    fc = [json.loads((RESULTS / f"{k}.json").read_text())["metrics"] for k in RUNS_TABLE
          if k.startswith("forecast-") and (RESULTS / f"{k}.json").exists()]
    if fc:
        wins = sum(m["lstm_beats_both"] for m in fc)
        lines += ["", f"Forecast target (lstmkit's forecaster beats both baselines on most series): **{wins} of "
                  f"{len(fc)}** series, so {'met' if wins > len(fc) / 2 else 'not met'}.",
                  "", "## Forecasts in detail", "",
                  "Errors pooled over every origin and step, in the series' units; MASE as in Hyndman & Koehler "
                  "(2006), scaled by the in-sample seasonal-naive MAE. The recipe runs `lstmkit.forecast."
                  "LSTMForecaster` (fitted once before the first origin); `components` is what its validation "
                  "chose to combine (lstm, ets, theta, ar).", "",
                  "| series | n | period | input lengths | horizon | origins | model | RMSE | MAE | MASE |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for m in fc:
            for i, model in enumerate(("lstm", "seasonal_naive", "ets")):
                inputs = "/".join(str(k) for k in m.get("input_sizes", [])) or str(m.get("window", ""))
                head = (f"| {m['series']} | {m['n']} | {m['period']} | {inputs} | {m['horizon']} | "
                        f"{len(m['origins'])} " if i == 0 else "| | | | | | ")
                name = {"lstm": f"lstmkit ({m.get('components', 'lstm')})", "seasonal_naive": "seasonal naive",
                        "ets": "Holt-Winters"}[model]
                lines.append(f"{head}| {name} | {m[model + '_rmse']:.3f} | {m[model + '_mae']:.3f} | "
                             f"{m[model + '_mase']:.3f} |")
    lines += _forecast_panel()
    notes = RESULTS / "NOTES.md"  # hand-written remarks on the recorded runs, appended as they are
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def _forecast_panel() -> list[str]:
    """The summaries of benchmarks/forecast.py's recorded runs (benchmarks/results/forecast-{test,dev}.md)."""
    out = []
    test_title = ("test panel (fixed before tuning; the second look with the current defaults, on the 14 series "
                  "every model ran; the first look is in forecast-test.md)")
    for split, title in (("test", test_title),
                         ("dev", "development panel (tuned on)")):
        f = ROOT / "benchmarks" / "results" / f"forecast-{split}.md"
        if not f.exists():
            continue
        text = f.read_text().splitlines()
        start = next(k for k, ln in enumerate(text) if ln.startswith("| model |"))
        stop = next((k for k, ln in enumerate(text) if ln.startswith("Per series")), len(text))
        about = [ln for ln in text[:start] if ln.startswith(("Command:", "Join command:", "Panel "))]
        if "Against the targets:" in "\n".join(text[:start]):  # the paragraph that says which targets are met
            k = next(k for k, ln in enumerate(text) if ln.startswith("Against the targets:"))
            para = []
            while k < len(text) and text[k].strip():
                para.append(text[k].strip())
                k += 1
            about.append(" ".join(para))
        out += ["", f"### {title.capitalize()}", "", *sum(([ln, ""] for ln in about), []), *text[start:stop]]
    if out:
        out = ["", "## Forecasting panel: `lstmkit.forecast` against statsforecast and Darts", "",
               "benchmarks/forecast.py on real series of six frequencies; per-series numbers in benchmarks/results/"
               "forecast-test.md and forecast-dev.md, the method in docs/forecasting.md."] + out
    return [ln for ln in out]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(RUNS_TABLE), help="run these keys only")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "docs" / "RESULTS.md"))
    args = parser.parse_args(argv)
    if not args.table_only:
        for key in args.only or list(RUNS_TABLE):
            run_one(key)
    text = table()
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
