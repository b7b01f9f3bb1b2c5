"""A quick, interleaved timing of one lstmkit LSTM configuration against ``torch.nn.LSTM`` (``lstmkit bench``).
The full table with every shape and variant is ``benchmarks/speed.py``."""

from __future__ import annotations

import statistics
import time

import torch

from .kernels.variants import VARIANTS
from .nn import LSTM


def compare(batch: int = 32, steps: int = 100, input_size: int = 32, hidden: int = 128, layers: int = 1,
            variant: str = "vanilla", repeats: int = 10, threads: int = 0) -> dict:
    """Median forward+backward milliseconds of lstmkit (``variant``, backend auto) and of vanilla
    ``torch.nn.LSTM`` on the same shape, timed alternately so that machine noise hits both alike.

    >>> r = compare(batch=2, steps=5, input_size=3, hidden=4, repeats=2)
    >>> sorted(r)
    ['backend', 'lstmkit_ms', 'ratio', 'threads', 'torch_ms']
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    if threads:
        torch.set_num_threads(threads)
    x = torch.randn(batch, steps, input_size)  # (B, T, I)
    options = {"num_layers": layers, **VARIANTS[variant]}  # an entry may set its own depth (residual stacks)
    ours = LSTM(input_size, hidden, batch_first=True, **options).train()
    ref = torch.nn.LSTM(input_size, hidden, num_layers=options["num_layers"], batch_first=True).train()

    def step(m) -> float:
        t = time.perf_counter()
        out, _ = m(x)  # (B, T, H)
        out.sum().backward()
        return (time.perf_counter() - t) * 1000

    for m in (ours, ref):  # warm-up: kernel build, oneDNN primitives
        step(m)
    a, b = [], []
    for _ in range(repeats):
        a.append(step(ours))
        b.append(step(ref))
    ma, mb = statistics.median(a), statistics.median(b)
    return {"lstmkit_ms": ma, "torch_ms": mb, "ratio": ma / mb, "backend": ours.backend_info(batch=batch),
            "threads": torch.get_num_threads()}
