"""The wheel: ``python -m build --wheel --no-isolation`` ships the fused kernel compiled for this torch, an
installation loads it without a compiler, and a kernel built for another torch or CPU is refused."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import torch

from lstmkit.kernels import fused

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not (ROOT / "setup.py").is_file() or sys.platform != "linux",
                                reason="needs the source tree and a Linux toolchain")


def _source_copy(dst: Path) -> Path:
    """The files a build reads, copied so that the build's own output stays out of the working tree."""
    dst.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, dst / name)
    shutil.copytree(ROOT / "src", dst / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.so", "_fused_cpu_prebuilt*"))
    return dst


def _build_wheel(src: Path, out: Path, **env) -> Path:
    res = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # the kernel (fused_cpu.cpp and the headers of csrc/) compiles warning-free under -Wall -Wextra (setup.py's
    # flags; torch's headers are -isystem)
    warnings = [ln for ln in (res.stdout + res.stderr).splitlines() if "kernels/csrc/" in ln and "warning:" in ln]
    assert not warnings, "\n".join(warnings)
    (wheel,) = out.glob("lstmkit-*.whl")
    return wheel


def _run_installed(target: Path, code: str, **env) -> subprocess.CompletedProcess:
    """``code`` in a Python that sees the installed wheel and this environment's torch, but not the editable
    install (-S: no site-packages .pth files)."""
    path = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {**os.environ, "PYTHONPATH": path, **env}
    return subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True,
                          timeout=600, cwd=str(target))


CHECK = """
import logging, torch, lstmkit
from lstmkit.kernels import fused
logging.basicConfig(level=logging.INFO)
assert lstmkit.__file__.startswith({target!r}), lstmkit.__file__
torch.manual_seed(0)
m = lstmkit.LSTM(3, 8, num_layers=2, peephole=True, layer_norm=True)
ref = lstmkit.LSTM(3, 8, num_layers=2, peephole=True, layer_norm=True, backend="reference")
ref.load_state_dict(m.state_dict())
x = torch.randn(6, 4, 3, requires_grad=True)
xr = x.detach().clone().requires_grad_()
y, yr = m(x)[0], ref(xr)[0]
(y.square().sum()).backward(); (yr.square().sum()).backward()
print("INFO", m.backend_info())
print("ORIGIN", fused.extension_origin())
print("ERR", (y - yr).abs().max().item(), (x.grad - xr.grad).abs().max().item())
"""


def test_a_manifest_is_checked_against_this_installation():
    here = fused.installation_manifest()
    assert fused.prebuilt_mismatch(here) is None
    assert "torch_version" in fused.prebuilt_mismatch({**here, "torch_version": "1.0.0"})
    assert "source_sha256" in fused.prebuilt_mismatch({**here, "source_sha256": "0" * 64})
    assert "python_cache_tag" in fused.prebuilt_mismatch({**here, "python_cache_tag": "cpython-39"})
    why = fused.prebuilt_mismatch({**here, "cpu_flags": ["sse2", "no_such_cpu_flag"]})
    assert why is not None and "no_such_cpu_flag" in why and "sse2" not in why


def test_wheel_ships_a_kernel_for_this_torch_and_falls_back_elsewhere(tmp_path):
    wheel = _build_wheel(_source_copy(tmp_path / "src-copy"), tmp_path / "dist")
    assert "-cp3" in wheel.name and "linux" in wheel.name, wheel.name  # a platform wheel, not py3-none-any
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("lstmkit/kernels/_fused_cpu_prebuilt.") and n.endswith(".so") for n in names), names
    manifest = json.loads(zipfile.ZipFile(wheel).read("lstmkit/kernels/_fused_cpu_prebuilt.json"))
    assert manifest["torch_version"] == torch.__version__
    assert fused.prebuilt_mismatch({**manifest, "cpu_flags": []}) is None  # same keys as this installation's

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    empty = {"LSTMKIT_CACHE": str(tmp_path / "empty-cache")}
    res = _run_installed(target, CHECK.format(target=str(target)), **empty)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    if "avx2" in fused._cpu_flags() or not manifest["cpu_flags"]:
        assert lines["ORIGIN"] == "prebuilt", res.stdout + res.stderr[-2000:]
        assert "(prebuilt in the wheel)" in lines["INFO"]
        out_err, grad_err = map(float, lines["ERR"].split())
        assert out_err < 1e-5 and grad_err < 1e-4, lines["ERR"]
        assert not (tmp_path / "empty-cache").exists()  # nothing compiled

    # the same wheel where its kernel does not fit (here: another torch) and no compiler: refused, with the
    # reason, and "auto" runs the reference loop
    path = target / "lstmkit" / "kernels" / "_fused_cpu_prebuilt.json"
    path.write_text(json.dumps({**manifest, "torch_version": "2.0.0"}))
    res = _run_installed(target, CHECK.format(target=str(target)), CXX="/nonexistent/c++", **empty)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "not using the prebuilt fused kernel: it was built for torch_version '2.0.0'" in res.stderr
    assert "ORIGIN None" in res.stdout and "INFO reference:" in res.stdout, res.stdout


def test_kernel_can_be_left_out(tmp_path):
    wheel = _build_wheel(_source_copy(tmp_path / "src-copy"), tmp_path / "dist", LSTMKIT_BUILD_KERNEL="0")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    assert not any("_fused_cpu_prebuilt" in n for n in zipfile.ZipFile(wheel).namelist())
