"""Parameter names, shapes and initialisation, shared by :class:`LSTM` and :class:`LSTMCell`.

Names and layouts follow ``torch.nn.LSTM`` (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``,
``weight_hr``; gate rows i, f, g, o) so its state_dict loads unchanged; the variants add ``weight_ph``
(peepholes) and ``ln_{ih,hh,c}_{weight,bias}`` (layer norm).
"""

from __future__ import annotations

import functools
import math
from typing import Iterator

import torch
from torch import nn

from ..kernels import DirectionWeights, LSTMConfig

# parameter stem -> DirectionWeights field
STEM_TO_FIELD = {
    "weight_ih": "w_ih",
    "weight_hh": "w_hh",
    "bias_ih": "b_ih",
    "bias_hh": "b_hh",
    "weight_hr": "w_hr",
    "weight_ph": "w_ph",
    "ln_ih_weight": "ln_ih_w",
    "ln_ih_bias": "ln_ih_b",
    "ln_hh_weight": "ln_hh_w",
    "ln_hh_bias": "ln_hh_b",
    "ln_c_weight": "ln_c_w",
    "ln_c_bias": "ln_c_b",
}


def parameter_shapes(cfg: LSTMConfig, input_size: int) -> Iterator[tuple[str, tuple[int, ...]]]:
    """(stem, shape) of one direction's parameters, torch.nn.LSTM's first, in its order."""
    GH, H, P = cfg.num_gates * cfg.hidden_size, cfg.hidden_size, cfg.out_size
    yield "weight_ih", (GH, input_size)
    yield "weight_hh", (GH, P)
    if cfg.bias:
        yield "bias_ih", (GH,)
        yield "bias_hh", (GH,)
    if cfg.proj_size > 0:
        yield "weight_hr", (P, H)
    if cfg.peephole:
        yield "weight_ph", (cfg.num_peepholes, H)
    if cfg.layer_norm:
        for part, width in (("ih", GH), ("hh", GH), ("c", H)):
            yield f"ln_{part}_weight", (width,)
            yield f"ln_{part}_bias", (width,)


def create_parameters(module: nn.Module, cfg: LSTMConfig, input_size: int, suffix: str,
                      factory: dict) -> list[str]:
    """Register one direction's parameters on ``module`` as ``stem + suffix``; return their names."""
    names = []
    for stem, shape in parameter_shapes(cfg, input_size):
        name = stem + suffix
        module.register_parameter(name, nn.Parameter(torch.empty(shape, **factory)))
        names.append(name)
    return names


@functools.lru_cache(maxsize=None)
def _stems(cfg: LSTMConfig) -> tuple[tuple[str, str], ...]:
    """(stem, DirectionWeights field) of the parameters a config has."""
    return tuple((stem, STEM_TO_FIELD[stem]) for stem, _ in parameter_shapes(cfg, 1))


def direction_weights(module: nn.Module, cfg: LSTMConfig, suffix: str) -> DirectionWeights:
    """One direction's weights as the forward pass must read them.

    A weight that ``torch.nn.utils.prune``, ``weight_norm`` or ``parametrize`` has reparametrised is no longer
    in ``module._parameters`` but an attribute computed from ``*_orig``, ``*_g``/``*_v`` or the parametrization;
    ``getattr`` reads it (and autograd reaches the underlying parameters through it).
    """
    # module._parameters first: nn.Module.__getattr__ costs about a microsecond per name, and a streaming
    # cell pays this on every step
    params = module._parameters
    fields = {}
    for stem, field in _stems(cfg):
        name = stem + suffix
        t = params.get(name)
        fields[field] = t if t is not None else getattr(module, name)
    return DirectionWeights(**fields)


def glorot_uniform_(w: torch.Tensor) -> None:
    # Keras' GlorotUniform on its (in, out) kernel; ours is stored transposed as (out, in).
    fan_out, fan_in = w.shape
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(w, -limit, limit)


@torch.no_grad()
def reset_parameters(module: nn.Module, cfg: LSTMConfig, suffix: str) -> None:
    """Initialise one direction: torch.nn.LSTM's scheme or Keras' (``cfg.init``)."""
    H = cfg.hidden_size
    for stem in STEM_TO_FIELD:
        p = getattr(module, stem + suffix, None)
        if p is None:
            continue
        if stem == "weight_ph":
            p.zero_()  # a peephole LSTM starts as the vanilla one
        elif stem.startswith("ln_"):
            p.fill_(1.0 if stem.endswith("weight") else 0.0)
        elif cfg.init == "torch":
            bound = 1.0 / math.sqrt(H)
            p.uniform_(-bound, bound)  # torch.nn.LSTM: U(-1/sqrt(H), 1/sqrt(H)) for every tensor
        elif stem in ("weight_ih", "weight_hr"):
            glorot_uniform_(p)
        elif stem == "weight_hh":
            nn.init.orthogonal_(p)  # Keras' Orthogonal recurrent kernel
        elif stem == "bias_ih":
            p.zero_()
            f_rows = slice(0, H) if cfg.cifg else slice(H, 2 * H)
            p[f_rows] = 1.0  # Keras' unit_forget_bias (Jozefowicz et al. 2015)
        else:  # bias_hh: Keras has a single bias
            p.zero_()
