"""The README's main job: the sunspot demo, through the command line."""

import numpy as np
import pytest
from click.testing import CliRunner

from lstmkit.cli import main
from lstmkit.data import load_sunspots_yearly, sliding_windows
from lstmkit.recipes.demo import DemoConfig, run


def test_bundled_series():
    years, spots = load_sunspots_yearly()
    assert len(spots) == 309 and years[0] == 1700 and np.isfinite(spots).all()
    assert spots.max() == pytest.approx(190.2)  # 1957, the largest yearly mean in the record


def test_sliding_windows_errors():
    with pytest.raises(ValueError, match="too short"):
        sliding_windows(np.arange(3.0), window=3)
    with pytest.raises(ValueError, match="non-finite value at index 2"):
        sliding_windows(np.array([1.0, 2.0, np.nan, 4.0, 5.0]), window=2)


def test_demo_beats_last_value_baseline():
    res = run(DemoConfig())
    assert res["lstm_rmse"] < 0.8 * res["naive_rmse"], res


def test_demo_variant_runs_on_fused_backend():
    res = run(DemoConfig(epochs=30, peephole=True, activation="relu"))
    assert res["backend"].startswith("fused") and np.isfinite(res["lstm_rmse"])


def test_cli():
    res = CliRunner().invoke(main, ["demo", "--epochs", "40"])
    assert res.exit_code == 0 and "LSTM RMSE" in res.output and "last-value baseline" in res.output
    res = CliRunner().invoke(main, ["demo", "--activation", "swishy"])
    assert res.exit_code == 2 and "unknown activation 'swishy'" in res.output
