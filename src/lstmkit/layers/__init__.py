"""Keras-style layers for :class:`lstmkit.Sequential`: shapes inferred from ``input_shape``, masks for
variable-length batches, JSON configs for saving. ``LSTM`` takes every lstmkit variant.

>>> import torch
>>> from lstmkit.layers import LSTM, Dense
>>> lstm = LSTM(16, peephole=True, return_sequences=True, input_shape=(10, 3))
>>> Dense(1)(lstm(torch.randn(4, 10, 3))).shape
torch.Size([4, 10, 1])
"""

from .base import LAYERS, Layer, deserialize_layer, l1, l1_l2, l2, register_layer, serialize_layer
from .core import Dense, Dropout, Embedding, LayerNormalization, Masking, TimeDistributed
from .recurrent import LSTM, Bidirectional, mask_to_lengths

__all__ = [
    "Bidirectional", "Dense", "Dropout", "Embedding", "LAYERS", "LSTM", "Layer", "LayerNormalization", "Masking",
    "TimeDistributed", "deserialize_layer", "l1", "l1_l2", "l2", "mask_to_lengths", "register_layer", "serialize_layer",
]
