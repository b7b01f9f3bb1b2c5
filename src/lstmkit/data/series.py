"""Real time series bundled with the package, and windowing for supervised learning."""

from __future__ import annotations

import csv
import io
from importlib import resources

import numpy as np


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
