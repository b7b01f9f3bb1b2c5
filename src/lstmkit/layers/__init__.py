"""Keras-style layers for :class:`lstmkit.Sequential`: shapes inferred from ``input_shape``, masks for
variable-length batches, JSON configs for saving. ``LSTM`` takes every lstmkit variant; ``GRU`` is Keras' GRU.

>>> import torch
>>> from lstmkit.layers import LSTM, Dense
>>> lstm = LSTM(16, peephole=True, return_sequences=True, input_shape=(10, 3))
>>> Dense(1)(lstm(torch.randn(4, 10, 3))).shape
torch.Size([4, 10, 1])
"""

from .attention import AdditiveAttention, Attention
from .base import LAYERS, Layer, deserialize_layer, l1, l1_l2, l2, register_layer, serialize_layer
from .conv import AveragePooling1D, Conv1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .core import (Activation, Dense, Dropout, Embedding, Flatten, LayerNormalization, Masking, RepeatVector, Reshape,
                   SpatialDropout1D, TimeDistributed)
from .functional import Input, KerasTensor
from .gru import GRU
from .merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .recurrent import LSTM, Bidirectional, mask_to_lengths

__all__ = [
    "Activation", "Add", "AdditiveAttention", "Attention", "Average", "AveragePooling1D", "Bidirectional",
    "Concatenate", "Conv1D", "Dense", "Dropout", "Embedding", "Flatten", "GRU", "GlobalAveragePooling1D",
    "GlobalMaxPooling1D", "Input", "KerasTensor", "LAYERS", "LSTM", "Layer", "LayerNormalization", "Masking",
    "MaxPooling1D", "Maximum", "Minimum", "Multiply", "RepeatVector", "Reshape", "SpatialDropout1D", "Subtract",
    "TimeDistributed", "deserialize_layer", "l1", "l1_l2", "l2", "mask_to_lengths", "register_layer",
    "serialize_layer",
]
