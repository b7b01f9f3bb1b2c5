"""Exception types shared by the package: lstmkit's own messages, and the types torch's callers catch.

``torch.nn.LSTM`` raises ``RuntimeError`` for a wrong input or state shape and ``ValueError`` for a wrong
dtype or number of dimensions. lstmkit raises classes that derive from both ``ValueError`` and
``RuntimeError`` (and ``TypeError`` for dtypes), so code written against torch's ``except`` clauses and
code written against lstmkit's keeps working; the messages start with torch's key phrase.

>>> issubclass(ShapeError, RuntimeError) and issubclass(ShapeError, ValueError)
True
"""

from __future__ import annotations


class ShapeError(ValueError, RuntimeError):
    """A tensor has the wrong shape or number of dimensions for the module it is given to."""


class DTypeError(TypeError, ValueError, RuntimeError):
    """A tensor's dtype does not match the module's parameters."""
