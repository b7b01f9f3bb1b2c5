"""``keras.metrics`` on lstmkit: metric objects for ``compile(metrics=[...])`` with Keras' names and
arguments (names as strings work too: ``"accuracy"``, ``"auc"``, ``"precision"``, ``"recall"``...)."""

from __future__ import annotations

from ..train.metrics import Metric, auc, precision, recall, top_k_accuracy


def AUC(num_thresholds: int = 200, name: str = "auc") -> Metric:  # noqa: N802 - Keras' class name
    return auc(num_thresholds, name)


def Precision(thresholds: float = 0.5, name: str = "precision") -> Metric:  # noqa: N802
    return precision(thresholds, name)


def Recall(thresholds: float = 0.5, name: str = "recall") -> Metric:  # noqa: N802
    return recall(thresholds, name)


def TopKCategoricalAccuracy(k: int = 5, name: str = "top_k_categorical_accuracy") -> Metric:  # noqa: N802
    return top_k_accuracy(k, sparse=False, name=name)


def SparseTopKCategoricalAccuracy(k: int = 5, name: str = "sparse_top_k_categorical_accuracy") -> Metric:  # noqa: N802
    return top_k_accuracy(k, sparse=True, name=name)


__all__ = ["AUC", "Precision", "Recall", "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy"]
