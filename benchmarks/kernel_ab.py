"""A kernel change, side by side: the fused C++ kernel built from an earlier revision's source against the
current one, in one process, switched call by call.

Usage:
    python benchmarks/kernel_ab.py --before-rev 2d26304 --threads 2
    python benchmarks/kernel_ab.py --before-rev 8a55e90 --positional --rounds 40 \
        --out benchmarks/results/kernel-ab-cpu.md

The earlier ``csrc/fused_cpu.cpp`` (``git show REV:...``) is compiled with the same flags as the lazy build
(about a minute). Both kernels are called through today's Python side; ``--positional`` wraps a kernel from
before the named boundary (``CellOptions``, commit 14e094d) in a small adapter that passes the options
positionally, as that kernel expects (a few microseconds per call against the before kernel). Each shape's
training step (forward + backward) runs on the two kernels in turn, in every round; medians of CPU time (all
threads) and of wall time, and the after/before ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from lstmkit.kernels import fused

sys.path.insert(0, str(Path(__file__).parent))
from prebuilt import bench  # noqa: E402
from speed import machine, report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "src/lstmkit/kernels/csrc/fused_cpu.cpp"
SHAPES = [
    ("seed-keras relu", (10, 100, 1, 50, 1), dict(activation="relu")),
    ("seed-mnist 2x128", (128, 28, 28, 128, 2), {}),
    ("peephole+layer_norm", (32, 100, 32, 256, 1), dict(peephole=True, layer_norm=True)),
    ("zoneout+cifg", (32, 100, 32, 128, 1), dict(zoneout=0.1, cifg=True)),
    ("column split, peephole", (4, 100, 32, 256, 1), dict(peephole=True)),
    ("column split, zoneout", (2, 100, 32, 512, 1), dict(zoneout=0.1)),
    ("projection+gelu", (32, 100, 32, 256, 1), dict(proj_size=64, activation="gelu")),
]


def build_before(rev: str, tmp: Path):
    from torch.utils.cpp_extension import load

    csrc = str(Path(SOURCE).parent)
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:{csrc}"], check=True,
                           capture_output=True, text=True).stdout.split()
    for name in names:  # the kernel and the headers it includes, as they were at rev
        (tmp / name).write_text(subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{csrc}/{name}"],
                                               check=True, capture_output=True, text=True).stdout)
    src = tmp / Path(SOURCE).name
    fused._put_ninja_on_path()
    build = tmp / "build"
    build.mkdir()
    return load(name="lstmkit_fused_cpu_before", sources=[str(src)], extra_cflags=fused._CFLAGS,
                extra_ldflags=fused._LDFLAGS, build_directory=str(build), verbose=False)


class PositionalKernel:
    """A kernel with the positional boundary of revisions before 14e094d, called as today's kernel is."""

    def __init__(self, old, new):
        self.old, self.CellOptions = old, new.CellOptions

    def forward(self, *args):
        *inputs, o, save, store_gh, split = args
        outs = self.old.forward(*inputs, o.act, o.rec_act, o.cifg, o.eps, o.zone_p, save, store_gh, split)
        return [*outs, torch.empty(0)]  # no h_proj: that kernel has no proj_clip

    def backward(self, *args):
        *rest, gh, _h_proj, has_bias, o, split = args
        return self.old.backward(*rest, gh, has_bias, o.act, o.rec_act, o.cifg, o.zone_p, split)

    def __getattr__(self, name):
        return getattr(self.old, name)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before-rev", required=True, help="the git revision whose kernel source is 'before'")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--positional", action="store_true", help="the before kernel predates CellOptions")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    after = fused.load_extension()
    if after is None:
        sys.exit(f"the fused kernel is unavailable: {fused.extension_error()}")
    with tempfile.TemporaryDirectory() as tmp:
        before = build_before(args.before_rev, Path(tmp))
        if args.positional:
            before = PositionalKernel(before, after)
        kernels = {"before": before, "after": after}
        lines = ["| shape | B x T x I | before CPU ms | after CPU ms | ratio | before wall ms | after wall ms "
                 "| ratio |", "|---|---|---|---|---|---|---|---|"]
        for shape in SHAPES:
            lines.append(bench(shape, kernels, args.rounds))
            print(lines[-1], file=sys.stderr, flush=True)
        fused._module = after
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", str(Path(SOURCE).parent)],
                           capture_output=True, text=True).stdout.strip()
    header = (f"Machine: {machine()}\n\nCommand: `python benchmarks/kernel_ab.py {' '.join(argv or sys.argv[1:])}`"
              f"\n\nbefore = {SOURCE} at {args.before_rev}; after = the working tree at {head}"
              f"{' (uncommitted changes)' if dirty else ''}. Training step (forward + backward), medians of "
              f"{args.rounds} interleaved rounds; ratio = after / before.\n\n")
    report(header + "\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
