"""The fused kernel's build cache: keyed by everything the binary depends on, and usable when read-only."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lstmkit.kernels import fused


def test_key_depends_on_compiler_torch_and_python(monkeypatch):
    base = fused.build_key()
    monkeypatch.setattr(fused, "_compiler_id", lambda: "/opt/other/g++|g++ 99")
    assert fused.build_key() != base
    monkeypatch.undo()
    monkeypatch.setattr(fused.torch, "__file__", "/elsewhere/venv/torch/__init__.py")  # another environment
    assert fused.build_key() != base
    monkeypatch.undo()
    monkeypatch.setattr(sys.implementation, "cache_tag", "cpython-399")
    assert fused.build_key() != base


def test_key_is_stable_within_a_process(monkeypatch, tmp_path):
    base = fused.build_key()
    # loading the kernel puts ninja's directory first on PATH; the key a process computes must not move
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    assert fused.build_key() == base


@pytest.mark.skipif(sys.platform != "linux", reason="POSIX permissions")
def test_read_only_cache_with_a_valid_build_is_used(tmp_path):
    module = fused.load_extension()
    if module is None:
        pytest.skip(f"fused kernel unavailable: {fused.extension_error()}")
    built = Path(module.__file__)  # the cache, or the temporary directory where the cache is not writable
    name = built.stem  # the key as a fresh process computes it (the same one that loaded this build)
    dst = tmp_path / "cache" / "extensions" / name
    dst.mkdir(parents=True)
    shutil.copy2(built, dst / built.name)
    for p in (dst, dst.parent, dst.parent.parent):
        p.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        code = ("import lstmkit.kernels.fused as f; m = f.load_extension(); "
                "print(m is not None, f.extension_error(), m.__file__ if m else '')")
        env = {**os.environ, "LSTMKIT_CACHE": str(tmp_path / "cache"), "TMPDIR": str(tmp_path / "nowhere")}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.stdout.startswith("True None"), out.stdout + out.stderr
        assert str(dst) in out.stdout  # loaded from the read-only cache, not rebuilt elsewhere
    finally:
        for p in (dst.parent.parent, dst.parent, dst):
            p.chmod(stat.S_IRWXU)
