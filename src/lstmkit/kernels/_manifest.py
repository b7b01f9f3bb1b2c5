"""What a compiled fused kernel depends on, written once for both sides: ``setup.py`` records it beside the
kernel a wheel carries, and :mod:`lstmkit.kernels.fused` compares it with the running installation.

Imports nothing of lstmkit (only torch and the standard library), so ``setup.py`` loads this file by path
without importing the package.
"""

from __future__ import annotations

import hashlib
import platform
import sys
import sysconfig
from pathlib import Path

CSRC = Path(__file__).with_name("csrc")


def source_digest() -> str:
    """SHA-256 over every file of csrc/ (name and contents, in name order): what the binary is built from."""
    h = hashlib.sha256()
    for f in sorted(CSRC.glob("*.[ch]*")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def installation_manifest() -> dict:
    """What a prebuilt kernel must have been built for to load here: source, torch build, Python ABI, machine."""
    import torch

    return {
        "source_sha256": source_digest(),
        "torch_version": torch.__version__,
        "torch_git_version": str(getattr(torch.version, "git_version", "")),
        "cxx11_abi": str(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", "")),
        "python_cache_tag": sys.implementation.cache_tag or "",
        "ext_suffix": str(sysconfig.get_config_var("EXT_SUFFIX")),
        "machine": platform.machine().lower(),
    }
