"""A kernel's inputs, options, saved state and gradients for one layer and direction, by name.

These structures are the contract between the Python side of a backend and its compiled kernel: the fused
CPU kernel reads :class:`KernelInputs` and :class:`CellOptions` by attribute name (``csrc/kernel_io.h`` and
``csrc/lstm_cell.h`` declare the same names; :func:`check_fields` compares them when the extension loads),
and returns dicts keyed by the names of :class:`KernelSaved` and of the inputs it differentiates. No list
on either side depends on an argument order, so a variant that needs a new tensor adds one field here and
one entry in ``kernel_io.h``.

Absent optional tensors are ``None``. Shapes: T steps, B sequences, H cell units, P = proj_size or H, G = 4
gate blocks ([i, f, g, o]), or 3 with ``cifg`` ([f, g, o]).

>>> from lstmkit.kernels.boundary import KernelInputs, CellOptions
>>> sorted(set(KernelInputs._fields) - set(DIFFERENTIABLE))
['rec_mask', 'valid', 'zone_c', 'zone_h']
>>> CellOptions(act=0, rec_act=1).cell_clip
0.0
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Optional

import torch
from torch import Tensor

from . import activations
from .config import LSTMConfig


class CellOptions(NamedTuple):
    """The cell's options, as the kernel's ``CellOptions`` struct holds them (``LSTMKIT_CELL_OPTIONS``)."""

    act: int  # activation id of g and of c in h = o * act(c) (activations.py)
    rec_act: int  # activation id of the gates i, f, o
    cifg: bool = False  # coupled input and forget gates: i = 1 - f
    eps: float = 1e-5  # the layer norms' epsilon
    zone_p: float = 0.0  # zoneout's eval probability (0 in training, where masks are given)
    cell_clip: float = 0.0  # clip c_t to [-v, v]; 0 = off
    proj_clip: float = 0.0  # clip the projected h_t to [-v, v]; 0 = off

    @classmethod
    def of(cls, cfg: LSTMConfig, zone_p: float = 0.0) -> "CellOptions":
        """The options of ``cfg`` (its activations must have kernel ids, see :mod:`.activations`)."""
        return cls(act=activations.kernel_id(cfg.activation), rec_act=activations.kernel_id(cfg.recurrent_activation),
                   cifg=cfg.cifg, eps=float(cfg.layer_norm_eps), zone_p=float(zone_p),
                   cell_clip=float(cfg.cell_clip), proj_clip=float(cfg.proj_clip))


class KernelInputs(NamedTuple):
    """One layer and direction's tensors, time-major. The order is only that of ``autograd.Function.apply``;
    kernels read the fields by name."""

    a: Tensor  # (T, B, G*H) input projection W_ih x_t; holds every bias too unless ln_ih is given
    h0: Tensor  # (B, P)
    c0: Tensor  # (B, H)
    w_hh: Tensor  # (G*H, P)
    w_hr: Optional[Tensor] = None  # (P, H) projection
    w_ph: Optional[Tensor] = None  # ((G-1)*H,) peephole rows [i,] f, o
    ln_hh_w: Optional[Tensor] = None  # (G*H,) recurrent layer norm gain
    ln_hh_b: Optional[Tensor] = None  # (G*H,) its bias, b_hh added
    ln_c_w: Optional[Tensor] = None  # (H,) cell-state layer norm gain, bias
    ln_c_b: Optional[Tensor] = None
    ln_ih_w: Optional[Tensor] = None  # (G*H,) input layer norm gain, bias
    ln_ih_b: Optional[Tensor] = None
    bias: Optional[Tensor] = None  # (G*H,) constant added after ln_ih (without ln_ih it is folded into a)
    rec_mask: Optional[Tensor] = None  # (B, P) recurrent dropout mask, scaled
    zone_h: Optional[Tensor] = None  # (T, B, P) zoneout keep-masks (training)
    zone_c: Optional[Tensor] = None  # (T, B, H)
    valid: Optional[Tensor] = None  # (T, B) bool: step t lies within sequence b

    def contiguous(self) -> "KernelInputs":
        """Every present tensor contiguous (the kernel indexes raw memory)."""
        return KernelInputs(*(None if t is None else t.contiguous() for t in self))

    def get(self, name: str) -> Optional[Tensor]:
        """The field ``name``, None where absent or empty."""
        t = getattr(self, name)
        return t if t is not None and t.numel() else None


# The masks and lengths are constants; the backward pass returns a gradient for every other input.
CONSTANTS = ("rec_mask", "zone_h", "zone_c", "valid")
DIFFERENTIABLE = tuple(name for name in KernelInputs._fields if name not in CONSTANTS)


class KernelSaved(NamedTuple):
    """What the fused kernel's forward pass keeps for its backward pass (see ``kernel_io.h`` for shapes)."""

    h_all: Tensor  # (T+1, B, P) h_0..h_T
    c_all: Tensor  # (T+1, B, H) c_0..c_T
    z: Tensor  # pre-activations, kept for GELU only
    gates: Tensor  # (T, B, G*H) gate activations
    c_new: Tensor  # c_t before zoneout
    h_raw: Tensor  # o * act(c) before the projection
    mean_hh: Tensor  # the layer norms' row statistics
    rstd_hh: Tensor
    mean_c: Tensor
    rstd_c: Tensor
    mean_ih: Tensor
    rstd_ih: Tensor
    gh: Tensor  # W_hh h_{t-1}, where the forward stored it
    h_proj: Tensor  # the clipped projection (proj_clip)


def saved_from(result: Mapping[str, Tensor]) -> KernelSaved:
    """The saved state out of a kernel's forward result (a dict that also holds ``out``)."""
    return KernelSaved(**{name: result[name] for name in KernelSaved._fields})


def grads_in_input_order(grads: Mapping[str, Tensor]) -> tuple[Optional[Tensor], ...]:
    """A kernel's gradient dict as one entry per :class:`KernelInputs` field: None for the constants and for
    absent inputs (an empty tensor)."""
    out = []
    for name in KernelInputs._fields:
        g = grads.get(name)
        out.append(g if g is not None and g.numel() else None)
    return tuple(out)


def check_fields(module: Any) -> None:
    """The compiled kernel's field lists (``module.fields()``) must name what this module names: a field one
    side has and the other lacks would be read as absent, or not at all."""
    theirs = dict(module.fields())
    ours = {"inputs": KernelInputs._fields, "saved": KernelSaved._fields, "grads": DIFFERENTIABLE,
            "options": CellOptions._fields}
    wrong = {k: (sorted(set(v) - set(theirs.get(k, ()))), sorted(set(theirs.get(k, ())) - set(v)))
             for k, v in ours.items() if set(v) != set(theirs.get(k, ()))}
    if wrong:
        raise RuntimeError("the kernel's boundary disagrees with kernels/boundary.py (list: (only here, only in "
                           f"the kernel)) {wrong}; rebuild the extension")


def empty_like_absent(t: Optional[Tensor]) -> Tensor:
    """An empty tensor for an absent one (what older kernels took)."""
    return torch.empty(0) if t is None else t
