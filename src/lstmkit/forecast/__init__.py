"""Forecasting with LSTMs: a global, quantile-output network combined with exponential smoothing and Theta
where validation says so (:class:`LSTMForecaster`), metrics and baselines.

>>> from lstmkit.forecast import LSTMForecaster, metrics
>>> metrics.smape([1.0], [1.0])
0.0
"""

from . import metrics, stats
from .forecaster import ForecastConfig, LSTMForecaster, QuantileLSTM, calendar_features, interpolate_missing

__all__ = ["ForecastConfig", "LSTMForecaster", "QuantileLSTM", "calendar_features", "interpolate_missing", "metrics",
           "stats"]
