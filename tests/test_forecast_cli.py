"""`lstmkit forecast FILE`: one or many series, timestamps, quantiles, backtests, and forecasting again."""

import json

import numpy as np
from click.testing import CliRunner

from lstmkit.cli import main


def _stores(path, months=60, stores=("north", "south")):
    rng = np.random.default_rng(0)
    lines = ["store,month,units"]
    for k, store in enumerate(stores):
        for m in range(months):
            v = 100 * (k + 1) + 10 * np.sin(2 * np.pi * m / 12) + 0.5 * m + rng.normal()
            lines.append(f"{store},{2019 + m // 12}-{m % 12 + 1:02d},{v:.3f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_long_format_with_timestamps_backtest_and_predict_again(tmp_path):
    f = _stores(tmp_path / "stores.csv")
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "units", "--time-column", "month", "--id-column",
                                    "store", "--horizon", "6", "--period", "12", "--backtest", "1", "--quick",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "2 series, 6 steps" in res.output and "backtest_mase_lstmkit" in res.output
    pred = (out / "predictions.csv").read_text().splitlines()
    assert pred[0] == "id,step,time,forecast,q0.1,q0.5,q0.9" and len(pred) == 1 + 2 * 6
    assert pred[1].startswith("north,1,2024-01-01,") and pred[-1].startswith("south,6,2024-06-01,")
    row = [float(v) for v in pred[1].split(",")[3:]]
    assert row[1] <= row[2] <= row[3] and row[0] == row[2]  # q0.1 <= median <= q0.9, forecast = median
    bt = (out / "backtest.csv").read_text().splitlines()
    assert bt[0] == "id,origin,model,mase,smape,scaled_pinball,coverage" and len(bt) == 1 + 2 * 5
    m = json.loads((out / "metrics.json").read_text())
    assert m["series"] == 2 and m["backtest_origins"] == 1 and 0 <= m["backtest_coverage"] <= 1
    assert m["backtest_best"] in ("lstmkit", "seasonal_naive", "ets", "theta", "ar")
    assert {"forecast.png", "forecaster.safetensors", "config.json"} <= {p.name for p in out.iterdir()}
    # forecasting again: from the saved history (the same numbers as predictions.csv), then from newer data
    res = CliRunner().invoke(main, ["predict", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert len(rows) == 12 and rows[0]["time"] == "2024-01-01"
    assert abs(rows[0]["forecast"] - float(pred[1].split(",")[3])) < 1e-3 * abs(rows[0]["forecast"])
    newer = _stores(tmp_path / "newer.csv", months=66)
    res = CliRunner().invoke(main, ["predict", str(out), "--csv", str(newer)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.splitlines()[0])["time"] == "2024-07-01"
    f.write_text(f.read_text() + "north,2024-01,1.0\n")
    res = CliRunner().invoke(main, ["predict", str(out)])
    assert res.exit_code == 2 and "has changed since this run was fitted" in res.output
    res = CliRunner().invoke(main, ["evaluate", str(out)])
    assert res.exit_code == 2 and "is a `lstmkit forecast` run" in res.output


def test_forecast_option_errors(tmp_path):
    f = _stores(tmp_path / "stores.csv")
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "units", "--set", "epochs=3"])
    assert res.exit_code == 2 and "--set 'epochs=3': expected KEY=VALUE with KEY one of" in res.output
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "units", "--id-column", "store"])
    assert res.exit_code == 2 and "--id-column needs --time-column" in res.output
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "units", "--quantiles", "0.1,x"])
    assert res.exit_code == 2 and "expected numbers separated by commas" in res.output
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "units", "--quantiles", "0.1,1.5"])
    assert res.exit_code == 2 and "quantiles must lie in (0, 1)" in res.output
    dup = tmp_path / "dup.csv"
    dup.write_text("month,units\n2020-01,1\n2020-01,2\n")
    res = CliRunner().invoke(main, ["forecast", str(dup), "--column", "units", "--time-column", "month",
                                    "--out", str(tmp_path / "never")])
    assert res.exit_code == 2 and "appears twice (rows 2 and 3)" in res.output
    assert not (tmp_path / "never").exists()


def test_calendar_covariates(tmp_path):
    f = _stores(tmp_path / "stores.csv", stores=("north",))
    out = tmp_path / "cal"
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "units", "--time-column", "month", "--horizon", "6",
                                    "--period", "12", "--calendar", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["calendar"] is True
    res = CliRunner().invoke(main, ["predict", str(out)])
    assert res.exit_code == 0 and len(res.output.splitlines()) == 6
    plain = tmp_path / "plain.csv"
    plain.write_text("units\n" + "".join(f"{v}\n" for v in range(40)))
    res = CliRunner().invoke(main, ["forecast", str(plain), "--column", "units", "--calendar", "--quick"])
    assert res.exit_code == 2 and "--calendar needs dated times" in res.output


def _shop(path, days=80, future=7, blank_future_price_at=None):
    """Daily units driven by a known price; the last ``future`` rows have the price but no units yet."""
    rng = np.random.default_rng(1)
    lines = ["day,units,price"]
    for d in range(days + future):
        price = 5.0 + (d * 7 % 5)  # a planned price schedule, known in advance
        units = "" if d >= days else f"{200 - 20 * price + rng.normal():.3f}"
        cell = "" if d == blank_future_price_at else f"{price:g}"
        lines.append(f"{_day(d)},{units},{cell}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _day(d):
    import datetime

    return (datetime.date(2024, 1, 1) + datetime.timedelta(days=d)).isoformat()


def test_file_covariates_known_in_advance(tmp_path):
    f = _shop(tmp_path / "shop.csv")
    out = tmp_path / "cov"
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "units", "--time-column", "day", "--horizon", "7",
                                    "--covariates", "price", "--backtest", "1", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    pred = (out / "predictions.csv").read_text().splitlines()
    assert len(pred) == 1 + 7 and pred[1].split(",")[2] == _day(80)  # the first future row's date
    assert json.loads((out / "config.json").read_text())["covariates"] == ["price"]
    res = CliRunner().invoke(main, ["predict", str(out)])
    assert res.exit_code == 0 and len(res.output.splitlines()) == 7
    # a blank covariate in the future part, and too few future rows, are refused before any run directory
    bad = _shop(tmp_path / "bad.csv", blank_future_price_at=83)
    res = CliRunner().invoke(main, ["forecast", str(bad), "--column", "units", "--time-column", "day", "--horizon",
                                    "7", "--covariates", "price", "--out", str(tmp_path / "never")])
    assert res.exit_code == 2 and "covariate 'price' is missing in the future part (row 85" in res.output
    short = _shop(tmp_path / "short.csv", future=3)
    res = CliRunner().invoke(main, ["forecast", str(short), "--column", "units", "--time-column", "day", "--horizon",
                                    "7", "--covariates", "price", "--out", str(tmp_path / "never")])
    assert res.exit_code == 2 and "known for 3 step(s) after the last value" in res.output
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "units", "--covariates", "cost"])
    assert res.exit_code == 2 and "no column 'cost'" in res.output
    assert not (tmp_path / "never").exists()


def _power(path, hours=120, blank_temperature_at=None):
    """Hourly load led by the temperature an hour before: the temperature is measured, never known ahead."""
    rng = np.random.default_rng(2)
    temp = np.zeros(hours)
    for t in range(1, hours):
        temp[t] = 0.8 * temp[t - 1] + rng.normal()
    lines = ["hour,load,temperature"]
    for t in range(hours):
        load = 50 + 5 * (temp[t - 1] if t else 0.0) + 0.1 * rng.normal()
        cell = "" if t == blank_temperature_at else f"{temp[t]:.4f}"
        lines.append(f"2024-01-{1 + t // 24:02d} {t % 24:02d}:00,{load:.4f},{cell}")
    lines.append(f"2024-01-{1 + hours // 24:02d} {hours % 24:02d}:00,,")  # a future row: no value, no temperature
    path.write_text("\n".join(lines) + "\n")
    return path


def test_file_past_covariates(tmp_path):
    f = _power(tmp_path / "power.csv", blank_temperature_at=30)
    out = tmp_path / "past"
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "load", "--time-column", "hour", "--horizon", "6",
                                    "--past-covariates", "temperature", "--backtest", "1", "--quick", "--out",
                                    str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["past_covariates"] == ["temperature"]
    pred = (out / "predictions.csv").read_text().splitlines()
    assert len(pred) == 1 + 6 and pred[1].split(",")[2] == "2024-01-06"  # hour 120: midnight of the sixth
    from lstmkit.forecast import LSTMForecaster

    assert LSTMForecaster.load(out / "forecaster.safetensors").n_past == 1
    res = CliRunner().invoke(main, ["predict", str(out)])
    assert res.exit_code == 0 and len(res.output.splitlines()) == 6
    newer = _power(tmp_path / "newer.csv", hours=130)  # a longer history: the saved forecaster reads it as is
    res = CliRunner().invoke(main, ["predict", str(out), "--csv", str(newer)])
    assert res.exit_code == 0 and len(res.output.splitlines()) == 6, res.output
    # one column cannot be both kinds; a missing past column is named
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "load", "--time-column", "hour", "--covariates",
                                    "temperature", "--past-covariates", "temperature", "--out", str(tmp_path / "no")])
    assert res.exit_code == 2 and "both a covariate known in advance and a past covariate" in res.output
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "load", "--past-covariates", "humidity"])
    assert res.exit_code == 2 and "no column 'humidity'" in res.output
    assert not (tmp_path / "no").exists()
