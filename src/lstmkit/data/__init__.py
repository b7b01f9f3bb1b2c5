"""Data sets and sequence tools. Knows nothing of models or training."""

from .mnist import DataUnavailableError, load_mnist
from .series import load_sunspots_yearly, sliding_windows

__all__ = ["DataUnavailableError", "load_mnist", "load_sunspots_yearly", "sliding_windows"]
