"""The native backend: PyTorch's own LSTM kernel (oneDNN on CPU, cuDNN on GPU), as torch.nn.LSTM calls it."""

from __future__ import annotations

from typing import Optional

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .config import LSTMConfig
from .registry import Backend, Request, register
from .stack import StackResult


def _kernel_name(device: torch.device, proj_size: int) -> str:
    if device.type == "cuda":
        return "cuDNN" if torch.backends.cudnn.is_available() else "ATen CUDA"
    if device.type == "cpu" and torch.backends.mkldnn.is_available() and proj_size == 0:
        return "oneDNN"  # oneDNN has no projection; torch falls back to its ATen loop for proj_size > 0
    return "ATen"


# variant options native runs at any value: recurrent dropout is the identity in eval (training is refused
# below), and layer_norm_eps means nothing without layer_norm
_NATIVE_ANY_VALUE = frozenset({"recurrent_dropout", "layer_norm_eps"})
_NATIVE_DEFAULTS = tuple((f.name, f.default) for f in LSTMConfig.option_fields("variant")
                         if f.name not in _NATIVE_ANY_VALUE)


class NativeBackend(Backend):
    name = "native"
    description = "torch's fused LSTM kernel"
    priority = 10

    def unsupported(self, req: Request) -> Optional[str]:
        cfg = req.config
        reasons = []
        # torch's cell is LSTMConfig's defaults: any variant option away from its default is something native
        # cannot run (zoneout too: eval uses its expectation, not the plain cell); read from the config's own
        # list, so a new option is refused here without an edit
        for name, default in _NATIVE_DEFAULTS:
            value = getattr(cfg, name)
            if value != default:
                reasons.append(name if isinstance(value, bool) else f"{name}={value!r}")
        if cfg.recurrent_dropout > 0 and req.training:  # identity in eval, so eval can stay native
            reasons.append("recurrent_dropout in training")
        if req.return_gates:
            reasons.append("return_gates")
        if req.vmapped:
            reasons.append("torch.func.vmap (torch's LSTM kernel has no batching rule)")
        if req.capture == "compile" and req.grad and req.device.type == "cpu":
            # torch 2.13's inductor fails on the oneDNN LSTM's autograd decomposition when called from a module
            # (TypeError: expected Tensor() for op mkldnn_rnn_layer); the fused kernel compiles as an opaque op
            reasons.append("torch.compile with autograd on CPU (inductor cannot lower oneDNN's LSTM backward)")
        if not req.dtype.is_floating_point:
            reasons.append(f"dtype {req.dtype}")
        if reasons:
            return " and ".join(reasons) + (" is" if len(reasons) == 1 else " are") + " not supported by native"
        return None

    def _call(self, x, batch_sizes, h0, c0, weights, cfg, req, batch_first=False):
        hx = (h0, c0)
        if batch_sizes is None:
            return torch._VF.lstm(x, hx, list(weights.flat), cfg.bias, cfg.num_layers, float(cfg.dropout),
                                  req.training, cfg.bidirectional, batch_first)
        return torch._VF.lstm(x, batch_sizes, hx, list(weights.flat), cfg.bias, cfg.num_layers,
                              float(cfg.dropout), req.training, cfg.bidirectional)

    def run(self, x, h0, c0, lengths, weights, cfg, req):
        if lengths is None:
            out, h_n, c_n = self._call(x, None, h0, c0, weights, cfg, req)
            return StackResult(out, h_n, c_n, None)
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        data, h_n, c_n = self._call(packed.data, packed.batch_sizes, h0.index_select(1, order),
                                    c0.index_select(1, order), weights, cfg, req)
        out, _ = pad_packed_sequence(packed._replace(data=data), total_length=x.shape[0])  # (T, B, D*P)
        return StackResult(out, h_n.index_select(1, unorder), c_n.index_select(1, unorder), None)

    def run_packed(self, data, batch_sizes, h0, c0, weights, cfg, req):
        out, h_n, c_n = self._call(data, batch_sizes, h0, c0, weights, cfg, req)
        return out, h_n, c_n, None

    def describe(self, req: Request) -> str:
        return f"torch {_kernel_name(req.device, req.config.proj_size)} kernel"


register(NativeBackend())
