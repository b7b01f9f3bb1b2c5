"""Losses by Keras name, with Keras' conventions, and a check that the loss fits the model's output.

Losses are called torch-style, ``loss(y_pred, y_true)``, and return the batch mean. Like Keras, the
cross-entropies take probabilities by default (the output of a softmax or sigmoid layer), clipped to
[1e-7, 1 - 1e-7]; pass ``from_logits=True`` to give them raw scores.

>>> import torch
>>> loss = get_loss("sparse_categorical_crossentropy")
>>> round(float(loss(torch.tensor([[0.25, 0.75]]), torch.tensor([1]))), 4)
0.2877
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .optim import split_named_spec

EPS = 1e-7  # Keras' backend epsilon


class LossShapeError(ValueError):
    """The targets do not fit the loss or the model's output."""


class Loss(nn.Module):
    """Base class: ``check(y_pred, y_true)`` raises a clear error; ``elementwise`` gives the unreduced loss
    values (Keras' per-sample values, the class axis already summed), and ``forward`` their mean, weighted by
    ``sample_weight`` the Keras way: ``sum(values * w) / values.numel()`` (Keras' "sum_over_batch_size")."""

    name = "loss"

    def check(self, y_pred: Tensor, y_true: Tensor) -> None:
        if _squeeze_last(y_pred).shape != _squeeze_last(y_true).shape:
            raise LossShapeError(f"{self.name}: the model outputs shape {tuple(y_pred.shape)} but y has shape "
                                 f"{tuple(y_true.shape)}; they must match (the last layer's units = y's width)")

    def elementwise(self, y_pred: Tensor, y_true: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, y_pred: Tensor, y_true: Tensor, sample_weight: Optional[Tensor] = None) -> Tensor:
        return weighted_mean(self.elementwise(y_pred, y_true), sample_weight, self.name)

    def get_config(self) -> dict[str, Any]:
        return {}


def weighted_mean(values: Tensor, sample_weight: Optional[Tensor], what: str = "loss") -> Tensor:
    """``values.mean()``, or with weights of shape (batch,) or (batch, time...) Keras' weighted reduction
    ``sum(values * w) / values.numel()`` (the weights broadcast over the trailing axes).

    >>> weighted_mean(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0]))
    tensor(1.)
    """
    if sample_weight is None:
        return values.mean()
    w = sample_weight.to(values.dtype)
    while w.dim() > values.dim() and w.shape[-1] == 1:
        w = w.squeeze(-1)
    if w.dim() > values.dim() or tuple(w.shape) != tuple(values.shape[: w.dim()]):
        raise LossShapeError(f"{what}: sample weights of shape {tuple(sample_weight.shape)} do not fit the loss "
                             f"values of shape {tuple(values.shape)}; give one weight per sample (batch,) or "
                             "per sample and step (batch, time)")
    w = w.reshape(*w.shape, *([1] * (values.dim() - w.dim())))
    return (values * w).sum() / max(values.numel(), 1)


def _squeeze_last(t: Tensor) -> Tensor:
    return t.squeeze(-1) if t.dim() > 1 and t.shape[-1] == 1 else t


def _align(y_pred: Tensor, y_true: Tensor) -> tuple[Tensor, Tensor]:
    y_true = y_true.to(y_pred.dtype)
    if y_pred.shape != y_true.shape:
        y_pred, y_true = _squeeze_last(y_pred), _squeeze_last(y_true)
    return y_pred, y_true


class MeanSquaredError(Loss):
    name = "mse"

    def elementwise(self, y_pred: Tensor, y_true: Tensor) -> Tensor:
        return F.mse_loss(*_align(y_pred, y_true), reduction="none")


class MeanAbsoluteError(Loss):
    name = "mae"

    def elementwise(self, y_pred: Tensor, y_true: Tensor) -> Tensor:
        return F.l1_loss(*_align(y_pred, y_true), reduction="none")


class Huber(Loss):
    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = delta

    def elementwise(self, y_pred: Tensor, y_true: Tensor) -> Tensor:
        return F.huber_loss(*_align(y_pred, y_true), delta=self.delta, reduction="none")

    def get_config(self) -> dict[str, Any]:
        return {"delta": self.delta}


class _ProbabilisticLoss(Loss):
    """A loss on probabilities by default, on raw scores with ``from_logits=True``."""

    def __init__(self, from_logits: bool = False) -> None:
        super().__init__()
        self.from_logits = from_logits

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


class BinaryCrossentropy(_ProbabilisticLoss):
    name = "binary_crossentropy"

    def check(self, y_pred: Tensor, y_true: Tensor) -> None:
        super().check(y_pred, y_true)
        if y_true.numel() and (y_true.min() < 0 or y_true.max() > 1):
            raise LossShapeError(f"{self.name}: y must lie in [0, 1], found values in "
                                 f"[{float(y_true.min())}, {float(y_true.max())}]")

    def elementwise(self, y_pred: Tensor, y_true: Tensor) -> Tensor:
        p, y = _align(y_pred, y_true)
        if self.from_logits:
            return F.binary_cross_entropy_with_logits(p, y, reduction="none")
        p = p.clamp(EPS, 1 - EPS)
        return -(y * p.log() + (1 - y) * (1 - p).log())


class CategoricalCrossentropy(_ProbabilisticLoss):
    name = "categorical_crossentropy"

    def check(self, y_pred: Tensor, y_true: Tensor) -> None:
        if y_pred.shape != y_true.shape:
            raise LossShapeError(f"{self.name}: y must be one-hot with the output's shape {tuple(y_pred.shape)}, "
                                 f"got {tuple(y_true.shape)} (integer labels need "
                                 "'sparse_categorical_crossentropy')")

    def elementwise(self, y_pred: Tensor, y_true: Tensor) -> Tensor:
        y = y_true.to(y_pred.dtype)
        if self.from_logits:
            logp = F.log_softmax(y_pred, dim=-1)
        else:
            p = y_pred / y_pred.sum(-1, keepdim=True)
            logp = p.clamp(EPS, 1 - EPS).log()
        return -(y * logp).sum(-1)  # (...): one value per sample (and step)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    name = "sparse_categorical_crossentropy"

    def check(self, y_pred: Tensor, y_true: Tensor) -> None:
        labels = _squeeze_last(y_true) if y_true.dim() == y_pred.dim() else y_true
        if y_pred.dim() < 2 or y_pred.shape[-1] < 2 or labels.shape != y_pred.shape[:-1]:
            raise LossShapeError(f"{self.name}: needs an output of class scores (..., C>=2) and integer labels "
                                 f"of shape (...); got output {tuple(y_pred.shape)} and y {tuple(y_true.shape)}")
        if labels.is_floating_point() and not torch.equal(labels, labels.round()):
            raise LossShapeError(f"{self.name}: y must hold integer class labels")
        if labels.numel() and (labels.min() < 0 or labels.max() >= y_pred.shape[-1]):
            raise LossShapeError(f"{self.name}: labels must lie in [0, {y_pred.shape[-1] - 1}] (the last "
                                 f"layer has {y_pred.shape[-1]} units), found [{int(labels.min())}, "
                                 f"{int(labels.max())}]")

    def elementwise(self, y_pred: Tensor, y_true: Tensor) -> Tensor:
        labels = (_squeeze_last(y_true) if y_true.dim() == y_pred.dim() else y_true).long()
        scores = y_pred.reshape(-1, y_pred.shape[-1])
        if self.from_logits:
            values = F.cross_entropy(scores, labels.reshape(-1), reduction="none")
        else:
            p = scores / scores.sum(-1, keepdim=True)
            values = F.nll_loss(p.clamp(EPS, 1 - EPS).log(), labels.reshape(-1), reduction="none")
        return values.reshape(labels.shape)  # (...): one value per sample (and step)


LOSSES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}

LossSpec = Union[str, Mapping[str, Any], nn.Module, Callable[[Tensor, Tensor], Tensor]]


def get_loss(spec: LossSpec) -> Callable[[Tensor, Tensor], Tensor]:
    """A loss from a Keras name, a dict ``{"name": "huber", "delta": 2.0}``, or a torch loss/callable."""
    if isinstance(spec, (str, Mapping)):
        name, kwargs = split_named_spec(spec, LOSSES, "loss", "(or pass a torch loss)")
        return LOSSES[name](**kwargs)
    if callable(spec):
        return spec
    raise TypeError(f"loss must be a name, a dict or a callable, got {type(spec).__name__}")


def loss_name(loss: Callable) -> str:
    return getattr(loss, "name", None) or type(loss).__name__
