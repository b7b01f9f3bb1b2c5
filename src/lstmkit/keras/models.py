"""``keras.models``: ``Model``, ``Sequential``, ``load_model``."""

from ..models import Model, Sequential, load_model

__all__ = ["Model", "Sequential", "load_model"]
