"""Running a stack of layers and directions over padded, time-major input.

Backends that compute one direction of one layer at a time (the reference loop, later fused kernels) share
this driver, so layer stacking, direction reversal, lengths, inter-layer dropout, residual connections and
the sampling of random masks are written once and behave identically on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import LSTMConfig
from .functional import DirectionWeights, Gates, Zone
from .masks import bernoulli_mask


@dataclass
class Noise:
    """Random masks of one layer and direction, drawn by the driver so every backend sees the same ones."""

    rec_mask: Optional[Tensor] = None  # (B, P|H) recurrent dropout mask, already scaled by 1 / (1 - p)
    zone_h: Zone = None  # (T, B, P|H) 0/1 in training, the probability in eval
    zone_c: Zone = None  # (T, B, H)

    def step(self, t: int) -> tuple[Zone, Zone]:
        zh = self.zone_h[t] if isinstance(self.zone_h, Tensor) else self.zone_h
        zc = self.zone_c[t] if isinstance(self.zone_c, Tensor) else self.zone_c
        return zh, zc


def sample_noise(cfg: LSTMConfig, T: int, B: int, training: bool, like: Tensor) -> Noise:
    """Draw one direction's masks from torch's global generator (so ``torch.manual_seed`` reproduces)."""
    noise = Noise()
    P, H = cfg.out_size, cfg.hidden_size
    # counter-based masks (kernels/masks.py): the zoneout masks are T*B*(P+H) draws per layer and direction,
    # too many for torch's sequential CPU generator
    if training and cfg.recurrent_dropout > 0:
        keep = 1.0 - cfg.recurrent_dropout
        noise.rec_mask = bernoulli_mask((B, P), keep, like).div_(keep)  # (B, P)
    if cfg.zoneout > 0:
        if training:
            noise.zone_h = bernoulli_mask((T, B, P), cfg.zoneout, like)  # (T, B, P)
            noise.zone_c = bernoulli_mask((T, B, H), cfg.zoneout, like)  # (T, B, H)
        else:
            noise.zone_h = noise.zone_c = float(cfg.zoneout)
    return noise


class DirectionResult(NamedTuple):
    out: Tensor  # (T, B, P|H), zero past each sequence's length
    h_n: Tensor  # (B, P|H) state at each sequence's last valid step
    c_n: Tensor  # (B, H)
    gates: Optional[Gates]  # each (T, B, H) when asked for


# run_direction(x (T,B,I), h0, c0, weights, cfg, valid (T,B) bool or None, noise, return_gates)
DirectionFn = Callable[
    [Tensor, Tensor, Tensor, DirectionWeights, LSTMConfig, Optional[Tensor], Noise, bool], DirectionResult
]


def reverse_padded(x: Tensor, lengths: Optional[Tensor]) -> Tensor:
    """Reverse each sequence in time within its own length; padding stays where it is. x: (T, B, ...)."""
    if lengths is None:
        return x.flip(0)
    T = x.shape[0]
    t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    lens = lengths.to(x.device).unsqueeze(0)  # (1, B)
    idx = torch.where(t < lens, lens - 1 - t, t)  # (T, B)
    idx = idx.view(T, -1, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, idx)


class StackResult(NamedTuple):
    out: Tensor  # (T, B, D*P)
    h_n: Tensor  # (L*D, B, P)
    c_n: Tensor  # (L*D, B, H)
    gates: Optional[list]  # gates[layer][direction] -> Gates of (T, B, H)


def run_stack(
    run_direction: DirectionFn,
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    lengths: Optional[Tensor],
    weights: Sequence[Sequence[DirectionWeights]],
    cfg: LSTMConfig,
    training: bool,
    return_gates: bool,
) -> StackResult:
    """Run all layers and directions. x: (T, B, I) padded; lengths: (B,) or None; h0: (L*D, B, P)."""
    T, B = x.shape[0], x.shape[1]
    valid = None
    if lengths is not None:
        valid = torch.arange(T, device=x.device).unsqueeze(1) < lengths.to(x.device).unsqueeze(0)  # (T, B)
    layer_in = x
    h_n, c_n, all_gates = [], [], []
    for k in range(cfg.num_layers):
        outs, layer_gates = [], []
        for d in range(cfg.num_directions):
            idx = k * cfg.num_directions + d
            noise = sample_noise(cfg, T, B, training, x)
            inp = layer_in if d == 0 else reverse_padded(layer_in, lengths)
            res = run_direction(inp, h0[idx], c0[idx], weights[k][d], cfg, valid, noise, return_gates)
            out, gates = res.out, res.gates
            if d == 1:
                out = reverse_padded(out, lengths)
                if gates is not None:
                    gates = Gates(*(reverse_padded(g, lengths) for g in gates))
            outs.append(out)
            layer_gates.append(gates)
            h_n.append(res.h_n)
            c_n.append(res.c_n)
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)  # (T, B, D*P)
        if cfg.has_residual(k):
            skip = layer_in if valid is None else torch.where(valid.unsqueeze(-1), layer_in, 0.0)  # padding stays 0
            out = out + skip
        if training and cfg.dropout > 0 and k < cfg.num_layers - 1:
            out = F.dropout(out, cfg.dropout, training=True)
        layer_in = out
        all_gates.append(layer_gates)
    return StackResult(layer_in, torch.stack(h_n), torch.stack(c_n), all_gates if return_gates else None)
