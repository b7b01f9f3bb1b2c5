"""Keras' weight initialisers and regularisers, by name, by config dict, or as Keras' own objects.

Initialisers take a Keras-layout shape (``(fan_in, fan_out)`` for a kernel) and return a tensor; the layers
transpose into torch's layout. The formulas are Keras' (``keras/src/initializers``): variance scaling with
``scale / n`` and, for the normal variants, a normal truncated at two standard deviations whose standard
deviation is divided by 0.8796 so the variance stays ``scale / n``.

>>> get_initializer("glorot_uniform")((3, 8)).shape
torch.Size([3, 8])
>>> get_initializer({"class_name": "Constant", "config": {"value": 0.5}})((2,))
tensor([0.5000, 0.5000])
>>> reg_factors("l2"), reg_factors({"l1": 0.1})
((0.0, 0.01), (0.1, 0.0))
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

Initializer = Callable[[Sequence[int]], Tensor]

_TRUNC_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def _fans(shape: Sequence[int]) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _truncated_normal(shape: Sequence[int], mean: float, std: float) -> Tensor:
    t = torch.empty(tuple(shape))
    torch.nn.init.trunc_normal_(t, mean=mean, std=std, a=mean - 2 * std, b=mean + 2 * std)
    return t


def _variance_scaling(scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                      seed: Any = None) -> Initializer:
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"VarianceScaling mode must be fan_in, fan_out or fan_avg, got {mode!r}")

    def init(shape: Sequence[int]) -> Tensor:
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        var = scale / max(1.0, n)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return torch.empty(tuple(shape)).uniform_(-limit, limit)
        if distribution in ("truncated_normal", "normal"):
            return _truncated_normal(shape, 0.0, math.sqrt(var) / _TRUNC_STD)
        if distribution == "untruncated_normal":
            return torch.empty(tuple(shape)).normal_(0.0, math.sqrt(var))
        raise ValueError(f"VarianceScaling distribution {distribution!r} is not known")
    return init


def _orthogonal(gain: float = 1.0, seed: Any = None) -> Initializer:
    def init(shape: Sequence[int]) -> Tensor:
        t = torch.empty(tuple(shape))
        torch.nn.init.orthogonal_(t.view(-1, shape[-1]) if len(shape) > 2 else t, gain=gain)
        return t
    return init


def _constant(value: float = 0.0) -> Initializer:
    return lambda shape: torch.full(tuple(shape), float(value))


def _identity(gain: float = 1.0) -> Initializer:
    def init(shape: Sequence[int]) -> Tensor:
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape, got {tuple(shape)}")
        return gain * torch.eye(*shape)
    return init


_FACTORIES: dict[str, Callable[..., Initializer]] = {
    "zeros": lambda: _constant(0.0),
    "ones": lambda: _constant(1.0),
    "constant": _constant,
    "random_normal": lambda mean=0.0, stddev=0.05, seed=None: (
        lambda shape: torch.empty(tuple(shape)).normal_(mean, stddev)),
    "random_uniform": lambda minval=-0.05, maxval=0.05, seed=None: (
        lambda shape: torch.empty(tuple(shape)).uniform_(minval, maxval)),
    "truncated_normal": lambda mean=0.0, stddev=0.05, seed=None: (
        lambda shape: _truncated_normal(shape, mean, stddev)),
    "variance_scaling": _variance_scaling,
    "glorot_uniform": lambda seed=None: _variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": lambda seed=None: _variance_scaling(1.0, "fan_avg", "truncated_normal"),
    "he_uniform": lambda seed=None: _variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": lambda seed=None: _variance_scaling(2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": lambda seed=None: _variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": lambda seed=None: _variance_scaling(1.0, "fan_in", "truncated_normal"),
    "orthogonal": _orthogonal,
    "identity": _identity,
}
_ALIASES = {"xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal", "zero": "zeros", "one": "ones",
            "uniform": "random_uniform", "normal": "random_normal"}


def _snake(name: str) -> str:
    s = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return _ALIASES.get(s, s)


def initializer_spec(spec: Any) -> Any:
    """The JSON form of an initialiser: a name, or ``{"class_name": ..., "config": {...}}`` (Keras' own
    objects are read through their class name and ``get_config()``); a plain callable is kept as is."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        if "class_name" not in spec:
            raise ValueError(f"an initializer dict needs 'class_name' (and 'config'), got {spec!r}")
        config = {k: v for k, v in (spec.get("config") or {}).items() if v is not None}
        return {"class_name": spec["class_name"], "config": config}
    if hasattr(spec, "get_config"):  # keras.initializers.Constant(0.01) and friends
        config = {k: v for k, v in spec.get_config().items() if v is not None and k != "seed"}
        return {"class_name": type(spec).__name__, "config": config}
    if callable(spec):
        return spec
    raise TypeError(f"an initializer is a name, a config dict, a Keras initializer or a callable, got {spec!r}")


def get_initializer(spec: Any) -> Initializer:
    """A function ``shape -> tensor`` for an initialiser name, config dict, Keras initialiser or callable."""
    spec = initializer_spec(spec)
    if callable(spec) and not isinstance(spec, (str, dict)):
        return lambda shape: torch.as_tensor(spec(tuple(shape)), dtype=torch.float32)
    name, config = (spec, {}) if isinstance(spec, str) else (spec["class_name"], spec["config"])
    key = _snake(name)
    if key not in _FACTORIES:
        raise ValueError(f"unknown initializer {name!r}; known: {sorted(_FACTORIES)}")
    try:
        return _FACTORIES[key](**config)
    except TypeError as err:
        raise TypeError(f"initializer {name!r}: {err}") from None


def reg_factors(reg: Any, what: str = "regularizer") -> tuple[float, float]:
    """``(l1, l2)`` factors of a Keras regulariser: None, a number (L2), ``"l1"`` or ``"l2"`` (Keras' default
    factor 0.01; ``"l1l2"`` is Keras' ``L1L2()``, zero), a dict ``{"l1": a, "l2": b}`` or
    ``{"class_name": "L2", "config": {...}}``, or a Keras regulariser object. The penalty is
    ``l1 * sum(|w|) + l2 * sum(w**2)``, as in Keras."""
    if reg is None:
        return 0.0, 0.0
    if isinstance(reg, bool):
        raise ValueError(f"{what} must be None, a number, a name or a dict, got {reg!r}")
    if isinstance(reg, (int, float)):
        l1, l2 = 0.0, float(reg)
    elif isinstance(reg, str):
        key = reg.lower().replace("_", "")
        table = {"l1": (0.01, 0.0), "l2": (0.0, 0.01), "l1l2": (0.0, 0.0)}  # Keras' defaults; L1L2() is zero
        if key not in table:
            raise ValueError(f"{what}: unknown regularizer {reg!r}; known: 'l1', 'l2', 'l1l2'")
        l1, l2 = table[key]
    elif isinstance(reg, dict) or hasattr(reg, "get_config"):
        cfg = reg if isinstance(reg, dict) else reg.get_config()
        if "class_name" in cfg:
            name = str(cfg["class_name"]).lower().replace("_", "")
            defaults = {"l1": (0.01, 0.0), "l2": (0.0, 0.01), "l1l2": (0.0, 0.0)}.get(name)
            if defaults is None:
                raise ValueError(f"{what}: unknown regularizer class {cfg['class_name']!r}")
            inner = cfg.get("config") or {}
            l1, l2 = float(inner.get("l1", defaults[0])), float(inner.get("l2", defaults[1]))
        elif set(cfg) <= {"l1", "l2"} and cfg:
            l1, l2 = float(cfg.get("l1", 0.0)), float(cfg.get("l2", 0.0))
        else:
            raise ValueError(f"{what} must hold 'l1' and/or 'l2' factors, got {cfg!r}")
    else:
        raise ValueError(f"{what} must be None, a number, 'l1'/'l2'/'l1l2', a dict or a Keras regularizer, "
                         f"got {reg!r}")
    if not (l1 >= 0 and l2 >= 0 and math.isfinite(l1) and math.isfinite(l2)):
        raise ValueError(f"{what} factors must be finite and >= 0, got l1={l1}, l2={l2}")
    return l1, l2


def regularizer_spec(reg: Any) -> Any:
    """The JSON form of a regulariser (Keras objects become ``{"l1": a, "l2": b}``)."""
    if reg is None or isinstance(reg, (int, float, str, dict)):
        return reg
    l1, l2 = reg_factors(reg)
    return {k: v for k, v in (("l1", l1), ("l2", l2)) if v}
