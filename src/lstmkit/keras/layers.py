"""``keras.layers`` on lstmkit: the layers of :mod:`lstmkit.layers` under their Keras names."""

from ..layers import *  # noqa: F401,F403
from ..layers import __all__ as _all
from ..layers.functional import Input  # noqa: F401

__all__ = list(_all)
