"""The Triton backend: every variant on CUDA (and AMD) GPUs, with a hand-written backward for the cell.

The "always works" design of issue 15: the input projection for all steps in one GEMM (``input_projection``),
then per step one recurrent GEMM and one fused Triton kernel for the whole cell (gates, peepholes, forget
bias, coupled gates, ``cell_clip``, the layer norm on c, zoneout on c and the lengths), whose backward is a
second Triton kernel that ports ``csrc/lstm_cell.h``'s equations (docs/equations.md). The projection, zoneout
on h and the recurrent layer norm stay torch ops around the kernel; autograd chains the steps (BPTT) and the
weight gradients. In bfloat16/float16 the GEMMs run in that dtype and the cell state and arithmetic in float32.

One program handles one batch row (all hidden units of that row in one block), so the layer norm's row
statistics need no second pass; the block is ``next_power_of_2(hidden_size)`` (Triton's rule), and widths whose
row does not fit on chip are refused before launch (:func:`block_for`).

Without a GPU, ``TRITON_INTERPRET=1`` runs the same kernels on CPU tensors (slowly): the tests do that, and
only then does the backend accept CPU tensors. The kernels are compiled on first use, so the environment at
that moment decides between the GPU and the interpreter.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Optional

import torch
from torch import Tensor

from . import activations
from .config import LSTMConfig
from .functional import DirectionWeights, Gates, input_projection, layer_norm
from .registry import Backend, Request, register
from .stack import DirectionResult, Noise, run_stack


def available() -> bool:
    """Whether triton is installed (imported only when a kernel is first needed: it is slow to import)."""
    return importlib.util.find_spec("triton") is not None

MAX_BLOCK = 8192  # hidden units one program holds (fp32 registers and shared memory of one SM)


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def block_for(hidden: int) -> int:
    """The block (a power of two, at least 16) covering ``hidden`` units; raises past :data:`MAX_BLOCK`."""
    block = max(16, 1 << (hidden - 1).bit_length())
    if block > MAX_BLOCK:
        raise ValueError(f"triton backend: hidden_size {hidden} needs a block of {block} units per row, over "
                         f"the {MAX_BLOCK} that fit on chip")
    return block


def _kernels():
    """The jitted kernels (their module is imported on first use)."""
    import triton.language as tl

    if interpreting() and not type(tl.sigmoid).__name__.startswith("Interpreted"):
        raise RuntimeError("TRITON_INTERPRET=1 was set after triton was imported: triton reads it at import, so "
                           "set it before anything imports triton (e.g. in the environment of the process)")
    from . import _triton_kernels as k

    return k.cell_fwd, k.cell_bwd


def _flags(cfg: LSTMConfig, w: DirectionWeights, zoned: bool, lengths: bool, dtype: torch.dtype) -> dict:
    """One direction's compile-time switches (each combination is compiled once); CT: the compute type."""
    import triton.language as tl

    return dict(ACT=activations.kernel_id(cfg.activation), RACT=activations.kernel_id(cfg.recurrent_activation),
                CIFG=bool(cfg.cifg), PEEP=w.w_ph is not None, LN=w.ln_c_w is not None, ZONE=zoned,
                HAS_VALID=lengths, CLIP=cfg.cell_clip > 0, BLOCK=block_for(cfg.hidden_size),
                CT=tl.float64 if dtype == torch.float64 else tl.float32)


class _Cell(torch.autograd.Function):
    """One step's cell after the recurrent GEMM: z (B, G*H) pre-activations, c_{t-1} -> h_raw = o act([LN](c_t))
    (before any projection) and the carried c (zoneout and lengths applied), plus the gates (B, 4H) as a
    non-differentiable output. ``zone_c`` is zoneout's (B, H) mask, or its probability as a tensor in eval;
    c is float32 or float64 (the cell's dtype)."""

    @staticmethod
    def forward(ctx, z, c, w_ph, ln_w, ln_b, zone_c, valid_t, cfg, flags):
        B, H = c.shape
        z, c = z.contiguous(), c.contiguous()
        gates = torch.empty(B, 4 * H, device=c.device, dtype=c.dtype)
        cn = torch.empty_like(c)
        stats = torch.empty(B, 2, device=c.device, dtype=c.dtype)
        hraw = torch.empty(B, H, device=c.device, dtype=z.dtype)  # the input's dtype: it feeds the next GEMM
        cnext = torch.empty_like(c)  # the cell state's dtype (float32 under bf16/fp16)
        zc = zone_c.contiguous() if zone_c is not None else None
        dummy = c  # a pointer for the absent operands (never read: their flags are off)
        cell_fwd, _ = _kernels()
        cell_fwd[(B,)](z, c, w_ph if w_ph is not None else dummy, ln_w if ln_w is not None else dummy,
                       ln_b if ln_b is not None else dummy, zc if zc is not None else dummy,
                       valid_t if valid_t is not None else dummy, gates, cn, stats, hraw, cnext,
                       H, float(cfg.forget_bias), float(cfg.cell_clip), float(cfg.layer_norm_eps), **flags)
        ctx.save_for_backward(z, c, gates, cn, stats, w_ph, ln_w, ln_b, zc, valid_t)
        ctx.cfg, ctx.flags = cfg, flags
        ctx.mark_non_differentiable(gates)
        return hraw, cnext, gates

    @staticmethod
    def backward(ctx, dh, dcnext, _dgates):
        z, c, gates, cn, stats, w_ph, ln_w, ln_b, zc, valid_t = ctx.saved_tensors
        B, H = c.shape
        G = z.shape[1] // H
        dh = torch.zeros_like(c) if dh is None else dh.contiguous()
        dcnext = torch.zeros_like(c) if dcnext is None else dcnext.contiguous()
        dz = torch.empty_like(z)
        dc = torch.empty_like(c)
        dpw = torch.zeros(B, 3, H, device=c.device, dtype=c.dtype) if w_ph is not None else None
        dlnw = torch.empty(B, H, device=c.device, dtype=c.dtype) if ln_w is not None else None
        dlnb = torch.empty(B, H, device=c.device, dtype=c.dtype) if ln_w is not None else None
        dummy = c
        _, cell_bwd = _kernels()
        cell_bwd[(B,)](dh, dcnext, z, c, gates, cn, stats, w_ph if w_ph is not None else dummy,
                       ln_w if ln_w is not None else dummy, ln_b if ln_b is not None else dummy,
                       zc if zc is not None else dummy, valid_t if valid_t is not None else dummy,
                       dz, dc, dpw if dpw is not None else dummy, dlnw if dlnw is not None else dummy,
                       dlnb if dlnb is not None else dummy, H, float(ctx.cfg.cell_clip), **ctx.flags)
        d_ph = None
        if w_ph is not None:  # per-row partials summed over the batch: rows i, f, o (f, o with cifg)
            d_ph = (dpw.sum(0)[1:] if G == 3 else dpw.sum(0)).to(w_ph.dtype)
        return (dz, dc, d_ph, dlnw.sum(0).to(ln_w.dtype) if dlnw is not None else None,
                dlnb.sum(0).to(ln_b.dtype) if dlnb is not None else None, None, None, None, None)


def triton_direction(x: Tensor, h0: Tensor, c0: Tensor, w: DirectionWeights, cfg: LSTMConfig,
                     valid: Optional[Tensor], noise: Noise, return_gates: bool) -> DirectionResult:
    """One layer, one direction on the Triton cell kernel. x: (T, B, I); valid: (T, B) bool or None."""
    a = input_projection(x, w, cfg.layer_norm_eps)  # (T, B, G*H): one GEMM for all steps
    valid_i = valid.to(torch.int8) if valid is not None else None
    # bf16/fp16: GEMMs in the input's dtype, the cell state and the cell's arithmetic in float32
    h, c = h0, (c0.float() if c0.dtype in (torch.bfloat16, torch.float16) else c0)
    outs, steps = [], []
    flags = _flags(cfg, w, noise.zone_c is not None, valid is not None, c.dtype)
    # eval zoneout's probability as a tensor: a scalar argument would reach the kernel as float32
    zc_eval = None if isinstance(noise.zone_c, Tensor) or noise.zone_c is None else torch.full_like(c, noise.zone_c)
    for t, a_t in enumerate(a.unbind(0)):
        zh, zc = noise.step(t)
        zc = zc_eval if zc_eval is not None else zc  # (B, H)
        h_in = h if noise.rec_mask is None else h * noise.rec_mask  # recurrent dropout (Gal & Ghahramani 2016)
        b = torch.matmul(h_in, w.w_hh.t())  # (B, G*H): the step's recurrent GEMM
        if w.ln_hh_w is not None:
            b = layer_norm(b, w.ln_hh_w, w.ln_hh_b, cfg.layer_norm_eps)
        if w.b_hh is not None:
            b = b + w.b_hh
        v_t = valid_i[t] if valid_i is not None else None
        h_raw, c, gates = _Cell.apply(a_t + b, c, w.w_ph, w.ln_c_w, w.ln_c_b, zc, v_t, cfg, flags)
        h_new = h_raw
        if w.w_hr is not None:
            h_new = torch.matmul(h_raw, w.w_hr.t())  # (B, P)
            if cfg.proj_clip:
                h_new = h_new.clamp(-cfg.proj_clip, cfg.proj_clip)
        if zh is not None:
            h_new = h_new + zh * (h - h_new)
        if valid is not None:
            m = valid[t].unsqueeze(-1)  # (B, 1)
            h = torch.where(m, h_new, h)
            outs.append(torch.where(m, h_new, 0.0))
        else:
            h = h_new
            outs.append(h_new)
        if return_gates:
            i, f, g, o = gates.to(h.dtype).split(cfg.hidden_size, dim=-1)
            gate = Gates(i, f, g, o, c.to(h.dtype))
            if valid is not None:
                gate = Gates(*(torch.where(valid[t].unsqueeze(-1), v, 0.0) for v in gate))
            steps.append(gate)
    gates_all = Gates(*(torch.stack(v) for v in zip(*steps, strict=True))) if return_gates else None
    return DirectionResult(torch.stack(outs), h, c.to(c0.dtype), gates_all)


class TritonBackend(Backend):
    name = "triton"
    description = "lstmkit Triton cell kernel with hand-written cell backward (per-step GEMM + fused cell)"
    priority = 500  # after native (cuDNN keeps vanilla) and fused (CPU), before the reference loop

    def unsupported(self, req: Request) -> Optional[str]:
        cfg = req.config
        if not available():
            return "triton is not installed (pip install 'lstmkit[gpu]')"
        if req.device.type == "cpu" and not interpreting():
            return "triton runs on GPUs (CPU tensors run only under TRITON_INTERPRET=1, for testing)"
        if req.device.type not in ("cuda", "cpu"):
            return f"triton runs on CUDA/ROCm devices, not {req.device.type}"
        if req.vmapped:
            return "the Triton kernels cannot run inside torch.func.vmap"
        if req.capture in ("trace", "export"):
            return f"torch.{'jit.trace' if req.capture == 'trace' else 'export'} cannot see inside the Triton kernels"
        if req.dtype not in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
            return f"triton runs float32, bfloat16, float16 (and float64), not {req.dtype}"
        if req.return_gates and req.grad:
            return "return_gates under autograd: the Triton kernel returns gates without gradients"
        for what in ("activation", "recurrent_activation"):
            spec = getattr(cfg, what)
            if not isinstance(spec, str) or activations.kernel_id(spec) is None:
                return f"triton has no kernel for the {what} {spec!r}"
        try:
            block_for(cfg.hidden_size)
        except ValueError as err:
            return str(err)
        return None

    def run(self, x, h0, c0, lengths, weights, cfg, req):
        return run_stack(triton_direction, x, h0, c0, lengths, weights.layers, cfg, req.training,
                         req.return_gates)


register(TritonBackend())
