"""Bernoulli masks for zoneout and recurrent dropout, from a counter-based hash instead of torch.rand.

Element ``i`` of a mask drawn with seed ``s`` is 1 where the top 24 bits of ``splitmix64(s + i * gamma)`` fall
below ``round(p * 2**24)``: the finaliser of Steele, Lea and Flood's SplitMix64 ("Fast splittable pseudorandom
number generators", OOPSLA 2014), with the constants of Vigna's public-domain splitmix64.c. The seed is drawn
from torch's global generator, so ``torch.manual_seed`` reproduces every mask.

Why not ``torch.rand(...) < p``: torch's CPU generator is sequential (~2.5 ns per draw here), and zoneout
draws T*B*(P+H) numbers per layer, which cost a quarter of a seed-mnist training step. The fused extension
registers a vectorised, multi-threaded C++ copy of the same hash (:data:`fast_impl`); the pure-torch version
below gives bit-identical masks, so results never depend on whether the extension is loaded.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

_GAMMA = 0x9E3779B97F4A7C15 - (1 << 64)  # as signed int64: torch multiplies int64 with wrap-around
_M1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_M2 = 0x94D049BB133111EB - (1 << 64)
BITS = 24

# fast_impl(n, p, seed) -> float32 (n,) 0/1 tensor on the CPU, set by the fused backend when it loads
fast_impl: Optional[Callable[[int, float, int], Tensor]] = None


def _srl(x: Tensor, k: int) -> Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def hash_uniform24(n: int, seed: int, device=None) -> Tensor:
    """The 24-bit uniform integers behind a mask of n elements, int64 (pure torch; used as the reference)."""
    x = torch.arange(n, dtype=torch.int64, device=device) * _GAMMA + seed  # wraps modulo 2**64
    x = x ^ _srl(x, 30)
    x = x * _M1
    x = x ^ _srl(x, 27)
    x = x * _M2
    x = x ^ _srl(x, 31)
    return _srl(x, 64 - BITS)


def threshold(p: float) -> int:
    return int(round(p * (1 << BITS)))


def bernoulli_mask(shape: Sequence[int], p: float, like: Tensor) -> Tensor:
    """A 0/1 mask of ``shape``, 1 with probability p (to 2**-24), in ``like``'s dtype and device.

    >>> _ = torch.manual_seed(0)
    >>> m = bernoulli_mask((1000, 100), 0.3, torch.empty(0))
    >>> round(m.mean().item(), 2)
    0.3
    """
    n = 1
    for s in shape:
        n *= int(s)
    seed = int(torch.randint(-(1 << 63), (1 << 63) - 1, (1,), dtype=torch.int64).item())
    if fast_impl is not None and like.device.type == "cpu":
        mask = fast_impl(n, float(p), seed)
    else:
        mask = (hash_uniform24(n, seed, like.device) < threshold(p)).to(torch.float32)
    return mask.to(like.dtype).view(*shape)
