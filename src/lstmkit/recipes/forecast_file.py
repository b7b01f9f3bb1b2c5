"""``lstmkit forecast FILE``: :class:`lstmkit.forecast.LSTMForecaster` on the user's own series, with a run
directory a forecaster can be reloaded from.

The file is one series (a numeric column, rows in time order, optionally a time column) or many in long
format (``--id-column``: one row per series and time, like statsforecast's ``unique_id``/``ds``/``y``), fitted
as one global model. The run directory holds:

* ``predictions.csv``: per series and step, the timestamp (when the file has times), the forecast and every
  quantile (the 10-90% interval by default), fitted on *all* the data;
* ``forecaster.safetensors``: the fitted forecaster; ``lstmkit predict RUN [--csv newer.csv]`` forecasts again
  from the saved or a newer history without retraining;
* ``backtest.csv`` with ``--backtest K``: K rolling origins, refit at each, lstmkit against seasonal naive,
  exponential smoothing, Theta and the autoregression (MASE, sMAPE; pinball loss and coverage for lstmkit's quantiles);
* with ``--covariates`` (known in advance, given on the forecast steps' rows too) and ``--past-covariates``
  (observed with the value, history rows only) the network reads those columns as well;
* ``forecast.png`` (history, forecast, interval), ``config.json`` and ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from .._version import __version__
from ..data.files import TimedSeries, read_long_csv, read_series_csv
from ..forecast import ForecastConfig, LSTMForecaster, calendar_features, metrics, stats
from ..train.checkpoint import atomic_write_bytes
from .base import Run, _pyplot, file_sha256, fresh_run

log = logging.getLogger(__name__)

JOB = "forecast-file"
QUICK = dict(steps=40, ensemble=1)  # --quick: a smoke test, not a forecast to use


def parse_options(items: Sequence[str]) -> dict:
    """``--set key=value`` for :class:`ForecastConfig` fields; an unknown key lists the known ones."""
    import ast

    known = {f.name for f in dataclasses.fields(ForecastConfig)} - {"horizon", "period", "quantiles"}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}")
        try:
            out[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key] = value.strip()
    return out


def read_input(path: str, column: str, time_column: str = "", id_column: str = "",
               covariates: Sequence[str] = (), past_covariates: Sequence[str] = ()) -> list[TimedSeries]:
    """The file's series: long format with ``id_column``, timestamped with ``time_column``, else one column in
    row order (steps 1, 2, ...); ``covariates`` and ``past_covariates`` columns ride along (see
    :func:`read_long_csv`)."""
    if id_column and not time_column:
        raise ValueError("--id-column needs --time-column (rows of several series are ordered by their time)")
    if id_column or time_column or covariates or past_covariates:
        return read_long_csv(path, column, time_column, id_column, min_length=2, covariates=covariates,
                             past_covariates=past_covariates)
    values = read_series_csv(path, column, min_length=2)
    return [TimedSeries(column, [float(k) for k in range(1, len(values) + 1)], values, 1.0)]


def _check(series: list[TimedSeries], horizon: int, period: int) -> None:
    for s in series:
        n = len(s.values)
        if s.future_covariates is not None and len(s.future_covariates) < horizon:
            raise ValueError(f"series {s.id!r}: the covariates ({', '.join(s.covariate_names)}) are known for "
                             f"{len(s.future_covariates)} step(s) after the last value (time {_fmt_time(s.times[-1])})"
                             f"; forecasting {horizon} steps needs them for {horizon}: add rows after the last "
                             "value with the value blank and every covariate filled in")
        if n < horizon + 5:
            raise ValueError(f"series {s.id!r}: {n} values are too few to forecast {horizon} steps; at least "
                             f"{horizon + 5} are needed (or a shorter --horizon)")
        if period >= n - horizon:
            raise ValueError(f"series {s.id!r}: period {period} is not shorter than the {n - horizon} values before "
                             "the forecast horizon; seasonal naive and the MASE scale need a full season of history. "
                             "Use a smaller --period")


def _covariates(series: list[TimedSeries], horizon: int, calendar: bool, cut: int = 0):
    """Covariates of each series' history (less its last ``cut`` steps) and of the ``horizon`` steps after it:
    calendar features (computed over both in one call, so both have the same columns) and the file's covariate
    columns. ``(None, None)`` when there are none."""
    if not calendar and series[0].covariates is None:
        return None, None
    past, future = {}, {}
    for s in series:
        n = len(s.times) - cut
        parts_past, parts_future = [], []
        if calendar:
            after = s.times[n:n + horizon] if cut else s.future(horizon)
            both = calendar_features(list(s.times[:n]) + list(after))  # (n + H, C)
            if both.shape[1] == 0:
                raise ValueError(f"series {s.id!r}: --calendar needs dated times (--time-column with dates, months "
                                 "or quarters) whose month, weekday or hour varies")
            parts_past.append(both[:n])
            parts_future.append(both[n:])
        if s.covariates is not None:
            rows = np.concatenate([s.covariates, s.future_covariates])  # (N + F, C)
            parts_past.append(rows[:n])
            parts_future.append(rows[n:n + horizon])
        past[s.id], future[s.id] = np.concatenate(parts_past, axis=1), np.concatenate(parts_future, axis=1)
    return past, future


def _past(series: list[TimedSeries], cut: int = 0) -> Optional[dict]:
    """The past covariates of each series' history less its last ``cut`` steps; ``None`` when there are none."""
    if series[0].past_covariates is None:
        return None
    return {s.id: s.past_covariates[:len(s.values) - cut] for s in series}  # id -> (N - cut, P)


def _fmt_time(t: Any) -> str:
    if isinstance(t, float):
        return f"{t:g}"
    return t.isoformat(sep=" ") if (t.hour or t.minute or t.second) else t.date().isoformat()


def run_forecast_file(path: str, column: str, horizon: int, period: int = 1, time_column: str = "",
                      id_column: str = "", quantiles: Sequence[float] = (0.1, 0.5, 0.9), backtest: int = 0,
                      calendar: bool = False, covariates: Sequence[str] = (), past_covariates: Sequence[str] = (),
                      overrides: Sequence[str] = (), quick: bool = False,
                      out: Optional[str] = None) -> tuple[Run, dict]:
    """Fit, forecast and (optionally) backtest; returns the run and its metrics. A failure leaves no directory."""
    options = parse_options(overrides)
    if quick:
        options = {**QUICK, **options}
    config = ForecastConfig(horizon=horizon, period=period, quantiles=tuple(quantiles), **options)  # validates
    series = read_input(path, column, time_column, id_column, covariates, past_covariates)
    _check(series, horizon, period)
    past, future = _covariates(series, horizon, calendar)
    observed = _past(series)
    with fresh_run(out, "forecast") as run:
        start = time.perf_counter()
        torch.manual_seed(config.seed)
        run.write_json("config.json", {
            "recipe": JOB, "quick": quick, "file": {"path": str(Path(path).resolve()), "sha256": file_sha256(
                Path(path))}, "column": column, "time_column": time_column, "id_column": id_column,
            "calendar": calendar, "covariates": list(covariates), "past_covariates": list(past_covariates),
            "forecaster": dataclasses.asdict(config),
            "overrides": list(overrides),
            "lstmkit": __version__,
            "torch": torch.__version__, "python": platform.python_version(), "command": " ".join(sys.argv)})
        opts = dataclasses.asdict(config)
        opts.pop("horizon")
        fc = LSTMForecaster(horizon, **opts).fit({s.id: s.values for s in series}, covariates=past,
                                                 past_covariates=observed)
        fc.save(run.path / "forecaster.safetensors")
        q = fc.predict_quantiles(history={s.id: s.values for s in series}, covariates=past,
                                 future_covariates=future, past_covariates=observed)  # (S, H, Q)
        _write_predictions(run, series, q, config)
        result: dict[str, Any] = {"recipe": JOB, "quick": quick, "series": len(series), "horizon": horizon,
                                  "period": period, "input_sizes": fc.lengths, "components": "+".join(fc.components)}
        result.update({f"validation_mase_{k}": v for k, v in fc.validation.items()})
        if backtest:
            result.update(_backtest(run, series, config, backtest, calendar))
        _plot(run, series, q, config)
        result["wall_seconds"] = round(time.perf_counter() - start, 1)
        run.write_json("metrics.json", result)
    return run, result


def _write_predictions(run: Run, series: list[TimedSeries], q: np.ndarray, config: ForecastConfig) -> None:
    qs = config.quantiles
    lines = ["id,step,time,forecast," + ",".join(f"q{p:g}" for p in qs)]
    for s, qq in zip(series, q):
        times = s.future(config.horizon)
        for h in range(config.horizon):
            row = [s.id, str(h + 1), _fmt_time(times[h]), f"{qq[h, qs.index(0.5)]:.6g}",
                   *(f"{v:.6g}" for v in qq[h])]
            lines.append(",".join(row))
    atomic_write_bytes(run.path / "predictions.csv", ("\n".join(lines) + "\n").encode())


def _backtest(run: Run, series: list[TimedSeries], config: ForecastConfig, origins: int,
              calendar: bool = False) -> dict:
    """Rolling origins ``horizon`` apart at the end of every series; all models refit at each."""
    h, m, qs = config.horizon, config.period, config.quantiles
    rows = ["id,origin,model,mase,smape,scaled_pinball,coverage"]
    scores: dict[str, list[float]] = {}
    opts = dataclasses.asdict(config)
    opts.pop("horizon")
    for k in range(origins):
        cut = (origins - 1 - k) * h + h  # values held out at this origin
        hist = {s.id: s.values[:-cut] for s in series}
        past, future = _covariates(series, h, calendar, cut)
        observed = _past(series, cut)
        fc = LSTMForecaster(h, **opts).fit(hist, covariates=past, past_covariates=observed)
        q = fc.predict_quantiles(history=hist, covariates=past, future_covariates=future,
                                 past_covariates=observed)  # (S, H, Q)
        for s, qq in zip(series, q):
            train, truth = hist[s.id], s.values[len(s.values) - cut:len(s.values) - cut + h]
            cands = {"lstmkit": qq[:, qs.index(0.5)], "seasonal_naive": stats.seasonal_naive(train, h, m),
                     **{name: model(train, h, m) for name, model in stats.STATISTICAL.items()}}
            for name, f in cands.items():
                mase = metrics.mase(f, truth, train, m)
                scores.setdefault(name, []).append(mase)
                extra = ("", "")
                if name == "lstmkit":
                    extra = (f"{metrics.scaled_pinball(qq, truth, qs, train, m):.6g}",
                             f"{metrics.coverage(qq[:, 0], qq[:, -1], truth):.4g}")
                    scores.setdefault("coverage", []).append(metrics.coverage(qq[:, 0], qq[:, -1], truth))
                rows.append(f"{s.id},{len(train)},{name},{mase:.6g},{metrics.smape(f, truth):.6g},{extra[0]},"
                            f"{extra[1]}")
    atomic_write_bytes(run.path / "backtest.csv", ("\n".join(rows) + "\n").encode())
    out = {f"backtest_mase_{k}": float(np.mean(v)) for k, v in scores.items() if k != "coverage"}
    out["backtest_coverage"] = float(np.mean(scores["coverage"]))
    out["backtest_origins"] = origins
    best = min((k for k in out if k.startswith("backtest_mase_")), key=out.get)
    out["backtest_best"] = best.removeprefix("backtest_mase_")
    return out


def _plot(run: Run, series: list[TimedSeries], q: np.ndarray, config: ForecastConfig, most: int = 4) -> None:
    plt = _pyplot()
    shown = series[:most]
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 3 * len(shown)), squeeze=False)
    qs = config.quantiles
    for ax, s, qq in zip(axes[:, 0], shown, q):
        n = len(s.values)
        start = max(0, n - 4 * max(config.horizon, config.period))
        t = np.arange(start, n)
        ax.plot(t, s.values[start:], color="black", lw=1.1, label="history")
        f = np.arange(n, n + config.horizon)
        ax.fill_between(f, qq[:, 0], qq[:, -1], color="tab:red", alpha=0.2,
                        label=f"{qs[0]:g}-{qs[-1]:g} quantiles")
        ax.plot(f, qq[:, qs.index(0.5)], color="tab:red", lw=1.3, label="forecast")
        ax.set_title(f"{s.id}: {config.horizon} steps ahead")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(run.path / "forecast.png", dpi=110)
    plt.close(fig)


def predict_again(run: Run, csv_path: Optional[str] = None) -> list[dict]:
    """Forecast with a saved run: from the fitted history, or from a newer file with the run's columns."""
    cfg = run.read_json("config.json")
    fc = LSTMForecaster.load(run.path / "forecaster.safetensors")
    columns = (cfg["column"], cfg.get("time_column", ""), cfg.get("id_column", ""), cfg.get("covariates", ()),
               cfg.get("past_covariates", ()))
    if csv_path:
        series = read_input(csv_path, *columns)
    else:
        path = Path(cfg["file"]["path"])
        if not path.is_file():
            raise FileNotFoundError(f"{path}, the file this run was fitted on, is gone; give the history with --csv")
        if file_sha256(path) != cfg["file"]["sha256"]:
            raise ValueError(f"{path} has changed since this run was fitted on it; give the newer history with --csv "
                             "to forecast from it")
        series = read_input(str(path), *columns)
    _check(series, fc.config.horizon, fc.config.period)
    past, future = _covariates(series, fc.config.horizon, bool(cfg.get("calendar")))
    q = fc.predict_quantiles(history={s.id: s.values for s in series}, covariates=past, future_covariates=future,
                             past_covariates=_past(series))  # (S, H, Q)
    qs = fc.config.quantiles
    rows = []
    for s, qq in zip(series, q):
        times = s.future(fc.config.horizon)
        for h in range(fc.config.horizon):
            rows.append({"id": s.id, "step": h + 1, "time": _fmt_time(times[h]),
                         "forecast": float(qq[h, qs.index(0.5)]),
                         **{f"q{p:g}": float(v) for p, v in zip(qs, qq[h])}})
    return rows
