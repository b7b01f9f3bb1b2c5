"""The Keras-style layer base: shapes inferred at build time, masks passed along, JSON configs."""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..kernels.functional import ACTIVATIONS

Shape = tuple[Optional[int], ...]  # without the batch dimension; None = any length

LAYERS: dict[str, type["Layer"]] = {}


def register_layer(cls: type["Layer"]) -> type["Layer"]:
    """Make ``cls`` loadable by name from a saved model config (only registered classes ever are)."""
    LAYERS[cls.__name__] = cls
    return cls


def _softmax(x: Tensor) -> Tensor:
    return torch.softmax(x, dim=-1)


DENSE_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    **{k: v for k, v in ACTIVATIONS.items()}, "softmax": _softmax, "log_softmax": lambda x: F.log_softmax(x, -1),
    "elu": F.elu, "selu": F.selu, "softplus": F.softplus, "swish": F.silu, "silu": F.silu,
    "leaky_relu": F.leaky_relu,
}


def get_activation(name: Optional[Union[str, Callable]]) -> Callable[[Tensor], Tensor]:
    if name is None:
        return lambda x: x
    if callable(name):
        return name
    if name not in DENSE_ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(DENSE_ACTIVATIONS)}")
    return DENSE_ACTIVATIONS[name]


def l2(factor: float) -> dict[str, float]:
    """Keras' ``regularizers.l2(factor)``: adds ``factor * sum(w**2)`` to the training loss."""
    if not factor >= 0:
        raise ValueError(f"l2 factor must be >= 0, got {factor}")
    return {"l2": float(factor)}


def _reg_factor(reg: Any, what: str) -> float:
    if reg is None:
        return 0.0
    if isinstance(reg, (int, float)):
        return float(l2(reg)["l2"])
    if isinstance(reg, dict) and set(reg) == {"l2"}:
        return float(reg["l2"])
    raise ValueError(f"{what} must be None, a number or lstmkit.layers.l2(f), got {reg!r}")


class Layer(nn.Module):
    """A layer whose parameters are created by :meth:`build` once the input shape is known.

    Subclasses implement ``build(input_shape)``, ``call(x, mask)``, ``compute_output_shape`` and
    ``get_config``; ``compute_mask`` passes the mask on when ``supports_masking``.
    """

    supports_masking = False

    def __init__(self, input_shape: Optional[Shape] = None, name: Optional[str] = None) -> None:
        super().__init__()
        self.input_shape_arg: Optional[Shape] = tuple(input_shape) if input_shape is not None else None
        if self.input_shape_arg is not None and not all(d is None or (isinstance(d, int) and d > 0)
                                                        for d in self.input_shape_arg):
            raise ValueError(f"input_shape must hold positive ints or None, got {input_shape}")
        self.name = name
        self.built = False
        self.built_input_shape: Optional[Shape] = None
        self._regularized: list[tuple[str, float]] = []

    def build(self, input_shape: Shape) -> None:
        self.built = True

    def ensure_built(self, input_shape: Shape) -> None:
        if not self.built:
            self.build(tuple(input_shape))
            self.built = True
            self.built_input_shape = tuple(input_shape)

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        self.ensure_built(tuple(x.shape[1:]))
        return self.call(x, mask)

    def compute_mask(self, x: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {}
        if self.input_shape_arg is not None:
            cfg["input_shape"] = list(self.input_shape_arg)
        if self.name is not None:
            cfg["name"] = self.name
        return cfg

    def add_l2(self, param_name: str, reg: Any, what: str) -> None:
        f = _reg_factor(reg, what)
        if f:
            self._regularized.append((param_name, f))

    def regularization_loss(self) -> Optional[Tensor]:
        """The L2 penalty of this layer's regularised weights, or None when it has none."""
        terms = [f * self.get_parameter(pname).pow(2).sum() for pname, f in self._regularized]
        return torch.stack(terms).sum() if terms else None
