"""The ``int8`` backend: PyTorch's dynamic int8 LSTM kernel (fbgemm GEMMs, a C++ loop over time) on the int8
weights of a quantized LSTM (:func:`lstmkit.quantize`).

Weights are int8 with one scale per output row (symmetric, zero point 0); activations are quantized per call
(dynamic quantization, as ``torch.ao.quantization.quantize_dynamic``, whose kernel this is). It runs torch's
cell (vanilla math) in inference; a quantized variant runs its own kernels on the dequantized weights.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .registry import Backend, Request, register
from .stack import StackResult


def _available() -> bool:
    return "fbgemm" in torch.backends.quantized.supported_engines


class Int8Backend(Backend):
    name = "int8"
    description = "torch's dynamic int8 LSTM kernel (fbgemm) on int8 weights"
    priority = 5

    def applies(self, req: Request) -> bool:
        return req.int8

    def unsupported(self, req: Request) -> Optional[str]:
        cfg = req.config
        if not req.int8:
            return "the LSTM is not quantized (lstmkit.quantize)"
        if not _available():
            return "this torch build has no fbgemm quantized engine"
        reasons = []
        if not cfg.is_vanilla_math or cfg.zoneout:
            reasons.append("a variant cell")
        if cfg.proj_size:
            reasons.append("proj_size")
        if req.training or req.grad:
            reasons.append("training or autograd")
        if req.return_gates:
            reasons.append("return_gates")
        if req.device.type != "cpu" or req.dtype != torch.float32:
            reasons.append(f"{req.device.type} {req.dtype}")
        if req.vmapped or req.capture or req.exporting:
            reasons.append("vmap, graph capture or export")
        if reasons:
            return ", ".join(reasons) + " (torch's int8 kernel runs vanilla float32 inference on CPU); the "\
                "dequantized weights run instead"
        return None

    def run(self, x, h0, c0, lengths, weights, cfg, req):
        def call(data, batch_sizes, h, c):
            if batch_sizes is None:
                return torch.quantized_lstm(data, (h, c), list(weights.packed), cfg.bias, cfg.num_layers, 0.0, False,
                                            cfg.bidirectional, False, dtype=torch.qint8, use_dynamic=True)
            return torch.quantized_lstm(data, batch_sizes, (h, c), list(weights.packed), cfg.bias, cfg.num_layers,
                                        0.0, False, cfg.bidirectional, dtype=torch.qint8, use_dynamic=True)

        if lengths is None:
            out, h_n, c_n = call(x, None, h0, c0)
            return StackResult(out, h_n, c_n, None)
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        data, h_n, c_n = call(packed.data, packed.batch_sizes, h0.index_select(1, order), c0.index_select(1, order))
        out, _ = pad_packed_sequence(packed._replace(data=data), total_length=x.shape[0])  # (T, B, D*H)
        return StackResult(out, h_n.index_select(1, unorder), c_n.index_select(1, unorder), None)


register(Int8Backend())
