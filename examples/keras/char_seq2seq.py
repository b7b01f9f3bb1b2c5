"""Keras' "Character-level recurrent sequence-to-sequence model" example (keras.io, fchollet), ported: only
the import lines differ.

The Keras program's model, training and inference, line for line: one-hot encoder and decoder inputs, an
encoder ``LSTM(latent_dim, return_state=True)`` whose final ``[h, c]`` start a decoder ``LSTM(latent_dim,
return_sequences=True, return_state=True)`` trained with teacher forcing ("\\t" starts a target, "\\n" ends
it), ``Dense(softmax)``, rmsprop, categorical cross-entropy, batch 64, ``validation_split=0.2``; then the
encoder and a one-step decoder rebuilt from the trained layers as two inference models (``Input`` states in,
states out) and greedy decoding. The Keras example translates English sentences into French character by
character; here the "translation" is lstmkit's own CMU Pronouncing Dictionary: a word's letters in, its
ARPAbet phonemes out (each phoneme one output token; stress digits kept), 10,000 words drawn with a fixed
seed (the first pronunciation of each), as the Keras example takes 10,000 sentence pairs. The decoding loop
runs a batch of words at a time instead of one; the result is scored on the held-out 20% (the validation
split the program trains beside) as the word error rate (any phoneme wrong) and the phoneme error rate
(edit distance over the reference's length).

    python examples/keras/char_seq2seq.py             # 100 epochs, as the Keras example
    python examples/keras/char_seq2seq.py --quick     # a smoke test
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# --- the only lines that differ from the Keras program ---
import lstmkit.keras as keras
# ---------------------------------------------------------

from lstmkit.data import load_cmudict


def edit_distance(a, b) -> int:
    """Levenshtein distance between two token sequences."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", default="runs/keras_char_seq2seq")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)

    batch_size = 64  # Batch size for training.
    epochs = args.epochs if not args.quick else 2  # Number of epochs to train for.
    latent_dim = 256 if not args.quick else 32  # Latent dimensionality of the encoding space.
    num_samples = 10000 if not args.quick else 400  # Number of samples to train on.

    first = {}
    for word, phones in load_cmudict():
        if word.isalpha() and word not in first:  # letters only; the first pronunciation of each word
            first[word] = phones
    words = sorted(first)
    chosen = np.random.default_rng(0).permutation(len(words))[:num_samples]
    input_texts = [words[i] for i in chosen]
    # each target is a token sequence: "\t" starts it, "\n" ends it (the Keras example's convention)
    target_texts = [("\t",) + first[w] + ("\n",) for w in input_texts]

    # --- the Keras program ---
    input_characters = sorted({c for text in input_texts for c in text})
    target_characters = sorted({c for text in target_texts for c in text})
    num_encoder_tokens = len(input_characters)
    num_decoder_tokens = len(target_characters)
    max_encoder_seq_length = max(len(txt) for txt in input_texts)
    max_decoder_seq_length = max(len(txt) for txt in target_texts)
    print("Number of samples:", len(input_texts))
    print("Number of unique input tokens:", num_encoder_tokens)
    print("Number of unique output tokens:", num_decoder_tokens)
    print("Max sequence length for inputs:", max_encoder_seq_length)
    print("Max sequence length for outputs:", max_decoder_seq_length)

    input_token_index = {char: i for i, char in enumerate(input_characters)}
    target_token_index = {char: i for i, char in enumerate(target_characters)}

    encoder_input_data = np.zeros((len(input_texts), max_encoder_seq_length, num_encoder_tokens), dtype="float32")
    decoder_input_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens), dtype="float32")
    decoder_target_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens), dtype="float32")
    for i, (input_text, target_text) in enumerate(zip(input_texts, target_texts)):
        for t, char in enumerate(input_text):
            encoder_input_data[i, t, input_token_index[char]] = 1.0
        for t, char in enumerate(target_text):
            # decoder_target_data is ahead of decoder_input_data by one timestep
            decoder_input_data[i, t, target_token_index[char]] = 1.0
            if t > 0:
                # decoder_target_data will be ahead by one timestep and will not include the start token
                decoder_target_data[i, t - 1, target_token_index[char]] = 1.0
        # the Keras example pads with its space character; a word has none, so padding is the end token
        decoder_input_data[i, t + 1:, target_token_index["\n"]] = 1.0
        decoder_target_data[i, t:, target_token_index["\n"]] = 1.0

    # Define an input sequence and process it.
    encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
    encoder = keras.layers.LSTM(latent_dim, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    # We discard `encoder_outputs` and only keep the states.
    encoder_states = [state_h, state_c]

    # Set up the decoder, using `encoder_states` as initial state.
    decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
    # We set up our decoder to return full output sequences, and to return internal states as well. We don't
    # use the return states in the training model, but we will use them in inference.
    decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = keras.layers.Dense(num_decoder_tokens, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)

    # Define the model that will turn `encoder_input_data` & `decoder_input_data` into `decoder_target_data`
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit([encoder_input_data, decoder_input_data], decoder_target_data, batch_size=batch_size,
                        epochs=epochs, validation_split=0.2, verbose=2)
    # Save model
    model.save(str(out / "s2s_model.keras"))

    # Inference: the encoder maps an input to its states; the decoder takes a token and states, and returns
    # the next token's probabilities and its states.
    encoder_model = keras.Model(encoder_inputs, encoder_states)
    decoder_state_input_h = keras.Input(shape=(latent_dim,))
    decoder_state_input_c = keras.Input(shape=(latent_dim,))
    decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
    decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
    decoder_states = [state_h_dec, state_c_dec]
    decoder_outputs = decoder_dense(decoder_outputs)
    decoder_model = keras.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs] + decoder_states)

    reverse_target_char_index = {i: char for char, i in target_token_index.items()}

    def decode_sequences(input_seqs):
        # Encode the inputs as state vectors.
        states_value = encoder_model.predict(input_seqs, verbose=0)
        # Start every target with the start token.
        target_seq = np.zeros((len(input_seqs), 1, num_decoder_tokens), dtype="float32")
        target_seq[:, 0, target_token_index["\t"]] = 1.0
        decoded = [[] for _ in input_seqs]
        done = np.zeros(len(input_seqs), bool)
        for _ in range(max_decoder_seq_length):
            output_tokens, h, c = decoder_model.predict([target_seq] + states_value, verbose=0)
            # Sample a token (greedy)
            sampled = np.argmax(output_tokens[:, -1, :], axis=-1)
            for k, token_index in enumerate(sampled):
                char = reverse_target_char_index[int(token_index)]
                if not done[k]:
                    if char == "\n":
                        done[k] = True
                    else:
                        decoded[k].append(char)
            if done.all():
                break
            # Update the target sequence (of length 1) and the states.
            target_seq = np.zeros((len(input_seqs), 1, num_decoder_tokens), dtype="float32")
            target_seq[np.arange(len(input_seqs)), 0, sampled] = 1.0
            states_value = [h, c]
        return decoded
    # -------------------------

    held_out = np.arange(int(len(input_texts) * 0.8), len(input_texts))  # Keras' validation_split: the last 20%
    decoded = decode_sequences(encoder_input_data[held_out])
    refs = [list(target_texts[i][1:-1]) for i in held_out]
    wer = float(np.mean([d != r for d, r in zip(decoded, refs)]))
    per = float(sum(edit_distance(d, r) for d, r in zip(decoded, refs)) / sum(len(r) for r in refs))
    examples = [{"word": input_texts[i], "decoded": " ".join(d), "reference": " ".join(r)}
                for i, d, r in list(zip(held_out, decoded, refs))[:10]]
    for e in examples:
        print(f"{e['word']:>14}  ->  {e['decoded']:<30} (reference {e['reference']})")
    metrics = {"program": "keras character-level seq2seq (CMUdict: letters -> phonemes)", "quick": args.quick,
               "epochs": epochs, "latent_dim": latent_dim, "n_train": int(len(input_texts) - len(held_out)),
               "n_held_out": int(len(held_out)), "word_error_rate": wer, "phoneme_error_rate": per,
               "history": {k: [float(v) for v in vs] for k, vs in history.history.items()}, "examples": examples}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"held-out word error rate {wer:.3f}, phoneme error rate {per:.3f}")
    return metrics


if __name__ == "__main__":
    main()
