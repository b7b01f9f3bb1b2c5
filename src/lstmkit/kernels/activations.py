"""The one table of activations: name -> torch function, kernel id, gate validity, Keras name.

Every part of lstmkit that needs to know about an activation asks this table: the reference math
(:func:`resolve_activation`), the config's cifg check (:func:`is_gate`), each backend's ``unsupported()``
(:func:`kernel_id`: the fused C++ kernel runs only the activations with an id, and checks its own enum against
:func:`kernel_ids` when it loads), the Keras converter (:func:`from_keras`) and the Keras-style layers.

>>> kernel_id("tanh"), kernel_id("linear"), is_gate("sigmoid"), is_gate("relu")
(0, 7, True, False)
>>> spec = register_activation("cube", lambda x: x ** 3)  # reference backend only: it has no kernel id
>>> kernel_id("cube") is None and resolve_activation("cube")(torch.tensor(2.0)).item() == 8.0
True
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

ActivationFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class ActivationSpec:
    """One activation. ``kernel_id`` is its value in the C++ kernel's ``enum Act`` (csrc/fused_cpu.cpp), None
    where only the torch backends (reference, and native for tanh/sigmoid) can run it; ``gate``: its values
    lie in [0, 1], so it can drive a coupled gate i = 1 - f; ``keras``: the names Keras gives it."""

    name: str
    fn: ActivationFn
    kernel_id: Optional[int] = None
    gate: bool = False
    keras: tuple[str, ...] = ()


def _identity(x: Tensor) -> Tensor:
    return x


def _hard_sigmoid_legacy(x: Tensor) -> Tensor:
    # Keras 2 / tf.keras' hard_sigmoid: clip(0.2 x + 0.5, 0, 1).
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


_TABLE: dict[str, ActivationSpec] = {}
_FNS: dict[str, ActivationFn] = {}
# name -> torch function, read-only (add entries with register_activation)
ACTIVATIONS: Mapping[str, ActivationFn] = types.MappingProxyType(_FNS)


def register_activation(name: str, fn: ActivationFn, *, gate: bool = False, keras: tuple[str, ...] = (),
                        kernel_id: Optional[int] = None) -> ActivationSpec:
    """Add an activation usable by name in every config (``LSTM(activation=name)``). Without a ``kernel_id``
    (ids belong to the C++ kernel's enum) ``"auto"`` runs it on the reference backend and says so."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"an activation's name must be a non-empty str, got {name!r}")
    if not callable(fn):
        raise TypeError(f"activation {name!r}: fn must be callable, got {type(fn).__name__}")
    if name in _TABLE:
        raise ValueError(f"activation {name!r} is already registered")
    spec = ActivationSpec(name, fn, kernel_id, gate, tuple(keras))
    _TABLE[name] = spec
    _FNS[name] = fn
    return spec


register_activation("tanh", torch.tanh, kernel_id=0, keras=("tanh",))
register_activation("sigmoid", torch.sigmoid, kernel_id=1, gate=True, keras=("sigmoid",))
register_activation("relu", torch.relu, kernel_id=2, keras=("relu",))
# Keras 3 and PyTorch: relu6(x + 3) / 6, i.e. clip(x / 6 + 1/2, 0, 1)
register_activation("hard_sigmoid", F.hardsigmoid, kernel_id=3, gate=True, keras=("hard_sigmoid",))
register_activation("hard_sigmoid_legacy", _hard_sigmoid_legacy, kernel_id=4, gate=True)  # Keras 2's
register_activation("gelu", F.gelu, kernel_id=5, keras=("gelu",))
register_activation("softsign", F.softsign, kernel_id=6, keras=("softsign",))
register_activation("identity", _identity, kernel_id=7, keras=("linear",))
register_activation("linear", _identity, kernel_id=7)  # Keras' name for identity
# reference only (no kernel id): the other activations Keras accepts on an LSTM
register_activation("silu", F.silu, keras=("silu",))
register_activation("swish", F.silu, keras=("swish",))
register_activation("elu", F.elu, keras=("elu",))
register_activation("selu", F.selu, keras=("selu",))
register_activation("softplus", F.softplus, keras=("softplus",))


def get_spec(name: str) -> Optional[ActivationSpec]:
    return _TABLE.get(name) if isinstance(name, str) else None


def resolve_activation(spec: Union[str, Callable], what: str = "activation") -> ActivationFn:
    """Turn an activation name or callable into a callable; raise naming the known names."""
    if callable(spec):
        return spec
    if isinstance(spec, str):
        entry = _TABLE.get(spec)
        if entry is None:
            raise ValueError(f"unknown {what} {spec!r}; expected one of {sorted(_TABLE)} or a callable")
        return entry.fn
    raise TypeError(f"{what} must be a name or a callable, got {type(spec).__name__}")


def kernel_id(spec: Union[str, Callable]) -> Optional[int]:
    """The C++ kernel's id for a named activation, None for a callable or a name without a kernel."""
    entry = get_spec(spec)
    return entry.kernel_id if entry is not None else None


def kernel_ids() -> dict[str, int]:
    """Every name the C++ kernel runs, with its id (what the extension's own table must agree with)."""
    return {n: s.kernel_id for n, s in _TABLE.items() if s.kernel_id is not None}


def kernel_name(kid: int) -> str:
    """The canonical name of a kernel id (the first registered with it)."""
    return next(n for n, s in _TABLE.items() if s.kernel_id == kid)


def is_gate(spec: Union[str, Callable]) -> bool:
    """Whether a named activation's values lie in [0, 1] (callables cannot be checked: they are trusted)."""
    entry = get_spec(spec)
    return callable(spec) or (entry is not None and entry.gate)


def gate_names() -> list[str]:
    return sorted(n for n, s in _TABLE.items() if s.gate)


def from_keras(name) -> str:
    """lstmkit's name for a Keras activation name; raises ValueError naming the ones lstmkit has."""
    for n, s in _TABLE.items():
        if isinstance(name, str) and name in s.keras:
            return n
    known = sorted(k for s in _TABLE.values() for k in s.keras)
    raise ValueError(f"Keras activation {name!r} has no lstmkit equivalent; known: {known}")
