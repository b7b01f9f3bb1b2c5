"""Deployment benchmark: streaming latency per frame at batch 1, PyTorch against onnxruntime, side by side.

Usage:
    python benchmarks/deploy.py --out benchmarks/results/deploy-stream-cpu.md
    python benchmarks/deploy.py --quick

A "frame" is one time step of 40 features (a 10 ms speech frame's filterbank). Per shape and implementation
it times (a) feeding frames one at a time with the state carried (the real-time case), per frame, and
(b) one 100-frame chunk (an utterance or a look-ahead buffer), per call. Implementations: torch.nn.LSTM
called with its state, lstmkit.Stream (vanilla, and a peephole + layer-norm variant torch cannot run), and
onnxruntime running lstmkit's exported graphs through export.OnnxStream (the LSTM operator for vanilla, a
Scan over the reference step for the variant). One thread everywhere (torch.set_num_threads(1), onnxruntime's
intra-op threads 1): the deployment case, and fair. Every row is interleaved round-robin with the others in
one run; medians of CPU time (time.process_time) per repetition, in microseconds, and ratios to
torch.nn.LSTM on the same shape.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

import lstmkit
from lstmkit import export

FEATURES = 40
VARIANT = {"peephole": True, "layer_norm": True}


def _impls(H: int, layers: int, tmp: Path) -> dict[str, tuple[Callable, Callable]]:
    """name -> (feed one frame (1, 1, I) -> None, reset)."""
    torch.manual_seed(0)
    ref = torch.nn.LSTM(FEATURES, H, num_layers=layers).eval()
    vanilla = lstmkit.LSTM.from_torch(ref).eval()
    variant = lstmkit.LSTM(FEATURES, H, num_layers=layers, **VARIANT).eval()
    out: dict[str, tuple[Callable, Callable]] = {}
    state = {"hx": None}

    def torch_feed(x):
        with torch.no_grad():
            _, state["hx"] = ref(x, state["hx"])

    out["torch.nn.LSTM"] = (torch_feed, lambda: state.update(hx=None))
    for name, lstm in (("lstmkit vanilla", vanilla), ("lstmkit peephole+layer_norm", variant)):
        s = lstmkit.Stream(lstm)
        out[name] = (s, s.reset)
    for name, lstm in (("onnxruntime vanilla (LSTM op)", vanilla), ("onnxruntime peephole+layer_norm (Scan)", variant)):
        path = export.onnx_stream(lstm, tmp / f"{name.split()[1]}.onnx")
        run = export.OnnxStream(path, threads=1)
        out[name] = ((lambda r: lambda x: r(x.numpy()))(run), run.reset)
    return out


def bench(H: int, layers: int, frames: int, chunk: int, reps: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as d:
        impls = _impls(H, layers, Path(d))
        x = torch.randn(frames, 1, FEATURES)
        xc = torch.randn(chunk, 1, FEATURES)
        per_frame = {k: [] for k in impls}
        per_chunk = {k: [] for k in impls}
        for feed, reset in impls.values():  # warm-up
            feed(x[:1])
            feed(xc)
            reset()
        for _ in range(reps):
            for name, (feed, reset) in impls.items():
                reset()
                t0 = time.process_time()
                for t in range(frames):
                    feed(x[t:t + 1])
                per_frame[name].append((time.process_time() - t0) / frames * 1e6)
                reset()
                t0 = time.process_time()
                feed(xc)
                per_chunk[name].append((time.process_time() - t0) * 1e6)
    base_f = statistics.median(per_frame["torch.nn.LSTM"])
    base_c = statistics.median(per_chunk["torch.nn.LSTM"])
    rows = []
    for name in impls:
        f, c = statistics.median(per_frame[name]), statistics.median(per_chunk[name])
        rows.append({"H": H, "layers": layers, "impl": name, "frame_us": f, "frame_ratio": f / base_f,
                     "chunk_us": c, "chunk_ratio": c / base_c})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    shapes = [(256, 1)] if args.quick else [(256, 1), (512, 1), (256, 2)]
    frames, chunk, reps = (50, 100, 3) if args.quick else (200, 100, 15)
    rows = [r for H, L in shapes for r in bench(H, L, frames, chunk, reps)]
    lines = ["# Streaming latency at batch 1, one thread\n",
             f"`python benchmarks/deploy.py{' --quick' if args.quick else ''}`; "
             f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, torch "
             f"{torch.__version__}, onnxruntime "
             f"{__import__('onnxruntime').__version__}. {FEATURES} features per frame; per frame: {frames} frames fed "
             f"one at a time with the state carried; per chunk: one call on {chunk} frames. Medians of {reps} "
             "interleaved repetitions, CPU time; ratios to torch.nn.LSTM on the same shape (lower is faster).\n",
             "| H | layers | implementation | per frame (us) | ratio | 100-frame chunk (us) | ratio |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['H']} | {r['layers']} | {r['impl']} | {r['frame_us']:.1f} | {r['frame_ratio']:.2f} | "
                     f"{r['chunk_us']:.0f} | {r['chunk_ratio']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
