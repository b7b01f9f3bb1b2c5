"""Data sets and sequence tools. Knows nothing of models or training."""

from .series import load_sunspots_yearly, sliding_windows

__all__ = ["load_sunspots_yearly", "sliding_windows"]
