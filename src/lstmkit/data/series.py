"""Real time series bundled with the package, and windowing for supervised learning."""

from __future__ import annotations

import ast
import csv
import gzip
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .sources import packaged_files


def load_sunspots_yearly() -> tuple[np.ndarray, np.ndarray]:
    """Yearly mean sunspot numbers 1700-2008 (309 values), bundled with lstmkit.

    Source: NOAA NGDC via statsmodels' ``sunspots`` data set (public domain).

    >>> years, spots = load_sunspots_yearly()
    >>> int(years[0]), int(years[-1]), spots.shape
    (1700, 2008, (309,))
    """
    text = resources.files("lstmkit.data").joinpath("sunspots_yearly.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    if rows[0] != ["YEAR", "SUNACTIVITY"]:
        raise ValueError(f"sunspots_yearly.csv: unexpected header {rows[0]}")
    data = np.array(rows[1:], dtype=np.float64)  # (309, 2)
    return data[:, 0].astype(np.int64), data[:, 1]


def sliding_windows(series: np.ndarray, window: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cut a 1-D or (N, F) series into inputs (M, window, F) and the ``horizon`` values that follow (M, horizon).

    >>> x, y = sliding_windows(np.arange(6.0), window=3)
    >>> x[:, :, 0].tolist(), y[:, 0].tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]], [3.0, 4.0, 5.0])
    """
    arr = np.asarray(series)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"series must be 1-D or 2-D (N, F), got shape {arr.shape}")
    if window < 1 or horizon < 1:
        raise ValueError(f"window and horizon must be >= 1, got {window} and {horizon}")
    n = arr.shape[0] - window - horizon + 1
    if n < 1:
        raise ValueError(f"series of length {arr.shape[0]} is too short for window {window} + horizon {horizon}")
    if not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise ValueError(f"series has a non-finite value at index {bad}")
    idx = np.arange(window)[None, :] + np.arange(n)[:, None]  # (M, window)
    x = arr[idx]  # (M, window, F)
    y = arr[np.arange(horizon)[None, :] + np.arange(n)[:, None] + window, 0]  # (M, horizon) of feature 0
    return x, y


@dataclass(frozen=True)
class Series:
    """A named real series: ``values`` (N,) float64, ``period`` (the seasonal cycle, in steps), ``freq``."""

    name: str
    values: np.ndarray
    period: int
    freq: str
    description: str


def _literal_array(source: str, path: str) -> np.ndarray:
    """The first ``np.array([...])`` list literal in a Python source file, parsed without running it."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "array" and node.args
                and isinstance(node.args[0], ast.List)):
            return np.array(ast.literal_eval(node.args[0]), dtype=np.float64)
    raise ValueError(f"{path}: no array literal found")


def _pmdarima(member: str) -> Path:
    return packaged_files("pmdarima_series")[f"pmdarima/datasets/{member}"]


def _airline() -> Series:
    p = _pmdarima("airpassengers.py")
    v = _literal_array(p.read_text(encoding="utf-8"), str(p))
    return Series("airline", v, 12, "monthly", "international airline passengers (thousands), 1949-1960; "
                  "Box & Jenkins series G")


def _sunspots() -> Series:
    p = _pmdarima("data/sunspots.txt.gz")
    with gzip.open(p, "rt") as f:
        v = np.array(f.read().split(), dtype=np.float64)
    return Series("sunspots", v, 132, "monthly", "monthly mean sunspot numbers, 1749-1983 (R's sunspots)")


def _electricity() -> Series:
    p = _pmdarima("taylor.py")
    v = _literal_array(p.read_text(encoding="utf-8"), str(p))
    return Series("electricity", v, 48, "half-hourly", "half-hourly electricity demand (MW) in England and "
                  "Wales, 12 weeks from 5 June 2000 (Taylor 2003)")


def _co2() -> Series:
    p = packaged_files("statsmodels_co2")["statsmodels/datasets/co2/co2.csv"]
    rows = list(csv.reader(io.StringIO(p.read_text(encoding="utf-8"))))
    months: dict[str, list[float]] = {}
    for date, value in rows[1:]:
        if value.strip():
            months.setdefault(date[:6], []).append(float(value))
    keys = sorted(months)
    y0, m0, y1, m1 = int(keys[0][:4]), int(keys[0][4:]), int(keys[-1][:4]), int(keys[-1][4:])
    every = [f"{y:04d}{m:02d}" for y in range(y0, y1 + 1) for m in range(1, 13)
             if (y, m) >= (y0, m0) and (y, m) <= (y1, m1)]
    v = np.array([np.mean(months[k]) if k in months else np.nan for k in every])  # weekly -> monthly means
    gaps = np.isnan(v)  # months with no reading at all: linear interpolation between neighbours
    v[gaps] = np.interp(np.flatnonzero(gaps), np.flatnonzero(~gaps), v[~gaps])
    return Series("co2", v, 12, "monthly", f"atmospheric CO2 at Mauna Loa (ppm), monthly means of weekly "
                  f"readings, {keys[0][:4]}-{keys[-1][:4]}")


def _sunspots_yearly() -> Series:
    _, v = load_sunspots_yearly()
    return Series("sunspots_yearly", v, 11, "yearly", "yearly mean sunspot numbers, 1700-2008 (bundled)")


SERIES = {"airline": _airline, "sunspots": _sunspots, "co2": _co2, "electricity": _electricity,
          "sunspots_yearly": _sunspots_yearly}


def load_series(name: str) -> Series:
    """A real series by name: ``airline``, ``sunspots`` (monthly), ``co2``, ``electricity``, ``sunspots_yearly``.

    >>> s = load_series("airline")
    >>> s.values.shape, s.period, int(s.values[0])
    ((144,), 12, 112)
    """
    if name not in SERIES:
        raise ValueError(f"unknown series {name!r}; known: {', '.join(SERIES)}")
    return SERIES[name]()


class StandardScaler:
    """Zero mean, unit variance, fitted on training values only; ``state()``/``from_state`` for saving.

    >>> sc = StandardScaler().fit(np.array([1.0, 3.0]))
    >>> sc.transform(np.array([2.0])).tolist(), sc.inverse(np.array([1.0])).tolist()
    ([0.0], [3.0])
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0) -> None:
        self.mean, self.std = float(mean), float(std)

    def fit(self, values: np.ndarray) -> "StandardScaler":
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0 or not np.isfinite(values).all():
            raise ValueError("StandardScaler.fit needs a non-empty array of finite values")
        self.mean, self.std = float(values.mean()), float(values.std() or 1.0)
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.std + self.mean

    def state(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, state: dict) -> "StandardScaler":
        return cls(state["mean"], state["std"])
