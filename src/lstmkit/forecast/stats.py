"""The statistical forecasters lstmkit combines its network with, and the seasonal-naive baseline.

Exponential smoothing and the Theta method are the two classical models the M3 and M4 competitions found
hard to beat (Makridakis, Spiliotis & Assimakopoulos 2020); M4's best entries combined them with others or
with a recurrent network (Smyl 2020's ES-RNN). Both come from statsmodels.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._deps import require


def seasonal_naive(history: np.ndarray, horizon: int, period: int = 1) -> np.ndarray:
    """The last season repeated (the last value when ``period`` is 1 or the history is shorter).

    >>> seasonal_naive(np.array([1.0, 2.0, 3.0, 4.0]), 3, period=2).tolist()
    [3.0, 4.0, 3.0]
    """
    h = np.asarray(history, dtype=np.float64)
    m = period if 1 < period <= len(h) else 1
    season = h[-m:]
    return season[np.arange(horizon) % m].copy()


def _seasonal(history: np.ndarray, period: int) -> bool:
    return 1 < period <= 366 and len(history) >= 2 * period + 2


def ets(history: np.ndarray, horizon: int, period: int = 1) -> np.ndarray:
    """Holt-Winters exponential smoothing chosen by AICc among: no trend or a damped additive trend, times
    no, additive or (for positive series) multiplicative seasonality (Hyndman et al. 2008's model selection,
    over the subset statsmodels' ``ExponentialSmoothing`` fits reliably)."""
    ExponentialSmoothing = require("statsmodels.tsa.holtwinters", "forecast").ExponentialSmoothing
    h = np.asarray(history, dtype=np.float64)
    seasons = [None]
    if _seasonal(h, period):
        seasons += ["add"] + (["mul"] if (h > 0).all() else [])
    trends = [None, "add"] if len(h) >= 6 else [None]
    best, best_ic = None, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the optimiser's convergence chatter
        for trend in trends:
            for season in seasons:
                try:
                    fit = ExponentialSmoothing(h, trend=trend, damped_trend=trend is not None, seasonal=season,
                                               seasonal_periods=period if season else None,
                                               initialization_method="estimated").fit(use_brute=False)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                ic = fit.aicc if np.isfinite(fit.aicc) else fit.aic
                f = np.asarray(fit.forecast(horizon), dtype=np.float64)
                if np.isfinite(ic) and ic < best_ic and np.isfinite(f).all():
                    best, best_ic = f, ic
    return best if best is not None else seasonal_naive(h, horizon, period)


def theta(history: np.ndarray, horizon: int, period: int = 1) -> np.ndarray:
    """The Theta method (Assimakopoulos & Nikolopoulos 2000; Hyndman & Billah 2003's form: simple
    exponential smoothing with drift), on the classically deseasonalised series where a season is seen."""
    ThetaModel = require("statsmodels.tsa.forecasting.theta", "forecast").ThetaModel
    h = np.asarray(history, dtype=np.float64)
    seasonal = _seasonal(h, period)
    method = "multiplicative" if (h > 0).all() else "additive"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = ThetaModel(h, period=period if seasonal else 1, deseasonalize=seasonal, method=method).fit()
            f = np.asarray(fit.forecast(horizon), dtype=np.float64)
        except (ValueError, np.linalg.LinAlgError):
            return seasonal_naive(h, horizon, period)
    return f if np.isfinite(f).all() else seasonal_naive(h, horizon, period)


STATISTICAL = {"ets": ets, "theta": theta}
