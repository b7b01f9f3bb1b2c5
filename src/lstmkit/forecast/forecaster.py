"""``LSTMForecaster``: a global LSTM over windows of one or many series, with quantiles, combined with
exponential smoothing and Theta where its own validation says that wins.

The method, and where each part comes from:

* **Global windows.** Every window of ``input_size`` past values and the ``horizon`` values after it, from
  every series, trains one network (the global models of Salinas et al. 2020 (DeepAR) and Oreshkin et al.
  2020 (N-BEATS)); several series in one fit share what they have in common.
* **Per-window normalisation.** Each window is centred and scaled by its own mean and standard deviation,
  and the forecast mapped back the same way (RevIN, Kim et al. 2022), so levels the training data never
  reached are no harder than the ones it did.
* **Direct multi-quantile output.** The last hidden state, plus a linear map of the normalised window (a
  skip path that carries trends, cf. Zeng et al. 2023's linear baselines), gives all ``horizon`` steps of
  every quantile at once, trained with the pinball loss (Koenker & Bassett 1978; the MQ-RNN of Wen et al.
  2017). The median is the point forecast.
* **Ensembles.** ``ensemble`` networks from different seeds and two input lengths (one and two seasons, or
  one and two horizons) are averaged quantile by quantile (N-BEATS ensembles over seeds and lookbacks).
* **Combination chosen by validation.** With ``combine="auto"`` the forecaster first holds out the last
  ``horizon`` values of each series, fits on the rest and scores the network, exponential smoothing, Theta
  and their equal-weight combinations by MASE there (the M4 lesson: combinations of statistical and
  learned models win, Makridakis et al. 2020; Smyl 2020). The combination with the lowest validation error
  over all series is used; the networks then continue training on the full series (warm start) before the
  final forecast. ``combine="lstm"`` uses the network alone.

>>> import numpy as np
>>> y = 10 + np.sin(np.arange(120) * 2 * np.pi / 12) + 0.01 * np.arange(120)
>>> fc = LSTMForecaster(horizon=6, period=12, steps=60, ensemble=1, combine="lstm").fit(y)
>>> fc.predict().shape
(6,)
"""

from __future__ import annotations

import copy
import dataclasses
import io
import itertools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..nn import LSTM
from . import metrics, stats

log = logging.getLogger(__name__)

SeriesLike = Union[np.ndarray, Sequence[float]]
FORMAT = "lstmkit.forecaster/1"


@dataclass
class ForecastConfig:
    """How :class:`LSTMForecaster` fits; every field is a keyword of its constructor."""

    horizon: int  # steps to forecast
    period: int = 1  # seasonal period in steps (12 for monthly data, 7 for daily, 1 for none)
    input_size: int = 0  # steps the network reads; 0 = two seasons, or two horizons without a season
    hidden_size: int = 32
    num_layers: int = 1
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)  # the median is always among them (added if missing)
    ensemble: int = 3  # networks averaged (seeds, and two input lengths)
    steps: int = 150  # optimizer steps per network
    batch_size: int = 64
    lr: float = 3e-3
    combine: str = "auto"  # "auto" (validated combination with ETS and Theta) or "lstm"
    refit_fraction: float = 0.35  # after validation: further steps on the full series, as a fraction of steps
    seed: int = 0
    cell: dict = field(default_factory=dict)  # lstmkit.LSTM variant options: peephole=True, layer_norm=True...

    def __post_init__(self) -> None:
        ints = dict(horizon=1, period=1, input_size=0, hidden_size=1, num_layers=1, ensemble=1, steps=1,
                    batch_size=1)
        for name, low in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"ForecastConfig.{name} must be an integer >= {low}, got {v!r}")
        qs = tuple(float(q) for q in self.quantiles)
        if any(not 0.0 < q < 1.0 for q in qs):
            raise ValueError(f"ForecastConfig.quantiles must lie in (0, 1), got {self.quantiles}")
        self.quantiles = tuple(sorted(set(qs) | {0.5}))
        if self.combine not in ("auto", "lstm"):
            raise ValueError(f"ForecastConfig.combine must be 'auto' or 'lstm', got {self.combine!r}")
        if not self.lr > 0 or not 0.0 <= self.refit_fraction <= 1.0:
            raise ValueError("ForecastConfig.lr must be > 0 and refit_fraction in [0, 1]")
        if not isinstance(self.cell, dict):
            raise ValueError(f"ForecastConfig.cell must be a dict of lstmkit.LSTM options, got {self.cell!r}")


class QuantileLSTM(nn.Module):
    """Normalised window (B, L) -> quantiles (B, H, Q): an LSTM's last state and a linear skip of the window."""

    def __init__(self, input_size: int, horizon: int, n_quantiles: int, hidden_size: int, num_layers: int,
                 cell: dict) -> None:
        super().__init__()
        self.horizon, self.n_quantiles = horizon, n_quantiles
        self.lstm = LSTM(1, hidden_size, num_layers, batch_first=True, **cell)
        self.head = nn.Linear(hidden_size, horizon * n_quantiles)
        self.skip = nn.Linear(input_size, horizon * n_quantiles)
        nn.init.zeros_(self.skip.weight)  # start from "the window's mean" and let the data add the rest
        nn.init.zeros_(self.skip.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.unsqueeze(-1))  # (B, L, H)
        y = self.head(out[:, -1]) + self.skip(x)  # (B, H*Q)
        return y.view(-1, self.horizon, self.n_quantiles)


def _normalise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-window centring and scaling (RevIN without the learned affine): (M, L) -> normalised, mean, std."""
    mu = x.mean(axis=1, keepdims=True)  # (M, 1)
    sd = x.std(axis=1, keepdims=True)  # (M, 1)
    floor = 1e-3 * np.maximum(np.abs(mu), 1.0)  # a flat window: scale by its level instead
    sd = np.maximum(sd, floor)
    return (x - mu) / sd, mu, sd


def _windows(series: list[np.ndarray], length: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for v in series:
        n = len(v) - length - horizon + 1
        if n <= 0:
            continue
        idx = np.arange(n)[:, None]
        xs.append(v[idx + np.arange(length)])  # (n, L)
        ys.append(v[idx + length + np.arange(horizon)])  # (n, H)
    if not xs:
        return np.empty((0, length)), np.empty((0, horizon))
    return np.concatenate(xs), np.concatenate(ys)


def _check_series(y: Any, name: str) -> np.ndarray:
    try:
        v = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: not numeric ({err})") from None
    if v.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D series, got shape {v.shape}")
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        raise ValueError(f"{name}: {bad.size} missing or infinite value(s), the first at position {bad[0]}; "
                         "fill them first (lstmkit.forecast.interpolate_missing does it linearly)")
    biggest = float(np.abs(v).max()) if v.size else 0.0
    if biggest > 1e100:  # squared deviations (the scales, the statistical fits) overflow float64 near 1e154
        raise ValueError(f"{name}: values as large as {biggest:.3g} overflow the forecasts' arithmetic; rescale "
                         f"the series (divide it by 1e{int(np.log10(biggest))}, say)")
    return v


def _as_series_list(y: Any) -> list[np.ndarray]:
    if isinstance(y, dict):
        return [_check_series(v, f"series {k!r}") for k, v in y.items()]
    if isinstance(y, (list, tuple)) and y and np.ndim(y[0]) == 1:
        return [_check_series(v, f"series {k}") for k, v in enumerate(y)]
    arr = np.asarray(y, dtype=np.float64) if not isinstance(y, np.ndarray) else y
    if arr.ndim == 2:
        return [_check_series(v, f"series {k}") for k, v in enumerate(arr)]
    return [_check_series(arr, "series")]


class LSTMForecaster:
    """Fit on one series or many, forecast ``horizon`` steps with quantiles; see the module docstring.

    Keywords are those of :class:`ForecastConfig`. ``fit(y)`` takes a 1-D series, a list (or dict) of series,
    or a 2-D array of equal-length series; ``predict()`` forecasts from the end of the fitted series, and
    ``predict(history=...)`` from any other history without retraining the networks.
    """

    def __init__(self, horizon: int, **options: Any) -> None:
        self.config = ForecastConfig(horizon=horizon, **options)
        self.networks: list[QuantileLSTM] = []
        self.lengths: list[int] = []
        self.components: tuple[str, ...] = ("lstm",)
        self.validation: dict[str, float] = {}
        self.series_: list[np.ndarray] = []

    # -- fitting ---------------------------------------------------------------------------------------
    def _input_lengths(self, shortest: int) -> list[int]:
        c = self.config
        base = c.input_size or (2 * c.period if c.period > 1 else max(2 * c.horizon, 4))
        room = shortest - c.horizon - 3  # the longest input that leaves at least 4 windows in the shortest series
        if room < 2:
            raise ValueError(f"the shortest series has {shortest} values, too few: forecasting {c.horizon} steps "
                             f"needs at least {c.horizon + 5} (an input of 2 steps, the horizon, and 4 windows)")
        if base > room:
            log.info("forecast: input_size %d does not fit the shortest series (%d values): using %d", base,
                     shortest, room)
            base = room
        lengths = [base]
        if c.ensemble > 1 and not c.input_size and 2 * base <= room:
            lengths.append(2 * base)
        return lengths

    def _train(self, series: list[np.ndarray], steps: int, lr: float, networks: Optional[list] = None) -> list:
        c = self.config
        nets = networks or []
        for k in range(c.ensemble):
            length = self.lengths[k % len(self.lengths)]
            x, y = _windows(series, length, c.horizon)
            xn, mu, sd = _normalise(x)
            yn = (y - mu) / sd
            X = torch.as_tensor(xn, dtype=torch.float32)  # (M, L)
            Y = torch.as_tensor(yn, dtype=torch.float32)  # (M, H)
            torch.manual_seed(c.seed + k)
            if networks is None:
                nets.append(QuantileLSTM(length, c.horizon, len(c.quantiles), c.hidden_size, c.num_layers, c.cell))
            net = nets[k]
            net.train()
            opt = torch.optim.Adam(net.parameters(), lr=lr)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
            q = torch.tensor(c.quantiles, dtype=torch.float32)  # (Q,)
            g = torch.Generator().manual_seed(c.seed + 1000 + k)
            recent = []
            for _ in range(steps):
                idx = torch.randint(0, len(X), (min(c.batch_size, len(X)),), generator=g)
                pred = net(X[idx])  # (b, H, Q)
                diff = Y[idx].unsqueeze(-1) - pred  # (b, H, Q)
                loss = torch.maximum(q * diff, (q - 1) * diff).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                sched.step()
                recent = (recent + [loss.item()])[-20:]
            log.info("forecast: network %d/%d (input %d, %d windows): %d steps, pinball loss %.4f", k + 1,
                     c.ensemble, length, len(X), steps, float(np.mean(recent)))
        return nets

    def _network_quantiles(self, histories: list[np.ndarray], networks: Optional[list] = None) -> np.ndarray:
        """(S, H, Q) quantile forecasts of the ensemble from the end of each history."""
        nets = networks if networks is not None else self.networks
        outs = []
        with torch.no_grad():
            for k, net in enumerate(nets):
                net.eval()
                length = self.lengths[k % len(self.lengths)]
                x = np.stack([h[-length:] for h in histories])  # (S, L)
                xn, mu, sd = _normalise(x)
                p = net(torch.as_tensor(xn, dtype=torch.float32)).double().numpy()  # (S, H, Q)
                outs.append(mu[:, :, None] + sd[:, :, None] * p)
        q = np.mean(outs, axis=0)  # (S, H, Q): quantile averaging over members
        return np.sort(q, axis=-1)  # no crossing quantiles

    def _candidates(self, histories: list[np.ndarray], networks: Optional[list] = None) -> dict[str, np.ndarray]:
        """Point forecasts (S, H) of the network and of each statistical model used."""
        c = self.config
        qi = c.quantiles.index(0.5)
        out = {"lstm": self._network_quantiles(histories, networks)[:, :, qi]}
        for name in ("ets", "theta"):
            if c.combine == "auto" or name in self.components:
                out[name] = np.stack([stats.STATISTICAL[name](h, c.horizon, c.period) for h in histories])
        return out

    def fit(self, y: Any) -> "LSTMForecaster":
        """Fit on ``y`` (see the class docstring). Returns self."""
        c = self.config
        series = _as_series_list(y)
        if not series:
            raise ValueError("fit: no series given")
        shortest = min(len(v) for v in series)
        self.series_ = [v.copy() for v in series]
        self.components, self.validation = ("lstm",), {}
        validate = c.combine == "auto" and shortest - c.horizon >= c.horizon + 5
        fit_on = [v[:-c.horizon] for v in series] if validate else series
        self.lengths = self._input_lengths(min(len(v) for v in fit_on))
        nets = self._train(fit_on, c.steps, c.lr)
        if validate:
            cands = self._candidates(fit_on, nets)
            truth = np.stack([v[-c.horizon:] for v in series])  # (S, H)
            scores = {}
            names = list(cands)
            for r in range(1, len(names) + 1):
                for combo in itertools.combinations(names, r):
                    f = np.mean([cands[n] for n in combo], axis=0)  # (S, H)
                    scores["+".join(combo)] = float(np.mean(
                        [metrics.mase(f[s], truth[s], fit_on[s], c.period) for s in range(len(series))]))
            best = min(scores, key=scores.get)
            self.components, self.validation = tuple(best.split("+")), scores
            log.info("forecast: validation MASE %s; using %s", {k: round(v, 3) for k, v in scores.items()}, best)
            if "lstm" in self.components and c.refit_fraction > 0:
                self._train(series, max(1, int(c.steps * c.refit_fraction)), c.lr * 0.3, networks=nets)
        self.networks = nets
        return self

    # -- forecasting -----------------------------------------------------------------------------------
    def _histories(self, history: Any) -> list[np.ndarray]:
        if not self.networks:
            raise RuntimeError("LSTMForecaster: call fit() before predict()")
        hs = self.series_ if history is None else _as_series_list(history)
        need = max(self.lengths)
        for k, h in enumerate(hs):
            if len(h) < need:
                raise ValueError(f"series {k}: {len(h)} values, the networks read the last {need}")
        return hs

    def predict_quantiles(self, history: Any = None) -> np.ndarray:
        """(H, Q) for one series, (S, H, Q) for several: the network's quantile fan, centred on the
        combined point forecast. ``history`` defaults to the fitted series."""
        hs = self._histories(history)
        c = self.config
        q = self._network_quantiles(hs)  # (S, H, Q)
        qi = c.quantiles.index(0.5)
        point = self._combined(hs, q[:, :, qi])
        q = q - q[:, :, qi:qi + 1] + point[:, :, None]
        return q[0] if len(hs) == 1 and not _is_many(history, self.series_) else q

    def _combined(self, hs: list[np.ndarray], lstm_point: np.ndarray) -> np.ndarray:
        c = self.config
        parts = []
        for name in self.components:
            if name == "lstm":
                parts.append(lstm_point)
            else:
                parts.append(np.stack([stats.STATISTICAL[name](h, c.horizon, c.period) for h in hs]))
        return np.mean(parts, axis=0)  # (S, H)

    def predict(self, history: Any = None) -> np.ndarray:
        """The point forecast: (H,) for one series, (S, H) for several."""
        q = self.predict_quantiles(history)
        return q[..., self.config.quantiles.index(0.5)]

    # -- evaluation ------------------------------------------------------------------------------------
    def backtest(self, y: SeriesLike, origins: int = 3, stride: int = 0) -> list[dict]:
        """Rolling-origin evaluation (Tashman 2000): refit on ``y[:o]`` at each of ``origins`` forecast
        origins ``stride`` steps apart (default: the horizon) ending at the series' end; one row of metrics
        (MASE, sMAPE, scaled pinball, coverage of the outer quantiles) per origin."""
        v = _check_series(y, "series")
        c = self.config
        stride = stride or c.horizon
        rows = []
        for k in range(origins):
            o = len(v) - c.horizon - (origins - 1 - k) * stride
            fc = LSTMForecaster(**dataclasses.asdict(c)).fit(v[:o])
            q = fc.predict_quantiles()  # (H, Q)
            truth, hist = v[o:o + c.horizon], v[:o]
            point = q[:, c.quantiles.index(0.5)]
            rows.append({"origin": o, "mase": metrics.mase(point, truth, hist, c.period),
                         "smape": metrics.smape(point, truth),
                         "scaled_pinball": metrics.scaled_pinball(q, truth, c.quantiles, hist, c.period),
                         "coverage": metrics.coverage(q[:, 0], q[:, -1], truth),
                         "components": "+".join(fc.components)})
        return rows

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: Union[str, Path]) -> Path:
        """Write the forecaster to one safetensors file (networks, fitted series, config and choice as
        metadata), atomically."""
        from safetensors.torch import save as st_save

        from ..train.checkpoint import atomic_write_bytes

        if not self.networks:
            raise RuntimeError("LSTMForecaster.save: nothing fitted yet")
        tensors = {f"net{k}.{n}": t.detach().contiguous() for k, net in enumerate(self.networks)
                   for n, t in net.state_dict().items()}
        for k, s in enumerate(self.series_):
            tensors[f"series{k}"] = torch.as_tensor(s, dtype=torch.float64)
        meta = {"format": FORMAT, "config": json.dumps(dataclasses.asdict(self.config)),
                "lengths": json.dumps(self.lengths), "components": json.dumps(list(self.components)),
                "validation": json.dumps(self.validation), "n_series": str(len(self.series_))}
        p = Path(path)
        atomic_write_bytes(p, st_save(tensors, metadata=meta))
        return p

    @classmethod
    def load(cls, path: Union[str, Path]) -> "LSTMForecaster":
        """Read a file written by :meth:`save`; a damaged or foreign file raises ValueError naming it."""
        from safetensors import SafetensorError
        from safetensors.torch import load as st_load

        p = Path(path)
        try:
            raw = p.read_bytes()
            tensors = st_load(raw)
            meta = _metadata(raw)
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
            cfg = json.loads(meta["config"])
            cfg["quantiles"] = tuple(cfg["quantiles"])
            fc = cls(**cfg)
            fc.lengths = json.loads(meta["lengths"])
            fc.components = tuple(json.loads(meta["components"]))
            fc.validation = json.loads(meta["validation"])
            fc.series_ = [tensors[f"series{k}"].numpy().copy() for k in range(int(meta["n_series"]))]
            c = fc.config
            for k in range(c.ensemble):
                net = QuantileLSTM(fc.lengths[k % len(fc.lengths)], c.horizon, len(c.quantiles), c.hidden_size,
                                   c.num_layers, c.cell)
                prefix = f"net{k}."
                net.load_state_dict({n[len(prefix):]: t for n, t in tensors.items() if n.startswith(prefix)})
                fc.networks.append(net)
        except FileNotFoundError:
            raise
        except (SafetensorError, ValueError, KeyError, RuntimeError, json.JSONDecodeError) as err:
            raise ValueError(f"{p}: not a readable lstmkit forecaster ({type(err).__name__}: {err})") from None
        return fc

    def clone(self) -> "LSTMForecaster":
        return copy.deepcopy(self)


def _metadata(raw: bytes) -> dict:
    n = int.from_bytes(raw[:8], "little")
    header = json.load(io.BytesIO(raw[8:8 + n]))
    return header.get("__metadata__", {})


def _is_many(history: Any, fitted: list) -> bool:
    """Whether the caller passed (or fitted) several series, so results keep the series axis."""
    if history is None:
        return len(fitted) > 1
    if isinstance(history, dict):
        return True
    if isinstance(history, (list, tuple)):
        return bool(history) and np.ndim(history[0]) == 1
    return np.ndim(history) == 2


def interpolate_missing(y: SeriesLike) -> np.ndarray:
    """Fill missing values (NaN) linearly between their neighbours, and at the ends with the nearest value.

    >>> interpolate_missing([1.0, float("nan"), 3.0]).tolist()
    [1.0, 2.0, 3.0]
    """
    v = np.asarray(y, dtype=np.float64).copy()
    bad = ~np.isfinite(v)
    if bad.all():
        raise ValueError("interpolate_missing: every value is missing")
    if bad.any():
        idx = np.arange(len(v))
        v[bad] = np.interp(idx[bad], idx[~bad], v[~bad])
    return v
