"""Modules: the LSTM layer (with its torch.nn.LSTM converters), the single-step cell, and streaming."""

from .cell import LSTMCell
from .layer import LSTM
from .stream import Stream

__all__ = ["LSTM", "LSTMCell", "Stream"]
