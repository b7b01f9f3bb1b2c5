"""``keras.losses`` on lstmkit: the loss classes (``compile(loss=...)`` takes them or their names)."""

from ..train.losses import (BinaryCrossentropy, CategoricalCrossentropy, Huber, MeanAbsoluteError, MeanSquaredError,
                            SparseCategoricalCrossentropy)

__all__ = ["BinaryCrossentropy", "CategoricalCrossentropy", "Huber", "MeanAbsoluteError", "MeanSquaredError",
           "SparseCategoricalCrossentropy"]
