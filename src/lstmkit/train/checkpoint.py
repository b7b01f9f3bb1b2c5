"""Checkpoint files: safetensors tensors + JSON metadata + a checksum, written atomically. No pickle.

A checkpoint is one ``.safetensors`` file. Tensors are named by prefix (``model.``, ``optim.``, ``rng.``);
everything else (model config, optimizer hyper-parameters, epoch, RNG counters) is JSON in the safetensors
header. Loading a checkpoint from someone else therefore runs no code: it parses a JSON header and copies
raw tensor bytes. A SHA-256 over every tensor's name, dtype, shape and bytes and over the JSON metadata
(architecture included), stored in the header, catches truncated or altered files before anything is loaded
into a model. Saves write through symlinks and keep the target's permissions (a new file gets the umask's).

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
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

FORMAT = "lstmkit-checkpoint"
VERSION = "2"  # 2: the checksum covers the metadata too; version 1 files still load
READABLE = ("1", "2")
PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, fails its checksum, or does not fit the model."""


def _digest(tensors: Mapping[str, torch.Tensor], meta_json: Optional[str] = None) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    if meta_json is not None:  # version 2: the architecture and every setting in the header too
        h.update(b"meta|" + meta_json.encode("utf-8"))
    return h.hexdigest()


def _tmp_pattern(name: str) -> "re.Pattern[str]":
    return re.compile(re.escape(f".{name}.") + r"pid(\d+)\..*\.tmp$")


def _remove_stale_temps(folder: Path, name: str) -> None:
    """Delete temporary files that a killed save of ``name`` left behind (their process no longer runs)."""
    pattern = _tmp_pattern(name)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        m = pattern.match(entry.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # that save is still running
        except ProcessLookupError:
            pass
        except (PermissionError, OSError):
            continue
        try:
            entry.unlink()
            log.info("removed %s, left by an interrupted save", entry)
        except OSError:
            pass


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    A crash or a full disk leaves either the old file or the new one, never half of one.
    """
    path = Path(os.path.realpath(path))  # a symlink stays a symlink: the file it points to is replaced
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path.parent, path.name)
    try:
        mode = path.stat().st_mode & 0o7777  # keep an existing file's permissions
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask  # what open() would have given a new file
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
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
    header = {"format": FORMAT, "version": VERSION, "meta": meta_json, "sha256": _digest(flat, meta_json)}
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
        header = _read_header(data)  # before the tensors: the header says how much the file claims
        tensors = st_load(data)
    except (SafetensorError, ValueError, TypeError, RecursionError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file ({type(err).__name__}: "
                              f"{str(err)[:200]}); it may be truncated or not a checkpoint") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not an lstmkit checkpoint "
                              f"(format {str(header.get('format'))[:80]!r})")
    version = header.get("version")
    if version not in READABLE:
        raise CheckpointError(f"checkpoint {path} has format version {str(version)[:20]!r}; "
                              f"this lstmkit reads versions {', '.join(READABLE)}")
    meta_json = header.get("meta")
    if not isinstance(meta_json, str):
        raise CheckpointError(f"checkpoint {path} has no metadata string in its header")
    covered = meta_json if version == "2" else None
    if _digest(tensors, covered) != header.get("sha256"):
        raise CheckpointError(f"checkpoint {path} fails its SHA-256 check: the file was modified or corrupted")
    if version == "1":
        log.warning("checkpoint %s has format version 1, whose checksum does not cover its metadata; "
                    "saving it again upgrades it", path)
    try:
        meta = json.loads(meta_json)
    except (json.JSONDecodeError, RecursionError) as err:
        raise CheckpointError(f"checkpoint {path} has unreadable metadata ({type(err).__name__})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path}: its metadata is a JSON {type(meta).__name__}, not an object")
    return tensors, meta


def _read_header(data: bytes) -> dict[str, str]:
    """The safetensors header's ``__metadata__``; checks that every tensor entry fits inside the file."""
    if len(data) < 8:
        raise ValueError("shorter than the 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or 8 + n > len(data):
        raise ValueError("header length out of range")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    body = len(data) - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ValueError(f"tensor entry {str(name)[:60]!r} is malformed")
        if not 0 <= offsets[0] <= offsets[1] <= body:
            raise ValueError(f"tensor {str(name)[:60]!r} claims bytes {offsets} of a {body}-byte body")
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict):
        raise ValueError("__metadata__ is not a JSON object")
    return meta


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
