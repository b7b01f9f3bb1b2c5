"""The LSTM equations, one time step at a time: the specification every backend is held to.

Gate order everywhere is that of ``torch.nn.LSTM``: rows ``[i, f, g, o]`` of ``weight_ih``/``weight_hh``
(Keras calls g the candidate ``c``; the order i, f, c, o is the same). With ``cifg`` the input gate has no
weights and the rows are ``[f, g, o]``. ``docs/equations.md`` writes the same equations out in full.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .activations import ACTIVATIONS, resolve_activation  # noqa: F401  (the table lives there)


class DirectionWeights(NamedTuple):
    """The parameters of one layer and one direction (None where the variant has none)."""

    w_ih: Tensor  # (G*H, I)
    w_hh: Tensor  # (G*H, P or H)
    b_ih: Optional[Tensor] = None  # (G*H,)
    b_hh: Optional[Tensor] = None  # (G*H,)
    w_hr: Optional[Tensor] = None  # (P, H)
    w_ph: Optional[Tensor] = None  # (3, H) rows i, f, o; (2, H) rows f, o with cifg
    ln_ih_w: Optional[Tensor] = None  # (G*H,) layer-norm gain on W_ih x
    ln_ih_b: Optional[Tensor] = None  # (G*H,)
    ln_hh_w: Optional[Tensor] = None  # (G*H,) layer-norm gain on W_hh h
    ln_hh_b: Optional[Tensor] = None  # (G*H,)
    ln_c_w: Optional[Tensor] = None  # (H,) layer-norm gain on c before the output activation
    ln_c_b: Optional[Tensor] = None  # (H,)


class Gates(NamedTuple):
    """Gate activations and cell states of one layer and direction, every time step."""

    i: Tensor  # input gate (1 - f with cifg)
    f: Tensor  # forget gate
    g: Tensor  # candidate cell value
    o: Tensor  # output gate
    c: Tensor  # cell state carried to the next step


# A zoneout "mask" is a 0/1 tensor in training (1 = keep the previous value) or the probability itself in
# eval, where the expectation (1 - p) * new + p * old is used (Krueger et al. 2017, section 3).
Zone = Union[Tensor, float, None]


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    return F.layer_norm(x, weight.shape, weight, bias, eps)  # weight: (N,), the size of x's last axis


def input_projection(x: Tensor, w: DirectionWeights, eps: float) -> Tensor:
    """a_t = [LN](W_ih x_t) + b_ih for all time steps at once. x: (..., I) -> (..., G*H)."""
    a = torch.matmul(x, w.w_ih.t())  # (..., G*H)
    if w.ln_ih_w is not None:
        a = layer_norm(a, w.ln_ih_w, w.ln_ih_b, eps)
    if w.b_ih is not None:
        a = a + w.b_ih
    return a


def cell_step(
    a_t: Tensor,
    h: Tensor,
    c: Tensor,
    w: DirectionWeights,
    *,
    act: Callable[[Tensor], Tensor],
    rec_act: Callable[[Tensor], Tensor],
    cifg: bool,
    forget_bias: float,
    eps: float,
    rec_mask: Optional[Tensor] = None,
    cell_clip: float = 0.0,
    proj_clip: float = 0.0,
    zone_h: Zone = None,
    zone_c: Zone = None,
) -> tuple[Tensor, Tensor, Gates]:
    """One LSTM step from the projected input ``a_t`` (B, G*H), h_{t-1} (B, P|H), c_{t-1} (B, H).

    Returns ``(h_t, c_t, gates)`` where gates holds this step's i, f, g, o and c_t.
    """
    H = c.shape[-1]
    h_in = h if rec_mask is None else h * rec_mask  # variational dropout on h_{t-1} (Gal & Ghahramani 2016)
    b = torch.matmul(h_in, w.w_hh.t())  # (B, G*H)
    if w.ln_hh_w is not None:
        b = layer_norm(b, w.ln_hh_w, w.ln_hh_b, eps)
    if w.b_hh is not None:
        b = b + w.b_hh
    z = a_t + b  # (B, G*H) gate pre-activations
    if cifg:
        z_f, z_g, z_o = z.split(H, dim=-1)  # (B, H) each
        z_i = None
    else:
        z_i, z_f, z_g, z_o = z.split(H, dim=-1)  # (B, H) each
    if forget_bias:
        z_f = z_f + forget_bias  # Jozefowicz et al. 2015
    if w.w_ph is not None:  # peepholes read c_{t-1} into i and f (Gers & Schmidhuber 2000)
        if cifg:
            p_f, p_o = w.w_ph.unbind(0)
        else:
            p_i, p_f, p_o = w.w_ph.unbind(0)
            z_i = z_i + p_i * c
        z_f = z_f + p_f * c
    f = rec_act(z_f)  # f_t = s(z_f)
    i = 1.0 - f if cifg else rec_act(z_i)  # i_t = s(z_i), or 1 - f_t coupled (Greff et al. 2017)
    g = act(z_g)  # g_t = act(z_g)
    c_new = f * c + i * g  # c_t = f_t * c_{t-1} + i_t * g_t
    if cell_clip:
        c_new = c_new.clamp(-cell_clip, cell_clip)  # c_t clipped to [-v, v] (Sak et al. 2014)
    if w.w_ph is not None:
        z_o = z_o + p_o * c_new  # the output gate peeks at the new cell state c_t
    o = rec_act(z_o)  # o_t = s(z_o)
    c_out = layer_norm(c_new, w.ln_c_w, w.ln_c_b, eps) if w.ln_c_w is not None else c_new
    h_new = o * act(c_out)  # h_t = o_t * act([LN](c_t))
    if w.w_hr is not None:
        h_new = torch.matmul(h_new, w.w_hr.t())  # (B, P) projection h_t = W_hr h_t
        if proj_clip:
            h_new = h_new.clamp(-proj_clip, proj_clip)  # the projected h_t clipped to [-v, v]
    # Zoneout keeps each unit's previous value with probability p: new + mask * (old - new).
    if zone_c is not None:
        c_new = c_new + zone_c * (c - c_new)
    if zone_h is not None:
        h_new = h_new + zone_h * (h - h_new)
    return h_new, c_new, Gates(i, f, g, o, c_new)
