"""The ``onnx`` backend: what an LSTM runs while ``torch.onnx.export`` traces it.

Each layer and direction becomes one placeholder node ``lstmkit::Direction`` in the traced graph, computed by
the reference loop so the trace has real values, and recorded here with its config and weights;
:mod:`lstmkit.export` then lowers every placeholder to standard ONNX: the ``LSTM`` operator where it
expresses the variant exactly, else a ``Scan`` over a step graph traced from :func:`cell_step` itself. The
stack around the directions (reversal within lengths, concatenation, residual connections) is the shared
driver :func:`run_stack`, traced as ordinary torch operations.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from torch import Tensor

from .config import LSTMConfig
from .functional import DirectionWeights, input_projection
from .reference import recurrence
from .registry import Backend, Request, register
from .stack import DirectionResult, Noise, run_stack

# ONNX LSTM activation names (and alpha, beta) for lstmkit's named activations that the operator has
ONNX_ACTIVATIONS: dict[str, tuple[str, Optional[float], Optional[float]]] = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),  # torch's hardsigmoid: relu6(x + 3) / 6
    "hard_sigmoid_legacy": ("HardSigmoid", 0.2, 0.5),
    "softsign": ("Softsign", None, None),
    "identity": ("Affine", 1.0, 0.0),
    "linear": ("Affine", 1.0, 0.0),
    "elu": ("Elu", 1.0, None),
    "softplus": ("Softplus", None, None),
}
# gates g with 1 - g(z) = g(-z), so a coupled gate i = 1 - f(z) is the operator's gate of -z
_SYMMETRIC_GATES = ("sigmoid", "hard_sigmoid", "hard_sigmoid_legacy")


def exporting() -> bool:
    """Whether ``torch.onnx.export`` is tracing now: code with data-dependent Python branches (masks) takes
    its branch-free form then. Cheap outside a trace (torch.onnx is only touched while a tracer runs)."""
    return torch._C._get_tracing_state() is not None and torch.onnx.is_in_onnx_export()


def lstm_operator_reason(cfg: LSTMConfig) -> Optional[str]:
    """None when one direction of ``cfg`` (in eval mode) is exactly the ONNX ``LSTM`` operator, else why not.

    >>> lstm_operator_reason(LSTMConfig(4, 8, peephole=True, cifg=True)) is None
    True
    >>> lstm_operator_reason(LSTMConfig(4, 8, layer_norm=True))
    'layer_norm has no ONNX LSTM attribute'
    """
    for name in ("proj_size", "layer_norm", "zoneout", "cell_clip"):
        if getattr(cfg, name):
            return f"{name} has no ONNX LSTM attribute"
    for what in ("activation", "recurrent_activation"):
        act = getattr(cfg, what)
        if not isinstance(act, str) or act not in ONNX_ACTIVATIONS:
            return f"{what} {act!r} is not among the ONNX LSTM activations"
    if cfg.cifg and cfg.recurrent_activation not in _SYMMETRIC_GATES:
        return f"cifg with recurrent_activation {cfg.recurrent_activation!r} cannot be rewritten as input_forget"
    return None


@dataclass
class Record:
    """One traced direction: what the lowering needs to replace its placeholder."""

    cfg: LSTMConfig
    weights: DirectionWeights  # detached
    operator: bool  # lowered to the ONNX LSTM operator (input: the layer's x) or to a Scan (input: W_ih x + b)
    masked: bool  # the node has a fourth input, valid (T, B) bool


_RECORDS: Optional[list[Record]] = None


@contextlib.contextmanager
def recording() -> Iterator[list[Record]]:
    """Collect the :class:`Record` of every placeholder traced inside the block (used by lstmkit.export)."""
    global _RECORDS
    previous, _RECORDS = _RECORDS, []
    try:
        yield _RECORDS
    finally:
        _RECORDS = previous


def _compute(rec: Record, inp: Tensor, h0: Tensor, c0: Tensor, valid: Optional[Tensor]) -> DirectionResult:
    a = input_projection(inp, rec.weights, rec.cfg.layer_norm_eps) if rec.operator else inp  # (T, B, G*H)
    noise = Noise(zone_h=float(rec.cfg.zoneout), zone_c=float(rec.cfg.zoneout)) if rec.cfg.zoneout else Noise()
    return recurrence(a, h0, c0, rec.weights, rec.cfg, valid, noise, False)


class _Direction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inp, h0, c0, valid, key):  # noqa: D102  (run for its values, not traced)
        state = torch._C._get_tracing_state()  # the tracer would record the loop inside and lose its outputs
        torch._C._set_tracing_state(None)
        try:
            res = _compute(_RECORDS[key], inp, h0, c0, valid)
        finally:
            torch._C._set_tracing_state(state)
        return res.out, res.h_n, res.c_n

    @staticmethod
    def symbolic(g, inp, h0, c0, valid, key):  # noqa: D102  (the placeholder the lowering replaces)
        args = (inp, h0, c0) if valid is None or _is_none(valid) else (inp, h0, c0, valid)
        return g.op("lstmkit::Direction", *args, key_i=key, outputs=3)


def _is_none(v) -> bool:
    return hasattr(v, "node") and v.node().mustBeNone()


def export_direction(x: Tensor, h0: Tensor, c0: Tensor, w: DirectionWeights, cfg: LSTMConfig,
                     valid: Optional[Tensor], noise: Noise, return_gates: bool) -> DirectionResult:
    """One layer and direction as a placeholder node (see the module docstring). x: (T, B, I)."""
    if _RECORDS is None:
        raise RuntimeError("the onnx backend runs only inside lstmkit.export.onnx(...)")
    if return_gates:
        raise NotImplementedError("return_gates=True cannot be exported to ONNX; export the model's outputs and "
                                  "read gates with lstmkit in PyTorch")
    operator = lstm_operator_reason(cfg) is None
    detached = DirectionWeights(*(None if t is None else t.detach() for t in w))
    _RECORDS.append(Record(cfg, detached, operator, valid is not None))
    inp = x if operator else input_projection(x, w, cfg.layer_norm_eps)  # (T, B, I) or (T, B, G*H)
    out, h_n, c_n = _Direction.apply(inp, h0, c0, valid, len(_RECORDS) - 1)
    return DirectionResult(out, h_n, c_n, None)


class OnnxBackend(Backend):
    name = "onnx"
    description = "placeholders for lstmkit.export.onnx (torch.onnx.export is tracing)"
    priority = 0
    automatic = False  # chosen whenever a request is an export (select_backend), never by "auto"

    def unsupported(self, req: Request) -> Optional[str]:
        if not req.exporting:
            return "runs only while lstmkit.export.onnx traces a model"
        return None

    def run(self, x, h0, c0, lengths, weights, cfg, req):
        if req.training and (cfg.dropout or cfg.recurrent_dropout or cfg.zoneout):
            raise ValueError("an LSTM with dropout, recurrent_dropout or zoneout is being exported in training mode, "
                             "whose random masks ONNX cannot reproduce; call model.eval() first (eval mode exports "
                             "zoneout's expectation and no dropout)")
        return run_stack(export_direction, x, h0, c0, lengths, weights.layers, cfg, False, False)


register(OnnxBackend())
