"""Modules: the LSTM layer (with its torch.nn.LSTM converters), the single-step cell, and streaming."""

from .cell import LSTMCell
from .layer import LSTM
from .quantized import QuantizedLSTM, quantize
from .stream import Stream

__all__ = ["LSTM", "LSTMCell", "QuantizedLSTM", "Stream", "quantize"]
