"""lstmkit.forecast: the global quantile LSTM, its validated combination, backtests, persistence, bad input."""

import numpy as np
import pytest

from lstmkit.forecast import ForecastConfig, LSTMForecaster, interpolate_missing, metrics, stats

FAST = dict(steps=40, ensemble=1, hidden_size=8)


def _seasonal(n=96, period=12, trend=0.05, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 10 + np.sin(2 * np.pi * t / period) * 2 + trend * t + rng.normal(0, noise, n)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="horizon must be an integer >= 1"):
        ForecastConfig(horizon=0)
    with pytest.raises(ValueError, match="quantiles must lie in"):
        ForecastConfig(horizon=3, quantiles=(0.1, 1.2))
    with pytest.raises(ValueError, match="combine must be"):
        ForecastConfig(horizon=3, combine="best")
    assert ForecastConfig(horizon=3, quantiles=(0.9, 0.1)).quantiles == (0.1, 0.5, 0.9)  # sorted, median added


def test_fit_predict_shapes_and_quantile_order():
    y = _seasonal()
    fc = LSTMForecaster(horizon=6, period=12, **FAST, combine="lstm").fit(y)
    q = fc.predict_quantiles()
    assert q.shape == (6, 3)
    assert (np.diff(q, axis=-1) >= 0).all()  # no crossing quantiles
    np.testing.assert_array_equal(fc.predict(), q[:, 1])
    # another history, no retraining: a shifted level moves the forecast by the same amount (per-window scaling)
    np.testing.assert_allclose(fc.predict(history=y + 100.0), fc.predict() + 100.0, rtol=1e-5)


def test_the_network_learns_trend_and_season_better_than_seasonal_naive():
    y = _seasonal(n=120, trend=0.1)
    train, truth = y[:-12], y[-12:]
    fc = LSTMForecaster(horizon=12, period=12, steps=200, ensemble=1, combine="lstm").fit(train)
    naive = stats.seasonal_naive(train, 12, 12)
    ours = metrics.mase(fc.predict(), truth, train, 12)
    assert ours < 0.6 * metrics.mase(naive, truth, train, 12), ours


def test_many_series_train_one_global_model():
    ys = [_seasonal(seed=k) * (k + 1) for k in range(3)]
    fc = LSTMForecaster(horizon=4, period=12, **FAST, combine="lstm").fit(ys)
    assert fc.predict().shape == (3, 4)
    assert fc.predict_quantiles(history={"a": ys[0], "b": ys[1]}).shape == (2, 4, 3)


def test_auto_combination_is_chosen_by_validation():
    y = _seasonal(n=100)
    fc = LSTMForecaster(horizon=6, period=12, pool=1, **FAST).fit(y)
    assert set(fc.validation) >= {"lstm", "ets", "theta", "ar", "lstm+ets+theta+ar"} and len(fc.validation) == 15
    best = min(fc.validation, key=fc.validation.get)
    assert fc.components == tuple(best.split("+"))
    assert fc.predict().shape == (6,)
    # pooling (the default, 3): the three best combinations averaged, so each model gets a weight
    fc = LSTMForecaster(horizon=6, period=12, **FAST).fit(y)
    top = sorted(fc.validation, key=fc.validation.get)[:3]
    expected = {n: sum(1 / (3 * len(c.split("+"))) for c in top if n in c.split("+")) for n in fc.components}
    assert fc.weights == pytest.approx(expected) and sum(fc.weights.values()) == pytest.approx(1.0)
    cands = fc._candidates(fc.series_)
    np.testing.assert_allclose(fc.predict(), sum(w * cands[n][0] for n, w in fc.weights.items()), rtol=1e-9)


def test_backtest_rows():
    y = _seasonal(n=90)
    rows = LSTMForecaster(horizon=6, period=12, **FAST, combine="lstm").backtest(y, origins=2)
    assert [r["origin"] for r in rows] == [78, 84]
    for r in rows:
        assert r["mase"] > 0 and 0 <= r["coverage"] <= 1 and r["scaled_pinball"] > 0 and r["components"] == "lstm"


def test_save_load_round_trip_and_corrupt_files(tmp_path):
    y = _seasonal()
    fc = LSTMForecaster(horizon=5, period=12, **FAST, combine="lstm").fit(y)
    path = fc.save(tmp_path / "fc.safetensors")
    again = LSTMForecaster.load(path)
    np.testing.assert_allclose(again.predict_quantiles(), fc.predict_quantiles(), rtol=1e-6)
    assert again.config == fc.config and again.components == fc.components and again.weights == fc.weights
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="bad.safetensors: not a readable lstmkit forecaster"):
        LSTMForecaster.load(bad)
    with pytest.raises(FileNotFoundError):
        LSTMForecaster.load(tmp_path / "missing.safetensors")


def test_bad_input_is_named():
    y = _seasonal()
    y[17] = np.nan
    with pytest.raises(ValueError, match="1 missing or infinite value.*position 17.*interpolate_missing"):
        LSTMForecaster(horizon=3, **FAST).fit(y)
    with pytest.raises(ValueError, match="the shortest series has 8 values, too few: forecasting 6 steps needs at least 11"):
        LSTMForecaster(horizon=6, **FAST).fit(np.arange(8.0))
    with pytest.raises(ValueError, match="expected a 1-D series"):
        LSTMForecaster(horizon=3, **FAST).fit(np.zeros((2, 3, 4)))
    with pytest.raises(RuntimeError, match="call fit"):
        LSTMForecaster(horizon=3).predict()
    fc = LSTMForecaster(horizon=3, period=4, **FAST, combine="lstm").fit(_seasonal(n=40, period=4))
    with pytest.raises(ValueError, match="series 0: 3 values, the networks read the last 8"):
        fc.predict(history=np.ones(3))


def test_short_series_fall_back_to_a_shorter_input():
    y = _seasonal(n=30, period=12)  # two seasons (24) + horizon 6 would leave no windows
    fc = LSTMForecaster(horizon=6, period=12, **FAST, combine="lstm").fit(y)
    assert fc.lengths == [30 - 6 - 3]
    assert np.isfinite(fc.predict()).all()


def test_metrics():
    q = np.array([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
    truth = np.array([1.0, 4.0])
    # pinball: step 1: q=.1: 0.1, q=.5: 0, q=.9: 0.1; step 2: 0.3, 1.0, 0.9 -> mean 2.4/6
    assert metrics.pinball(q, truth, (0.1, 0.5, 0.9)) == pytest.approx(0.4)
    assert metrics.coverage(q[:, 0], q[:, 2], truth) == 0.5
    assert metrics.mase_scale(np.array([1.0, 3.0, 2.0, 4.0]), period=2) == 1.0
    assert interpolate_missing([np.nan, 1.0, np.nan, 3.0]).tolist() == [1.0, 1.0, 2.0, 3.0]


def test_autoregression_follows_cycles_trends_and_seasons():
    # an AR(2) quasi-cycle (period ~10), which ETS and Theta (and seasonal naive, period 1) cannot follow
    rng = np.random.default_rng(3)
    y = np.zeros(300)
    for t in range(2, 300):
        y[t] = 1.6 * y[t - 1] - 0.9 * y[t - 2] + rng.normal()
    y += 50

    def score(model):  # mean MASE over 25 rolling origins, 3 steps ahead
        return np.mean([metrics.mase(model(y[:o], 3), y[o:o + 3], y[:o]) for o in range(200, 297, 4)])

    ar = score(stats.autoregression)  # 0.90 when written
    assert ar < 0.6 * score(stats.theta) and ar < 0.6 * score(stats.seasonal_naive)  # 1.90, 1.96
    # a straight line is differenced to a constant and integrated back exactly
    assert stats.autoregression(np.arange(40.0) * 2 + 1, 3) == pytest.approx([81.0, 83.0, 85.0], abs=1e-6)
    # a strong season is differenced away (seasonal strength > 0.64) and comes back in the forecast
    s = _seasonal(n=120, noise=0.01)
    f = stats.autoregression(s[:-12], 12, period=12)
    assert metrics.mase(f, s[-12:], s[:-12], 12) < 0.5


def _promoted(n=160, seed=0):
    """Sales with a known-in-advance promotion flag that lifts them by 6 (random weeks: unpredictable without it)."""
    rng = np.random.default_rng(seed)
    promo = (rng.random(n) < 0.3).astype(float)
    y = 20 + 2 * np.sin(2 * np.pi * np.arange(n) / 7) + 6 * promo + rng.normal(0, 0.3, n)
    return y, promo


def test_future_covariates_are_used():
    y, promo = _promoted()
    h = 7
    train, truth = y[:-h], y[-h:]
    opts = dict(horizon=h, period=7, steps=250, ensemble=1, combine="lstm")
    with_cov = LSTMForecaster(**opts).fit(train, covariates=promo[:-h])
    without = LSTMForecaster(**opts).fit(train)
    ours = metrics.mase(with_cov.predict(future_covariates=promo[-h:]), truth, train, 7)
    plain = metrics.mase(without.predict(), truth, train, 7)
    assert ours < 0.6 * plain, (ours, plain)
    assert with_cov.n_covariates == 1 and without.n_covariates == 0


def test_covariate_errors_and_persistence(tmp_path):
    y, promo = _promoted(n=80)
    fc = LSTMForecaster(horizon=4, period=7, **FAST, combine="lstm").fit(y, covariates=promo)
    with pytest.raises(ValueError, match=r"fitted with 1 covariate\(s\): give future_covariates, \(4, 1\)"):
        fc.predict()
    with pytest.raises(ValueError, match=r"future_covariates of series 0: shape \(3, 1\), expected \(4, C\)"):
        fc.predict(future_covariates=np.zeros(3))
    with pytest.raises(ValueError, match="a new history needs its covariates too"):
        fc.predict(history=y, future_covariates=np.zeros(4))
    with pytest.raises(ValueError, match=r"covariates of series 0: shape \(79, 1\), expected \(80, C\)"):
        LSTMForecaster(horizon=4, **FAST).fit(y, covariates=promo[:-1])
    plain = LSTMForecaster(horizon=4, period=7, **FAST, combine="lstm").fit(y)
    with pytest.raises(ValueError, match="fitted without covariates"):
        plain.predict(future_covariates=np.zeros(4))
    again = LSTMForecaster.load(fc.save(tmp_path / "cov.safetensors"))
    future = np.array([1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(again.predict(future_covariates=future), fc.predict(future_covariates=future),
                               rtol=1e-6)
    rows = LSTMForecaster(horizon=4, period=7, **FAST, combine="lstm").backtest(y, origins=1, covariates=promo)
    assert len(rows) == 1 and rows[0]["mase"] > 0


@pytest.mark.parametrize("head", ["gaussian", "student_t"])
def test_likelihood_heads_learn_the_noise_scale(head, tmp_path):
    # N(0, 1) noise around a season: the ideal 10-90% interval is 2 * 1.2816 = 2.56 wide and covers 80%
    rng = np.random.default_rng(0)
    t = np.arange(400)
    y = 20 + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1.0, 400)
    fc = LSTMForecaster(horizon=6, period=12, steps=150, ensemble=1, hidden_size=16, combine="lstm",
                        head=head).fit(y[:300])
    qs = [fc.predict_quantiles(history=y[:o]) for o in range(300, 394, 6)]  # 16 origins after the fitted part
    cover = np.mean([metrics.coverage(q[:, 0], q[:, -1], y[o:o + 6]) for q, o in zip(qs, range(300, 394, 6))])
    width = np.mean([q[:, -1] - q[:, 0] for q in qs])
    assert 0.7 <= cover <= 0.95 and 2.0 < width < 3.2  # 0.85 and 2.6-2.7 when written
    assert all((np.diff(q, axis=1) >= 0).all() for q in qs)
    fc.save(tmp_path / "f.safetensors")
    back = LSTMForecaster.load(tmp_path / "f.safetensors")
    assert back.config.head == head
    np.testing.assert_allclose(back.predict_quantiles(history=y[:310]), fc.predict_quantiles(history=y[:310]))
    with pytest.raises(ValueError, match="head must be one of quantile, gaussian, student_t"):
        LSTMForecaster(horizon=2, head="poisson")


def test_spread_scales_the_fan_about_the_point_forecast(tmp_path):
    y = _seasonal()
    fc = LSTMForecaster(horizon=6, period=12, **FAST, combine="lstm", spread=1.0).fit(y)
    narrow = fc.predict_quantiles()  # (6, 3)
    fc.config.spread = 2.0
    wide = fc.predict_quantiles()
    np.testing.assert_allclose(wide[:, 1], narrow[:, 1])  # the point forecast does not move
    np.testing.assert_allclose(wide - wide[:, 1:2], 2.0 * (narrow - narrow[:, 1:2]), rtol=1e-9, atol=1e-12)
    again = LSTMForecaster.load(fc.save(tmp_path / "f.safetensors"))
    assert again.config.spread == 2.0
    np.testing.assert_allclose(again.predict_quantiles(), wide, rtol=1e-6)
    assert LSTMForecaster(horizon=3).config.spread == 1.2  # the default, set on the benchmark's dev panel
    for bad in (0, -1.0, True, "wide"):
        with pytest.raises(ValueError, match="spread must be a number > 0"):
            ForecastConfig(horizon=3, spread=bad)


def _led(n=200, lag=3, seed=0):
    """A series that follows another, measured one ``lag`` steps later: y_t = 2 x_{t-lag} + noise, with x an
    AR(1) that no model can forecast from y alone."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = 0.7 * x[t - 1] + rng.normal()
    y = 10 + 2 * np.roll(x, lag) + 0.1 * rng.normal(size=n)
    return y[lag:], x[lag:]


def test_past_covariates_are_read_up_to_the_origin_only(tmp_path):
    y, x = _led()
    h = 3  # every forecast step depends on values of x observed by the origin
    opts = dict(horizon=h, period=1, steps=200, ensemble=1, combine="lstm")
    with_past = LSTMForecaster(**opts).backtest(y, origins=3, past_covariates=x)
    without = LSTMForecaster(**opts).backtest(y, origins=3)
    ours, plain = np.mean([r["mase"] for r in with_past]), np.mean([r["mase"] for r in without])
    assert ours < 0.7 * plain, (ours, plain)  # measured 1.03 against 1.68
    fc = LSTMForecaster(horizon=h, period=1, **FAST, combine="lstm").fit(y, past_covariates=x)
    assert fc.n_past == 1 and fc.n_covariates == 0
    point = fc.predict()  # no future rows needed
    again = LSTMForecaster.load(fc.save(tmp_path / "past.safetensors"))
    np.testing.assert_allclose(again.predict(), point, rtol=1e-6)
    np.testing.assert_allclose(fc.predict(history=y, past_covariates=x), point, rtol=1e-6)
    with pytest.raises(ValueError, match="a new history needs its past_covariates too"):
        fc.predict(history=y[:-5])
    with pytest.raises(ValueError, match=r"past_covariates have 2 column\(s\), the forecaster was fitted with 1"):
        fc.predict(history=y, past_covariates=np.zeros((len(y), 2)))
    with pytest.raises(ValueError, match="fitted without past covariates"):
        LSTMForecaster(horizon=h, **FAST, combine="lstm").fit(y).predict(past_covariates=x)
    with pytest.raises(ValueError, match=r"past_covariates of series 0: shape \(10, 1\)"):
        LSTMForecaster(horizon=h, **FAST).fit(y, past_covariates=x[:10])
