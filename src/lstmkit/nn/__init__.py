"""Modules: the LSTM layer, the single-step cell, and weight converters."""

from .cell import LSTMCell
from .layer import LSTM
from . import convert

__all__ = ["LSTM", "LSTMCell", "convert"]
