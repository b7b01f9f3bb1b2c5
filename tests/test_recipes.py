"""Every recipe in --quick mode through the real command line: it learns (beats chance or the naive baseline),
writes its run directory, and the run reloads for evaluate/predict/generate. Plus the CLI's bad-input paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lstmkit.cli import main
from lstmkit.forecast import LSTMForecaster
from lstmkit.recipes import RECIPES, apply_overrides, get_recipe


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    monkeypatch.setenv("LSTMKIT_RUNS", str(tmp_path / "runs"))


def cli(*args: str, code: int = 0) -> str:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code == code, res.output
    return res.output


def train_quick(name: str, tmp_path, *sets: str,
                files=("config.json", "metrics.json", "model.safetensors", "learning_curves.png")) -> dict:
    out = tmp_path / name
    args = ["train", name, "--quick", "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    text = cli(*args)
    assert f"results in {out}/" in text
    for f in files:
        assert (out / f).stat().st_size > 0, f
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["recipe"] == name and cfg["quick"] is True
    return json.loads((out / "metrics.json").read_text())


def exports_to_onnx(run_dir) -> None:
    """`lstmkit export RUN` writes an ONNX graph per model that onnxruntime runs like PyTorch at another batch
    size (and sequence length, where the model leaves it free)."""
    ort = pytest.importorskip("onnxruntime")
    import torch

    import lstmkit
    from lstmkit.recipes.deploy import example_inputs

    paths = cli("export", str(run_dir)).split()
    assert paths and paths[0].endswith("model.onnx")
    model = lstmkit.load_model(run_dir / "model.safetensors").eval()
    (x,) = example_inputs(model)  # (2, T, ...)
    free = [d is None for d in model.input_shape]
    shape = [3] + [11 if f else d for f, d in zip(free, x.shape[1:])]
    x = torch.randint(1, 5, shape) if not x.is_floating_point() else torch.randn(*shape)
    with torch.no_grad():
        want = model(x).numpy()
    sess = ort.InferenceSession(paths[0])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_mnist_rows_learns_and_predicts(tmp_path):
    m = train_quick("mnist-rows", tmp_path)
    assert m["test_accuracy"] > 0.3 > m["majority_class_accuracy"]  # chance is about 0.11
    assert (tmp_path / "mnist-rows" / "confusion_matrix.png").exists()
    from lstmkit.data import load_mnist

    (_, _), (xt, yt) = load_mnist()
    np.save(tmp_path / "digit.npy", xt[0])
    row = json.loads(cli("predict", str(tmp_path / "mnist-rows"), str(tmp_path / "digit.npy")).splitlines()[0])
    assert 0 <= row["digit"] <= 9
    out = cli("evaluate", str(tmp_path / "mnist-rows"))  # recomputed from the model file and the test set
    assert "recomputed" in out and f"test_accuracy                {m['test_accuracy']:.4f}" in out
    exports_to_onnx(tmp_path / "mnist-rows")


def test_forecast_beats_seasonal_naive(tmp_path):
    m = train_quick("forecast", tmp_path, "data.series=airline",
                    files=("config.json", "metrics.json", "forecaster.safetensors", "learning_curves.png"))
    assert m["lstm_mase"] < m["seasonal_naive_mase"]
    assert m["ets_mase"] < m["seasonal_naive_mase"]  # the Holt-Winters baseline is a real fit
    assert (tmp_path / "forecast" / "forecasts.png").exists()
    pred = (tmp_path / "forecast" / "predictions.csv").read_text().splitlines()
    assert pred[0] == "step,lstm,q0.1,q0.5,q0.9,seasonal_naive,ets" and len(pred) == 13
    rows = np.array([[float(v) for v in line.split(",")] for line in pred[1:]])  # (12, 7)
    assert (rows[:, 2] <= rows[:, 3]).all() and (rows[:, 3] <= rows[:, 4]).all()  # ordered quantiles
    assert np.allclose(rows[:, 1], rows[:, 3]) and (rows[:, 1] > 300).all()  # the median, in passengers
    fc = LSTMForecaster.load(tmp_path / "forecast" / "forecaster.safetensors")  # the fitted model, reloadable
    assert fc.config.horizon == 12 and "+".join(fc.components) == m["components"]
    assert 0.0 <= m["lstm_coverage_80"] <= 1.0
    res = CliRunner().invoke(main, ["export", str(tmp_path / "forecast")])
    assert res.exit_code == 2 and "holds a forecaster" in res.output


def test_sentiment_learns_and_predicts(tmp_path):
    m = train_quick("sentiment", tmp_path)
    assert m["test_accuracy"] > m["majority_class_accuracy"] + 0.03
    out = cli("evaluate", str(tmp_path / "sentiment"))
    assert "recomputed" in out and f"test_accuracy                {m['test_accuracy']:.4f}" in out
    out = cli("predict", str(tmp_path / "sentiment"), "a moving, funny and beautiful film",
              "dull, boring and far too long")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["label"] in ("fresh", "rotten") for r in rows] == [True, True]
    exports_to_onnx(tmp_path / "sentiment")


def test_shakespeare_learns_and_generates(tmp_path):
    m = train_quick("shakespeare", tmp_path)
    assert m["val_nats_per_char"] < m["uniform_nats_per_char"] - 0.5
    text = cli("generate", str(tmp_path / "shakespeare"), "--prompt", "ROMEO:", "--length", "40", "--seed", "1",
               "--top-k", "5")
    assert text.startswith("ROMEO:") and len(text.rstrip("\n")) == 46
    again = cli("generate", str(tmp_path / "shakespeare"), "--prompt", "ROMEO:", "--length", "40", "--seed", "1",
                "--top-k", "5")
    assert again == text  # seeded sampling is reproducible
    res = CliRunner().invoke(main, ["generate", str(tmp_path / "shakespeare"), "--prompt", "ROMEO\u00e9"])
    assert res.exit_code == 2 and "characters the model never saw" in res.output
    exports_to_onnx(tmp_path / "shakespeare")


def test_japanese_vowels_learns(tmp_path):
    m = train_quick("japanese-vowels", tmp_path)
    assert m["test_accuracy"] > 0.8
    exports_to_onnx(tmp_path / "japanese-vowels")
    out = cli("quantize", str(tmp_path / "japanese-vowels"), "--out", str(tmp_path / "int8"))
    acc = {k: float(v) for k, v in zip(("float32", "int8"), out.split("test accuracy: ")[1].split()[::2])}
    assert abs(acc["int8"] - acc["float32"]) < 0.02 and abs(acc["float32"] - m["test_accuracy"]) < 1e-4
    import lstmkit

    q = lstmkit.load_model(tmp_path / "int8" / "model-int8.safetensors")
    assert any(isinstance(mod, lstmkit.QuantizedLSTM) for mod in q.modules())


def test_activity_learns(tmp_path):
    m = train_quick("activity", tmp_path)
    assert m["test_recording_accuracy"] > m["majority_class_accuracy"] + 0.15
    assert len(m["confusion_matrix"]) == 7
    exports_to_onnx(tmp_path / "activity")


# --- configuration and CLI errors ----------------------------------------------------------------------

def test_overrides_are_typed_and_checked():
    cfg = apply_overrides(get_recipe("forecast").default_config(False),
                          ["model.hidden_size=7", "model.peephole=true", "train.lr=0.01", "data.series=co2"])
    assert (cfg.model.hidden_size, cfg.model.peephole, cfg.train.lr, cfg.data.series) == (7, True, 0.01, "co2")
    bad = {"model.hidden=3": "unknown key; known: model.hidden_size",
           "optim.lr=1": "unknown section 'optim'; known: data, model, train",
           "model.hidden_size=big": "expected int, got 'big'",
           "model.dropout=1.5": r"model.dropout must be in \[0, 1\)",
           "model.peephole=maybe": "expected true or false",
           "hidden_size": "section.key=value"}
    for item, match in bad.items():
        with pytest.raises(ValueError, match=match):
            apply_overrides(get_recipe("forecast").default_config(False), [item])


def test_cli_errors_exit_2_with_a_message(tmp_path):
    assert "unknown recipe 'nope'" in CliRunner().invoke(main, ["train", "nope"]).output
    res = CliRunner().invoke(main, ["train", "forecast", "--set", "model.hidden=3"])
    assert res.exit_code == 2 and "unknown key" in res.output
    f = tmp_path / "s.csv"
    f.write_text("t,y\n" + "".join(f"{i},{i % 7}\n" for i in range(40)) + "41,oops\n")
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "y", "--horizon", "3"])
    assert res.exit_code == 2 and f"{f}: column 'y', row 42: 'oops' is not a number" in res.output
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "y", "--out", str(tmp_path / "failed")])
    assert res.exit_code == 2 and not (tmp_path / "failed").exists()  # a failed run leaves nothing behind
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "sales"])
    assert res.exit_code == 2 and "no column 'sales'" in res.output
    (tmp_path / "e.csv").write_text("")
    res = CliRunner().invoke(main, ["classify", str(tmp_path / "e.csv")])
    assert res.exit_code == 2 and "the file is empty" in res.output
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "model.safetensors").write_bytes(b"x")
    res = CliRunner().invoke(main, ["train", "forecast", "--quick", "--out", str(tmp_path / "old")])
    assert res.exit_code == 2 and "already exists and is not an empty folder" in res.output
    assert (tmp_path / "old" / "model.safetensors").read_bytes() == b"x"  # nothing overwritten
    res = CliRunner().invoke(main, ["evaluate", str(tmp_path)])
    assert res.exit_code == 2 and "not a run directory" in res.output
    f.write_text("t,y\n" + "".join(f"{i},{i}\n" for i in range(10)))
    res = CliRunner().invoke(main, ["forecast", str(f), "--column", "y", "--horizon", "12"])
    assert res.exit_code == 2 and "too few" in res.output


def test_forecast_and_classify_on_users_csv(tmp_path):
    t = np.arange(120)
    series = 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12)
    f = tmp_path / "sales.csv"
    f.write_text("month,units\n" + "".join(f"{i},{v:.3f}\n" for i, v in enumerate(series)))
    out = cli("forecast", str(f), "--column", "units", "--horizon", "6", "--period", "12", "--quick", "--out",
              str(tmp_path / "fc"))
    assert "lstmkit forecast: 1 series, 6 steps" in out
    pred = (tmp_path / "fc" / "predictions.csv").read_text().splitlines()
    assert len(pred) == 7 and pred[0] == "id,step,time,forecast,q0.1,q0.5,q0.9"
    rows = ["text,label"] + [f"great fun number {i},pos" for i in range(60)] + \
           [f"terrible waste number {i},neg" for i in range(60)]
    g = tmp_path / "reviews.csv"
    g.write_text("\n".join(rows) + "\n")
    out = cli("classify", str(g), "--quick", "--out", str(tmp_path / "cl"), "--set", "train.epochs=6")
    m = json.loads((tmp_path / "cl" / "metrics.json").read_text())
    assert m["classes"] == ["neg", "pos"] and m["test_accuracy"] == 1.0
    pred = json.loads(cli("predict", str(tmp_path / "cl"), "great fun").splitlines()[0])
    assert pred["label"] == "pos"


def test_recipes_and_bench_commands():
    out = cli("recipes")
    for name in RECIPES:
        assert name in out
    out = cli("bench", "--batch", "2", "--steps", "5", "--input-size", "3", "--hidden", "4", "--repeats", "2",
              "--variant", "peephole")
    assert "ratio" in out and "fused" in out


def test_prune_a_trained_run(tmp_path):
    train_quick("japanese-vowels", tmp_path)
    out = cli("prune", str(tmp_path / "japanese-vowels"), "--sparsity", "0.5", "--structured", "--epochs", "1",
              "--out", str(tmp_path / "pruned"))
    before, after = (int(v) for v in out.split("parameters: ")[1].split(";")[0].split(" -> "))
    assert after < 0.45 * before
    acc = out.split("test accuracy: ")[1].split(";")[0].split(" -> ")
    assert float(acc[1]) > 0.5  # fine-tuned, it still recognises the speakers (quick run: about 0.9)
    import lstmkit

    small = lstmkit.load_model(tmp_path / "pruned" / "model-pruned.safetensors")
    assert any(getattr(m, "hidden_size", 0) == 32 for m in small.modules())
    res = CliRunner().invoke(main, ["prune", str(tmp_path / "japanese-vowels"), "--sparsity", "1.0"])
    assert res.exit_code == 2
