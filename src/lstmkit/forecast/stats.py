"""The statistical forecasters lstmkit combines its network with, and the seasonal-naive baseline.

Exponential smoothing and the Theta method are the two classical models the M3 and M4 competitions found
hard to beat (Makridakis, Spiliotis & Assimakopoulos 2020); M4's best entries combined them with others or
with a recurrent network (Smyl 2020's ES-RNN). Both come from statsmodels, as does the third, an
autoregression on the differenced series (the ARIMA family's AR part, with its differencing chosen as
Hyndman & Khandakar 2008's auto.arima chooses it).
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


def _seasonal_strength(h: np.ndarray, period: int) -> float:
    """Wang, Smith & Hyndman (2006)'s strength of seasonality, 1 - var(remainder) / var(season + remainder),
    from an STL decomposition (Cleveland et al. 1990); 0 without a full two seasons."""
    if not _seasonal(h, period):
        return 0.0
    STL = require("statsmodels.tsa.seasonal", "forecast").STL
    r = STL(h, period=period).fit()
    return max(0.0, 1.0 - float(np.var(r.resid)) / max(float(np.var(r.resid + r.seasonal)), 1e-12))


def _ndiffs(x: np.ndarray, alpha: float = 0.05, most: int = 2) -> int:
    """How many first differences make ``x`` stationary by the KPSS test (Kwiatkowski et al. 1992), at most
    ``most``: auto.arima's rule."""
    kpss = require("statsmodels.tsa.stattools", "forecast").kpss
    d = 0
    while d < most and len(x) >= 10 and np.std(x) > 1e-12:
        try:
            _, p, *_ = kpss(x, regression="c", nlags="auto")
        except (ValueError, OverflowError, np.linalg.LinAlgError):
            break
        if p >= alpha:
            break
        x, d = np.diff(x), d + 1
    return d


def autoregression(history: np.ndarray, horizon: int, period: int = 1) -> np.ndarray:
    """An ARIMA(p, d, 0)(0, D, 0) forecast: one seasonal difference when the season is strong (strength above
    0.64, the threshold of the forecast package's ``nsdiffs``), first differences by the KPSS test, then an
    autoregression whose order (up to a season plus two, or 8) is chosen by AIC and fitted by least squares;
    the forecast is integrated back. Fast (a few least-squares fits), and strong where ETS and Theta are
    weak: cycles that are not seasons (sunspots, lynx)."""
    tsa = require("statsmodels.tsa.ar_model", "forecast")
    h = np.asarray(history, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KPSS's "p-value outside the table" notes
        big_d = 1 if period > 1 and _seasonal_strength(h, period) > 0.64 else 0
        x = h[period:] - h[:-period] if big_d else h  # (N - D*m,)
        d = _ndiffs(x)
        levels = [x]
        for _ in range(d):
            levels.append(np.diff(levels[-1]))
        z = levels[-1]
        trend = "c" if d + big_d < 2 else "n"
        most = int(min(len(z) // 3, max(8, period + 2)))
        try:
            lags = tsa.ar_select_order(z, maxlag=max(most, 0), ic="aic", trend=trend).ar_lags or 0
            if lags == 0 and trend == "n":
                f = np.zeros(horizon)
            else:
                f = np.asarray(tsa.AutoReg(z, lags=lags, trend=trend).fit().forecast(horizon), dtype=np.float64)
        except (ValueError, np.linalg.LinAlgError):
            return seasonal_naive(h, horizon, period)
    for k in range(d, 0, -1):  # undo the first differences
        f = levels[k - 1][-1] + np.cumsum(f)
    if big_d:  # undo the seasonal difference
        out = np.concatenate([h, np.empty(horizon)])
        for t in range(horizon):
            out[len(h) + t] = out[len(h) + t - period] + f[t]
        f = out[len(h):]
    return f if np.isfinite(f).all() else seasonal_naive(h, horizon, period)


STATISTICAL = {"ets": ets, "theta": theta, "ar": autoregression}
