"""The wheel's prebuilt fused kernel (portable x86-64-v3 flags) against the -march=native build, side by side.

Usage:
    python benchmarks/prebuilt.py --threads 2 --out benchmarks/results/prebuilt-cpu.md [--wheel dist/lstmkit-*.whl]

Without ``--wheel`` it builds one first (``python -m build --wheel --no-isolation``, about a minute). Both
kernels are loaded into this process and the fused backend is switched between them call by call, so each
shape's training step (forward + backward, train mode) is timed on both in the same rounds; medians of CPU
time (all threads) and of wall time, and the prebuilt/native ratio of each.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch

import lstmkit
from lstmkit.kernels import fused

sys.path.insert(0, str(Path(__file__).parent))
from speed import machine, report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# name, (batch, time, input, hidden, layers), variant options
SHAPES = [
    ("seed-keras relu", (10, 100, 1, 50, 1), dict(activation="relu")),
    ("seed-mnist 2x128", (128, 28, 28, 128, 2), {}),
    ("peephole+layer_norm", (32, 100, 32, 256, 1), dict(peephole=True, layer_norm=True)),
    ("zoneout+cifg", (32, 100, 32, 128, 1), dict(zoneout=0.1, cifg=True)),
]


def _wheel(path: Path | None, tmp: Path) -> Path:
    if path is not None:
        return path
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp), str(ROOT)],
                   check=True, capture_output=True)
    return next(tmp.glob("lstmkit-*.whl"))


def _prebuilt_from(wheel: Path, tmp: Path):
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist()
                   if n.startswith("lstmkit/kernels/_fused_cpu_prebuilt.") and n.endswith(".so")]
        so = Path(z.extract(name, tmp))
    spec = importlib.util.spec_from_file_location("lstmkit.kernels._fused_cpu_prebuilt", so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench(shape, kernels: dict, rounds: int) -> str:
    name, (B, T, I, H, L), opts = shape
    torch.manual_seed(0)
    m = lstmkit.LSTM(I, H, num_layers=L, batch_first=True, backend="fused", **opts).train()
    x = torch.randn(B, T, I)
    cpu = {k: [] for k in kernels}
    wall = {k: [] for k in kernels}
    for r in range(rounds + 2):  # two warm-up rounds
        for k, module in kernels.items():
            fused._module = module
            c0, w0 = time.process_time(), time.perf_counter()
            m(x)[0].square().mean().backward()
            c1, w1 = time.process_time(), time.perf_counter()
            if r >= 2:
                cpu[k].append(c1 - c0)
                wall[k].append(w1 - w0)
    a, b = kernels  # the row: a's and b's medians and b / a, CPU time then wall time
    cells = []
    for d in (cpu, wall):
        ma, mb = statistics.median(d[a]) * 1e3, statistics.median(d[b]) * 1e3
        cells += [f"{ma:.2f}", f"{mb:.2f}", f"{mb / ma:.2f}"]
    return f"| {name} | {B}x{T}x{I}, H={H}, L={L} | " + " | ".join(cells) + " |"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--wheel", type=Path, help="a wheel built with the prebuilt kernel (default: build one)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    native = fused.load_extension()
    if native is None or fused.extension_origin() == "prebuilt":
        sys.exit(f"needs a -march=native build to compare with (set LSTMKIT_NATIVE_BUILD=1): "
                 f"{fused.extension_error() or fused.extension_origin()}")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _wheel(args.wheel, Path(tmp))
        kernels = {"native": native, "prebuilt": _prebuilt_from(wheel, Path(tmp))}
        lines = ["| shape | B x T x I | native CPU ms | prebuilt CPU ms | ratio | native wall ms | prebuilt wall ms "
                 "| ratio |", "|---|---|---|---|---|---|---|---|"]
        for shape in SHAPES:
            lines.append(bench(shape, kernels, args.rounds))
            print(lines[-1], file=sys.stderr, flush=True)
        fused._module = native
    header = (f"Machine: {machine()}\n\nCommand: `python benchmarks/prebuilt.py {' '.join(argv or sys.argv[1:])}`\n\n"
              f"Training step (forward + backward), medians of {args.rounds} interleaved rounds; native = "
              f"`-march=native` build ({' '.join(fused._CFLAGS)}), prebuilt = the wheel's kernel "
              "(-march=x86-64-v3 -mtune=generic).\n\n")
    report(header + "\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
