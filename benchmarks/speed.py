"""Speed benchmark: lstmkit's backends against torch.nn.LSTM and a plain LSTMCell loop, side by side.

Usage:
    python benchmarks/speed.py --threads 2 --out benchmarks/results/speed-cpu.md
    python benchmarks/speed.py --quick            # fewer configurations and repetitions

Every number in a row is measured in the same run, interleaved round-robin so that machine noise hits all
implementations alike; times are medians in milliseconds and ratios are to torch.nn.LSTM on the same shape.
Forward is timed under torch.no_grad() (inference), forward+backward in training mode with the gradient of
output.sum(); the training step adds a Linear head, an MSE loss and an optimizer step (the first seed's model),
and, when keras and jax are installed (`pip install keras jax`), the seed's own Keras program on JAX.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

import lstmkit
from lstmkit.kernels.variants import BENCH_VARIANTS
from lstmkit.kernels.variants import VARIANTS as CATALOGUE


@dataclass
class Shape:
    name: str
    B: int
    T: int
    I: int
    H: int
    L: int = 1
    forward_only: bool = False
    variants: bool = False


SHAPES = [
    Shape("seed-keras", 10, 100, 1, 50, variants=True),
    Shape("seed-mnist", 128, 28, 28, 128, L=2, variants=True),
    Shape("char-lm", 64, 100, 128, 512, L=2, variants=True),
    Shape("long-seq", 32, 784, 1, 128),
    Shape("stream", 1, 1000, 32, 256, forward_only=True),
]

# the one-option entries of lstmkit's catalogue (vanilla is the torch.nn.LSTM rows)
VARIANTS = {name: CATALOGUE[name] for name in BENCH_VARIANTS if name != "vanilla"}


class CellLoop(nn.Module):
    """What users write today: torch.nn.LSTMCell stepped in a Python loop, one cell per layer."""

    def __init__(self, I: int, H: int, L: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList(nn.LSTMCell(I if k == 0 else H, H) for k in range(L))

    def forward(self, x: torch.Tensor):  # x: (B, T, I)
        for cell in self.cells:
            h = c = x.new_zeros(x.shape[0], cell.hidden_size)
            outs = []
            for x_t in x.unbind(1):
                h, c = cell(x_t, (h, c))
                outs.append(h)
            x = torch.stack(outs, 1)
        return x, None


def _out(result):
    return result[0]


def _timer(fn: Callable[[], None]) -> Callable[[], float]:
    def once() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    return once


def measure(fns: dict[str, Callable[[], None]], budget_s: float, min_reps: int, max_reps: int) -> dict[str, float]:
    """Median seconds per call for each fn, measured round-robin after one warm-up call each."""
    timers = {k: _timer(f) for k, f in fns.items()}
    first = {k: t() for k, t in timers.items()}  # warm-up (and lazy builds)
    per_round = sum(timers[k]() for k in timers)  # a second warm-up, to size the repetitions
    reps = int(max(min_reps, min(max_reps, budget_s / max(per_round, 1e-6))))
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, t in timers.items():
            samples[k].append(t())
    del first
    return {k: statistics.median(v) for k, v in samples.items()}


@dataclass
class Row:
    shape: str
    impl: str
    fwd: float = float("nan")
    fb: float = float("nan")
    note: str = ""
    ratios: dict = field(default_factory=dict)


def bench_shape(s: Shape, args) -> list[Row]:
    torch.manual_seed(0)
    x = torch.randn(s.B, s.T, s.I)
    models: dict[str, nn.Module] = {
        "torch.nn.LSTM": nn.LSTM(s.I, s.H, num_layers=s.L, batch_first=True),
        "lstmkit auto": None,
        "lstmkit fused": None,
        "LSTMCell loop": CellLoop(s.I, s.H, s.L),
        "lstmkit reference": None,
    }
    models["lstmkit auto"] = lstmkit.LSTM.from_torch(models["torch.nn.LSTM"])
    models["lstmkit fused"] = lstmkit.LSTM.from_torch(models["torch.nn.LSTM"], backend="fused")
    models["lstmkit reference"] = lstmkit.LSTM.from_torch(models["torch.nn.LSTM"], backend="reference")
    if s.variants:
        for name, opts in VARIANTS.items():
            models[f"auto {name}"] = lstmkit.LSTM(s.I, s.H, num_layers=s.L, batch_first=True, **opts)
    if args.skip_slow and s.name in ("char-lm", "long-seq"):
        models.pop("lstmkit reference")
        models.pop("LSTMCell loop")
    def backend_names(m) -> str:
        """The backend of each phase: inference (eval) and training can differ (recurrent dropout)."""
        names = []
        for training in (False, True):
            m.train(training)
            names.append(m.backend_info(batch=s.B).split(":")[0])
        return names[0] if names[0] == names[1] else f"{names[0]} / {names[1]}"

    notes = {k: (backend_names(m) if isinstance(m, lstmkit.LSTM) else "") for k, m in models.items()}
    notes["LSTMCell loop"] = "python loop"
    notes["torch.nn.LSTM"] = "oneDNN"

    def fwd(m):
        def run():
            with torch.no_grad():
                m(x)
        return run

    def fb(m):
        def run():
            out = _out(m(x))
            out.sum().backward()
        return run

    for m in models.values():
        m.eval()
    fwd_t = measure({k: fwd(m) for k, m in models.items()}, args.budget, args.min_reps, args.max_reps)
    fb_t: dict[str, float] = {}
    if not s.forward_only:
        for m in models.values():
            m.train()
        fb_t = measure({k: fb(m) for k, m in models.items()}, args.budget, args.min_reps, args.max_reps)
    rows = []
    for k in models:
        rows.append(Row(s.name, k, fwd_t[k] * 1e3, fb_t.get(k, float("nan")) * 1e3, notes[k]))
    if s.name == "stream":
        rows += bench_streaming(s, args)
    return rows


def bench_streaming(s: Shape, args) -> list[Row]:
    """Step-by-step inference through a cell, one time step per call, as a streaming service does it."""
    torch.manual_seed(0)
    ref = nn.LSTMCell(s.I, s.H)
    ours = lstmkit.LSTMCell(s.I, s.H)
    ours.load_state_dict(ref.state_dict())
    xs = torch.randn(s.T, s.B, s.I).unbind(0)

    def stepper(cell):
        def run():
            with torch.no_grad():
                state = None
                for x_t in xs:
                    state = cell(x_t, state)
        return run

    t = measure({"torch.nn.LSTMCell steps": stepper(ref), "lstmkit.LSTMCell steps": stepper(ours)},
                args.budget, args.min_reps, args.max_reps)
    return [Row(s.name, k, v * 1e3, note="per-step calls") for k, v in t.items()]


def bench_training_step(args) -> list[Row]:
    """The first seed's model, one optimizer step: LSTM(50) + Dense(1), rmsprop, mse, batch 10 x 100 x 1."""
    torch.manual_seed(0)
    x, y = torch.randn(10, 100, 1), torch.randn(10, 1)
    impls = {}
    for name, make in {
        "torch.nn.LSTM tanh": lambda: nn.LSTM(1, 50, batch_first=True),
        "lstmkit tanh": lambda: lstmkit.LSTM(1, 50, batch_first=True),
        "lstmkit relu": lambda: lstmkit.LSTM(1, 50, batch_first=True, activation="relu"),
        "LSTMCell loop tanh": lambda: CellLoop(1, 50, 1),
    }.items():
        lstm, head = make(), nn.Linear(50, 1)
        params = list(lstm.parameters()) + list(head.parameters())
        opt = torch.optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-7)  # Keras' rmsprop defaults

        def step(lstm=lstm, head=head, opt=opt):
            opt.zero_grad()
            out = _out(lstm(x))  # (B, T, H)
            loss = nn.functional.mse_loss(head(out[:, -1]), y)
            loss.backward()
            opt.step()
        impls[name] = step
    keras_step = _keras_jax_step(x.numpy(), y.numpy())
    if keras_step is not None:
        impls["Keras 3 on JAX relu"] = keras_step
    t = measure(impls, args.budget, args.min_reps, args.max_reps)
    return [Row("seed-keras train step", k, fb=v * 1e3, note="fwd+bwd+rmsprop") for k, v in t.items()]


def _keras_jax_step(x, y):
    """The seed's own Keras program on JAX (XLA-compiled scan), when keras and jax are installed."""
    import os

    if os.environ.setdefault("KERAS_BACKEND", "jax") != "jax":
        return None
    try:
        import keras
    except ImportError:
        return None
    if keras.backend.backend() != "jax":  # keras was imported earlier with another backend
        return None
    model = keras.Sequential([keras.Input((100, 1)), keras.layers.LSTM(50, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="rmsprop", loss="mse")
    return lambda: model.train_on_batch(x, y)


def fmt(v: float) -> str:
    if v != v:  # nan
        return "-"
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def table(rows: list[Row]) -> str:
    lines = ["| shape | implementation | backend | forward ms | x torch | fwd+bwd ms | x torch |",
             "|---|---|---|---|---|---|---|"]
    base = {}
    for r in rows:
        if r.impl in ("torch.nn.LSTM", "torch.nn.LSTM tanh"):
            base[r.shape] = r
    for r in rows:
        b = base.get(r.shape)
        rf = r.fwd / b.fwd if b and b.fwd == b.fwd else float("nan")
        rb = r.fb / b.fb if b and b.fb == b.fb else float("nan")
        lines.append(f"| {r.shape} | {r.impl} | {r.note} | {fmt(r.fwd)} | {fmt(rf)} | {fmt(r.fb)} | {fmt(rb)} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}; torch {torch.__version__}; {torch.get_num_threads()} threads; Python {platform.python_version()}"


def report(text: str, out: Optional[Path]) -> None:
    """Print a benchmark's table and, with ``--out``, record it (the benchmarks' results files)."""
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (set explicitly)")
    p.add_argument("--shapes", nargs="*", default=[s.name for s in SHAPES], help="subset of shape names")
    p.add_argument("--budget", type=float, default=2.0, help="seconds per measurement group")
    p.add_argument("--min-reps", type=int, default=5)
    p.add_argument("--max-reps", type=int, default=200)
    p.add_argument("--skip-slow", action="store_true", help="skip the reference and cell loop on big shapes")
    p.add_argument("--quick", action="store_true", help="seed shapes only, short budget")
    p.add_argument("--out", type=Path, help="write the markdown table here")
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="tune glibc malloc as the lstmkit CLI does (lstmkit.runtime.keep_freed_memory)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.keep_freed_memory:
        from lstmkit.runtime import keep_freed_memory

        keep_freed_memory()
    if args.quick:
        args.shapes, args.budget, args.min_reps = ["seed-keras", "seed-mnist"], 0.5, 3
    rows: list[Row] = []
    for s in SHAPES:
        if s.name in args.shapes:
            print(f"# {s.name}: B={s.B} T={s.T} I={s.I} H={s.H} L={s.L}", file=sys.stderr, flush=True)
            rows += bench_shape(s, args)
    if "seed-keras" in args.shapes:
        rows += bench_training_step(args)
    text = table(rows)
    header = (f"Machine: {machine()}\n\nCommand: `python benchmarks/speed.py {' '.join(argv or sys.argv[1:])}`\n\n")
    print(header + text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(header + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
