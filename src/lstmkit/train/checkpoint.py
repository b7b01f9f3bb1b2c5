"""Checkpoint files: safetensors tensors + JSON metadata + a checksum, written atomically. No pickle.

A checkpoint is one ``.safetensors`` file. Tensors are named by prefix (``model.``, ``optim.``, ``rng.``);
everything else (model config, optimizer hyper-parameters, epoch, RNG counters) is JSON in the safetensors
header. Loading a checkpoint from someone else therefore runs no code: it parses a JSON header and copies
raw tensor bytes. A SHA-256 over every tensor's name, dtype, shape and bytes, stored in the header, catches
truncated or altered files before anything is loaded into a model.

>>> import tempfile, os, torch
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
>>> save_checkpoint(path, {"model.w": torch.ones(2)}, {"epoch": 3})
>>> tensors, meta = load_checkpoint(path)
>>> tensors["model.w"].tolist(), meta["epoch"]
([1.0, 1.0], 3)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

FORMAT = "lstmkit-checkpoint"
VERSION = "1"
PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, fails its checksum, or does not fit the model."""


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    A crash or a full disk leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_checkpoint(path: PathLike, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Save ``tensors`` and JSON-serialisable ``meta`` to ``path`` atomically."""
    flat = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    try:
        meta_json = json.dumps(meta, allow_nan=True)
    except TypeError as err:
        raise TypeError(f"checkpoint metadata must be JSON-serialisable: {err}") from None
    header = {"format": FORMAT, "version": VERSION, "meta": meta_json, "sha256": _digest(flat)}
    atomic_write_bytes(path, st_save(flat, metadata=header))


def load_checkpoint(path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`; raise :class:`CheckpointError` on any damage."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    data = path.read_bytes()
    if not data:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    try:
        tensors = st_load(data)
        header = _read_header(data)
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file ({err}); "
                              "it may be truncated or not a checkpoint") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not an lstmkit checkpoint "
                              f"(format {header.get('format')!r})")
    if header.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {header.get('version')!r}; "
                              f"this lstmkit reads version {VERSION}")
    if _digest(tensors) != header.get("sha256"):
        raise CheckpointError(f"checkpoint {path} fails its SHA-256 check: the file was modified or corrupted")
    try:
        meta = json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"checkpoint {path} has unreadable metadata ({err})") from None
    return tensors, meta


def _read_header(data: bytes) -> dict[str, str]:
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or 8 + n > len(data):
        raise ValueError("header length out of range")
    return json.loads(data[8:8 + n].decode("utf-8")).get("__metadata__", {})


# --- optimizer state <-> flat tensors + JSON ---------------------------------------------------------

def optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors named ``optim.<param>.<key>`` and JSON for the rest."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars, "class": type(optimizer).__name__}


def optimizer_from_flat(optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor],
                        meta: Mapping[str, Any], where: str = "checkpoint") -> None:
    """Load state saved by :func:`optimizer_to_flat` into ``optimizer`` (same class, same parameters)."""
    if meta.get("class") != type(optimizer).__name__:
        raise CheckpointError(f"{where} holds {meta.get('class')} state; the optimizer is {type(optimizer).__name__}")
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    for idx, values in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    groups = meta["param_groups"]
    if [len(g["params"]) for g in groups] != [len(g["params"]) for g in optimizer.param_groups]:
        raise CheckpointError(f"{where}: optimizer state is for a different set of parameters")
    optimizer.load_state_dict({"state": state, "param_groups": groups})
