"""lstmkit's forecaster against statsforecast and Darts on a panel of real bundled series, side by side.

Usage (the peers live in their own environment, ``make bench-venv``):
    .venv-bench/bin/python benchmarks/forecast.py --panel dev --out benchmarks/results/forecast-dev.md
    .venv-bench/bin/python benchmarks/forecast.py --panel test --out benchmarks/results/forecast-test.md

or with each model group in its own process, side by side, joined afterwards:
    .venv-bench/bin/python benchmarks/forecast.py --panel test --fit lstmkit --records lk.jsonl &
    .venv-bench/bin/python benchmarks/forecast.py --panel test --fit statsforecast,darts --records peers.jsonl
    .venv-bench/bin/python benchmarks/forecast.py --panel test --table lk.jsonl peers.jsonl --out ...

The panel (``PANEL``) holds 29 real series that install offline (statsmodels, pmdarima and aeon data sets,
the M1 yearly competition series), six frequencies, each with its M4 horizon. Its split into a development
panel (tuned on) and a test panel (run once, with the defaults fixed on dev) is written below, fixed before
any tuning: within each frequency the series alternate between the two.

Every model is refitted at each of ``--origins`` rolling origins ``horizon`` steps apart (Tashman 2000) from
the data before the origin only, with its documented defaults:

* lstmkit: ``LSTMForecaster(horizon, period)`` as shipped;
* statsforecast: AutoETS, AutoARIMA, AutoTheta, SeasonalNaive with ``season_length = period``;
* Darts: ``RNNModel(model="LSTM")`` and ``BlockRNNModel(model="LSTM")`` with ``input_chunk_length`` = lstmkit's
  rule (two seasons, or two horizons), ``output_chunk_length = horizon`` (Block), ``training_length`` = input +
  horizon (RNNModel), every other argument at its default (100 epochs, hidden 25, batch 32), on the series
  scaled by Darts' ``Scaler`` as its examples do.

Scores: MASE (scale: in-sample seasonal-naive MAE of the training part), sMAPE, and for lstmkit and
statsforecast the scaled pinball loss over the 0.1 / 0.5 / 0.9 quantiles and the coverage of the 80% interval
(Darts' defaults give point forecasts only); CPU time (process time, all threads) per
fit. Means per frequency and overall, and each model's mean rank (per series and origin, by MASE).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from speed import machine, report  # noqa: E402

HORIZON = {"yearly": 6, "quarterly": 8, "monthly": 18, "weekly": 13, "daily": 14, "subdaily": 48}


def _m1_yearly() -> dict[str, np.ndarray]:
    import aeon

    path = Path(aeon.__file__).parent / "datasets" / "data" / "m1_yearly_dataset" / "m1_yearly_dataset.tsf"
    out = {}
    data = False
    for line in path.read_text().splitlines():
        if line.startswith("@data"):
            data = True
            continue
        if data and line.strip():
            name, _start, values = line.split(":", 2)
            out[name] = np.array([float(v) for v in values.split(",")])
    return out


def load_panel() -> list[dict]:
    """Every series of the panel: name, frequency, period, horizon, split, values (float64)."""
    import aeon.datasets as ad
    import pmdarima.datasets as pm
    import statsmodels.api as sm
    from statsmodels.datasets import elec_equip

    macro = sm.datasets.macrodata.load_pandas().data
    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate().to_numpy()
    msft = pm.load_msft()
    m1 = _m1_yearly()
    longest = sorted(m1, key=lambda k: -len(m1[k]))[:4]
    elnino = sm.datasets.elnino.load_pandas().data.iloc[:, 1:].to_numpy().ravel()
    rows = [
        # yearly
        ("sunspots_yearly", "yearly", 1, "dev", sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"]),
        ("nile", "yearly", 1, "test", sm.datasets.nile.load_pandas().data["volume"]),
        ("lynx", "yearly", 1, "dev", pm.load_lynx()),
        (f"m1_{longest[0]}", "yearly", 1, "test", m1[longest[0]]),
        (f"m1_{longest[1]}", "yearly", 1, "dev", m1[longest[1]]),
        (f"m1_{longest[2]}", "yearly", 1, "test", m1[longest[2]]),
        (f"m1_{longest[3]}", "yearly", 1, "dev", m1[longest[3]]),
        # quarterly
        ("realgdp", "quarterly", 4, "test", macro["realgdp"]),
        ("realcons", "quarterly", 4, "dev", macro["realcons"]),
        ("realinv", "quarterly", 4, "test", macro["realinv"]),
        ("cpi", "quarterly", 4, "dev", macro["cpi"]),
        ("unemp", "quarterly", 4, "test", macro["unemp"]),
        ("woolyrnq", "quarterly", 4, "dev", pm.load_woolyrnq()),
        ("austres", "quarterly", 4, "test", pm.load_austres()),
        ("ausbeer", "quarterly", 4, "dev", pm.load_ausbeer()),
        ("uschange_consumption", "quarterly", 4, "test", ad.load_uschange()[0]),
        # monthly
        ("airline", "monthly", 12, "test", pm.load_airpassengers()),
        ("wineind", "monthly", 12, "dev", pm.load_wineind()),
        ("elec_equip", "monthly", 12, "test", elec_equip.load().data.iloc[:, 0]),
        ("elnino", "monthly", 12, "dev", elnino),
        ("sunspots_monthly", "monthly", 12, "test", pm.load_sunspots()[-720:]),
        ("pbs_scripts", "monthly", 12, "dev", ad.load_PBS_dataset()),
        # weekly: two disjoint stretches of Mauna Loa CO2 (1958-1979 and 1986-2001)
        ("co2_early", "weekly", 52, "dev", co2[:1100]),
        ("co2_late", "weekly", 52, "test", co2[-780:]),
        # daily (trading days: a 5-day week)
        ("msft_volume", "daily", 5, "dev", msft["Volume"].to_numpy()[-750:]),
        ("msft_close", "daily", 5, "test", msft["Close"].to_numpy()[-750:]),
        # sub-daily
        ("solar", "subdaily", 48, "dev", ad.load_solar()),
        ("electricity_taylor", "subdaily", 48, "test", pm.load_taylor()[-1500:]),
        ("heartrate", "subdaily", 1, "test", pm.load_heartrate()),
    ]
    panel = []
    for name, freq, period, split, values in rows:
        v = np.asarray(values, dtype=np.float64).ravel()
        finite = np.flatnonzero(np.isfinite(v))
        v = v[finite[0]:finite[-1] + 1]  # ausbeer ends in missing quarters: drop them
        if not np.isfinite(v).all():
            raise ValueError(f"{name}: missing values inside the series")
        horizon = 12 if name == "heartrate" else HORIZON[freq]
        panel.append(dict(name=name, freq=freq, period=period, horizon=horizon, split=split, values=v))
    return panel


def _timed(fn, *args):
    t = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t


LSTMKIT_OPTIONS: dict = {}  # --set key=value (tuning on the dev panel only)
SCORED = (0.1, 0.5, 0.9)  # the quantiles every model is scored on: statsforecast's 80% interval and its point


def run_lstmkit(train, h, period):
    from lstmkit.forecast import LSTMForecaster

    fc = LSTMForecaster(horizon=h, period=period, **LSTMKIT_OPTIONS).fit(train)
    return fc.predict_quantiles(), fc


def run_statsforecast(train, h, period):
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    df = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(train)), "y": train})
    out, times = {}, {}
    for name, model in (("AutoETS", AutoETS(season_length=period)), ("AutoARIMA", AutoARIMA(season_length=period)),
                        ("AutoTheta", AutoTheta(season_length=period)),
                        ("SeasonalNaive", SeasonalNaive(season_length=period))):
        sf = StatsForecast(models=[model], freq=1, n_jobs=1)
        fc, times[name] = _timed(functools.partial(sf.forecast, df=df, h=h, level=[80]))
        # the point forecast and the 80% interval as the 0.1 / 0.5 / 0.9 quantiles (the mean stands for the median)
        out[name] = np.stack([fc[f"{name}-lo-80"], fc[name], fc[f"{name}-hi-80"]], axis=1).astype(np.float64)  # (h, 3)
    return out, times


def darts_input_length(h, period):
    return 2 * period if period > 1 else max(2 * h, 4)


def run_darts(train, h, period, kind):
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import BlockRNNModel, RNNModel

    length = min(darts_input_length(h, period), len(train) - h - 3)
    series = TimeSeries.from_values(train.astype(np.float32))
    scaler = Scaler()
    scaled = scaler.fit_transform(series)
    trainer = dict(accelerator="cpu", enable_progress_bar=False, logger=False, enable_model_summary=False)
    if kind == "RNNModel":
        model = RNNModel(model="LSTM", input_chunk_length=length, training_length=length + h, random_state=0,
                         pl_trainer_kwargs=trainer)
    else:
        model = BlockRNNModel(model="LSTM", input_chunk_length=length, output_chunk_length=h, random_state=0,
                              pl_trainer_kwargs=trainer)
    model.fit(scaled, verbose=False)
    pred = scaler.inverse_transform(model.predict(h, series=scaled, verbose=False))
    return pred.values().ravel().astype(np.float64)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--panel", choices=("dev", "test", "all"), default="dev")
    p.add_argument("--origins", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", default="", help="comma-separated series names (a quick look; not for the record)")
    p.add_argument("--no-darts", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an LSTMForecaster option for lstmkit (tuning on the dev panel; the record uses none)")
    p.add_argument("--out", type=Path)
    p.add_argument("--records", type=Path, help="append every fit's record to this JSON-lines file as it ends")
    p.add_argument("--fit", default="lstmkit,statsforecast,darts",
                   help="which models to fit: a comma-separated subset of lstmkit, statsforecast, darts (the groups "
                        "can run as separate processes side by side, each with --records, and be joined by --table)")
    p.add_argument("--table", nargs="+", type=Path, metavar="RECORDS",
                   help="fit nothing: write the table from these --records files (later files win on a repeated fit)")
    args = p.parse_args(argv)
    groups = {g.strip() for g in args.fit.split(",") if g.strip()}
    if args.no_darts:
        groups.discard("darts")
    if not groups <= {"lstmkit", "statsforecast", "darts"} or not groups:
        p.error(f"--fit {args.fit!r}: name one or more of lstmkit, statsforecast, darts")
    import ast

    for kv in args.set:
        key, value = kv.split("=", 1)
        try:
            LSTMKIT_OPTIONS[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            LSTMKIT_OPTIONS[key] = value
    asked = {float(x) for x in LSTMKIT_OPTIONS.get("quantiles", SCORED)} | {0.5}  # the forecaster adds the median
    if not set(SCORED) <= asked:
        p.error(f"--set quantiles={sorted(asked)}: every model is scored on the quantiles {SCORED}; keep them")
    import torch

    from lstmkit.forecast import metrics

    torch.set_num_threads(args.threads)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("darts").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    panel = [s for s in load_panel() if args.panel in ("all", s["split"])]
    if args.only:
        panel = [s for s in panel if s["name"] in args.only.split(",")]
    if args.table:
        return _from_records(args, panel)
    models = (["lstmkit"] if "lstmkit" in groups else []) + (
        ["AutoETS", "AutoARIMA", "AutoTheta", "SeasonalNaive"] if "statsforecast" in groups else []) + (
        ["Darts RNNModel", "Darts BlockRNNModel"] if "darts" in groups else [])
    # warm-up: numba's compilation and the fused kernel's build are not part of any fit
    warm = np.sin(np.arange(60.0)) + 5
    run_statsforecast(warm, 4, 4)
    from lstmkit.forecast import LSTMForecaster

    LSTMForecaster(horizon=4, period=4, steps=2, ensemble=1).fit(warm)
    records = []  # one per (series, origin, model)
    for s in panel:
        v, h, m = s["values"], s["horizon"], s["period"]
        for k in range(args.origins):
            o = len(v) - h - (args.origins - 1 - k) * h
            train, truth = v[:o], v[o:o + h]
            rec = dict(series=s["name"], freq=s["freq"], origin=o)
            first = len(records)
            if "lstmkit" in groups:
                (q, fc), t = _timed(run_lstmkit, train, h, m)
                qs = fc.config.quantiles
                q = q[:, [qs.index(x) for x in SCORED]]  # (h, 3), the scored quantiles only
                point = q[:, 1]
                records.append({**rec, "model": "lstmkit", "cpu_s": t,
                                "mase": metrics.mase(point, truth, train, m), "smape": metrics.smape(point, truth),
                                "spl": metrics.scaled_pinball(q, truth, SCORED, train, m),
                                "coverage": metrics.coverage(q[:, 0], q[:, 2], truth),
                                "components": "+".join(fc.components)})
            sf, times = run_statsforecast(train, h, m) if "statsforecast" in groups else ({}, {})
            for name, fq in sf.items():
                f = fq[:, 1]
                records.append({**rec, "model": name, "cpu_s": times[name], "mase": metrics.mase(f, truth, train, m),
                                "smape": metrics.smape(f, truth),
                                "spl": metrics.scaled_pinball(fq, truth, SCORED, train, m),
                                "coverage": metrics.coverage(fq[:, 0], fq[:, 2], truth)})
            if "darts" in groups:
                for kind in ("RNNModel", "BlockRNNModel"):
                    f, t = _timed(run_darts, train, h, m, kind)
                    records.append({**rec, "model": f"Darts {kind}", "cpu_s": t,
                                    "mase": metrics.mase(f, truth, train, m), "smape": metrics.smape(f, truth)})
            if args.records:  # every fit as it finishes: a run cut short still leaves its numbers
                import json

                with open(args.records, "a", encoding="utf-8") as f:
                    for r in records[first:]:
                        f.write(json.dumps(r) + "\n")
            line = " ".join(f"{r['model']}={r['mase']:.3f} ({r['cpu_s']:.1f}s)" for r in records[first:])
            print(f"{s['name']} origin {o}: {line} [{records[first].get('components', '')}]", file=sys.stderr,
                  flush=True)
    report(_table(records, models, args, panel), args.out)
    return 0


def _from_records(args, panel) -> int:
    """The table from --records files written by earlier runs (e.g. one process per model group)."""
    import json

    names = {s["name"] for s in panel}
    found: dict = {}
    for path in args.table:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                if r["series"] in names:
                    found[(r["series"], r["origin"], r["model"])] = r
    records = list(found.values())
    order = ["lstmkit", "AutoETS", "AutoARIMA", "AutoTheta", "SeasonalNaive", "Darts RNNModel", "Darts BlockRNNModel"]
    models = [m for m in order if any(r["model"] == m for r in records)]
    for m in models:
        fits = {(r["series"], r["origin"]) for r in records if r["model"] == m}
        if len(fits) < args.origins * len(panel):
            missing = sorted({s["name"] for s in panel} - {name for name, _ in fits})
            print(f"note: {m} has {len(fits)} of {args.origins * len(panel)} fits; series without any: "
                  f"{', '.join(missing) or 'none'}", file=sys.stderr)
    panel = [s for s in panel if any(r["series"] == s["name"] for r in records)]
    report(_table(records, models, args, panel), args.out)
    return 0


def _table(records, models, args, panel) -> str:
    import pandas as pd

    df = pd.DataFrame(records)
    df["rank"] = df.groupby(["series", "origin"])["mase"].rank(method="average")
    freqs = [f for f in HORIZON if f in set(df["freq"])]
    lines = [f"Machine: {machine()}", "",
             f"Command: `.venv-bench/bin/python benchmarks/forecast.py {' '.join(sys.argv[1:])}`", "",
             f"Panel `{args.panel}`: {len(panel)} series ({', '.join(s['name'] for s in panel)}); {args.origins} "
             f"rolling origins each, refit at every origin; torch threads {args.threads}.", "",
             "Mean MASE per frequency and overall (lower is better), mean sMAPE, mean rank by MASE, median CPU "
             "seconds per fit:", "",
             "| model | " + " | ".join(freqs) + " | MASE | sMAPE | rank | CPU s/fit |",
             "|---|" + "---|" * (len(freqs) + 4)]
    for m in models:
        d = df[df["model"] == m]
        per = [f"{d[d['freq'] == f]['mase'].mean():.3f}" for f in freqs]
        lines.append(f"| {m} | " + " | ".join(per) + f" | **{d['mase'].mean():.3f}** | {d['smape'].mean():.2f} | "
                     f"{d['rank'].mean():.2f} | {d['cpu_s'].median():.2f} |")
    lk = df[df["model"] == "lstmkit"]
    lines += ["", "Probabilistic scores: the 0.1 / 0.5 / 0.9 quantiles (statsforecast: its 80% interval and its point "
              "forecast), mean scaled pinball loss (M5's SPL; twice it is a three-quantile approximation of the "
              "scaled CRPS) and coverage of the 10-90% interval (nominal 80%):", "",
              "| model | SPL | coverage |", "|---|---|---|"]
    for m in models:
        d = df[df["model"] == m]
        if "spl" in d and d["spl"].notna().any():
            lines.append(f"| {m} | {d['spl'].mean():.3f} | {100 * d['coverage'].mean():.1f}% |")
    if len(lk):
        lines += ["", "lstmkit's validated choice, fits per combination: "
                  + ", ".join(f"{k} {v}" for k, v in lk["components"].value_counts().items()) + "."]
    lines += ["", "Per series (mean MASE over origins):", "",
              "| series | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for name in dict.fromkeys(df["series"]):
        d = df[df["series"] == name]
        lines.append(f"| {name} | " + " | ".join(f"{d[d['model'] == m]['mase'].mean():.3f}" for m in models) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
