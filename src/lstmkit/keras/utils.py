"""``keras.utils`` on lstmkit: ``pad_sequences`` and ``to_categorical`` with Keras' semantics and defaults,
``set_random_seed``."""

from __future__ import annotations

import random
from typing import Any, Optional, Sequence

import numpy as np


def pad_sequences(sequences: Sequence[Sequence[Any]], maxlen: Optional[int] = None, dtype: Any = "int32",
                  padding: str = "pre", truncating: str = "pre", value: float = 0.0) -> np.ndarray:
    """Keras' ``pad_sequences``: a list of sequences -> (N, maxlen) (or (N, maxlen, ...) for sequences of
    vectors). As in Keras, padding and truncation are at the front by default (``"pre"``); an LSTM behind
    ``Embedding(mask_zero=True)`` or ``Masking`` reads either padding the same way.

    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
    [[2, 3], [0, 4]]
    >>> pad_sequences([[1, 2, 3], [4]], padding="post", truncating="post").tolist()
    [[1, 2, 3], [4, 0, 0]]
    """
    if padding not in ("pre", "post") or truncating not in ("pre", "post"):
        raise ValueError(f"padding and truncating must be 'pre' or 'post', got {padding!r}, {truncating!r}")
    if not hasattr(sequences, "__len__"):
        raise ValueError("pad_sequences: `sequences` must be a list of sequences")
    seqs = []
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(f"pad_sequences: sequence {i} is not a sequence, got {s!r}")
        seqs.append(np.asarray(s))
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 1):
        raise ValueError(f"pad_sequences: maxlen must be a positive int or None, got {maxlen!r}")
    lengths = [len(s) for s in seqs]
    n = int(maxlen if maxlen is not None else max(lengths, default=0))
    sample = next((s.shape[1:] for s in seqs if len(s)), ())
    is_str = np.issubdtype(np.dtype(dtype), np.str_) or np.issubdtype(np.dtype(dtype), np.object_)
    if isinstance(value, str) and not is_str:
        raise ValueError(f"pad_sequences: dtype {dtype} cannot hold the padding value {value!r}")
    out = np.full((len(seqs), n, *sample), value, dtype=dtype)
    for i, s in enumerate(seqs):
        if not len(s):
            continue
        if s.shape[1:] != sample:
            raise ValueError(f"pad_sequences: sequence {i} has steps of shape {s.shape[1:]}, the first had {sample}")
        t = s[-n:] if truncating == "pre" else s[:n]
        if padding == "post":
            out[i, :len(t)] = t
        else:
            out[i, n - len(t):] = t
    return out


def to_categorical(x: Any, num_classes: Optional[int] = None) -> np.ndarray:
    """Integer class labels -> one-hot float32 rows, as Keras' ``to_categorical``.

    >>> to_categorical([0, 2], num_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    y = np.asarray(x)
    if y.size and (not np.issubdtype(y.dtype, np.integer) and not np.all(y == np.round(y))):
        raise ValueError("to_categorical: labels must be integers")
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    k = int(num_classes if num_classes is not None else (y.max() + 1 if y.size else 0))
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"to_categorical: labels must lie in [0, {k - 1}], found [{y.min()}, {y.max()}]")
    return np.eye(k, dtype=np.float32)[y]


def set_random_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators, as Keras' ``set_random_seed`` does for its backends."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


__all__ = ["pad_sequences", "set_random_seed", "to_categorical"]
