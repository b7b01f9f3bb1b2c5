"""Metrics by Keras name, accumulated over an epoch with torchmetrics (which also syncs them across
processes under torch.distributed).

``"accuracy"`` follows Keras: with a sparse categorical loss it compares the arg-max with integer labels,
with a categorical loss the two arg-maxes, otherwise (binary) the prediction thresholded at 0.5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Union

from torch import Tensor

from .._deps import require

if TYPE_CHECKING:
    import torchmetrics


class Metric:
    """A named running metric: ``update(y_pred, y_true)``, ``compute() -> float``, ``reset()``."""

    def __init__(self, name: str, metric: "torchmetrics.Metric",
                 transform: Callable[[Tensor, Tensor], tuple[Tensor, ...]]) -> None:
        self.name, self.metric, self.transform = name, metric, transform

    def update(self, y_pred: Tensor, y_true: Tensor) -> None:
        self.metric.update(*self.transform(y_pred.detach().float().cpu(), y_true.detach().cpu()))

    def compute(self) -> float:
        return float(self.metric.compute())

    def reset(self) -> None:
        self.metric.reset()


def _flat_pair(p: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    y = y.to(p.dtype)
    if p.shape != y.shape and p.numel() == y.numel():
        p = p.reshape(y.shape)  # e.g. predictions (N, 1) against targets (N,)
    return p.reshape(-1), y.reshape(-1)


def _accuracy_transform(loss_name: str) -> Callable[[Tensor, Tensor], tuple[Tensor]]:
    def sparse(p: Tensor, y: Tensor) -> tuple[Tensor]:
        labels = y.reshape(p.shape[:-1]).long()
        return ((p.argmax(-1) == labels).float().reshape(-1),)

    def categorical(p: Tensor, y: Tensor) -> tuple[Tensor]:
        return ((p.argmax(-1) == y.argmax(-1)).float().reshape(-1),)

    def binary(p: Tensor, y: Tensor) -> tuple[Tensor]:
        p, y = _flat_pair(p, y)
        return (((p > 0.5).float() == y).float(),)

    if "sparse" in loss_name or loss_name == "CrossEntropyLoss":  # torch's takes integer labels
        return sparse
    if "categorical" in loss_name:
        return categorical
    return binary


METRIC_NAMES = ("accuracy", "acc", "mae", "mse", "rmse", "mape", "auc", "precision", "recall",
                "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy")


def _binary_pair(p: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    p, y = _flat_pair(p, y)
    return p.clamp(0.0, 1.0), y.long()


def _top_k(k: int, sparse: bool) -> Callable[[Tensor, Tensor], tuple[Tensor]]:
    def transform(p: Tensor, y: Tensor) -> tuple[Tensor]:
        labels = y.reshape(p.shape[:-1]).long() if sparse else y.argmax(-1)
        top = p.topk(min(k, p.shape[-1]), dim=-1).indices  # (..., k)
        return ((top == labels.unsqueeze(-1)).any(-1).float().reshape(-1),)
    return transform


def auc(num_thresholds: int = 200, name: str = "auc") -> Metric:
    """Keras' ``AUC()``: the area under the ROC curve of binary probabilities, from ``num_thresholds`` evenly
    spaced thresholds (Keras' default 200; torchmetrics' binned ``BinaryAUROC``)."""
    torchmetrics = require("torchmetrics", "train")
    return Metric(name, torchmetrics.classification.BinaryAUROC(thresholds=num_thresholds), _binary_pair)


def precision(thresholds: float = 0.5, name: str = "precision") -> Metric:
    """Keras' ``Precision()``: of the samples predicted positive (probability > ``thresholds``), the share
    that are."""
    torchmetrics = require("torchmetrics", "train")
    return Metric(name, torchmetrics.classification.BinaryPrecision(threshold=thresholds), _binary_pair)


def recall(thresholds: float = 0.5, name: str = "recall") -> Metric:
    """Keras' ``Recall()``: of the positive samples, the share predicted positive."""
    torchmetrics = require("torchmetrics", "train")
    return Metric(name, torchmetrics.classification.BinaryRecall(threshold=thresholds), _binary_pair)


def top_k_accuracy(k: int = 5, sparse: bool = False, name: Optional[str] = None) -> Metric:
    """Keras' ``top_k_categorical_accuracy`` (one-hot targets) and ``sparse_top_k_categorical_accuracy``
    (integer labels): the share of samples whose label is among the ``k`` highest scores."""
    torchmetrics = require("torchmetrics", "train")
    default = "sparse_top_k_categorical_accuracy" if sparse else "top_k_categorical_accuracy"
    return Metric(name or default, torchmetrics.MeanMetric(), _top_k(k, sparse))


def get_metric(spec: Union[str, Metric], loss_name: str = "") -> Metric:
    """A :class:`Metric` from a Keras name (``"accuracy"``, ``"mae"``, ``"mse"``, ``"rmse"``, ``"mape"``,
    ``"auc"``, ``"precision"``, ``"recall"``, ``"top_k_categorical_accuracy"``, its sparse form)."""
    if isinstance(spec, Metric):
        return spec
    torchmetrics = require("torchmetrics", "train")  # on first use: it adds about a second to `import lstmkit`

    if not isinstance(spec, str):
        raise TypeError(f"metrics must be names or lstmkit.train.Metric objects, got {type(spec).__name__}")
    name = spec.lower()
    if name in ("accuracy", "acc"):
        return Metric("accuracy", torchmetrics.MeanMetric(), _accuracy_transform(loss_name))
    if name == "mae":
        return Metric("mae", torchmetrics.MeanAbsoluteError(), _flat_pair)
    if name == "mse":
        return Metric("mse", torchmetrics.MeanSquaredError(), _flat_pair)
    if name == "rmse":
        return Metric("rmse", torchmetrics.MeanSquaredError(squared=False), _flat_pair)
    if name == "mape":
        return Metric("mape", torchmetrics.MeanAbsolutePercentageError(), _flat_pair)
    if name == "auc":
        return auc()
    if name in ("precision", "recall"):
        return precision() if name == "precision" else recall()
    if name in ("top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"):
        return top_k_accuracy(5, sparse=name.startswith("sparse"))
    raise ValueError(f"unknown metric {spec!r}; known: {list(METRIC_NAMES)} (or pass a lstmkit.train.Metric)")


def mean_metric(name: str) -> Metric:
    """A weighted running mean (used for the loss): ``update(value, weight)``."""
    torchmetrics = require("torchmetrics", "train")

    return Metric(name, torchmetrics.MeanMetric(), lambda v, w: (v, w))
