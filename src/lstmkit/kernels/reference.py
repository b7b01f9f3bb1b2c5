"""The reference backend: a plain PyTorch loop over time steps calling :func:`cell_step`.

Slow (a Python loop per step) but obviously right: it is the specification that every other backend is
tested against, and the fallback that runs every configuration on every device and dtype.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .config import LSTMConfig
from .functional import DirectionWeights, Gates, cell_step, input_projection, resolve_activation
from .registry import Backend, Request, register
from .stack import DirectionResult, Noise, run_stack


def recurrence(
    a: Tensor,
    h0: Tensor,
    c0: Tensor,
    w: DirectionWeights,
    cfg: LSTMConfig,
    valid: Optional[Tensor],
    noise: Noise,
    return_gates: bool,
    forget_bias: Optional[float] = None,
) -> DirectionResult:
    """The time loop over a projected input ``a`` (T, B, G*H), i.e. everything after the input projection.

    ``forget_bias`` overrides the config's (a caller that has folded it into ``a`` passes 0). The fused
    backend differentiates this loop when a gradient of its gradient is asked for.
    """
    act = resolve_activation(cfg.activation)
    rec_act = resolve_activation(cfg.recurrent_activation)
    fb = cfg.forget_bias if forget_bias is None else forget_bias
    h, c = h0, c0
    outs, steps = [], []
    # unbind, not a[t]: indexing inside autograd makes the backward pass quadratic in T.
    for t, a_t in enumerate(a.unbind(0)):
        zh, zc = noise.step(t)
        h_new, c_new, g = cell_step(
            a_t, h, c, w,
            act=act, rec_act=rec_act, cifg=cfg.cifg, forget_bias=fb, eps=cfg.layer_norm_eps,
            rec_mask=noise.rec_mask, zone_h=zh, zone_c=zc, cell_clip=cfg.cell_clip, proj_clip=cfg.proj_clip,
        )
        if valid is not None:  # past a sequence's end: state frozen, output and gates zero
            m = valid[t].unsqueeze(-1)  # (B, 1)
            h = torch.where(m, h_new, h)
            c = torch.where(m, c_new, c)
            # where, not a product: a NaN in the padding must not reach the output (NaN * 0 is NaN)
            outs.append(torch.where(m, h_new, 0.0))
            if return_gates:
                g = Gates(*(torch.where(m, v, 0.0) for v in g))
        else:
            h, c = h_new, c_new
            outs.append(h_new)
        if return_gates:
            steps.append(g)
    gates = Gates(*(torch.stack(v) for v in zip(*steps, strict=True))) if return_gates else None  # each (T, B, H)
    return DirectionResult(torch.stack(outs), h, c, gates)


def reference_direction(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w: DirectionWeights,
    cfg: LSTMConfig,
    valid: Optional[Tensor],
    noise: Noise,
    return_gates: bool,
) -> DirectionResult:
    """One layer, one direction. x: (T, B, I); valid: (T, B) bool or None."""
    a = input_projection(x, w, cfg.layer_norm_eps)  # (T, B, G*H): one GEMM for all steps
    return recurrence(a, h0, c0, w, cfg, valid, noise, return_gates)


class ReferenceBackend(Backend):
    name = "reference"
    description = "pure PyTorch loop over time steps (the specification)"
    priority = 1000  # the last resort for auto

    def unsupported(self, req: Request) -> Optional[str]:
        return None  # runs everything

    def preferred_over(self, other: str, req: Request) -> Optional[str]:
        """Inference on one or two steps (streaming frame by frame): the fused kernel's fixed cost per call
        (transposing and packing W_hh) exceeds the loop's few operations. Measured at one thread, eval, a
        peephole + layer-norm LSTM: T=1, B=1: fused 274/655/1582 us against 160/230/432 us at H=64/256/512;
        T=2: fused 1.2-2.4x slower; from T=4 on it wins or ties."""
        if other == "fused" and not req.grad and not req.training and 0 < req.steps <= 2 \
                and req.device.type == "cpu" and not req.return_gates:
            return f"inference on {req.steps} step(s): the fused kernel's per-call setup costs more than the loop"
        return None

    def run(self, x, h0, c0, lengths, weights, cfg, req):
        return run_stack(reference_direction, x, h0, c0, lengths, weights.layers, cfg, req.training,
                         req.return_gates)


register(ReferenceBackend())
