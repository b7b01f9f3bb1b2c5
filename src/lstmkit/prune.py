"""Pruning LSTMs: magnitude (unstructured) and whole hidden units (structured), for fine-tuning afterwards.

* :func:`magnitude` zeroes the smallest weights of every LSTM weight matrix with ``torch.nn.utils.prune``
  (masks kept during fine-tuning, so pruned weights stay zero); :func:`finalize` makes it permanent.
* :func:`units` removes whole hidden units from every lstmkit.LSTM of a model (the rows of the four gates in
  ``W_ih`` and ``W_hh``, the unit's column of ``W_hh``, its peephole, layer-norm and projection entries, and
  the inputs of whatever reads the layer's output: the next LSTM layer, a Dense layer), so the result is
  simply a smaller LSTM that runs faster. Units are ranked by the L2 norm of every weight into and out of them
  (a magnitude criterion, as in Han et al. 2015 and Wen et al. 2018's structured sparsity for LSTMs), per layer
  and direction.
"""

from __future__ import annotations

import copy
import logging
from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn.utils import prune as torch_prune

from .kernels.config import LSTMConfig
from .nn import LSTM
from .nn.layer import _suffix
from .nn.params import parameter_shapes
from .nn.quantized import QuantizedLSTM

log = logging.getLogger(__name__)

_MATRICES = ("weight_ih", "weight_hh", "weight_hr")


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1) (the share removed; 1 would remove everything), got {value!r}")
    return float(value)


def _lstms(model: nn.Module) -> list[LSTM]:
    found = [m for m in model.modules() if isinstance(m, LSTM)]
    if any(isinstance(m, QuantizedLSTM) for m in found):
        raise ValueError("prune the float model, then quantize: this model holds a QuantizedLSTM")
    if not found:
        raise ValueError(f"{type(model).__name__} holds no lstmkit.LSTM to prune")
    return found


def magnitude(model: nn.Module, sparsity: float, *, global_: bool = True) -> nn.Module:
    """Zero the fraction ``sparsity`` of the smallest-magnitude LSTM weights (``weight_ih``, ``weight_hh``,
    ``weight_hr``; biases and gains are kept), in place; across all of them (``global_``) or per matrix.
    The masks stay on (``torch.nn.utils.prune``), so fine-tuning keeps the pruned weights at zero; call
    :func:`finalize` before saving.

    >>> lstm = magnitude(LSTM(4, 16), 0.5)
    >>> round(float((lstm.weight_hh_l0 == 0).float().mean()), 1) >= 0.3
    True
    """
    sparsity = _check_fraction("sparsity", sparsity)
    targets = [(m, n) for m in _lstms(model) for names in m._names for d in names for n in d
               if n.startswith(_MATRICES)]
    if global_:
        torch_prune.global_unstructured(targets, pruning_method=torch_prune.L1Unstructured, amount=sparsity)
    else:
        for m, n in targets:
            torch_prune.l1_unstructured(m, n, amount=sparsity)
    return model


def finalize(model: nn.Module) -> nn.Module:
    """Make :func:`magnitude`'s masks permanent (plain parameters with zeros), so the model saves and loads."""
    for m in model.modules():
        if isinstance(m, LSTM):
            for names in m._names:
                for d in names:
                    for n in d:
                        if torch_prune.is_pruned(m) and hasattr(m, n + "_mask"):
                            torch_prune.remove(m, n)
    return model


def sparsity(model: nn.Module) -> float:
    """The fraction of zeros among the LSTM weight matrices of ``model``."""
    zeros = total = 0
    for m in _lstms(model):
        for names in m._names:
            for d in names:
                for n in d:
                    if n.startswith(_MATRICES):
                        w = getattr(m, n)
                        zeros += int((w == 0).sum())
                        total += w.numel()
    return zeros / max(total, 1)


# --- structured: whole hidden units ------------------------------------------------------------------------

def _keep_units(m: LSTM, layer: int, keep: int) -> list[Tensor]:
    """Per direction, the indices (sorted) of the ``keep`` hidden units with the largest weight norms."""
    cfg, H = m.config, m.config.hidden_size
    out = []
    for d in range(cfg.num_directions):
        sfx = _suffix(layer, d)
        w_ih, w_hh = getattr(m, "weight_ih" + sfx).detach(), getattr(m, "weight_hh" + sfx).detach()
        G = w_ih.shape[0] // H
        score = (w_ih.view(G, H, -1) ** 2).sum((0, 2)) + (w_hh.view(G, H, -1) ** 2).sum((0, 2))  # (H,) rows in
        if cfg.proj_size:
            score = score + (getattr(m, "weight_hr" + sfx).detach() ** 2).sum(0)  # the unit's projection column
        else:
            score = score + (w_hh ** 2).sum(0)  # (H,) the unit's recurrent column out
        out.append(torch.sort(torch.topk(score, keep).indices).values)
    return out


def _gate_rows(idx: Tensor, H: int, G: int) -> Tensor:
    return torch.cat([idx + g * H for g in range(G)])  # the kept units' rows in each gate block


def _shrink_lstm(m: LSTM, fraction: float, in_keep: Optional[Tensor]) -> tuple[LSTM, Optional[Tensor]]:
    """A smaller copy of ``m`` without ``fraction`` of each layer's units; ``in_keep``: the input features kept
    (from a pruned layer before it). Returns it and the output features kept (None: all)."""
    cfg = m.config
    H, P, D = cfg.hidden_size, cfg.proj_size, cfg.num_directions
    new_H = max(1, round(H * (1.0 - fraction)))
    kept = [_keep_units(m, k, new_H) for k in range(cfg.num_layers)]  # kept[layer][direction]: unit indices
    if P and new_H <= P:
        raise ValueError(f"pruning {fraction:.0%} of {H} units leaves {new_H}, not more than proj_size={P}")
    fields = {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}
    fields["hidden_size"] = new_H
    if in_keep is not None:
        fields["input_size"] = len(in_keep)
    if cfg.residual and new_H != H and not P:
        raise ValueError("structured pruning of a residual stack would change the widths the residual sums need")
    new_cfg = LSTMConfig(**fields)
    p = next(m.parameters())
    small = LSTM.from_config(new_cfg, device=p.device, dtype=p.dtype)
    G = cfg.num_gates
    with torch.no_grad():
        for k in range(cfg.num_layers):
            if k == 0:
                cols_in = in_keep
            elif P:
                cols_in = None  # the layer below's output is its projection: unchanged
            else:
                cols_in = torch.cat([kept[k - 1][d] + d * H for d in range(D)])  # both directions' kept units
            for d in range(D):
                sfx, idx = _suffix(k, d), kept[k][d]
                rows = _gate_rows(idx, H, G)
                src = {stem: getattr(m, stem + sfx) for stem, _ in parameter_shapes(cfg, 1)}
                for stem, t in src.items():
                    t = t.detach()
                    if stem == "weight_ih":
                        t = t[rows] if cols_in is None else t[rows][:, cols_in]
                    elif stem == "weight_hh":
                        t = t[rows] if P else t[rows][:, idx]
                    elif stem in ("bias_ih", "bias_hh", "ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias"):
                        t = t[rows]
                    elif stem == "weight_ph":
                        t = t[:, idx]
                    elif stem in ("ln_c_weight", "ln_c_bias"):
                        t = t[idx]
                    elif stem == "weight_hr":
                        t = t[:, idx]
                    new, old = getattr(small, stem + sfx), src[stem]
                    new.copy_(t)
                    new.requires_grad_(old.requires_grad)  # Keras layers freeze their structural zero b_hh
                    if hasattr(old, "_lstmkit_structural"):
                        new._lstmkit_structural = old._lstmkit_structural
    last = kept[-1]
    out_keep = None if P else torch.cat([last[d] + d * H for d in range(D)])
    return small.train(m.training), out_keep


def units(model: nn.Module, fraction: float) -> nn.Module:
    """A copy of ``model`` with ``fraction`` of every LSTM layer's hidden units removed (see the module
    docstring); fine-tune it afterwards (``model.fit`` for Keras-style models).

    Works on a bare :class:`lstmkit.LSTM` (all its layers; its output narrows unless it has a projection) and
    on Keras-style ``Sequential`` models whose pruned LSTM layers feed LSTM, Bidirectional or Dense layers
    (through dropout, activation, masking and global pooling layers).

    >>> small = units(LSTM(4, 20, num_layers=2), 0.5)
    >>> small.hidden_size, small.weight_ih_l1.shape
    (10, torch.Size([40, 10]))
    """
    fraction = _check_fraction("fraction", fraction)
    _lstms(model)
    if isinstance(model, LSTM):
        return _shrink_lstm(model, fraction, None)[0]
    from .models import Model, Sequential

    if not isinstance(model, Sequential):
        kind = "functional Model" if isinstance(model, Model) else type(model).__name__
        raise NotImplementedError(f"structured pruning rewires layers of an lstmkit Sequential model or a bare "
                                  f"lstmkit.LSTM; a {kind} needs its consumers rewired by hand: prune its "
                                  "lstmkit.LSTM with units() and slice the next layer's input weights")
    out = copy.deepcopy(model)
    _prune_sequential(out, fraction)
    if getattr(out, "trainer", None) is not None:  # its optimizer holds the old parameters
        if out.compile_config:
            out.compile(**out.compile_config)
        else:
            out.trainer = None
            log.warning("the pruned model's compile settings are not JSON-describable: compile it again before fit")
    return out


def _prune_sequential(model, fraction: float) -> None:
    from .layers import Bidirectional, Dense
    from .layers.recurrent import LSTM as KerasLSTM

    passthrough = ("Dropout", "SpatialDropout1D", "Activation", "Masking", "GlobalAveragePooling1D",
                   "GlobalMaxPooling1D", "GaussianNoise", "ActivityRegularization")
    keep: Optional[Tensor] = None  # the features the previous pruned layer still outputs
    for layer in model.layers:
        inner = layer.layer if isinstance(layer, Bidirectional) else layer
        if isinstance(inner, KerasLSTM):
            inner.lstm, keep_out = _shrink_lstm(inner.lstm, fraction, keep)
            inner.units = inner.lstm.hidden_size
            if isinstance(layer, Bidirectional):  # its config rebuilds the wrapped layer from these arguments
                layer.inner_config = {**layer.inner_config, "units": inner.units}
            keep = keep_out
        elif isinstance(layer, Dense):
            if keep is not None:
                with torch.no_grad():
                    old = layer.linear
                    new = nn.Linear(len(keep), old.out_features, bias=old.bias is not None, device=old.weight.device,
                                    dtype=old.weight.dtype)
                    new.weight.copy_(old.weight[:, keep])
                    if old.bias is not None:
                        new.bias.copy_(old.bias)
                    layer.linear = new
            keep = None
        elif type(layer).__name__ in passthrough:
            continue
        elif keep is not None:
            raise NotImplementedError(f"structured pruning: a pruned LSTM feeds a {type(layer).__name__} layer, "
                                      "whose weights this cannot rewire (LSTM, Bidirectional and Dense can)")
        else:
            keep = None
    if keep is not None:
        raise ValueError("the model ends with a pruned LSTM layer, so its output would narrow; add the Dense head "
                         "or prune a bare lstmkit.LSTM")
