"""Multimodal fusion with the functional API: a smartwatch's accelerometer and gyroscope, each through its
own branch, concatenated (the design documents name multimodal fusion as a direction).

Data: lstmkit's bundled smartwatch exercise recordings (Burns et al. 2018: 140 recordings, 7 shoulder
exercises, 10 subjects, 50 Hz). Recordings are cut into 8 s segments (downsampled to 12.5 Hz: 100 steps,
a new segment every 2 s); subjects 2, 5 and 8 are the test set, subject 10 validates, the rest train, so
no subject is in two sets. Two inputs of different sensors: the accelerometer (3 channels) through an
``LSTM(32)``, the gyroscope (3 channels) through ``Conv1D(32, 5)`` and ``MaxPooling1D`` then ``LSTM(32)``;
the two summaries concatenated, ``Dropout(0.3)``, ``Dense(7, softmax)``. The same program with one branch
(either sensor alone) is trained beside it, so the table shows what fusion adds.

    python examples/keras/multimodal_sensors.py
    python examples/keras/multimodal_sensors.py --quick
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import lstmkit.keras as keras
from lstmkit.keras import layers

from lstmkit.data import load_watch


def segments(recordings, labels, window=100, stride=25, downsample=4):
    xs, ys = [], []
    for rec, label in zip(recordings, labels):
        a = rec[::downsample]
        for s in range(0, max(1, len(a) - window + 1), stride):
            seg = a[s: s + window]
            if len(seg) == window:
                xs.append(seg)
                ys.append(label)
    return np.stack(xs).astype("float32"), np.array(ys)


def build(branches, n_classes):
    inputs, summaries = [], []
    if "accelerometer" in branches:
        acc = keras.Input(shape=(None, 3), name="accelerometer")
        inputs.append(acc)
        summaries.append(layers.LSTM(32, name="acc_lstm")(acc))
    if "gyroscope" in branches:
        gyro = keras.Input(shape=(None, 3), name="gyroscope")
        inputs.append(gyro)
        g = layers.Conv1D(32, 5, activation="relu", padding="same", name="gyro_conv")(gyro)
        g = layers.MaxPooling1D(2, name="gyro_pool")(g)
        summaries.append(layers.LSTM(32, name="gyro_lstm")(g))
    h = layers.Concatenate(name="fusion")(summaries) if len(summaries) > 1 else summaries[0]
    h = layers.Dropout(0.3)(h)
    outputs = layers.Dense(n_classes, activation="softmax", name="exercise")(h)
    return keras.Model(inputs, outputs, name="+".join(branches))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default="runs/keras_multimodal_sensors")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    d = load_watch()
    subject = d["subject"]
    sets = {"test": np.isin(subject, [2, 5, 8]), "val": subject == 10}
    sets["train"] = ~(sets["test"] | sets["val"])
    data = {}
    for name, keep in sets.items():
        idx = np.flatnonzero(keep)
        data[name] = segments([d["x"][i] for i in idx], d["y"][idx])
    mean = data["train"][0].reshape(-1, 6).mean(0)
    std = data["train"][0].reshape(-1, 6).std(0)
    for name, (x, y) in data.items():
        data[name] = ((x - mean) / std, y)
    if args.quick:
        data["train"] = (data["train"][0][::8], data["train"][1][::8])
    epochs = 2 if args.quick else args.epochs

    def split(x, branches):
        parts = {"accelerometer": x[:, :, :3], "gyroscope": x[:, :, 3:]}
        return [parts[b] for b in branches]

    results = {}
    for branches in (["accelerometer", "gyroscope"], ["accelerometer"], ["gyroscope"]):
        keras.utils.set_random_seed(0)
        model = build(branches, len(d["classes"]))
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=8, restore_best_weights=True)
        x_tr, y_tr = data["train"]
        x_va, y_va = data["val"]
        history = model.fit(split(x_tr, branches), y_tr, batch_size=32, epochs=epochs,
                            validation_data=(split(x_va, branches), y_va), callbacks=[stop], verbose=0)
        x_te, y_te = data["test"]
        logs = model.evaluate(split(x_te, branches), y_te, return_dict=True)
        results[model.name] = {"test_accuracy": float(logs["accuracy"]), "epochs_run": len(history.history["loss"]),
                               "params": model.count_params()}
        print(f"{model.name:>25}: test accuracy {logs['accuracy']:.4f} ({len(history.history['loss'])} epochs, "
              f"{model.count_params():,} parameters)")
    metrics = {"program": "functional multimodal fusion (accelerometer + gyroscope)", "quick": args.quick,
               "segments": {k: int(len(v[1])) for k, v in data.items()}, "results": results,
               "chance": float(np.bincount(data["test"][1]).max() / len(data["test"][1]))}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    main()
