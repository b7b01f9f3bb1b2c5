"""Modules: the LSTM layer (with its torch.nn.LSTM converters) and the single-step cell."""

from .cell import LSTMCell
from .layer import LSTM

__all__ = ["LSTM", "LSTMCell"]
