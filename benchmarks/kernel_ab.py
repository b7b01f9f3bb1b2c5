"""A kernel change, side by side: the fused C++ kernel built from an earlier revision's source against the
current one, in one process, switched call by call.

Usage:
    python benchmarks/kernel_ab.py --before-rev 2d26304 --threads 2
    python benchmarks/kernel_ab.py --before-rev 730c6da --boundary cell-options --rounds 40 \
        --out benchmarks/results/kernel-ab-cpu.md

The earlier ``csrc/fused_cpu.cpp`` (``git show REV:...``) is compiled with the same flags as the lazy build
(about a minute). Both kernels are called through today's Python side; ``--boundary`` names the before
kernel's boundary where it predates the named one of ``kernels/boundary.py``, and a small adapter
(:class:`OrderedKernel`) passes it the tensors in its order (a few microseconds per call, against the before
kernel). Each shape's
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
from lstmkit.kernels.boundary import DIFFERENTIABLE, CellOptions, KernelSaved, empty_like_absent

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


# The argument orders of the kernels from before the named boundary (kernels/boundary.py), as they took them.
_OLD_FORWARD_INPUTS = ("a", "h0", "c0", "w_hh", "w_hr", "w_ph", "ln_hh_w", "ln_hh_b", "ln_c_w", "ln_c_b", "rec_mask",
                       "zone_h", "zone_c", "valid", "ln_ih_w", "ln_ih_b", "bias")
_OLD_BACKWARD_SAVED = ("h_all", "c_all", "z", "gates", "c_new", "h_raw", "mean_hh", "rstd_hh", "mean_c", "rstd_c")
_OLD_BACKWARD_INPUTS = ("w_hh", "w_hr", "w_ph", "ln_hh_w", "ln_c_w", "ln_c_b", "rec_mask", "zone_h", "zone_c", "valid",
                        "ln_ih_w", "a")


class OrderedKernel:
    """A kernel from before the named boundary (positional tensor lists), called as today's kernel is.

    ``style="cell-options"``: revisions 14e094d..730c6da (options in a ``CellOptions`` struct, proj_clip's
    ``h_proj`` saved); ``style="positional"``: before 14e094d (options as loose arguments, no proj_clip).
    The conversion costs a few microseconds per call, against the before kernel.
    """

    def __init__(self, old, style: str):
        self.old, self.style = old, style
        self.CellOptions = old.CellOptions if style == "cell-options" else CellOptions

    def _options(self, o):
        return (o,) if self.style == "cell-options" else (o.act, o.rec_act, o.cifg, o.eps, o.zone_p)

    def forward(self, inputs, o, *, save, store_gh, split_columns):
        tensors = [empty_like_absent(getattr(inputs, n)) for n in _OLD_FORWARD_INPUTS]
        outs = self.old.forward(*tensors, *self._options(o), save, store_gh, split_columns)
        if self.style == "positional":
            outs = [*outs, torch.empty(0)]  # no h_proj: that kernel has no proj_clip
        return dict(zip(("out", *KernelSaved._fields), outs))

    def backward(self, dout, dh_n, dc_n, inputs, saved, o, *, split_columns):
        args = [dout, dh_n, dc_n, *(getattr(saved, n) for n in _OLD_BACKWARD_SAVED),
                *(empty_like_absent(getattr(inputs, n)) for n in _OLD_BACKWARD_INPUTS),
                saved.mean_ih, saved.rstd_ih, saved.gh]
        has_bias = inputs.bias is not None and inputs.bias.numel() > 0
        if self.style == "cell-options":
            grads = self.old.backward(*args, saved.h_proj, has_bias, o, split_columns)
        else:
            grads = self.old.backward(*args, has_bias, o.act, o.rec_act, o.cifg, o.zone_p, split_columns)
        return dict(zip(DIFFERENTIABLE, grads))

    def __getattr__(self, name):
        return getattr(self.old, name)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before-rev", required=True, help="the git revision whose kernel source is 'before'")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--boundary", choices=("named", "cell-options", "positional"), default="named",
                   help="the before kernel's Python boundary: named (kernels/boundary.py, from the revision "
                        "after 730c6da), cell-options (14e094d..730c6da) or positional (before 14e094d)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    after = fused.load_extension()
    if after is None:
        sys.exit(f"the fused kernel is unavailable: {fused.extension_error()}")
    with tempfile.TemporaryDirectory() as tmp:
        before = build_before(args.before_rev, Path(tmp))
        if args.boundary != "named":
            before = OrderedKernel(before, args.boundary)
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
