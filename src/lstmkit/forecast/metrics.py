"""Forecast accuracy: point errors scaled the way the M competitions scale them, and quantile scores.

* MASE (Hyndman & Koehler 2006): mean absolute error over the in-sample mean absolute error of the seasonal
  naive forecast (lag ``period``) on the history the forecast was made from.
* sMAPE (Makridakis 1993, as in M4): ``200 |y - f| / (|y| + |f|)``, in percent.
* Scaled pinball loss (the M5 uncertainty track's SPL): the quantile loss over the same MASE scale, averaged
  over the quantiles; with a fine, symmetric set of quantiles twice this approximates the CRPS (Gneiting &
  Raftery 2007; the quantile decomposition of the CRPS).
* Coverage: the fraction of true values inside the central interval of two quantiles.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def mase_scale(history: np.ndarray, period: int = 1) -> float:
    """In-sample MAE of the seasonal-naive forecast (lag ``period``; lag 1 where the history is too short)."""
    h = np.asarray(history, dtype=np.float64)
    lag = period if len(h) > period else 1
    if len(h) <= lag:
        return 1.0
    scale = float(np.mean(np.abs(h[lag:] - h[:-lag])))
    return scale if scale > 0 and np.isfinite(scale) else 1.0


def mase(forecast: np.ndarray, truth: np.ndarray, history: np.ndarray, period: int = 1) -> float:
    """Mean absolute scaled error of one forecast.

    >>> round(mase(np.array([3.0, 4.0]), np.array([3.0, 5.0]), np.array([0.0, 1.0, 2.0])), 3)
    0.5
    """
    return float(np.mean(np.abs(np.asarray(forecast) - np.asarray(truth)))) / mase_scale(history, period)


def smape(forecast: np.ndarray, truth: np.ndarray) -> float:
    """Symmetric MAPE in percent (M4's definition; a step where both are 0 counts as 0).

    >>> smape(np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    0.0
    """
    f, y = np.asarray(forecast, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    den = np.abs(f) + np.abs(y)
    ratio = np.divide(np.abs(f - y), den, out=np.zeros_like(den), where=den > 0)
    return float(200.0 * ratio.mean())


def pinball(quantile_forecasts: np.ndarray, truth: np.ndarray, quantiles: Sequence[float]) -> float:
    """Mean quantile (pinball) loss; ``quantile_forecasts`` is (H, Q), ``truth`` (H,)."""
    q = np.asarray(quantiles, dtype=np.float64)[None, :]
    diff = np.asarray(truth, dtype=np.float64)[:, None] - np.asarray(quantile_forecasts, dtype=np.float64)
    return float(np.mean(np.maximum(q * diff, (q - 1.0) * diff)))


def scaled_pinball(quantile_forecasts: np.ndarray, truth: np.ndarray, quantiles: Sequence[float],
                   history: np.ndarray, period: int = 1) -> float:
    """Pinball loss over the MASE scale (M5's scaled pinball loss)."""
    return pinball(quantile_forecasts, truth, quantiles) / mase_scale(history, period)


def coverage(lower: np.ndarray, upper: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of ``truth`` within [lower, upper]."""
    y = np.asarray(truth, dtype=np.float64)
    return float(np.mean((y >= np.asarray(lower)) & (y <= np.asarray(upper))))
