"""The backend registry: one dict of backends and one :func:`select_backend`.

A backend says which requests it cannot run (and why); ``"auto"`` takes the supported backend with the lowest
priority number and reports why the faster ones were passed over, unless another backend says it is measured
faster than that one on the request's shape (:meth:`Backend.preferred_over`), which then runs it. Naming a
backend that cannot run a request raises with its reason. A GPU kernel (Triton/CUDA) registers itself the same
way and declines CPU tensors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, PackedSequence

from .config import LSTMConfig
from .functional import DirectionWeights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """What one forward call asks of a backend, beyond the config."""

    config: LSTMConfig
    device: torch.device
    dtype: torch.dtype
    training: bool = False
    return_gates: bool = False
    grad: bool = False  # autograd will differentiate this call (grad mode on, parameters require grad)
    packed: bool = False  # the input is a PackedSequence
    batch: int = 0  # sequences in the call (0: unknown)
    vmapped: bool = False  # inside torch.func.vmap: only backends written in torch ops can run
    exporting: bool = False  # torch.onnx.export is tracing: the "onnx" backend's placeholders run
    capture: str = ""  # "trace" (torch.jit.trace), "export" (torch.export), "compile" (torch.compile) or ""
    int8: bool = False  # the module holds int8 weights (lstmkit.quantize): the "int8" backend applies
    steps: int = 0  # time steps in the call (0: unknown)


def graph_capture() -> str:
    """Which graph capture is running the forward now: "export", "compile", "trace" or "" (eager)."""
    if torch.compiler.is_exporting():
        return "export"
    if torch.compiler.is_compiling():
        return "compile"
    return "trace" if torch.jit.is_tracing() else ""


def under_vmap(tensors) -> bool:
    """Whether any of ``tensors`` is a torch.func.vmap batched tensor (inside a vmap'd function)."""
    is_batched = getattr(getattr(torch._C, "_functorch", None), "is_batchedtensor", None)
    return is_batched is not None and any(is_batched(t) for t in tensors)


class StackWeights(NamedTuple):
    layers: Sequence[Sequence[DirectionWeights]]  # layers[k][d]
    flat: Sequence[Tensor]  # torch.nn.LSTM's _flat_weights order, for kernels that take that
    packed: Optional[Sequence] = None  # a quantized LSTM's int8 cell parameters, one per layer and direction


class Backend:
    """Base class: subclasses set ``name``, ``description``, ``priority`` and implement ``run``."""

    name: str = ""
    description: str = ""
    priority: int = 100  # lower is tried first by "auto"
    automatic: bool = True  # considered by "auto" (the export placeholders are chosen by the request instead)

    def applies(self, req: Request) -> bool:
        """Whether "auto" considers this backend for ``req`` at all (not listed among the skipped otherwise)."""
        return True

    def unsupported(self, req: Request) -> Optional[str]:
        """None if this backend can run ``req``, else a short reason."""
        raise NotImplementedError

    def preferred_over(self, other: str, req: Request) -> Optional[str]:
        """Why ``"auto"`` should run ``req`` here rather than on backend ``other``, its first choice by priority
        (this one measured faster on the request's shape), or None."""
        return None

    def describe(self, req: Request) -> str:
        """What runs ``req`` (e.g. which vendor kernel); shown by ``LSTM.backend_info()``."""
        return self.description

    def run(self, x: Tensor, h0: Tensor, c0: Tensor, lengths: Optional[Tensor], weights: StackWeights,
            cfg: LSTMConfig, req: Request):
        """x: (T, B, I) time-major padded; lengths: (B,) int64 or None -> StackResult."""
        raise NotImplementedError

    def run_packed(self, data: Tensor, batch_sizes: Tensor, h0: Tensor, c0: Tensor, weights: StackWeights,
                   cfg: LSTMConfig, req: Request):
        """Packed input whose batch is sorted by decreasing length -> (out_data, h_n, c_n, gates).

        The default pads, runs :meth:`run` with lengths, and packs again; gates stay padded (T, B, H).
        """
        x, lengths = pad_packed_sequence(PackedSequence(data, batch_sizes))  # (T, B, I), (B,)
        res = self.run(x, h0, c0, lengths, weights, cfg, req)
        out = pack_padded_sequence(res.out, lengths, enforce_sorted=True).data
        return out, res.h_n, res.c_n, res.gates


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    if not backend.name:
        raise ValueError("a backend needs a name")
    BACKENDS[backend.name] = backend
    return backend


class Selection(NamedTuple):
    backend: Backend
    reason: str


def select_backend(name: str, req: Request) -> Selection:
    """Pick the backend for ``req``: the named one (or raise), or for ``"auto"`` the first that can run it.

    >>> from lstmkit.kernels import LSTMConfig, Request, select_backend
    >>> cfg = LSTMConfig(4, 8, peephole=True)
    >>> select_backend("auto", Request(cfg, torch.device("cpu"), torch.float32)).backend.name in BACKENDS
    True
    """
    if req.exporting:  # whatever backend is named: the exported graph is the same math on every backend
        return Selection(BACKENDS["onnx"], f"onnx: {BACKENDS['onnx'].description}")
    if name != "auto":
        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r}; expected 'auto' or one of {sorted(BACKENDS)}")
        backend = BACKENDS[name]
        why_not = backend.unsupported(req)
        if why_not is not None:
            raise ValueError(f"backend {name!r} cannot run this configuration: {why_not}")
        return Selection(backend, f"{name}: {backend.describe(req)} (requested)")
    passed_over = []
    ranked = sorted((b for b in BACKENDS.values() if b.automatic and b.applies(req)), key=lambda b: b.priority)
    for backend in ranked:
        why_not = backend.unsupported(req)
        if why_not is None:
            for other in ranked:  # a backend measured faster than this one on the request's shape
                why_other = other.preferred_over(backend.name, req) if other is not backend else None
                if why_other is not None and other.unsupported(req) is None:
                    return Selection(other, f"{other.name}: {other.describe(req)} ({why_other})")
            reason = f"{backend.name}: {backend.describe(req)}"
            if passed_over:
                reason += " [" + "; ".join(passed_over) + "]"
            return Selection(backend, reason)
        passed_over.append(f"{backend.name} skipped: {why_not}")
    raise RuntimeError("no registered backend can run this request: " + "; ".join(passed_over))
