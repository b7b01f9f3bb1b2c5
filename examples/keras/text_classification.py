"""Keras' "Bidirectional LSTM on IMDB" example (keras.io, fchollet), ported: only the import lines differ.

The program below is the Keras example's, line for line: an ``Input`` of token ids, ``Embedding(20000,
128)``, two ``Bidirectional(LSTM(64))`` layers, ``Dense(1, sigmoid)``, Adam, binary cross-entropy, batch
32, 2 epochs, ``pad_sequences`` with Keras' front padding. The data are lstmkit's own: the Rotten
Tomatoes critics' snippets (fresh or rotten) instead of IMDB reviews, tokenised here into word ids the way
``keras.datasets.imdb`` delivers them (1 = out of vocabulary, 2 + rank for the most frequent words). As the
snippets are short (20 words on average), ``maxlen`` is 60 instead of 200.

    python examples/keras/text_classification.py            # the full run (about 10 minutes on 2 cores)
    python examples/keras/text_classification.py --quick    # a smoke test on 800 snippets

Swap the two marked import lines for ``import keras`` / ``from keras import layers`` and the same file runs
on Keras (``tests/test_examples.py`` does that in quick form).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

import numpy as np

# --- the only lines that differ from the Keras program ---
import lstmkit.keras as keras
from lstmkit.keras import layers
# ---------------------------------------------------------

from lstmkit.data import load_rotten_tomatoes


def word_ids(texts, max_features, vocabulary=None):
    """Texts -> lists of ids (imdb's convention: 0 padding, 1 unknown, 2 + frequency rank)."""
    words = [re.findall(r"[a-z0-9']+", t.lower()) for t in texts]
    if vocabulary is None:
        counts = collections.Counter(w for ws in words for w in ws)
        vocabulary = {w: i + 2 for i, (w, _) in enumerate(counts.most_common(max_features - 2))}
    return [[vocabulary.get(w, 1) for w in ws] for ws in words], vocabulary


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="runs/keras_text_classification")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)

    texts, labels = load_rotten_tomatoes()
    order = np.random.default_rng(0).permutation(len(texts))
    n_test = len(texts) // 5
    test, train = order[:n_test], order[n_test:]
    if args.quick:
        train, test = train[:800], test[:200]
    max_features = 20000 if not args.quick else 2000  # Only consider the top 20k words
    maxlen = 60 if not args.quick else 30  # Only consider the first 60 words of each snippet
    train_ids, vocab = word_ids([texts[i] for i in train], max_features)
    test_ids, _ = word_ids([texts[i] for i in test], max_features, vocab)
    y_train, y_val = labels[train].astype("float32"), labels[test].astype("float32")

    # --- the Keras program ---
    # Input for variable-length sequences of integers
    inputs = keras.Input(shape=(None,), dtype="int32")
    # Embed each integer in a 128-dimensional vector
    x = layers.Embedding(max_features, 128)(inputs)
    # Add 2 bidirectional LSTMs
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(64))(x)
    # Add a classifier
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.summary()

    x_train = keras.utils.pad_sequences(train_ids, maxlen=maxlen)
    x_val = keras.utils.pad_sequences(test_ids, maxlen=maxlen)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=2 if not args.quick else 1,
                        validation_data=(x_val, y_val), verbose=2)
    # -------------------------

    metrics = {"program": "keras text classification (bidirectional LSTM)", "quick": args.quick,
               "n_train": int(len(train)), "n_test": int(len(test)),
               "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
               "test_accuracy": float(history.history["val_accuracy"][-1]),
               "majority_accuracy": float(max(y_val.mean(), 1 - y_val.mean()))}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"test accuracy {metrics['test_accuracy']:.4f} (majority class {metrics['majority_accuracy']:.4f})")
    return metrics


if __name__ == "__main__":
    main()
