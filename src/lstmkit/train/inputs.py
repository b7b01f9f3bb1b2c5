"""Turning user arrays into checked tensors and data loaders (NumPy arrays, tensors, lists or a DataLoader)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset


def as_checked_tensor(name: str, data: Any) -> Tensor:
    """``data`` as a tensor; raise naming ``name`` for object/string arrays and for NaN or inf (with the index).

    >>> as_checked_tensor("x", [[1.0, float("nan")]])
    Traceback (most recent call last):
    ...
    ValueError: x contains NaN at index (0, 1) (1 non-finite values in all); clean or impute it before training
    """
    if isinstance(data, Tensor):
        t = data
    else:
        arr = np.asarray(data)
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise TypeError(f"{name} has dtype {arr.dtype}: it must hold numbers (convert strings or ragged "
                            "lists to a numeric array, e.g. with a tokenizer or padding)")
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.dtype == torch.bool:
        t = t.float()
    if t.is_floating_point():
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            idx = tuple(int(i) for i in torch.nonzero(bad)[0])
            what = "NaN" if bool(torch.isnan(t[idx])) else "inf"
            raise ValueError(f"{name} contains {what} at index {idx if len(idx) > 1 else idx[0]} "
                             f"({int(bad.sum())} non-finite values in all); clean or impute it before training")
    return t


def make_dataset(x: Any, y: Any = None, names: tuple[str, str] = ("x", "y")) -> TensorDataset:
    xt = as_checked_tensor(names[0], x)
    if xt.dim() == 0:
        raise ValueError(f"{names[0]} must have a batch dimension, got a scalar")
    if y is None:
        return TensorDataset(xt)
    yt = as_checked_tensor(names[1], y)
    if yt.dim() == 0 or len(yt) != len(xt):
        raise ValueError(f"{names[0]} and {names[1]} have different numbers of samples: {len(xt)} and "
                         f"{len(yt) if yt.dim() else 'a scalar'}")
    return TensorDataset(xt, yt)


def split_validation(ds: TensorDataset, fraction: float) -> tuple[TensorDataset, TensorDataset]:
    """Keras' ``validation_split``: the *last* ``fraction`` of the samples, taken before any shuffling."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {fraction}")
    n = len(ds)
    n_val = int(n * fraction)
    if n_val == 0 or n_val == n:
        raise ValueError(f"validation_split={fraction} of {n} samples leaves an empty training or validation set")
    cut = n - n_val
    return (TensorDataset(*(t[:cut] for t in ds.tensors)), TensorDataset(*(t[cut:] for t in ds.tensors)))


def make_loader(data: Any, batch_size: Optional[int], shuffle: bool, seed: int, rank: int = 0,
                world_size: int = 1) -> DataLoader:
    """A DataLoader over ``data`` (a Dataset or a DataLoader, returned as is when single-process).

    Shuffling uses a DistributedSampler (also with one process) so that the order depends only on the seed and
    the epoch: that is what makes an interrupted run resumable to the same weights.
    """
    if isinstance(data, DataLoader):
        return data
    if not isinstance(data, Dataset):
        raise TypeError(f"expected a Dataset or DataLoader, got {type(data).__name__}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sampler = DistributedSampler(data, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed,
                                 drop_last=False)
    return DataLoader(data, batch_size=batch_size or 32, sampler=sampler)
