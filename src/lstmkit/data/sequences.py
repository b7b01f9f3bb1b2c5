"""Variable-length multivariate sequence data sets (speech, motion) and the tools to batch them: padding
with lengths, and seeded stratified or grouped splits."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .._deps import require
from .sources import load_npy_object, packaged_files


def parse_ts(text: str, source: str = "<ts>") -> tuple[list[np.ndarray], list[str]]:
    """Parse a sktime/aeon ``.ts`` file: per case, channels separated by ``:`` then the class label.
    Returns arrays (T_i, C) and labels. Errors name the line."""
    body, header = False, {}
    xs, ys = [], []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not body:
            if line.lower() == "@data":
                body = True
            elif line.startswith("@"):
                key, _, value = line[1:].partition(" ")
                header[key.lower()] = value
            continue
        *channels, label = line.split(":")
        try:
            arr = np.array([[float(v) for v in ch.split(",")] for ch in channels], dtype=np.float64)  # (C, T)
        except ValueError as err:
            raise ValueError(f"{source}, line {lineno}: {err}") from None
        xs.append(arr.T)  # (T, C)
        ys.append(label.strip())
    if not body or not xs:
        raise ValueError(f"{source}: no @data section with cases")
    return xs, ys


def load_japanese_vowels() -> tuple[tuple[list[np.ndarray], np.ndarray], tuple[list[np.ndarray], np.ndarray]]:
    """UEA JapaneseVowels (Kudo et al. 1999): nine male speakers saying /ae/, 12 LPC cepstrum coefficients per
    frame, 7 to 29 frames. The official split: 270 training and 370 test utterances; labels 0-8.

    >>> (x, y), (xt, yt) = load_japanese_vowels()
    >>> len(x), len(xt), x[0].shape[1], sorted(set(y.tolist())) == list(range(9))
    (270, 370, 12, True)
    """
    files = packaged_files("japanese_vowels")
    out = []
    for part in ("TRAIN", "TEST"):
        p = files[f"aeon/datasets/data/JapaneseVowels/JapaneseVowels_{part}.ts"]
        xs, ys = parse_ts(p.read_text(encoding="utf-8"), str(p))
        out.append((xs, np.array([int(v) - 1 for v in ys], dtype=np.int64)))
    return out[0], out[1]


WATCH_CLASSES = ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")  # seglearn's y_labels, in label order


def load_watch() -> dict:
    """Smartwatch shoulder-exercise recordings (Burns et al. 2018, packaged in ``seglearn`` 1.2.5): 140
    recordings of 6 channels (accelerometer x/y/z, gyroscope x/y/z) at 50 Hz, 947 to 2,618 steps, 7 exercise
    classes, 10 subjects. Returns ``{"x": [(T_i, 6)], "y": (140,), "subject": (140,), "classes", "channels"}``.

    >>> d = load_watch()
    >>> len(d["x"]), d["x"][0].shape[1], len(d["classes"]), len(set(d["subject"].tolist()))
    (140, 6, 7, 10)
    """
    path = packaged_files("watch")["seglearn/data/watch_dataset.npy"]
    raw = load_npy_object(path)
    d = raw.item() if isinstance(raw, np.ndarray) else raw
    return {"x": [np.asarray(a, dtype=np.float64) for a in d["X"]], "y": np.asarray(d["y"], dtype=np.int64),
            "subject": np.asarray(d["subject"], dtype=np.int64), "classes": list(d["y_labels"]),
            "channels": list(d["X_labels"])}


def pad_sequences(seqs: Sequence[np.ndarray], max_len: Optional[int] = None, value: float = 0.0,
                  dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad (T_i, ...) arrays to (N, T, ...) and return the lengths (N,); longer ones are cut at the end
    (``max_len``). Right padding is what lstmkit's ``lengths`` argument expects.

    >>> x, n = pad_sequences([np.ones((2, 1)), np.ones((3, 1))])
    >>> x.shape, n.tolist(), x[0, :, 0].tolist()
    ((2, 3, 1), [2, 3], [1.0, 1.0, 0.0])
    """
    if len(seqs) == 0:
        raise ValueError("pad_sequences needs at least one sequence")
    arrs = [np.asarray(s) for s in seqs]
    lengths = np.array([len(a) for a in arrs], dtype=np.int64)
    if (lengths == 0).any():
        raise ValueError(f"sequence {int(np.flatnonzero(lengths == 0)[0])} is empty")
    t = int(max_len or lengths.max())
    lengths = np.minimum(lengths, t)
    out = np.full((len(arrs), t) + arrs[0].shape[1:], value, dtype=dtype)  # (N, T, ...)
    for i, a in enumerate(arrs):
        out[i, : lengths[i]] = a[: lengths[i]]
    return out, lengths


def stratified_split(y: np.ndarray, test_size: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) of a seeded split keeping class proportions (scikit-learn's
    ``StratifiedShuffleSplit``); both sorted."""
    StratifiedShuffleSplit = require("sklearn.model_selection", "recipes").StratifiedShuffleSplit

    split = StratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    tr, te = next(split.split(np.zeros(len(y)), y))
    return np.sort(tr), np.sort(te)


def group_split(groups: np.ndarray, test_groups: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with every member of ``test_groups`` (e.g. subjects) in the test part."""
    mask = np.isin(groups, np.asarray(test_groups))
    if not mask.any() or mask.all():
        raise ValueError(f"test groups {list(test_groups)} leave an empty train or test part")
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def collate_padded(batch: Sequence[tuple]) -> tuple:
    """A ``DataLoader`` ``collate_fn`` for variable-length sequences: items ``(x_i (T_i, F), y_i)`` become
    ``(x (B, T_max, F) float32, lengths (B,) int64, y (B,))``, ready for ``lstmkit.LSTM(x, lengths=lengths)``.

    >>> import torch
    >>> x, n, y = collate_padded([(np.ones((2, 3)), 0), (np.ones((4, 3)), 1)])
    >>> tuple(x.shape), n.tolist(), y.tolist()
    ((2, 4, 3), [2, 4], [0, 1])
    """
    import torch

    if not batch:
        raise ValueError("collate_padded got an empty batch")
    xs, ys = zip(*[(item[0], item[1]) for item in batch])
    x, lengths = pad_sequences([np.asarray(a) for a in xs])
    return torch.from_numpy(x), torch.from_numpy(lengths), torch.as_tensor(np.asarray(ys))


def train_val_test_split(y: np.ndarray, test: float, validation: float, seed: int = 0,
                         stratify: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded index split into train, validation and test parts (fractions of the whole), stratified by the
    labels ``y`` unless ``stratify=False``; each part sorted.

    >>> tr, va, te = train_val_test_split(np.array([0, 1] * 50), test=0.2, validation=0.1)
    >>> len(tr), len(va), len(te)
    (70, 10, 20)
    """
    if not (0 < test < 1 and 0 < validation < 1 and test + validation < 1):
        raise ValueError(f"need 0 < test, validation and test + validation < 1, got {test} and {validation}")
    y = np.asarray(y)
    if stratify:
        rest, te = stratified_split(y, test, seed)
        tr_i, va_i = stratified_split(y[rest], validation / (1 - test), seed)
        return np.sort(rest[tr_i]), np.sort(rest[va_i]), te
    perm = np.random.default_rng(seed).permutation(len(y))
    n_te, n_va = int(round(len(y) * test)), int(round(len(y) * validation))
    return np.sort(perm[n_te + n_va:]), np.sort(perm[n_te: n_te + n_va]), np.sort(perm[:n_te])
