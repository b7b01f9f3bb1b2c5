"""``lstmkit.LSTMCell``: one time step, with the same math and options as :class:`lstmkit.LSTM`."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ..kernels import LSTMConfig, cell_step, input_projection, resolve_activation
from ..kernels.config import keyword_signature
from ..errors import DTypeError, ShapeError
from .params import create_parameters, direction_weights, reset_parameters


class LSTMCell(nn.Module):
    r"""A single LSTM step, mirroring ``torch.nn.LSTMCell`` and offering every :class:`LSTM` variant.

    Stepping a cell through a sequence with a layer's weights gives the layer's output exactly, which is
    what streaming inference needs; :meth:`from_layer` builds such a cell sharing the layer's parameters.

    In training, ``recurrent_dropout`` draws one mask and keeps it across calls (one mask per sequence,
    as in Keras) until :meth:`reset_dropout_mask`; zoneout draws new masks at every step.

    Example:
        >>> cell = LSTMCell(3, 5, peephole=True)
        >>> h, c = cell(torch.randn(2, 3))
        >>> h, c = cell(torch.randn(2, 3), (h, c))
        >>> h.shape
        torch.Size([2, 5])
    """

    # LSTMConfig's options that act within one step: the stack-level ones (residual, backend) do not apply
    OPTIONS = tuple(n for n in ("proj_size", *LSTMConfig.option_names("variant", "setup"))
                    if n not in ("residual", "backend"))

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None,
                 **options) -> None:
        super().__init__()
        LSTMConfig.check_options("LSTMCell.__init__()", options, self.OPTIONS)
        self.config = LSTMConfig(input_size, hidden_size, bias=bias, **options)
        create_parameters(self, self.config, input_size, "", {"device": device, "dtype": dtype})
        self._rec_mask: Optional[Tensor] = None
        # torch's math (recurrent dropout aside, which only acts in training): steps can use its kernel
        self._torch_math = self.config.is_vanilla_math and self.config.zoneout == 0 and self.config.proj_size == 0
        self.reset_parameters()

    __init__.__signature__ = keyword_signature(__init__, OPTIONS)
    __doc__ = (__doc__ or "") + "\n    Options:\n" + LSTMConfig.option_doc(OPTIONS) + "\n"

    input_size = property(lambda self: self.config.input_size)
    hidden_size = property(lambda self: self.config.hidden_size)
    bias = property(lambda self: self.config.bias)

    def reset_parameters(self) -> None:
        reset_parameters(self, self.config, "")

    def reset_dropout_mask(self) -> None:
        """Forget the recurrent dropout mask; the next training step draws a new one."""
        self._rec_mask = None

    @classmethod
    def from_layer(cls, lstm: nn.Module, layer: int = 0, direction: int = 0) -> "LSTMCell":
        """A cell that shares (not copies) the parameters of one layer and direction of an :class:`LSTM`.

        >>> from lstmkit import LSTM
        >>> lstm = LSTM(3, 5).eval()
        >>> cell = LSTMCell.from_layer(lstm).eval()
        >>> x = torch.randn(4, 2, 3)
        >>> state = None
        >>> for x_t in x: state = cell(x_t, state)
        >>> torch.allclose(state[0], lstm(x)[1][0][0], atol=1e-6)
        True
        """
        cfg = lstm.config
        if not 0 <= layer < cfg.num_layers or not 0 <= direction < cfg.num_directions:
            raise ValueError(
                f"no layer {layer}, direction {direction} in an LSTM with {cfg.num_layers} layers and "
                f"{cfg.num_directions} directions"
            )
        weight = lstm.weight_ih_l0
        cell = cls(cfg.layer_input_size(layer), cfg.hidden_size, cfg.bias, device=weight.device, dtype=weight.dtype,
                   **{name: getattr(cfg, name) for name in cls.OPTIONS})
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        for name, _ in list(cell.named_parameters()):
            setattr(cell, name, getattr(lstm, name + suffix))  # share the Parameter objects
        return cell

    def extra_repr(self) -> str:
        return f"{self.config.input_size}, {self.config.hidden_size}"

    def forward(self, input: Tensor, hx: Optional[tuple[Tensor, Tensor]] = None) -> tuple[Tensor, Tensor]:
        """One step. input: (B, I) or (I,); hx: (h, c) of (B, P|H), (B, H) or None for zeros."""
        cfg = self.config
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a Tensor, got {type(input).__name__}")
        if input.dim() not in (1, 2):  # torch.nn.LSTMCell's key phrases first, then lstmkit's explanation
            raise ShapeError(
                f"LSTMCell: Expected input to be 1D or 2D, got {input.dim()}D instead: a 2-D batched input (B, I) "
                f"or a 1-D unbatched input (I,), got shape {tuple(input.shape)}"
            )
        if input.shape[-1] != cfg.input_size:
            raise ShapeError(f"input has inconsistent input_size: got {input.shape[-1]} expected {cfg.input_size} "
                             f"(the cell has input_size={cfg.input_size}; input shape {tuple(input.shape)})")
        if input.dtype != self.weight_ih.dtype:
            raise DTypeError(f"input has dtype {input.dtype} but the cell's parameters are {self.weight_ih.dtype}")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)  # (B, I)
        B = x.shape[0]
        if hx is None:
            h, c = x.new_zeros(B, cfg.out_size), x.new_zeros(B, cfg.hidden_size)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2 or not all(isinstance(t, Tensor) for t in hx):
                raise TypeError("hx must be a tuple (h, c) of two tensors")
            h, c = hx
            for k, (t, width) in enumerate(((h, cfg.out_size), (c, cfg.hidden_size))):
                if t.dim() not in (1, 2):
                    raise ShapeError(f"LSTMCell: Expected hx[{k}] to be 1D or 2D, got {t.dim()}D instead")
                if t.dim() != input.dim():
                    raise ShapeError(f"hx[{k}] is {t.dim()}-D but the input is {input.dim()}-D: batched input "
                                     "needs (B, width) states, unbatched input (width,)")
                if t.shape[-1] != width:
                    raise ShapeError(f"hidden{k} has inconsistent hidden_size: got {t.shape[-1]}, expected {width}")
                if batched and t.shape[0] != B:
                    raise ShapeError(f"Input batch size {B} doesn't match hidden{k} batch size {t.shape[0]}: "
                                     f"hx[{k}] must have shape {(B, width)}, got {tuple(t.shape)}")
                if t.dtype != input.dtype:
                    raise DTypeError(f"hx[{k}] has dtype {t.dtype}, expected the input's {input.dtype}")
            if not batched:
                h, c = h.unsqueeze(0), c.unsqueeze(0)
        w = direction_weights(self, cfg, "")
        # cfg first: a cell without noise never reads self.training (train and eval do not differ)
        if self._torch_math and not (cfg.recurrent_dropout > 0 and self.training):
            # torch.nn.LSTMCell's own fused step: the same math, one call instead of a dozen small ops
            h, c = torch._VF.lstm_cell(x, (h, c), w.w_ih, w.w_hh, w.b_ih, w.b_hh)
            return (h, c) if batched else (h.squeeze(0), c.squeeze(0))
        rec_mask, zone_h, zone_c = None, None, None
        if cfg.recurrent_dropout > 0 and self.training:
            if self._rec_mask is None or self._rec_mask.shape != h.shape:
                keep = 1.0 - cfg.recurrent_dropout
                self._rec_mask = h.new_empty(h.shape).bernoulli_(keep).div_(keep)
            rec_mask = self._rec_mask
        if cfg.zoneout > 0:
            if self.training:
                zone_h = h.new_empty(h.shape).bernoulli_(cfg.zoneout)
                zone_c = c.new_empty(c.shape).bernoulli_(cfg.zoneout)
            else:
                zone_h = zone_c = float(cfg.zoneout)
        a = input_projection(x, w, cfg.layer_norm_eps)  # (B, G*H)
        h, c, _ = cell_step(
            a, h, c, w, act=resolve_activation(cfg.activation), rec_act=resolve_activation(cfg.recurrent_activation),
            cifg=cfg.cifg, forget_bias=cfg.forget_bias, eps=cfg.layer_norm_eps,
            rec_mask=rec_mask, zone_h=zone_h, zone_c=zone_c, cell_clip=cfg.cell_clip, proj_clip=cfg.proj_clip,
        )
        if not batched:
            h, c = h.squeeze(0), c.squeeze(0)
        return h, c
