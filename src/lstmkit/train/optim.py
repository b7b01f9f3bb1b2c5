"""Optimizers by Keras name, with Keras' defaults and update rules; learning-rate schedules.

Keras and torch disagree on defaults and on where epsilon goes. ``get_optimizer("rmsprop", params)`` gives
Keras' RMSprop exactly (lr 1e-3, rho 0.9, eps 1e-7 *inside* the square root), not ``torch.optim.RMSprop``
(lr 1e-2, alpha 0.99, eps 1e-8 outside). The update rules below are transcribed from Keras 3's
``keras/src/optimizers/{rmsprop,adam}.py`` and tested against real Keras.

>>> import torch
>>> opt = get_optimizer("rmsprop", [torch.nn.Parameter(torch.zeros(3))])
>>> type(opt).__name__, opt.defaults["lr"], opt.defaults["rho"], opt.defaults["eps"]
('KerasRMSprop', 0.001, 0.9, 1e-07)
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Union

import torch
from torch.optim import Optimizer


class _KerasOptimizer(Optimizer):
    """The loop both Keras rules share: closure, groups, parameters with a gradient, a ``step`` counter
    in each parameter's state. Subclasses create the rest of the state and apply one update."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    self._init_state(p, state, group)
                state["step"] += 1
                self._update(p, p.grad, state, group)
        return loss

    def _init_state(self, p: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class KerasRMSprop(_KerasOptimizer):
    """RMSprop as Keras computes it: ``v = rho v + (1-rho) g^2; w -= lr g / sqrt(v + eps)``.

    With ``momentum`` > 0: ``m = momentum m + lr g / sqrt(v + eps); w -= m``. ``centered`` subtracts the
    squared running mean of g inside the root.
    """

    def __init__(self, params, lr: float = 1e-3, rho: float = 0.9, momentum: float = 0.0, eps: float = 1e-7,
                 centered: bool = False, weight_decay: float = 0.0) -> None:
        if lr < 0 or not 0 <= rho < 1 or momentum < 0 or eps < 0:
            raise ValueError(f"invalid RMSprop settings lr={lr}, rho={rho}, momentum={momentum}, eps={eps}")
        super().__init__(params, dict(lr=lr, rho=rho, momentum=momentum, eps=eps, centered=centered,
                                      weight_decay=weight_decay))

    def _init_state(self, p, state, group):
        state["velocity"] = torch.zeros_like(p)
        if group["centered"]:
            state["average_grad"] = torch.zeros_like(p)
        if group["momentum"] > 0:
            state["momentum"] = torch.zeros_like(p)

    def _update(self, p, g, state, group):
        lr, rho, mom, eps = group["lr"], group["rho"], group["momentum"], group["eps"]
        if group["weight_decay"]:
            g = g.add(p, alpha=group["weight_decay"])
        v = state["velocity"]
        v.mul_(rho).addcmul_(g, g, value=1 - rho)
        if group["centered"]:
            a = state["average_grad"]
            a.mul_(rho).add_(g, alpha=1 - rho)
            denom = (v - a * a + eps).sqrt_()
        else:
            denom = (v + eps).sqrt_()
        increment = g.mul(lr).div_(denom)
        if mom > 0:
            m = state["momentum"]
            m.mul_(mom).add_(increment)
            p.sub_(m)
        else:
            p.sub_(increment)


class KerasAdam(_KerasOptimizer):
    """Adam as Keras computes it (the "epsilon hat" form of Kingma & Ba 2015, sec. 2):

    ``alpha = lr sqrt(1 - b2^t) / (1 - b1^t); w -= alpha m / (sqrt(v) + eps)``, eps 1e-7 by default.
    ``weight_decay`` > 0 gives decoupled decay (AdamW, Loshchilov & Hutter 2019): ``w -= lr wd w`` first.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-7, amsgrad: bool = False,
                 weight_decay: float = 0.0) -> None:
        if lr < 0 or not all(0 <= b < 1 for b in betas) or eps < 0:
            raise ValueError(f"invalid Adam settings lr={lr}, betas={betas}, eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, amsgrad=amsgrad,
                                      weight_decay=weight_decay))

    def _init_state(self, p, state, group):
        state["m"] = torch.zeros_like(p)
        state["v"] = torch.zeros_like(p)
        if group["amsgrad"]:
            state["v_hat"] = torch.zeros_like(p)

    def _update(self, p, g, state, group):
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        t = float(state["step"])
        if group["weight_decay"]:
            p.mul_(1 - lr * group["weight_decay"])
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m, v = state["m"], state["v"]
        m.lerp_(g, 1 - b1)  # m + (1 - b1)(g - m), Keras' form, without temporaries
        v.lerp_(g * g, 1 - b2)
        if group["amsgrad"]:
            torch.maximum(state["v_hat"], v, out=state["v_hat"])
            v = state["v_hat"]
        p.addcdiv_(m, v.sqrt().add_(eps), value=-alpha)


def _sgd(params, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
    # Keras' m = mu m - lr g; w += m equals torch's SGD (dampening 0) at a constant learning rate
    return torch.optim.SGD(params, lr=learning_rate, momentum=momentum, nesterov=nesterov,
                           weight_decay=weight_decay)


def _rmsprop(params, learning_rate=1e-3, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=0.0):
    return KerasRMSprop(params, lr=learning_rate, rho=rho, momentum=momentum, eps=epsilon, centered=centered,
                        weight_decay=weight_decay)


def _adam(params, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    return KerasAdam(params, lr=learning_rate, betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad)


def _adamw(params, learning_rate=1e-3, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    return KerasAdam(params, lr=learning_rate, betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad,
                     weight_decay=weight_decay)


def _adagrad(params, learning_rate=1e-3, initial_accumulator_value=0.1, epsilon=1e-7):
    # torch adds eps after the square root, Keras inside: equal up to eps-sized terms
    return torch.optim.Adagrad(params, lr=learning_rate, initial_accumulator_value=initial_accumulator_value,
                               eps=epsilon)


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": _sgd, "rmsprop": _rmsprop, "adam": _adam, "adamw": _adamw, "adagrad": _adagrad,
}

def split_named_spec(spec: Union[str, Mapping[str, Any]], known: Mapping[str, Any], kind: str,
                     hint: str) -> tuple[str, dict[str, Any]]:
    """``"adam"`` or ``{"name": "adam", **kwargs}`` -> ("adam", kwargs); an unknown name lists the known ones."""
    kwargs = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = str(kwargs.pop("name", "")).lower()
    if name not in known:
        raise ValueError(f"unknown {kind} {name!r}; known: {sorted(known)} {hint}")
    return name, kwargs


OptimizerSpec = Union[str, Mapping[str, Any], Optimizer, Callable[..., Optimizer]]


def get_optimizer(spec: OptimizerSpec, params: Iterable[torch.nn.Parameter]) -> Optimizer:
    """An optimizer from a Keras name (``"adam"``), a dict ``{"name": "adam", "learning_rate": 1e-4}``,
    a ``torch.optim.Optimizer`` instance (returned as is) or a factory ``params -> Optimizer``."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, (str, Mapping)):
        name, kwargs = split_named_spec(spec, OPTIMIZERS, "optimizer", "(or pass a torch.optim.Optimizer)")
        try:
            return OPTIMIZERS[name](params, **kwargs)
        except TypeError as err:
            raise TypeError(f"optimizer {name!r}: {err}") from None
    if callable(spec):
        return spec(params)
    raise TypeError(f"optimizer must be a name, a dict, a torch.optim.Optimizer or a factory, got {type(spec)}")


# --- learning-rate schedules (per optimizer step, like Keras' LearningRateSchedule) ----------------------

class ExponentialDecay:
    """``lr(step) = initial * decay_rate ** (step / decay_steps)`` (floored exponent if ``staircase``)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False) -> None:
        if decay_steps <= 0:
            raise ValueError("decay_steps must be positive")
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase = decay_rate, staircase

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}

    def __call__(self, step: int) -> float:
        e = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(e) if self.staircase else e)


class CosineDecay:
    """Cosine decay from ``initial`` to ``initial * alpha`` over ``decay_steps`` (Loshchilov & Hutter 2017),
    after an optional linear warm-up of ``warmup_steps``."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 warmup_steps: int = 0) -> None:
        if decay_steps <= 0:
            raise ValueError("decay_steps must be positive")
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.alpha, self.warmup_steps = alpha, warmup_steps

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_steps": self.warmup_steps}

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.initial_learning_rate * (step + 1) / self.warmup_steps
        s = min(step - self.warmup_steps, self.decay_steps) / self.decay_steps
        return self.initial_learning_rate * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * s)) + self.alpha)


SCHEDULES = {"ExponentialDecay": ExponentialDecay, "CosineDecay": CosineDecay}


def serialize_schedule(schedule) -> dict | None:
    """``{"class_name", "config"}`` for a built-in schedule (Keras' format), None for any other callable."""
    name = type(schedule).__name__
    if SCHEDULES.get(name) is type(schedule):
        return {"class_name": name, "config": schedule.get_config()}
    return None


def deserialize_schedule(spec: dict):
    """The schedule a :func:`serialize_schedule` dict describes."""
    name = spec.get("class_name")
    if name not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {name!r}; known: {', '.join(SCHEDULES)}")
    return SCHEDULES[name](**spec.get("config", {}))
