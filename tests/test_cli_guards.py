"""The command line never exits 0 with nonsense: undefined metrics, changed data, runaway quick runs, SIGTERM."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from lstmkit.cli import main
from lstmkit.recipes.base import Run


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    monkeypatch.setenv("LSTMKIT_RUNS", str(tmp_path / "runs"))


def _series_csv(path, values):
    path.write_text("t,y\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(values)))
    return path


def test_period_longer_than_the_history_is_an_error(tmp_path):
    f = _series_csv(tmp_path / "s.csv", list(100 + np.sin(np.arange(120) / 3)))
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "y", "--period", "1000", "--quick",
                                    "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "period 1000 is not shorter" in res.output
    assert not (tmp_path / "run").exists()


def test_overflowing_values_are_an_error(tmp_path):
    f = _series_csv(tmp_path / "s.csv", [1e300 * (1 + 0.1 * math.sin(i)) for i in range(120)])
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "y", "--quick"])
    assert res.exit_code == 2 and "overflow" in res.output and "rescale" in res.output


def test_metrics_are_never_written_with_nan(tmp_path):
    run = Run(tmp_path / "r")
    with pytest.raises(ValueError, match=r"lstm_mase=nan, origins\[1\]=inf are not finite"):
        run.write_json("metrics.json", {"lstm_mase": float("nan"), "origins": [1.0, np.float64("inf")], "ok": 1})
    assert not (tmp_path / "r" / "metrics.json").exists()
    json.loads(run.write_json("metrics.json", {"a": 1.5}).read_text())


def test_evaluate_refuses_a_changed_data_file(tmp_path, monkeypatch):
    rows = ["text,label"] + [f"great fun number {i},pos" for i in range(40)] + \
           [f"terrible waste number {i},neg" for i in range(40)]
    data = tmp_path / "reviews.csv"
    data.write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["classify", "reviews.csv", "--quick", "--out", "cl", "--set", "train.epochs=2"])
    assert res.exit_code == 0, res.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the relative path no longer resolves; the recorded absolute one does
    res = CliRunner().invoke(main, ["evaluate", str(tmp_path / "cl")])
    assert res.exit_code == 0 and "recomputed" in res.output, res.output
    flipped = [r.replace(",pos", ",tmp").replace(",neg", ",pos").replace(",tmp", ",neg") for r in rows]
    data.write_text("\n".join(flipped) + "\n")
    res = CliRunner().invoke(main, ["evaluate", str(tmp_path / "cl")])
    assert res.exit_code == 2 and "has changed since this run was trained" in res.output


def test_max_steps_caps_training_mid_epoch():
    import torch

    from lstmkit import Sequential
    from lstmkit.layers import LSTM, Dense
    from lstmkit.train import MaxSteps

    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(torch.randn(100, 5, 2), torch.randn(100, 1), epochs=5, batch_size=10, verbose=0,
                        callbacks=[MaxSteps(7)])
    assert model.trainer.global_step == 7 and len(history.history["loss"]) == 1


def test_quick_caps_steps_and_shows_progress(tmp_path, caplog):
    res = CliRunner().invoke(main, ["train", "forecast", "--quick", "--show-config"])
    assert json.loads(res.output)["train"]["max_steps"] == 2000
    res = CliRunner().invoke(main, ["train", "forecast", "--quick", "--show-config", "--set", "train.max_steps=5"])
    assert json.loads(res.output)["train"]["max_steps"] == 5
    t = np.arange(100)
    f = _series_csv(tmp_path / "s.csv", list(50 + 5 * np.sin(2 * np.pi * t / 12) + 0.1 * t))
    with caplog.at_level(logging.INFO, logger="lstmkit"):
        res = CliRunner().invoke(main, ["-v", "forecast", str(f), "--column", "y", "--period", "12", "--quick",
                                        "--set", "steps=3", "--out", str(tmp_path / "fc")])
    assert res.exit_code == 0, res.output
    assert "network 1/1" in caplog.text and "3 steps" in caplog.text  # forecast logs its progress


def test_sigterm_removes_the_half_written_run(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "LSTMKIT_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lstmkit.cli", "train", "forecast", "--quick", "--set",
                             "train.epochs=100000", "--set", "train.max_steps=0", "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (out / "config.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert (out / "config.json").exists(), proc.stderr.read().decode()[-2000:] if proc.poll() is not None else ""
    time.sleep(1.0)  # inside the training loop
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not out.exists()  # a rerun with the same --out works
