"""The Keras-style ``LSTM`` layer (every lstmkit variant) and ``Bidirectional``."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from ..kernels.stack import reverse_padded
from ..nn import LSTM as CoreLSTM
from .base import Layer, Shape, register_layer


def mask_to_lengths(mask: Tensor) -> Tensor:
    """(B, T) bool mask of right-padded sequences -> lengths (B,). Raises for gaps or left padding."""
    mask = mask.bool()
    lengths = mask.sum(dim=1)  # (B,)
    T = mask.shape[1]
    expected = torch.arange(T, device=mask.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    if not torch.equal(mask, expected):
        bad = int(torch.nonzero((mask != expected).any(1))[0])
        raise ValueError(f"LSTM masks must mark right-padded sequences (valid steps first, padding last); "
                         f"sequence {bad} has padding before valid steps")
    if mask.shape[0] and int(lengths.min()) == 0:
        bad = int(torch.nonzero(lengths == 0)[0])
        raise ValueError(f"sequence {bad} is entirely padding (length 0)")
    return lengths.cpu()


@register_layer
class LSTM(Layer):
    """Keras' ``LSTM`` layer on lstmkit's fast kernels, with every lstmkit variant.

    Input (batch, time, features); output (batch, units), or (batch, time, units) with
    ``return_sequences``; ``return_state`` adds the final h and c. Keras' initialisers (glorot-uniform kernel,
    orthogonal recurrent kernel, unit forget bias) and Keras' single bias: ``bias_hh`` is a frozen zero. ``dropout`` drops input features with one mask per
    sequence, ``recurrent_dropout`` does the same on h (Gal & Ghahramani 2016). A mask from ``Embedding(...,
    mask_zero=True)`` or ``Masking`` makes each sequence stop at its own end.

    >>> lstm = LSTM(50, activation="relu", input_shape=(100, 1))
    >>> lstm(torch.randn(10, 100, 1)).shape
    torch.Size([10, 50])
    """

    supports_masking = True

    def __init__(self, units: int, activation: str = "tanh", recurrent_activation: str = "sigmoid",
                 use_bias: bool = True, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, unit_forget_bias: bool = True, kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None, peephole: bool = False,
                 layer_norm: bool = False, cifg: bool = False, forget_bias: float = 0.0, zoneout: float = 0.0,
                 proj_size: int = 0, bidirectional: bool = False, backend: str = "auto", **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"LSTM: units must be a positive int, got {units!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LSTM: dropout must be in [0, 1), got {dropout}")
        self.units, self.activation, self.recurrent_activation = units, activation, recurrent_activation
        self.use_bias, self.return_sequences, self.return_state = use_bias, return_sequences, return_state
        self.go_backwards, self.stateful, self.dropout = go_backwards, stateful, dropout
        self.recurrent_dropout, self.unit_forget_bias = recurrent_dropout, unit_forget_bias
        self.kernel_regularizer, self.recurrent_regularizer = kernel_regularizer, recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.variant = dict(peephole=peephole, layer_norm=layer_norm, cifg=cifg, forget_bias=forget_bias,
                            zoneout=zoneout, proj_size=proj_size)
        self.bidirectional, self.backend = bidirectional, backend
        self.lstm: Optional[CoreLSTM] = None
        self._state: Optional[tuple[Tensor, Tensor]] = None
        if self.input_shape_arg is not None:  # validate the options now rather than at the first batch
            self.ensure_built(self.input_shape_arg)

    @property
    def out_width(self) -> int:
        return (self.variant["proj_size"] or self.units) * (2 if self.bidirectional else 1)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"LSTM expects input_shape (timesteps, features) with known features, got "
                             f"{input_shape}")
        self.lstm = CoreLSTM(input_shape[-1], self.units, bias=self.use_bias, batch_first=True,
                             bidirectional=self.bidirectional, activation=self.activation,
                             recurrent_activation=self.recurrent_activation,
                             recurrent_dropout=self.recurrent_dropout, backend=self.backend, init="keras",
                             **self.variant)
        with torch.no_grad():
            for name, p in self.lstm.named_parameters():
                if name.startswith("bias_ih") and not self.unit_forget_bias:
                    p.zero_()
                if name.startswith("bias_hh"):
                    # Keras has one bias per gate; torch's layout has two whose gradients are equal, which
                    # would move the sum twice as fast. b_hh stays a frozen zero (kept for torch's layout).
                    p.zero_()
                    p.requires_grad_(False)
        for name, _ in self.lstm.named_parameters():
            if name.startswith("weight_ih"):
                self.add_l2(f"lstm.{name}", self.kernel_regularizer, "kernel_regularizer")
            elif name.startswith("weight_hh"):
                self.add_l2(f"lstm.{name}", self.recurrent_regularizer, "recurrent_regularizer")
            elif name.startswith("bias_"):
                self.add_l2(f"lstm.{name}", self.bias_regularizer, "bias_regularizer")

    def reset_states(self) -> None:
        """Forget the state a ``stateful`` layer carries between batches."""
        self._state = None

    def _initial_state(self, B: int):
        if not self.stateful or self._state is None:
            return None
        h, c = self._state
        if h.shape[1] < B:
            raise ValueError(f"this stateful LSTM carries state for {h.shape[1]} sequences but got a batch of {B}; "
                             "keep the batch size fixed or call reset_states()")
        return h[:, :B].contiguous(), c[:, :B].contiguous()

    def call(self, x: Tensor, mask: Optional[Tensor] = None):
        if x.dim() != 3:
            raise ValueError(f"LSTM expects (batch, timesteps, features) inputs, got shape {tuple(x.shape)}")
        if x.shape[-1] != self.lstm.input_size:
            raise ValueError(f"LSTM was built for {self.lstm.input_size} features per step, got shape "
                             f"{tuple(x.shape)}")
        lengths = mask_to_lengths(mask) if mask is not None else None
        if self.dropout > 0 and self.training:
            keep = torch.empty(x.shape[0], 1, x.shape[2], device=x.device, dtype=x.dtype).bernoulli_(
                1 - self.dropout)  # (B, 1, I): one mask per sequence
            x = x * keep / (1 - self.dropout)
        if self.go_backwards:
            x = reverse_padded(x.transpose(0, 1), lengths).transpose(0, 1)  # (B, T, I)
        out, (h, c) = self.lstm(x, self._initial_state(x.shape[0]), lengths=lengths)  # out (B, T, D*P)
        if self.stateful:
            self._state = (h.detach(), c.detach())
        if self.return_sequences:
            y = out
        elif self.bidirectional:
            y = torch.cat([h[-2], h[-1]], dim=-1)  # (B, 2P): forward's last output, backward's last output
        else:
            y = h[-1]  # (B, P): each sequence's state at its own last step
        if self.return_state:
            return y, h[-1], c[-1]
        return y

    def compute_mask(self, x: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.out_width) if self.return_sequences else (self.out_width,)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout, "unit_forget_bias": self.unit_forget_bias,
                "kernel_regularizer": self.kernel_regularizer,
                "recurrent_regularizer": self.recurrent_regularizer, "bias_regularizer": self.bias_regularizer,
                **self.variant, "bidirectional": self.bidirectional, "backend": self.backend}


@register_layer
class Bidirectional(Layer):
    """``Bidirectional(LSTM(...), merge_mode="concat")``: forward and backward passes over each sequence
    (within its own length when masked), merged by "concat", "sum", "mul" or "ave".

    Runs as one bidirectional lstmkit LSTM, so both directions use the fast kernels.

    >>> bi = Bidirectional(LSTM(8, return_sequences=True), input_shape=(5, 3))
    >>> bi(torch.randn(2, 5, 3)).shape
    torch.Size([2, 5, 16])
    """

    supports_masking = True
    MERGE_MODES = ("concat", "sum", "mul", "ave")

    def __init__(self, layer: LSTM, merge_mode: str = "concat", **kwargs) -> None:
        if not isinstance(layer, LSTM):
            raise TypeError(f"Bidirectional wraps an lstmkit.layers.LSTM, got {type(layer).__name__}")
        if merge_mode not in self.MERGE_MODES:
            raise ValueError(f"merge_mode must be one of {self.MERGE_MODES}, got {merge_mode!r}")
        if layer.go_backwards or layer.return_state or layer.bidirectional:
            raise ValueError("Bidirectional needs an LSTM without go_backwards, return_state or bidirectional")
        if "input_shape" not in kwargs and layer.input_shape_arg is not None:
            kwargs["input_shape"] = layer.input_shape_arg
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        config = {k: v for k, v in layer.get_config().items() if k not in ("input_shape", "name")}
        self.inner_config = config
        self.layer = LSTM(**{**config, "bidirectional": True})
        if self.input_shape_arg is not None:
            self.ensure_built(self.input_shape_arg)

    def build(self, input_shape: Shape) -> None:
        self.layer.ensure_built(input_shape)

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        y = self.layer(x, mask)  # (..., 2P), forward half first
        if self.merge_mode == "concat":
            return y
        a, b = y.chunk(2, dim=-1)
        return {"sum": a + b, "mul": a * b, "ave": (a + b) / 2}[self.merge_mode]

    def compute_mask(self, x: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        return self.layer.compute_mask(x, mask)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = self.layer.compute_output_shape(input_shape)
        return shape if self.merge_mode == "concat" else (*shape[:-1], shape[-1] // 2)

    def get_config(self) -> dict[str, Any]:
        from .core import serialize_layer

        inner = LSTM(**self.inner_config)
        return {**super().get_config(), "layer": serialize_layer(inner), "merge_mode": self.merge_mode}

    def regularization_loss(self) -> Optional[Tensor]:
        return self.layer.regularization_loss()
