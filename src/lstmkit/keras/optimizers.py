"""``keras.optimizers`` on lstmkit: ``Adam(learning_rate=1e-3)`` and the rest, with Keras' arguments and
defaults. Each is a Keras-named spec (a dict ``{"name": "adam", ...}``) that :meth:`lstmkit.Model.compile`
turns into the optimizer (Keras' update rules, tested against Keras); ``clipnorm``, ``clipvalue`` and
``global_clipnorm`` given here apply as they do in Keras. ``model.optimizer`` is the live optimizer
(``model.optimizer.learning_rate`` reads and sets it)."""

from __future__ import annotations

from typing import Any, Optional

from ..train.optim import CosineDecay, ExponentialDecay


class Optimizer(dict):
    """An optimizer spec by Keras name; see the module docstring."""

    keras_name = ""

    def __init__(self, clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                 global_clipnorm: Optional[float] = None, name: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(name=self.keras_name, **kwargs)
        for key, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if value is not None:
                self[key] = float(value)

    @property
    def learning_rate(self) -> Any:
        return self["learning_rate"]

    def get_config(self) -> dict[str, Any]:
        return dict(self)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    keras_name = "sgd"

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: Optional[float] = None, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay or 0.0, **kwargs)


class RMSprop(Optimizer):
    keras_name = "rmsprop"

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7,
                 centered: bool = False, weight_decay: Optional[float] = None, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, rho=rho, momentum=momentum, epsilon=epsilon, centered=centered,
                         weight_decay=weight_decay or 0.0, **kwargs)


class Adam(Optimizer):
    keras_name = "adam"

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, **kwargs)


class AdamW(Optimizer):
    keras_name = "adamw"

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, **kwargs)


class Adagrad(Optimizer):
    keras_name = "adagrad"

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, initial_accumulator_value=initial_accumulator_value,
                         epsilon=epsilon, **kwargs)


class schedules:  # noqa: N801 - Keras' namespace: keras.optimizers.schedules.ExponentialDecay
    ExponentialDecay = ExponentialDecay
    CosineDecay = CosineDecay


__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "schedules"]
