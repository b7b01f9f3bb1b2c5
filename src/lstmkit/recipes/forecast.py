"""``lstmkit train forecast``: a bundled series, forecast from rolling origins by :class:`lstmkit.forecast.
LSTMForecaster` against two baselines.

* The forecaster (the library's own, docs/forecasting.md: a global LSTM over normalised windows, an ensemble,
  quantile outputs, combined with exponential smoothing, Theta and an autoregression where its validation
  says so) is fitted once on the data before the first origin, optionally on the log scale (multiplicative
  series), and forecasts from every origin without retraining: its statistical components refit on each
  history, its networks read the latest window.
* Baselines fitted on the same data at every origin: seasonal naive (the last season repeated) and
  exponential smoothing with a damped additive trend and additive seasonality (statsmodels' Holt-Winters
  ``ExponentialSmoothing``; Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, ch. 8).
* Rolling origin (Tashman 2000): ``origins`` forecast origins ``stride`` steps apart at the end of the series;
  from each, every model forecasts ``horizon`` steps from the data before it only. Errors are pooled over all
  origins and steps: RMSE, MAE, and MASE (Hyndman & Koehler 2006: MAE over the in-sample MAE of the
  seasonal-naive forecast on the training part); the forecaster's 10-90% interval coverage beside them.

``predictions.csv`` holds the forecast from the end of the series with its quantiles and both baselines;
``forecaster.safetensors`` the fitted forecaster (:meth:`LSTMForecaster.load`).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..data import load_series
from ..data.files import read_series_csv
from .._deps import require
from ..forecast import LSTMForecaster
from ..train.checkpoint import atomic_write_bytes
from .base import ModelConfig, Recipe, RecipeConfig, Run, TrainConfig, _pyplot, run_recipe

log = logging.getLogger(__name__)

# per series: window, horizon, log scale, origins, stride
SERIES_DEFAULTS = {
    "airline": dict(window=24, horizon=12, log=True, origins=6, stride=2),
    "co2": dict(window=36, horizon=12, log=False, origins=12, stride=6),
    "sunspots": dict(window=264, horizon=12, log=False, origins=12, stride=24),
    "electricity": dict(window=336, horizon=48, log=False, origins=14, stride=48),
    "sunspots_yearly": dict(window=30, horizon=5, log=False, origins=10, stride=3),
}


@dataclass
class ForecastData:
    series: str = "airline"  # a bundled series (airline, co2, sunspots, electricity, sunspots_yearly) ...
    csv: str = ""  # ... or a CSV file with ...
    column: str = ""  # ... this numeric column
    period: int = 0  # seasonal period; 0 = the series' own (1 for a CSV: no seasonality)
    window: int = 0  # 0 = the series' default
    horizon: int = 0
    origins: int = 0
    stride: int = 0
    log: str = "auto"  # "auto" (the series' default), "true" or "false"
    ensemble: int = 3  # networks averaged
    steps: int = 150  # optimizer steps per network (LSTMForecaster's steps)
    combine: str = "auto"  # "auto": validated combination with ETS, Theta and AR; "lstm": the network alone

    def __post_init__(self) -> None:
        if self.csv and not self.column:
            raise ValueError("data.csv needs data.column")
        if min(self.period, self.window, self.horizon, self.origins, self.stride) < 0:
            raise ValueError("data.period, window, horizon, origins and stride must be >= 0")
        if self.log not in ("auto", "true", "false"):
            raise ValueError(f"data.log must be auto, true or false, got {self.log!r}")
        if self.ensemble < 1 or self.steps < 1:
            raise ValueError("data.ensemble and data.steps must be >= 1")
        if self.combine not in ("auto", "lstm"):
            raise ValueError(f"data.combine must be auto or lstm, got {self.combine!r}")


@dataclass
class Problem:
    name: str
    values: np.ndarray  # (N,) original units
    period: int
    window: int
    horizon: int
    origins: list[int]  # forecast from values[:o]
    log: bool
    description: str


def resolve(d: ForecastData) -> Problem:
    """The series and its evaluation design, with per-series defaults filled in and checked."""
    if d.csv:
        values = read_series_csv(d.csv, d.column, min_length=8)
        name, desc, period = f"{d.csv}:{d.column}", f"column {d.column!r} of {d.csv}", d.period or 1
        dflt = dict(window=min(48, max(4, len(values) // 6)), horizon=min(12, max(1, len(values) // 10)),
                    log=False, origins=3, stride=1)
    else:
        s = load_series(d.series)
        values, name, desc, period = s.values, s.name, s.description, d.period or s.period
        dflt = SERIES_DEFAULTS[s.name]
    window, horizon = d.window or dflt["window"], d.horizon or dflt["horizon"]
    n_orig, stride = d.origins or dflt["origins"], d.stride or dflt["stride"]
    use_log = dflt["log"] if d.log == "auto" else d.log == "true"
    if use_log and (values <= 0).any():
        raise ValueError(f"{name}: data.log needs positive values, found {values.min()}")
    n = len(values)
    first = n - horizon - (n_orig - 1) * stride
    need = window + horizon + 8  # at least a handful of training windows before the first origin
    if first < need:
        raise ValueError(f"{name}: {n} values are too few for window {window}, horizon {horizon} and "
                         f"{n_orig} origins {stride} apart: the training part would have {max(first, 0)} values, "
                         f"needs at least {need}. Use a shorter data.window/data.horizon or fewer data.origins")
    if period >= first:
        raise ValueError(f"{name}: period {period} is not shorter than the {first} values before the first "
                         "forecast origin; seasonal naive and the MASE scale need at least one full season of "
                         "history. Use a smaller --period (data.period)")
    biggest = float(np.abs(values).max())
    if biggest > 1e100:  # squared differences (the scale, the losses) overflow float64 near 1e154
        raise ValueError(f"{name}: values as large as {biggest:.3g} overflow the forecasts' arithmetic; rescale "
                         f"the column (divide it by 1e{int(np.log10(biggest))}, say)")
    origins = [first + k * stride for k in range(n_orig)]
    return Problem(name, values, period, window, horizon, origins, use_log, desc)


def seasonal_naive(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """The last ``period`` values repeated (the last value when ``period`` is 1)."""
    season = history[-period:]
    return np.array([season[h % period] for h in range(horizon)])


def ets_forecast(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Holt-Winters: damped additive trend, additive seasonality when there are two full seasons and the
    period is at most 52 steps (a longer cycle, like the sunspots', is left to the trend and level)."""
    ExponentialSmoothing = require("statsmodels.tsa.holtwinters", "recipes").ExponentialSmoothing

    seasonal = "add" if 1 < period <= 52 and len(history) >= 2 * period + 2 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter from the optimiser
        fit = ExponentialSmoothing(history, trend="add", damped_trend=True, seasonal=seasonal,
                                   seasonal_periods=period if seasonal else None,
                                   initialization_method="estimated").fit()
    return np.asarray(fit.forecast(horizon), dtype=np.float64)


def errors(pred: np.ndarray, truth: np.ndarray, scale: float) -> dict:
    e = pred - truth
    mae = float(np.abs(e).mean())
    return {"rmse": float(np.sqrt((e ** 2).mean())), "mae": mae, "mase": mae / scale}


def make_forecaster(p: Problem, cfg: RecipeConfig) -> LSTMForecaster:
    """The library's forecaster with the recipe's settings: window (0 = its own rule), model size, ensemble."""
    d, m, t = cfg.data, cfg.model, cfg.train
    return LSTMForecaster(horizon=p.horizon, period=p.period, input_size=d.window, hidden_size=m.hidden_size,
                          num_layers=m.num_layers, ensemble=d.ensemble, steps=d.steps, batch_size=t.batch_size,
                          lr=t.lr, seed=t.seed, combine=d.combine)


class Forecast(Recipe):
    name = "forecast"
    summary = ("multi-step forecasts of a real series (airline, co2, sunspots, electricity) against seasonal "
               "naive and Holt-Winters, rolling origin, RMSE/MAE/MASE")
    target = "the LSTM beats both baselines (MASE) on most series"
    main_metric = "lstm_mase"

    def default_config(self, quick: bool) -> RecipeConfig:
        cfg = RecipeConfig(ForecastData(), ModelConfig(hidden_size=32, num_layers=1),
                           TrainConfig(epochs=1, batch_size=64, lr=3e-3))
        if quick:
            cfg.data.steps, cfg.data.ensemble = 40, 1
        return cfg

    def train(self, cfg: RecipeConfig, run: Run, quick: bool) -> dict:
        p = resolve(cfg.data)
        tf, inv = (np.log, np.exp) if p.log else (np.asarray, np.asarray)
        train_part = p.values[: p.origins[0]]
        fc = make_forecaster(p, cfg).fit(tf(train_part))
        scale = float(np.abs(train_part[p.period:] - train_part[:-p.period]).mean()) or 1.0
        preds: dict[str, list[np.ndarray]] = {"lstm": [], "seasonal_naive": [], "ets": []}
        fans, truth = [], []
        for o in p.origins:
            hist = p.values[:o]
            q = inv(fc.predict_quantiles(history=tf(hist)))  # (H, Q), original units
            fans.append(q)
            preds["lstm"].append(q[:, fc.config.quantiles.index(0.5)])
            preds["seasonal_naive"].append(seasonal_naive(hist, p.horizon, p.period))
            ets = ets_forecast(tf(hist), p.horizon, p.period)
            preds["ets"].append(inv(ets))
            truth.append(p.values[o: o + p.horizon])
        truth_arr = np.stack(truth)  # (K, H)
        scores = {k: errors(np.stack(v), truth_arr, scale) for k, v in preds.items()}
        fan = np.stack(fans)  # (K, H, Q)
        coverage = float(np.mean((fan[..., 0] <= truth_arr) & (truth_arr <= fan[..., -1])))
        fc.save(run.path / "forecaster.safetensors")
        future_q = inv(fc.predict_quantiles(history=tf(p.values)))  # (H, Q)
        future = {"seasonal_naive": seasonal_naive(p.values, p.horizon, p.period),
                  "ets": inv(ets_forecast(tf(p.values), p.horizon, p.period))}
        _write_predictions(run, p, future_q, fc.config.quantiles, future)
        _plot_forecasts(run, p, preds, scores)
        _plot_losses(run, fc, p.name)
        out: dict[str, Any] = {"series": p.name, "description": p.description, "n": len(p.values),
                               "period": p.period, "input_sizes": fc.lengths, "horizon": p.horizon,
                               "origins": p.origins, "log_scale": p.log, "mase_scale": scale,
                               "components": "+".join(fc.components), "weights": fc.weights,
                               f"lstm_coverage_{round(100 * (fc.config.quantiles[-1] - fc.config.quantiles[0]))}":
                               coverage}
        for model_name, sc in scores.items():
            out.update({f"{model_name}_{k}": v for k, v in sc.items()})
        out["lstm_beats_both"] = bool(scores["lstm"]["mase"] < min(scores["ets"]["mase"],
                                                                  scores["seasonal_naive"]["mase"]))
        return out


def _write_predictions(run: Run, p: Problem, q: np.ndarray, quantiles: tuple, future: dict[str, np.ndarray]) -> None:
    """step, the forecaster's point forecast and quantiles, then each baseline's forecast."""
    lines = ["step,lstm," + ",".join(f"q{x:g}" for x in quantiles) + ",seasonal_naive,ets"]
    qi = quantiles.index(0.5)
    for h in range(p.horizon):
        lines.append(",".join([str(h + 1), f"{q[h, qi]:.6g}", *(f"{v:.6g}" for v in q[h]),
                               f"{future['seasonal_naive'][h]:.6g}", f"{future['ets'][h]:.6g}"]))
    atomic_write_bytes(run.path / "predictions.csv", ("\n".join(lines) + "\n").encode())


def _plot_losses(run: Run, fc: LSTMForecaster, name: str) -> None:
    """learning_curves.png: each network's training loss per optimizer step (the refit's steps continue it)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k, losses in enumerate(fc.losses_):
        length = fc.lengths[k % len(fc.lengths)]
        ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.8, label=f"network {k + 1} (input {length})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("pinball loss" if fc.config.head == "quantile" else "negative log-likelihood")
    ax.set_title(f"forecast {name}: training loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(run.path / "learning_curves.png", dpi=110)
    plt.close(fig)


def _plot_forecasts(run: Run, p: Problem, preds: dict, scores: dict, path_name: str = "forecasts.png") -> None:
    plt = _pyplot()
    start = max(0, p.origins[0] - 3 * max(p.horizon, p.period))
    fig, ax = plt.subplots(figsize=(10, 4))
    t = np.arange(start, len(p.values))
    ax.plot(t, p.values[start:], color="black", lw=1.2, label="truth")
    colours = {"lstm": "tab:red", "ets": "tab:blue", "seasonal_naive": "tab:green"}
    for name, fcs in preds.items():
        for k, (o, f) in enumerate(zip(p.origins, fcs)):
            ax.plot(np.arange(o, o + p.horizon), f, color=colours[name], lw=0.9, alpha=0.8,
                    label=f"{name} (MASE {scores[name]['mase']:.3f})" if k == 0 else None)
    ax.axvline(p.origins[0], color="grey", ls=":", lw=1)
    ax.set_title(f"{p.name}: {p.horizon}-step forecasts from {len(p.origins)} origins")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(run.path / path_name, dpi=110)
    plt.close(fig)


def forecast_csv(path: str, column: str, horizon: int, period: int = 1, out: Optional[str] = None,
                 overrides: tuple[str, ...] = (), quick: bool = False, verbose: int = 1) -> tuple[Run, dict]:
    """``lstmkit forecast my.csv --column y --horizon 24``: the forecast recipe on the user's own series."""
    sets = (f"data.csv={path}", f"data.column={column}", f"data.horizon={horizon}", f"data.period={period}",
            *overrides)
    return run_recipe(Forecast(), sets, quick=quick, out=out, verbose=verbose)
