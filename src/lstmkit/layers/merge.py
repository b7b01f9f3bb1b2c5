"""Keras' merge layers: ``Concatenate``, ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum``. They take a list of tensors; masks combine as in Keras (a step is valid where every masked input
is valid; concatenating along the time axis concatenates the masks).

>>> import torch
>>> Concatenate()([torch.ones(2, 3), torch.zeros(2, 4)]).shape
torch.Size([2, 7])
>>> Add()([torch.ones(2, 3), torch.ones(2, 3)]).sum().item()
12.0
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from .base import Layer, Shape, register_layer


def _and_masks(masks: Optional[Sequence[Optional[Tensor]]]) -> Optional[Tensor]:
    given = [m.bool() for m in (masks or []) if m is not None]
    if not given:
        return None
    out = given[0]
    for m in given[1:]:
        out = out & m
    return out


class _Merge(Layer):
    supports_masking = True
    multi_input = True
    min_inputs = 2

    def _check_list(self, shapes: Sequence[Shape]) -> None:
        if not isinstance(shapes, (list, tuple)) or len(shapes) < self.min_inputs:
            raise ValueError(f"{type(self).__name__} takes a list of at least {self.min_inputs} inputs, got "
                             f"{len(shapes) if isinstance(shapes, (list, tuple)) else type(shapes).__name__}")

    def build(self, input_shape: Sequence[Shape]) -> None:
        self._check_list(input_shape)
        self.output_shape_for(input_shape)  # raises for incompatible shapes

    def output_shape_for(self, input_shape: Sequence[Shape]) -> Shape:
        self._check_list(input_shape)
        ranks = {len(s) for s in input_shape}
        if len(ranks) != 1:
            raise ValueError(f"{type(self).__name__}: inputs of different ranks {[tuple(s) for s in input_shape]}")
        out = []
        for dims in zip(*input_shape):
            known = {d for d in dims if d is not None and d != 1}
            if len(known) > 1:
                raise ValueError(f"{type(self).__name__}: inputs of incompatible shapes "
                                 f"{[tuple(s) for s in input_shape]}")
            out.append(known.pop() if known else (1 if all(d == 1 for d in dims) else None))
        return tuple(out)

    def compute_output_shape(self, input_shape: Sequence[Shape]) -> Shape:
        return (input_shape[0][0], *self.output_shape_for([tuple(s[1:]) for s in input_shape]))

    def compute_mask(self, x: Any, mask: Any) -> Optional[Tensor]:
        return _and_masks(mask)

    def call(self, x: list[Tensor], mask: Any = None) -> Tensor:
        self._check_list([t.shape for t in x])
        return self.merge(x)

    def merge(self, x: list[Tensor]) -> Tensor:
        raise NotImplementedError


@register_layer
class Add(_Merge):
    """The element-wise sum of the inputs (residual connections)."""

    def merge(self, x: list[Tensor]) -> Tensor:
        out = x[0]
        for t in x[1:]:
            out = out + t
        return out


@register_layer
class Subtract(_Merge):
    """``x[0] - x[1]``: exactly two inputs."""

    def _check_list(self, shapes: Sequence[Shape]) -> None:
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 2:
            raise ValueError("Subtract takes a list of exactly 2 inputs")

    def merge(self, x: list[Tensor]) -> Tensor:
        return x[0] - x[1]


@register_layer
class Multiply(_Merge):
    """The element-wise product of the inputs (gating)."""

    def merge(self, x: list[Tensor]) -> Tensor:
        out = x[0]
        for t in x[1:]:
            out = out * t
        return out


@register_layer
class Average(_Merge):
    """The element-wise mean of the inputs (ensembles inside one model)."""

    def merge(self, x: list[Tensor]) -> Tensor:
        return torch.stack(torch.broadcast_tensors(*x)).mean(dim=0)


@register_layer
class Maximum(_Merge):
    """The element-wise maximum of the inputs."""

    def merge(self, x: list[Tensor]) -> Tensor:
        return torch.stack(torch.broadcast_tensors(*x)).amax(dim=0)


@register_layer
class Minimum(_Merge):
    """The element-wise minimum of the inputs."""

    def merge(self, x: list[Tensor]) -> Tensor:
        return torch.stack(torch.broadcast_tensors(*x)).amin(dim=0)


@register_layer
class Concatenate(_Merge):
    """The inputs joined along ``axis`` (default -1, the features); every other axis must agree. Keras' rule
    for masks: joined along the time axis, the masks are joined too; otherwise a step is valid where every
    masked input is valid."""

    min_inputs = 1

    def __init__(self, axis: int = -1, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            raise ValueError(f"Concatenate: axis must be a non-zero int (axis 0 is the batch), got {axis!r}")
        self.axis = axis

    def _inner_axis(self, rank: int) -> int:
        """The axis in shapes without the batch dimension."""
        a = self.axis + rank + 1 if self.axis < 0 else self.axis
        if not 1 <= a <= rank:
            raise ValueError(f"Concatenate: axis {self.axis} is out of range for inputs of rank {rank + 1}")
        return a - 1

    def output_shape_for(self, input_shape: Sequence[Shape]) -> Shape:
        self._check_list(input_shape)
        shapes = [tuple(s) for s in input_shape]
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise ValueError(f"Concatenate: inputs of different ranks {shapes}")
        a = self._inner_axis(ranks.pop())
        out = list(shapes[0])
        for i in range(len(out)):
            if i == a:
                out[i] = None if any(s[i] is None for s in shapes) else sum(s[i] for s in shapes)
                continue
            known = {s[i] for s in shapes if s[i] is not None}
            if len(known) > 1:
                raise ValueError(f"Concatenate on axis {self.axis}: inputs must agree on every other axis, "
                                 f"got {shapes}")
            out[i] = known.pop() if known else None
        return tuple(out)

    def compute_mask(self, x: Any, mask: Any) -> Optional[Tensor]:
        if mask is None or all(m is None for m in mask):
            return None
        rank = x[0].dim() - 1
        if self._inner_axis(rank) == 0:  # along the steps: the masks follow their steps
            full = [m.bool() if m is not None else torch.ones(t.shape[:2], dtype=torch.bool, device=t.device)
                    for t, m in zip(x, mask)]
            return torch.cat(full, dim=1)
        return _and_masks(mask)

    def merge(self, x: list[Tensor]) -> Tensor:
        self.output_shape_for([tuple(t.shape[1:]) for t in x])
        return torch.cat(x, dim=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


__all__ = ["Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply", "Subtract"]
