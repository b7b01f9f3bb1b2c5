"""The one flat, validated description of an LSTM stack that every backend reads."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Union

from .activations import gate_names, is_gate, resolve_activation

Activation = Union[str, Callable]

INITS = ("torch", "keras")


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:  # torch.nn.LSTM's wording
        if minimum == 1:
            raise ValueError(f"{name} must be greater than zero, got {value}")
        raise ValueError(f"{name} should be a positive integer or zero to disable projections, got {value}")


def _check_prob(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__} ({value!r})")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


@dataclass(frozen=True)
class LSTMConfig:
    """Everything that defines an LSTM stack's math; validated on construction.

    >>> LSTMConfig(input_size=8, hidden_size=16, peephole=True).num_gates
    4
    """

    input_size: int  # features per time step of the input
    hidden_size: int  # H: width of the cell state c and of the gates
    num_layers: int = 1  # stacked layers; layer k > 0 reads layer k-1's output
    bias: bool = True  # learn b_ih and b_hh
    batch_first: bool = False  # input/output as (B, T, F) instead of (T, B, F)
    dropout: float = 0.0  # dropout on each layer's output except the last (training only)
    bidirectional: bool = False  # run a second, time-reversed direction and concatenate
    proj_size: int = 0  # P > 0: h_t = W_hr (o * act(c_t)), h has width P (Sak et al. 2014)
    activation: Activation = "tanh"  # applied to the candidate g and to c before the output gate
    recurrent_activation: Activation = "sigmoid"  # applied to the gates i, f, o
    peephole: bool = False  # Gers & Schmidhuber peepholes from c into i, f, o
    layer_norm: bool = False  # Ba et al. 2016 layer-normalised LSTM
    cifg: bool = False  # coupled input-forget gate: i = 1 - f (Greff et al. 2017)
    forget_bias: float = 0.0  # constant added to the forget gate's pre-activation
    recurrent_dropout: float = 0.0  # variational dropout on h_{t-1}, one mask per sequence
    zoneout: float = 0.0  # zoneout probability on h and c (Krueger et al. 2017)
    residual: bool = False  # add each layer's input to its output where widths match
    backend: str = "auto"  # "auto" or a registered backend name
    init: str = "torch"  # "torch" (uniform +-1/sqrt(H)) or "keras" (glorot/orthogonal/unit forget bias)
    layer_norm_eps: float = 1e-5  # epsilon of every layer norm

    def __post_init__(self) -> None:
        _check_int("input_size", self.input_size, 1)
        _check_int("hidden_size", self.hidden_size, 1)
        _check_int("num_layers", self.num_layers, 1)
        _check_int("proj_size", self.proj_size, 0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size has to be smaller than hidden_size ({self.hidden_size}), got {self.proj_size}"
            )
        for name in ("bias", "batch_first", "bidirectional", "peephole", "layer_norm", "cifg", "residual"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        _check_prob("dropout", self.dropout)
        _check_prob("recurrent_dropout", self.recurrent_dropout)
        _check_prob("zoneout", self.zoneout)
        if isinstance(self.forget_bias, bool) or not isinstance(self.forget_bias, (int, float)):
            raise TypeError(f"forget_bias must be a float, got {self.forget_bias!r}")
        if not math.isfinite(self.forget_bias):
            raise ValueError(f"forget_bias must be finite, got {self.forget_bias}")
        if not (isinstance(self.layer_norm_eps, (int, float)) and self.layer_norm_eps > 0):
            raise ValueError(f"layer_norm_eps must be a positive float, got {self.layer_norm_eps!r}")
        resolve_activation(self.activation, "activation")
        resolve_activation(self.recurrent_activation, "recurrent_activation")
        if self.cifg and not is_gate(self.recurrent_activation):
            raise ValueError(
                "cifg couples the gates as i = 1 - f, which needs a recurrent_activation with values in "
                f"[0, 1] (one of {gate_names()}), got {self.recurrent_activation!r}"
            )
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if not isinstance(self.backend, str):
            raise TypeError(f"backend must be a str, got {self.backend!r}")
        if self.residual and self.num_layers == 1 and self.input_size != self.layer_output_size:
            raise ValueError(
                "residual=True adds a layer's input to its output, so it needs equal widths: a single layer "
                f"has input_size={self.input_size} but output width {self.layer_output_size} "
                f"(hidden/proj size x {self.num_directions} directions); use num_layers >= 2 or equal widths"
            )

    # Derived values, never stored, so they cannot go stale.
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def out_size(self) -> int:
        """Width of h (P with a projection, else H)."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def layer_output_size(self) -> int:
        """Width of a layer's output: both directions concatenated."""
        return self.out_size * self.num_directions

    @property
    def num_gates(self) -> int:
        """Rows blocks in the weight matrices: 4 (i, f, g, o), or 3 (f, g, o) with cifg."""
        return 3 if self.cifg else 4

    @property
    def num_peepholes(self) -> int:
        """Rows of weight_ph: 3 (i, f, o), or 2 (f, o) with cifg."""
        return 2 if self.cifg else 3

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.layer_output_size

    def has_residual(self, layer: int) -> bool:
        """Residual connections join every layer whose input and output widths are equal."""
        return self.residual and self.layer_input_size(layer) == self.layer_output_size

    @property
    def is_vanilla_math(self) -> bool:
        """True when the cell is exactly torch.nn.LSTM's (noise aside)."""
        return (
            self.activation == "tanh"
            and self.recurrent_activation == "sigmoid"
            and not (self.peephole or self.layer_norm or self.cifg or self.residual)
            and self.forget_bias == 0.0
        )
