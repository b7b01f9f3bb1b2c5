"""Keras' "Timeseries forecasting for weather prediction" example (keras.io, Prabhanshu Attri, Yashika
Sharma, Kasana Tej, Piyush Sharma), ported: only the import lines differ.

The Keras program's model and training, line for line: an ``Input`` of (sequence_length, features), ``LSTM(32)``,
``Dense(1)``, ``Adam(learning_rate=0.001)``, MSE, ``EarlyStopping(monitor="val_loss", min_delta=0,
patience=5)``, batch 256, 10 epochs; inputs normalised by the training part's mean and standard deviation;
the target a fixed number of steps after the end of each input window. The data are lstmkit's own bundled
series instead of the Jena climate record: half-hourly electricity demand in England and Wales (Taylor 2003),
12 weeks. Each input is the past 3 days sampled hourly (``step = 2``, 72 steps) with the hour of day as a
second feature; the target is the demand 24 hours (48 steps) after the window ends. The first 70% of the
series trains, the rest validates, in time order as in the Keras example. The Keras example's
``timeseries_dataset_from_array`` (a tf.data helper) is written out as array slicing, and
``ModelCheckpoint(save_weights_only=True)`` (an .h5 file) is left out.

    python examples/keras/timeseries_forecasting.py
    python examples/keras/timeseries_forecasting.py --quick
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# --- the only lines that differ from the Keras program ---
import lstmkit.keras as keras
# ---------------------------------------------------------

from lstmkit.data import load_series


def windows(features, target, past, future, step):
    """(N, past // step, F) inputs of every ``step``-th row and the target ``future`` rows after each."""
    starts = np.arange(0, len(features) - past - future)
    idx = starts[:, None] + np.arange(0, past, step)[None, :]  # (N, past // step)
    return features[idx].astype("float32"), target[starts + past + future - 1][:, None].astype("float32")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="runs/keras_timeseries_forecasting")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)

    series = load_series("electricity").values  # (4032,), MW every 30 minutes
    hour = (np.arange(len(series)) % 48) / 2.0
    split_fraction = 0.7
    train_split = int(split_fraction * len(series))
    step, past, future = 2, 144, 48
    learning_rate = 0.001
    batch_size = 256
    epochs = 10 if not args.quick else 2

    raw = np.stack([series, np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24)], axis=1)
    mean, std = raw[:train_split].mean(axis=0), raw[:train_split].std(axis=0)
    features = (raw - mean) / std  # normalised with the training part's statistics
    x_train, y_train = windows(features[:train_split], features[:train_split, 0], past, future, step)
    x_val, y_val = windows(features[train_split - past:], features[train_split - past:, 0], past, future, step)
    if args.quick:
        x_train, y_train = x_train[-600:], y_train[-600:]

    # --- the Keras program ---
    inputs = keras.layers.Input(shape=(x_train.shape[1], x_train.shape[2]))
    lstm_out = keras.layers.LSTM(32)(inputs)
    outputs = keras.layers.Dense(1)(lstm_out)

    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    model.summary()

    es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)
    history = model.fit(
        x_train, y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=(x_val, y_val),
        callbacks=[es_callback],
        verbose=2,
    )
    # -------------------------

    pred = model.predict(x_val, verbose=0)[:, 0] * std[0] + mean[0]
    truth = y_val[:, 0] * std[0] + mean[0]
    target_rows = train_split - past + np.arange(len(x_val)) + past + future - 1
    naive = series[target_rows - 48]  # the demand at the same half hour one day before the target
    mae, mae_naive = float(np.abs(pred - truth).mean()), float(np.abs(naive - truth).mean())
    metrics = {"program": "keras timeseries forecasting (LSTM)", "quick": args.quick,
               "n_train": int(len(x_train)), "n_val": int(len(x_val)),
               "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
               "val_mae_mw": mae, "same_hour_yesterday_mae_mw": mae_naive}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"validation MAE {mae:.0f} MW (the demand 24 hours before the target: {mae_naive:.0f} MW)")
    return metrics


if __name__ == "__main__":
    main()
