"""Text recipes: sentiment of review snippets (and any labelled-text CSV), and a character-level language model
of Shakespeare with sampling (char-rnn, Karpathy 2015)."""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from ..data import Vocabulary, load_rotten_tomatoes, load_shakespeare, pad_sequences, train_val_test_split
from ..data.files import read_labelled_text_csv
from ..models import Sequential
from ..layers import LSTM, Dense, Embedding
from .base import (ModelConfig, Recipe, RecipeConfig, Run, TrainConfig, compile_model, finish_classification,
                   fit_best, load_members, lstm_stack, plot_history, predict_members, train_members)

log = logging.getLogger(__name__)


# --- sentiment / any text classification -----------------------------------------------------------------

@dataclass
class TextData:
    csv: str = ""  # a CSV file with text and label columns; empty = Rotten Tomatoes
    text: str = "text"
    label: str = "label"
    test: float = 0.15  # stratified, seeded fractions
    validation: float = 0.1
    max_len: int = 64  # tokens per text (longer ones are cut)
    vocab_size: int = 20000
    min_count: int = 2
    limit: int = 0  # use only the first N texts (0 = all)

    def __post_init__(self) -> None:
        if not (0 < self.test < 0.5 and 0 < self.validation < 0.5):
            raise ValueError("data.test and data.validation must be in (0, 0.5)")
        if self.max_len < 1 or self.vocab_size < 3 or self.min_count < 1 or self.limit < 0:
            raise ValueError("data.max_len >= 1, data.vocab_size >= 3, data.min_count >= 1, data.limit >= 0")


def _encode(vocab: Vocabulary, texts: list[str], max_len: int) -> np.ndarray:
    ids = [vocab.encode(t)[:max_len] or [vocab.index[Vocabulary.UNK]] for t in texts]
    x, _ = pad_sequences([np.array(i) for i in ids], max_len=max_len, value=0, dtype=np.int64)  # (N, L)
    return x


class Sentiment(Recipe):
    name = "sentiment"
    summary = "Rotten Tomatoes review snippets, fresh or rotten: embedding + bidirectional LSTM"
    target = "test accuracy >= 0.80"
    main_metric = "test_accuracy"

    def default_config(self, quick: bool) -> RecipeConfig:
        cfg = RecipeConfig(TextData(), ModelConfig(hidden_size=64, embed_dim=128, bidirectional=True,
                                                   dropout=0.5),
                           # validation accuracy peaks in epoch 1-2 and then falls as the model memorises the
                           # 9,605 snippets: 3 epochs, and 5 networks averaged
                           TrainConfig(epochs=3, batch_size=32, lr=1e-3, schedule="cosine", ensemble=5))
        if quick:
            cfg.data.limit, cfg.train.epochs, cfg.train.lr, cfg.train.ensemble = 2500, 4, 5e-3, 1
            cfg.model.embed_dim, cfg.model.hidden_size = 32, 32
        return cfg

    def load(self, d: TextData) -> tuple[list[str], np.ndarray, list[str]]:
        if d.csv:
            texts, labels = read_labelled_text_csv(d.csv, d.text, d.label)
            classes = sorted(set(labels))
            y = np.array([classes.index(v) for v in labels], dtype=np.int64)
        else:
            texts, y = load_rotten_tomatoes()
            classes = ["rotten", "fresh"]
        if d.limit:
            keep = np.sort(np.random.default_rng(0).permutation(len(texts))[: d.limit])
            texts, y = [texts[i] for i in keep], y[keep]
        return texts, y, classes

    def train(self, cfg: RecipeConfig, run: Run, quick: bool) -> dict:
        d = cfg.data
        texts, y, classes = self.load(d)
        tr, val, test = train_val_test_split(y, d.test, d.validation, seed=cfg.train.seed)
        vocab = Vocabulary.build([texts[i] for i in tr], level="word", max_size=d.vocab_size,
                                 min_count=d.min_count)
        vocab.save(run.path / "vocab.json")
        x = _encode(vocab, texts, d.max_len)
        m = cfg.model
        build = lambda: Sequential([  # noqa: E731
            Embedding(len(vocab), m.embed_dim or 128, mask_zero=True, input_shape=(d.max_len,)), *lstm_stack(m),
            Dense(len(classes), activation="softmax")])
        models, history = train_members(build, run, cfg.train, "sparse_categorical_crossentropy", ["accuracy"],
                                        x[tr], y[tr], (x[val], y[val]), "val_accuracy")
        run.write_json("artifacts.json", {"classes": classes, "max_len": d.max_len,
                                          "split": {"test": test, "validation": val}})
        return finish_classification(self.name, run, models, history, x[test], y[test], classes,
                                     {"vocab_size": len(vocab), "n_train": len(tr), "n_validation": len(val),
                                      "n_test": len(test)})

    def test_data(self, cfg: RecipeConfig, run: Run):
        art = run.read_json("artifacts.json")
        texts, y, _ = self.load(cfg.data)
        test = np.asarray(art["split"]["test"], dtype=np.int64)
        vocab = Vocabulary.load(run.path / "vocab.json")
        return _encode(vocab, [texts[i] for i in test], art["max_len"]), y[test], art["classes"]

    def predict(self, run: Run, inputs: list[str]) -> list[Any]:
        art = run.read_json("artifacts.json")
        vocab = Vocabulary.load(run.path / "vocab.json")
        probs = predict_members(load_members(run), _encode(vocab, inputs, art["max_len"]))  # (N, C)
        return [{"text": t, "label": art["classes"][int(p.argmax())], "probability": float(p.max())}
                for t, p in zip(inputs, probs)]


# --- Shakespeare character language model --------------------------------------------------------------

@dataclass
class CharData:
    val_plays: tuple[str, ...] = ("twelfth-night", "julius-caesar")
    test_plays: tuple[str, ...] = ("the-tempest", "macbeth")
    seq_len: int = 100
    train_chars: int = 0  # 0 = every training play; else the first N characters
    eval_chars: int = 0  # 0 = the whole validation/test plays

    def __post_init__(self) -> None:
        if self.seq_len < 2 or self.train_chars < 0 or self.eval_chars < 0:
            raise ValueError("data.seq_len >= 2, data.train_chars and data.eval_chars >= 0")
        if set(self.val_plays) & set(self.test_plays):
            raise ValueError("data.val_plays and data.test_plays overlap")


def _chunks(ids: np.ndarray, seq_len: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping (input, next-character) pairs of length ``seq_len``: (N, L) and (N, L)."""
    ids = ids[offset:]
    n = (len(ids) - 1) // seq_len
    x = ids[: n * seq_len].reshape(n, seq_len)
    y = ids[1: n * seq_len + 1].reshape(n, seq_len)
    return x, y


class Shakespeare(Recipe):
    name = "shakespeare"
    summary = "character language model of the 38 plays; `lstmkit generate RUN --prompt 'ROMEO:'`"
    target = "validation loss <= 1.5 nats per character"
    main_metric = "val_nats_per_char"

    def default_config(self, quick: bool) -> RecipeConfig:
        cfg = RecipeConfig(CharData(), ModelConfig(hidden_size=512, num_layers=2, embed_dim=64, dropout=0.1),
                           TrainConfig(epochs=4, batch_size=64, lr=2e-3, schedule="cosine", clipnorm=5.0))
        if quick:
            cfg.data.train_chars, cfg.data.eval_chars = 60000, 20000
            cfg.model.hidden_size, cfg.model.num_layers, cfg.model.embed_dim = 64, 1, 16
            cfg.train.epochs = 3
        return cfg

    def train(self, cfg: RecipeConfig, run: Run, quick: bool) -> dict:
        d = cfg.data
        plays = load_shakespeare()
        unknown = [p for p in (*d.val_plays, *d.test_plays) if p not in plays]
        if unknown:
            raise ValueError(f"unknown plays {unknown}; known: {', '.join(plays)}")
        vocab = Vocabulary.build(plays.values(), level="char")
        vocab.save(run.path / "vocab.json")
        join = lambda names: "\n".join(plays[n] for n in names)  # noqa: E731
        train_text = join([n for n in plays if n not in (*d.val_plays, *d.test_plays)])
        val_text, test_text = join(d.val_plays), join(d.test_plays)
        if d.train_chars:
            train_text = train_text[: d.train_chars]
        if d.eval_chars:
            val_text, test_text = val_text[: d.eval_chars], test_text[: d.eval_chars]
        enc = lambda t: np.array(vocab.encode(t), dtype=np.int64)  # noqa: E731
        x, y = _chunks(enc(train_text), d.seq_len)
        xv, yv = _chunks(enc(val_text), d.seq_len)
        xt, yt = _chunks(enc(test_text), d.seq_len)
        m = cfg.model
        model = Sequential([Embedding(len(vocab), m.embed_dim or 64, input_shape=(None,)),
                            *lstm_stack(m, return_sequences=True), Dense(len(vocab))])  # logits (B, L, V)
        steps = -(-len(x) // cfg.train.batch_size)
        compile_model(model, cfg.train, {"name": "sparse_categorical_crossentropy", "from_logits": True}, [],
                      steps)
        best, history = fit_best(model, run, cfg.train, x, y, (xv, yv), "val_loss")
        test_loss = float(best.evaluate(xt, yt, batch_size=128))
        val_loss = float(min(history["val_loss"]))
        plot_history(history, run.path / "learning_curves.png", self.name)
        samples = [generate(best, vocab, prompt, length=300 if not quick else 60, temperature=0.8,
                            seed=cfg.train.seed + i) for i, prompt in enumerate(("ROMEO:", "HAMLET:\n", "The "))]
        (run.path / "samples.txt").write_text("\n\n-----\n\n".join(samples) + "\n", encoding="utf-8")
        return {"val_nats_per_char": val_loss, "val_bits_per_char": val_loss / math.log(2),
                "test_nats_per_char": test_loss, "test_bits_per_char": test_loss / math.log(2),
                "uniform_nats_per_char": math.log(len(vocab)), "vocab_size": len(vocab),
                "train_chars": len(train_text), "val_chars": len(val_text), "test_chars": len(test_text),
                "epochs_run": len(history["loss"]), "sample": samples[0]}


@contextlib.contextmanager
def _stateful(model):
    lstms = [m for m in model.modules() if isinstance(m, LSTM)]
    saved = [m.stateful for m in lstms]
    try:
        for m in lstms:
            m.stateful = True
            m.reset_states()
        yield
    finally:
        for m, s in zip(lstms, saved):
            m.stateful = s
            m.reset_states()


@torch.no_grad()
def generate(model, vocab: Vocabulary, prompt: str, length: int = 500, temperature: float = 0.8,
             top_k: int = 0, seed: Optional[int] = None) -> str:
    """Sample ``length`` characters after ``prompt``: the prompt is read once, then one step per character
    with the LSTM state carried over (the layers run stateful for the duration)."""
    if not prompt:
        raise ValueError("the prompt must not be empty")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    missing = sorted({c for c in prompt if c not in vocab.index})
    if missing:
        raise ValueError(f"the prompt has characters the model never saw: {missing}")
    gen = torch.Generator().manual_seed(seed if seed is not None else torch.seed())
    model.eval()
    out = list(prompt)
    with _stateful(model):
        logits = model(torch.tensor([vocab.encode(prompt)]))[0, -1]  # (V,)
        for _ in range(length):
            scores = logits.double() / temperature
            if top_k:
                kth = torch.topk(scores, min(top_k, scores.numel())).values[-1]
                scores = scores.masked_fill(scores < kth, float("-inf"))
            nxt = int(torch.multinomial(torch.softmax(scores, -1), 1, generator=gen))
            out.append(vocab.tokens[nxt])
            logits = model(torch.tensor([[nxt]]))[0, -1]
    return "".join(out)
