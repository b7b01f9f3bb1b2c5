"""The first seed's Keras program, line for line, in lstmkit, on a real series.

The seed builds ``Sequential()``, adds ``LSTM(50, activation='relu', input_shape=(100, 1))`` and ``Dense(1)``,
compiles with ``optimizer='rmsprop', loss='mse'`` and fits ``epochs=500, batch_size=10``, on data it never
shows. Here the data are the yearly sunspot numbers 1700-2008 (NOAA, bundled with lstmkit): each input is
100 consecutive years, the target the next year. The last 20% of windows, in time order, are the test set.

    python examples/seed_keras_regression.py                 # the seed's 500 epochs
    python examples/seed_keras_regression.py --epochs 20     # a quick look

Writes ``<out>/prediction.png`` (prediction vs truth on the test years), ``<out>/model.safetensors`` and
``<out>/metrics.json``, and prints the test RMSE beside the naive last-value forecast's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import lstmkit
from lstmkit import Sequential
from lstmkit.data import load_sunspots_yearly, sliding_windows
from lstmkit.layers import LSTM, Dense


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--out", default="runs/seed_keras_regression")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    years, spots = load_sunspots_yearly()
    x, y = sliding_windows(spots, 100)  # (N, 100, 1), (N, 1)
    split = len(x) - int(round(0.2 * len(x)))
    scale = float(spots[: split + 100].max())  # scaler fitted on training years only
    x_train, y_train = x[:split] / scale, y[:split] / scale
    x_test, y_test = x[split:] / scale, y[split:] / scale

    # --- the seed's program ---
    model = Sequential()
    model.add(LSTM(50, activation='relu', input_shape=(100, 1)))
    model.add(Dense(1))
    model.compile(optimizer='rmsprop', loss='mse')
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=10, verbose=0, seed=args.seed)
    train_s = time.perf_counter() - t0
    # ---

    pred = model.predict(x_test)[:, 0] * scale
    truth = y_test[:, 0] * scale
    naive = x_test[:, -1, 0] * scale  # last observed year
    rmse = float(np.sqrt(np.mean((pred - truth) ** 2)))
    rmse_naive = float(np.sqrt(np.mean((naive - truth) ** 2)))
    model.save(out / "model.safetensors")
    reloaded = lstmkit.load_model(out / "model.safetensors")
    same = bool(np.array_equal(reloaded.predict(x_test), model.predict(x_test)))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test_years = years[split + 100:]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(test_years, truth, label="observed", color="black")
    ax.plot(test_years, pred, label=f"LSTM (RMSE {rmse:.1f})")
    ax.plot(test_years, naive, label=f"last value (RMSE {rmse_naive:.1f})", linestyle=":")
    ax.set_xlabel("year")
    ax.set_ylabel("sunspot number")
    ax.set_title("Seed program: LSTM(50, relu) + Dense(1), rmsprop, 100-year windows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "prediction.png", dpi=120)
    plt.close(fig)

    metrics = {"epochs": args.epochs, "train_seconds": round(train_s, 1), "test_rmse": rmse,
               "naive_rmse": rmse_naive, "first_loss": history.history["loss"][0],
               "last_loss": history.history["loss"][-1], "loss_history": history.history["loss"],
               "reload_identical": same,
               "n_train": int(split), "n_test": int(len(x) - split)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"test RMSE {rmse:.2f} (last-value baseline {rmse_naive:.2f}); trained {args.epochs} epochs in "
          f"{train_s:.1f} s; results in {out}")
    return metrics


if __name__ == "__main__":
    main()
