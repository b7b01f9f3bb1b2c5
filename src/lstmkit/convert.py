"""Weight converters (``lstmkit.convert.from_keras``, ``from_torch``, ``to_torch``)."""

from .nn.convert import from_keras, from_torch, to_torch

__all__ = ["from_keras", "from_torch", "to_torch"]
