"""Speed before and after a change that crosses the Python/C++ boundary, side by side on this machine.

Usage:
    python benchmarks/compare_revisions.py --before 8a55e90 --out benchmarks/results/revisions-cpu.md

(`benchmarks/kernel_ab.py` is the finer tool when only the C++ kernel changed: it switches kernels call by call
in one process.) Here each revision runs in its own process, from a git worktree of the earlier commit and
from this tree, alternating before/after for `--rounds` rounds. Each process times lstmkit's training step
(forward + backward) of every `lstmkit bench` variant against torch.nn.LSTM's vanilla step, interleaved in
that process (`lstmkit.bench.compare`), so machine load cancels in the ratio lstmkit/torch; the table gives
the median ratio of each revision and after/before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"seed-keras": dict(batch=10, steps=100, input_size=1, hidden=50, layers=1),
          "seed-mnist": dict(batch=128, steps=28, input_size=28, hidden=128, layers=2)}
VARIANTS = ("vanilla", "peephole", "layer_norm", "cifg", "relu", "recurrent_dropout", "zoneout")
CODE = """
import json, sys, torch
from lstmkit.bench import compare
shapes, variants, threads, repeats = json.loads(sys.argv[1])
out = {}
for name, shape in shapes.items():
    for v in variants:
        r = compare(variant=v, repeats=repeats, threads=threads, **shape)
        out[f"{name} {v}"] = r["lstmkit_ms"] / r["torch_ms"]
print(json.dumps(out))
"""


def run(src: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    arg = json.dumps([SHAPES, list(VARIANTS), args.threads, args.repeats])
    res = subprocess.run([sys.executable, "-c", CODE, arg], env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", required=True, help="the earlier git revision")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    ratios: dict[str, dict[str, list]] = {"before": {}, "after": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.before], check=True,
                       capture_output=True)
        try:
            for r in range(args.rounds):
                for which, src in (("before", tree / "src"), ("after", ROOT / "src")):
                    for k, v in run(src, args).items():
                        ratios[which].setdefault(k, []).append(v)
                print(f"round {r + 1} done", file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    lines = ["| shape, variant | before: lstmkit / torch | after: lstmkit / torch | after / before |",
             "|---|---|---|---|"]
    for k in ratios["after"]:
        b, a = statistics.median(ratios["before"][k]), statistics.median(ratios["after"][k])
        lines.append(f"| {k} | {b:.3f} | {a:.3f} | {a / b:.3f} |")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    text = (f"Command: `python benchmarks/compare_revisions.py {' '.join(argv or sys.argv[1:])}`\n\n"
            f"before = {args.before}, after = {head}; medians over {args.rounds} alternating rounds of the "
            f"training-step time ratio to torch.nn.LSTM measured in the same process "
            f"({args.repeats} interleaved repeats each, {args.threads} threads).\n\n" + "\n".join(lines) + "\n")
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
