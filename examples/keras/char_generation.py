"""Keras' "Character-level text generation with LSTM" example (keras.io, fchollet), ported: only the import
lines differ.

The Keras program, line for line: sequences of 40 characters taken every 3 characters, one-hot, a
``Sequential`` of ``Input``, ``LSTM(128)`` and ``Dense(len(chars), softmax)``, ``RMSprop(learning_rate=0.01)``,
categorical cross-entropy, batch 128, and after each epoch text sampled at several temperatures. The text is
lstmkit's own bundled Shakespeare (Macbeth and The Tempest, lower-cased as the Keras example lower-cases
Nietzsche) instead of Nietzsche's.

    python examples/keras/char_generation.py            # 20 epochs (the Keras example runs 40)
    python examples/keras/char_generation.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
from pathlib import Path

import numpy as np

# --- the only lines that differ from the Keras program ---
import lstmkit.keras as keras
from lstmkit.keras import layers
# ---------------------------------------------------------

from lstmkit.data import load_shakespeare


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="runs/keras_char_generation")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    random.seed(0)

    plays = load_shakespeare()
    text = (plays["macbeth"] + plays["the-tempest"]).lower()
    if args.quick:
        text = text[:15000]
    epochs = 2 if args.quick else args.epochs

    # --- the Keras program ---
    chars = sorted(list(set(text)))
    print("Total chars:", len(chars))
    char_indices = dict((c, i) for i, c in enumerate(chars))
    indices_char = dict((i, c) for i, c in enumerate(chars))

    # cut the text in semi-redundant sequences of maxlen characters
    maxlen = 40
    step = 3
    sentences = []
    next_chars = []
    for i in range(0, len(text) - maxlen, step):
        sentences.append(text[i: i + maxlen])
        next_chars.append(text[i + maxlen])
    print("Number of sequences:", len(sentences))

    x = np.zeros((len(sentences), maxlen, len(chars)), dtype="bool")
    y = np.zeros((len(sentences), len(chars)), dtype="bool")
    for i, sentence in enumerate(sentences):
        for t, char in enumerate(sentence):
            x[i, t, char_indices[char]] = 1
        y[i, char_indices[next_chars[i]]] = 1

    model = keras.Sequential(
        [
            keras.Input(shape=(maxlen, len(chars))),
            layers.LSTM(128),
            layers.Dense(len(chars), activation="softmax"),
        ]
    )
    optimizer = keras.optimizers.RMSprop(learning_rate=0.01)
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)

    def sample(preds, temperature=1.0):
        # helper function to sample an index from a probability array
        preds = np.asarray(preds).astype("float64")
        preds = np.log(preds) / temperature
        exp_preds = np.exp(preds)
        preds = exp_preds / np.sum(exp_preds)
        probas = np.random.multinomial(1, preds, 1)
        return np.argmax(probas)

    batch_size = 128
    losses, samples = [], io.StringIO()
    for epoch in range(epochs):
        history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=2)
        losses.append(float(history.history["loss"][-1]))
        print()
        print("Generating text after epoch: %d" % epoch)

        start_index = random.randint(0, len(text) - maxlen - 1)
        for diversity in [0.2, 0.5, 1.0, 1.2]:
            print("...Diversity:", diversity)

            generated = ""
            sentence = text[start_index: start_index + maxlen]
            print('...Generating with seed: "' + sentence + '"')

            for _ in range(400 if not args.quick else 40):
                x_pred = np.zeros((1, maxlen, len(chars)))
                for t, char in enumerate(sentence):
                    x_pred[0, t, char_indices[char]] = 1.0
                preds = model.predict(x_pred, verbose=0)[0]
                next_index = sample(preds, diversity)
                next_char = indices_char[next_index]
                sentence = sentence[1:] + next_char
                generated += next_char

            print("...Generated: ", generated)
            print(f"epoch {epoch} diversity {diversity}: {generated!r}", file=samples)
            print()
    # -------------------------

    counts = np.bincount([char_indices[c] for c in next_chars], minlength=len(chars)) / len(next_chars)
    unigram = float(-(counts[counts > 0] * np.log(counts[counts > 0])).sum())
    metrics = {"program": "keras character-level text generation", "quick": args.quick, "epochs": epochs,
               "characters": len(text), "sequences": len(sentences), "loss_per_epoch": losses,
               "unigram_nats_per_char": unigram, "bits_per_char_last_epoch": losses[-1] / math.log(2)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "samples.txt").write_text(samples.getvalue())
    print(f"training loss {losses[-1]:.3f} nats/char (a unigram model: {unigram:.3f}); samples in {out}")
    return metrics


if __name__ == "__main__":
    main()
