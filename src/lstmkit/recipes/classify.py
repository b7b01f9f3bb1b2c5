"""Sequence classification recipes: MNIST read row by row, Japanese vowel speakers, smartwatch exercises."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..data import (WATCH_CLASSES, group_split, load_japanese_vowels, load_mnist, load_watch, pad_sequences,
                    stratified_split)
from ..models import Sequential
from ..layers import Dense, Masking
from .base import (ModelConfig, Recipe, RecipeConfig, Run, TrainConfig, finish_classification, load_members,
                   lstm_stack, predict_members, train_members)

log = logging.getLogger(__name__)


# --- MNIST, row by row ----------------------------------------------------------------------------------

@dataclass
class MnistData:
    n_train: int = 0  # 0 = all 60,000 (minus validation)
    n_test: int = 0  # 0 = all 10,000
    validation: int = 3000  # training images held out to pick the best epoch

    def __post_init__(self) -> None:
        if self.n_train < 0 or self.n_test < 0 or self.validation < 1:
            raise ValueError("data.n_train and data.n_test must be >= 0, data.validation >= 1")


DIGITS = [str(d) for d in range(10)]


def _pixels(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0  # (N, 28, 28): 28 steps of 28 pixels


def _mnist_test(xt: np.ndarray, yt: np.ndarray, d: "MnistData") -> tuple[np.ndarray, np.ndarray]:
    n = d.n_test or len(xt)
    return _pixels(xt[:n]), yt[:n]


class MnistRows(Recipe):
    name = "mnist-rows"
    summary = "the second seed: 2 x 128 LSTM reads each MNIST digit as 28 rows of 28 pixels"
    target = "test accuracy >= 0.990"
    main_metric = "test_accuracy"

    def default_config(self, quick: bool) -> RecipeConfig:
        cfg = RecipeConfig(MnistData(), ModelConfig(hidden_size=128, num_layers=2, dropout=0.2),
                           # one network reached 98.98% (seed 0); three averaged, about 11 minutes on 2 cores
                           TrainConfig(epochs=20, batch_size=128, lr=1e-3, schedule="cosine", ensemble=3))
        if quick:
            cfg.data = MnistData(n_train=2000, n_test=500, validation=500)
            cfg.model.hidden_size, cfg.train.epochs, cfg.train.ensemble = 64, 3, 1
        return cfg

    def train_data(self, cfg: RecipeConfig, run: Optional[Run] = None):
        (x, y), _ = load_mnist()
        x = _pixels(x)
        if cfg.data.n_train:
            x, y = x[: cfg.data.n_train + cfg.data.validation], y[: cfg.data.n_train + cfg.data.validation]
        v = cfg.data.validation  # the last images of the training set, as Keras' validation_split takes them
        return x[:-v], y[:-v], (x[-v:], y[-v:])

    def train(self, cfg: RecipeConfig, run: Run, quick: bool) -> dict:
        x_tr, y_tr, (x_val, y_val) = self.train_data(cfg, run)
        _, (xt, yt) = load_mnist()
        xt, yt = _mnist_test(xt, yt, cfg.data)
        build = lambda: Sequential([*lstm_stack(cfg.model, input_shape=(28, 28)),  # noqa: E731
                                    Dense(10, activation="softmax")])
        models, history = train_members(build, run, cfg.train, "sparse_categorical_crossentropy", ["accuracy"],
                                        x_tr, y_tr, (x_val, y_val), "val_accuracy")
        return finish_classification(self.name, run, models, history, xt, yt, DIGITS,
                                     {"n_train": len(x_tr), "n_test": len(xt)})

    def test_data(self, cfg: RecipeConfig, run: Run):
        _, (xt, yt) = load_mnist()
        return (*_mnist_test(xt, yt, cfg.data), DIGITS)

    def predict(self, run: Run, inputs: list[str]) -> list[Any]:
        """Classify 28x28 images (PNG/JPEG via matplotlib, or .npy arrays), white digit on black."""
        models = load_members(run)
        out = []
        for item in inputs:
            img = _read_image(Path(item))  # (28, 28)
            out.append({"input": item, "digit": int(predict_members(models, img[None])[0].argmax())})
        return out


def _read_image(path: Path) -> np.ndarray:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".npy":
        img = np.load(path, allow_pickle=False).astype(np.float32)
    else:
        import matplotlib.image as mpimg

        img = np.asarray(mpimg.imread(path), dtype=np.float32)
        if img.ndim == 3:
            img = img[..., :3].mean(-1)
    if img.shape != (28, 28):
        raise ValueError(f"{path}: expected a 28x28 image, got shape {img.shape}")
    return img / 255.0 if img.max() > 1.0 else img


# --- Japanese vowels ----------------------------------------------------------------------------------------

@dataclass
class VowelsData:
    # stratified fraction of the 270 training utterances held out to pick the epoch; 0 = train on all 270 and
    # keep the last epoch (the default: 41 utterances are too few to choose an epoch by)
    validation: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.validation < 0.5:
            raise ValueError("data.validation must be in [0, 0.5)")


def _standardise(train: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    allx = np.concatenate(train)  # (sum T_i, C)
    return allx.mean(0), allx.std(0) + 1e-8


SPEAKERS = [f"speaker {i + 1}" for i in range(9)]


def _vowel_frames(seqs: list[np.ndarray], mean: np.ndarray, std: np.ndarray, max_len: int) -> np.ndarray:
    """Standardised with the training statistics, right-padded with zeros: (N, max_len, 12)."""
    x, _ = pad_sequences([(a - mean) / std for a in seqs], max_len=max_len, value=0.0)
    return x


class JapaneseVowels(Recipe):
    name = "japanese-vowels"
    summary = "speaker recognition: 9 speakers from variable-length LPC cepstra (UEA JapaneseVowels)"
    target = "test accuracy >= 0.985"
    main_metric = "test_accuracy"

    def default_config(self, quick: bool) -> RecipeConfig:
        cfg = RecipeConfig(VowelsData(), ModelConfig(hidden_size=64, num_layers=1, dropout=0.3, bidirectional=True,
                                                     layer_norm=True),
                           TrainConfig(epochs=40, batch_size=16, lr=3e-3, schedule="cosine", ensemble=5))
        if quick:
            cfg.train.epochs, cfg.train.ensemble = 8, 1
        return cfg

    def _split(self, cfg: RecipeConfig):
        (xs, y), (xts, yt) = load_japanese_vowels()
        if cfg.data.validation:
            tr, val = stratified_split(y, cfg.data.validation, seed=cfg.train.seed)
        else:
            tr, val = np.arange(len(y)), np.arange(0)
        mean, std = _standardise([xs[i] for i in tr])
        return xs, y, xts, yt, tr, val, mean, std

    def train_data(self, cfg: RecipeConfig, run: Optional[Run] = None):
        xs, y, _, _, tr, val, mean, std = self._split(cfg)
        x = _vowel_frames(xs, mean, std, 29)  # (270, 29, 12)
        return x[tr], y[tr], (x[val], y[val]) if len(val) else None

    def train(self, cfg: RecipeConfig, run: Run, quick: bool) -> dict:
        xs, y, xts, yt, tr, val, mean, std = self._split(cfg)
        x = _vowel_frames(xs, mean, std, 29)  # (270, 29, 12)
        # a standardised frame is never exactly all-zero, so Masking(0) marks only the padding
        build = lambda: Sequential([Masking(0.0, input_shape=(29, 12)), *lstm_stack(cfg.model),  # noqa: E731
                                    Dense(9, activation="softmax")])
        models, history = train_members(build, run, cfg.train, "sparse_categorical_crossentropy", ["accuracy"],
                                        x[tr], y[tr], (x[val], y[val]) if len(val) else None, "val_accuracy")
        run.write_json("artifacts.json", {"mean": mean, "std": std, "max_len": 29})
        return finish_classification(self.name, run, models, history, _vowel_frames(xts, mean, std, 29), yt,
                                     SPEAKERS,
                                     {"n_train": len(tr), "n_validation": len(val), "n_test": len(yt)})

    def test_data(self, cfg: RecipeConfig, run: Run):
        art = run.read_json("artifacts.json")
        _, (xts, yt) = load_japanese_vowels()
        xt = _vowel_frames(xts, np.asarray(art["mean"]), np.asarray(art["std"]), art["max_len"])
        return xt, yt, SPEAKERS


# --- smartwatch exercises ------------------------------------------------------------------------------------

@dataclass
class ActivityData:
    test_subjects: tuple[str, ...] = ("2", "5", "8")  # every recording of these subjects is test data
    val_subjects: tuple[str, ...] = ("10",)
    window: int = 200  # steps per segment after downsampling (8 s at 25 Hz)
    stride: int = 50  # between segment starts
    downsample: int = 2  # 50 Hz -> 25 Hz

    def __post_init__(self) -> None:
        if self.window < 2 or self.stride < 1 or self.downsample < 1:
            raise ValueError("data.window >= 2, data.stride >= 1, data.downsample >= 1")
        if set(self.test_subjects) & set(self.val_subjects):
            raise ValueError("data.test_subjects and data.val_subjects overlap")


def _segments(xs: list[np.ndarray], idx: np.ndarray, d: ActivityData) -> tuple[np.ndarray, np.ndarray]:
    """Cut recordings into (window, 6) segments; returns segments and the recording each came from."""
    segs, owner = [], []
    for i in idx:
        a = xs[i][:: d.downsample]  # (T', 6)
        starts = range(0, max(1, len(a) - d.window + 1), d.stride)
        for s in starts:
            seg = a[s: s + d.window]
            if len(seg) < d.window:
                seg = np.pad(seg, ((0, d.window - len(seg)), (0, 0)))
            segs.append(seg)
            owner.append(i)
    return np.stack(segs).astype(np.float32), np.array(owner)


class Activity(Recipe):
    name = "activity"
    summary = "smartwatch shoulder-exercise recognition (7 classes), split by subject, with a confusion matrix"
    target = "report accuracy per segment and per recording (no target set by the issue)"
    main_metric = "test_recording_accuracy"

    def default_config(self, quick: bool) -> RecipeConfig:
        cfg = RecipeConfig(ActivityData(), ModelConfig(hidden_size=64, num_layers=1, dropout=0.3),
                           TrainConfig(epochs=25, batch_size=32, lr=2e-3, schedule="cosine"))
        if quick:
            cfg.data.stride = 200
            cfg.train.epochs = 4
        return cfg

    def train(self, cfg: RecipeConfig, run: Run, quick: bool) -> dict:
        d = load_watch()
        subjects = d["subject"]
        test_s = [int(s) for s in cfg.data.test_subjects]
        val_s = [int(s) for s in cfg.data.val_subjects]
        rest, test = group_split(subjects, test_s)
        tr = rest[~np.isin(subjects[rest], val_s)]
        val = rest[np.isin(subjects[rest], val_s)]
        mean, std = _standardise([d["x"][i] for i in tr])
        xs = [(a - mean) / std for a in d["x"]]
        x_tr, o_tr = _segments(xs, tr, cfg.data)
        x_val, o_val = _segments(xs, val, cfg.data)
        x_te, o_te = _segments(xs, test, cfg.data)
        y = d["y"]
        build = lambda: Sequential([*lstm_stack(cfg.model, input_shape=(cfg.data.window, 6)),  # noqa: E731
                                    Dense(len(WATCH_CLASSES), activation="softmax")])
        models, history = train_members(build, run, cfg.train, "sparse_categorical_crossentropy", ["accuracy"],
                                        x_tr, y[o_tr], (x_val, y[o_val]), "val_accuracy")
        probs = predict_members(models, x_te)  # (S, 7)
        # a recording's class: the mean of its segments' probabilities
        rec_pred = np.array([probs[o_te == i].mean(0).argmax() for i in test])
        rec_acc = float((rec_pred == y[test]).mean())
        run.write_json("artifacts.json", {"mean": mean, "std": std})
        return finish_classification(self.name, run, models, history, x_te, y[o_te], list(WATCH_CLASSES),
                       {"test_recording_accuracy": rec_acc, "n_train_segments": len(x_tr),
                        "n_test_segments": len(x_te), "n_test_recordings": len(test),
                        "test_subjects": test_s, "val_subjects": val_s})
