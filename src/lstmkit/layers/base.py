"""The Keras-style layer base: shapes inferred at build time, masks passed along, JSON configs."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..kernels.activations import ACTIVATIONS
from .functional import is_symbolic, symbolic_call
from .initializers import reg_factors

Shape = tuple[Optional[int], ...]  # without the batch dimension; None = any length

LAYERS: dict[str, type["Layer"]] = {}


def serialize_layer(layer: "Layer") -> dict[str, Any]:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(spec: dict[str, Any]) -> "Layer":
    """Rebuild a layer from :func:`serialize_layer`'s dict; only registered lstmkit layer classes load."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"not a layer spec: {spec!r}")
    name = spec["class_name"]
    if name not in LAYERS:
        raise ValueError(f"unknown layer class {name!r} in the model config; known: {sorted(LAYERS)}")
    config = dict(spec.get("config", {}))
    for key in ("layer",):
        if key in config and isinstance(config[key], dict):
            config[key] = deserialize_layer(config[key])
    return LAYERS[name](**config)


def register_layer(cls: type["Layer"]) -> type["Layer"]:
    """Make ``cls`` loadable by name from a saved model config (only registered classes ever are)."""
    LAYERS[cls.__name__] = cls
    return cls


def _softmax(x: Tensor) -> Tensor:
    return torch.softmax(x, dim=-1)


# what Dense and Activation take beyond the LSTM activations of kernels/activations.py (looked up there live)
DENSE_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "softmax": _softmax, "log_softmax": lambda x: F.log_softmax(x, -1),
    "leaky_relu": F.leaky_relu,
}


def get_activation(name: Optional[Union[str, Callable]]) -> Callable[[Tensor], Tensor]:
    if name is None:
        return lambda x: x
    if callable(name):
        return name
    fn = ACTIVATIONS.get(name) or DENSE_ACTIVATIONS.get(name)
    if fn is None:
        raise ValueError(f"unknown activation {name!r}; known: {sorted({*ACTIVATIONS, *DENSE_ACTIVATIONS})}")
    return fn


def l2(factor: float = 0.01) -> dict[str, float]:
    """Keras' ``regularizers.l2(factor)``: adds ``factor * sum(w**2)`` to the training loss."""
    if not factor >= 0:
        raise ValueError(f"l2 factor must be >= 0, got {factor}")
    return {"l2": float(factor)}


def l1(factor: float = 0.01) -> dict[str, float]:
    """Keras' ``regularizers.l1(factor)``: adds ``factor * sum(|w|)`` to the training loss."""
    if not factor >= 0:
        raise ValueError(f"l1 factor must be >= 0, got {factor}")
    return {"l1": float(factor)}


def l1_l2(l1: float = 0.0, l2: float = 0.0) -> dict[str, float]:
    """Keras' ``regularizers.l1_l2(l1, l2)``: both penalties."""
    if not (l1 >= 0 and l2 >= 0):
        raise ValueError(f"l1_l2 factors must be >= 0, got l1={l1}, l2={l2}")
    return {"l1": float(l1), "l2": float(l2)}


def _structural(p: nn.Parameter) -> bool:
    """A parameter kept only for torch's layout (the Keras LSTM's frozen zero ``bias_hh``): not a weight."""
    return bool(getattr(p, "_lstmkit_structural", False))


class Layer(nn.Module):
    """A layer whose parameters are created by :meth:`build` once the input shape is known.

    Subclasses implement ``build(input_shape)``, ``call(x, mask)``, ``compute_output_shape`` and
    ``get_config``; ``compute_mask`` passes the mask on when ``supports_masking``.
    """

    supports_masking = False

    def __init__(self, input_shape: Optional[Shape] = None, name: Optional[str] = None,
                 trainable: bool = True) -> None:
        super().__init__()
        self.input_shape_arg: Optional[Shape] = tuple(input_shape) if input_shape is not None else None
        if self.input_shape_arg is not None and not all(d is None or (isinstance(d, int) and d > 0)
                                                        for d in self.input_shape_arg):
            raise ValueError(f"input_shape must hold positive ints or None, got {input_shape}")
        self.name = name
        self.built = False
        self.built_input_shape: Optional[Shape] = None
        self._regularized: list[tuple[str, float, float]] = []
        self._trainable = bool(trainable)

    def build(self, input_shape: Shape) -> None:
        self.built = True

    def ensure_built(self, input_shape: Shape) -> None:
        if not self.built:
            shape = [tuple(s) for s in input_shape] if self.multi_input else tuple(input_shape)
            self.build(shape)
            self.built = True
            self.built_input_shape = tuple(shape) if not self.multi_input else shape
            if not self._trainable:
                self.trainable = False

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        raise NotImplementedError

    #: inputs are cast to the layer's floating dtype, as Keras casts integer and float64 arrays (not Embedding)
    float_input = True

    def _as_input(self, x: Any) -> Tensor:
        from_array = not isinstance(x, Tensor)
        x = torch.as_tensor(np.asarray(x) if from_array and not isinstance(x, (int, float)) else x)
        if self.float_input and (from_array or not (x.is_floating_point() or x.is_complex())):
            p = next(self.parameters(), None)
            x = x.to(p.dtype if p is not None and p.is_floating_point() else torch.get_default_dtype())
        return x

    #: the layer takes a list of tensors (Concatenate, Add, Attention...)
    multi_input = False

    def forward(self, x: Any, mask: Optional[Tensor] = None, training: Optional[bool] = None, **kwargs):
        """``layer(x, mask=None, training=None, **call_kwargs)`` as in Keras: NumPy and integer inputs are
        cast, ``training=True/False`` overrides the module's mode for this call only. Called on symbolic
        tensors (:func:`~lstmkit.layers.Input`), it records the call for a functional
        :class:`~lstmkit.Model` and returns symbolic outputs."""
        if is_symbolic(x, mask, list(kwargs.values())):
            return symbolic_call(self, x, {"mask": mask, **kwargs})
        if self.multi_input:
            if not isinstance(x, (list, tuple)) or not x:
                raise ValueError(f"{type(self).__name__} takes a list of inputs, got {type(x).__name__}")
            x = [self._as_input(t) for t in x]
            if mask is not None:
                mask = [m if m is None or isinstance(m, Tensor) else torch.as_tensor(np.asarray(m)) for m in mask]
            self.ensure_built([tuple(t.shape[1:]) for t in x])
        else:
            x = self._as_input(x)
            if mask is not None and not isinstance(mask, Tensor):
                mask = torch.as_tensor(np.asarray(mask))
            self.ensure_built(tuple(x.shape[1:]))
        if training is None or bool(training) == self.training:
            return self.call(x, mask, **kwargs)
        was = self.training
        self.train(bool(training))
        try:
            return self.call(x, mask, **kwargs)
        finally:
            self.train(was)

    def compute_mask(self, x: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        return mask if self.supports_masking else None

    def check_input_shape(self, input_shape: Shape) -> None:
        """Raise if a built layer is given inputs whose feature width (the last axis) differs from the one it
        was built for (a shared layer called on two kinds of input)."""
        built = self.built_input_shape
        if built is None or not input_shape or not built or isinstance(built[0], tuple):
            return
        if len(built) != len(input_shape) or (built[-1] is not None and input_shape[-1] is not None
                                               and built[-1] != input_shape[-1]):
            raise ValueError(f"it was built for inputs of shape {(None, *built)}, got {(None, *input_shape)}")

    def output_shape_for(self, input_shape: Shape) -> Shape:
        """The output shape without the batch dimension (what :class:`~lstmkit.Sequential` chains)."""
        return input_shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """Keras' ``compute_output_shape``: shapes *with* the batch dimension, e.g. ``(32, 10, 8) -> (32, 4)``."""
        input_shape = tuple(input_shape)
        if not input_shape:
            raise ValueError("compute_output_shape takes the full input shape, batch dimension first")
        return (input_shape[0], *self.output_shape_for(input_shape[1:]))

    # --- Keras' weight API ------------------------------------------------------------------------------

    @property
    def weights(self) -> list[nn.Parameter]:
        """Every weight, trainable first as in Keras (a layout-only parameter such as the Keras LSTM's frozen
        zero ``bias_hh`` is not a weight)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if not _structural(p) and p.requires_grad]

    @property
    def non_trainable_weights(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if not _structural(p) and not p.requires_grad]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """``layer.trainable = False`` freezes every weight (Keras' transfer-learning idiom)."""
        self._trainable = bool(value)
        for p in self.parameters():
            if not _structural(p):
                p.requires_grad_(self._trainable)

    def count_params(self) -> int:
        """The number of weight values (Keras' ``count_params``)."""
        if not self.built:
            raise ValueError(f"{type(self).__name__} is not built yet: give input_shape or call it once")
        return sum(p.numel() for p in self.weights)

    def get_weights(self) -> list[np.ndarray]:
        """The weights as NumPy arrays, in Keras' order and layout where the layer has a Keras twin."""
        return [p.detach().cpu().numpy().copy() for p in self._keras_weights()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Load arrays as returned by :meth:`get_weights` (or a Keras layer's ``get_weights()``)."""
        self._set_keras_weights(list(weights))

    def _keras_weights(self) -> list[Tensor]:
        return list(self.weights)

    def _set_keras_weights(self, arrays: list[Any]) -> None:
        targets = self._keras_weights()  # parameters or views of them (a transposed kernel writes through)
        self._check_weight_list(arrays, [tuple(t.shape) for t in targets])
        with torch.no_grad():
            for t, a in zip(targets, arrays):
                t.copy_(torch.as_tensor(np.asarray(a), dtype=t.dtype))

    def _check_weight_list(self, arrays: list[Any], shapes: list[tuple[int, ...]]) -> None:
        if len(arrays) != len(shapes):
            raise ValueError(f"{type(self).__name__}.set_weights: expected {len(shapes)} arrays of shapes {shapes}, "
                             f"got {len(arrays)}")
        for i, (a, want) in enumerate(zip(arrays, shapes)):
            got = tuple(np.shape(a))
            if got != want:
                raise ValueError(f"{type(self).__name__}.set_weights: array {i} has shape {got}, expected {want}")

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {}
        if self.input_shape_arg is not None:
            cfg["input_shape"] = list(self.input_shape_arg)
        if self.name is not None:
            cfg["name"] = self.name
        if not self._trainable:
            cfg["trainable"] = False
        return cfg

    def add_l2(self, param_name: str, reg: Any, what: str) -> None:
        """Register a Keras regulariser (L1, L2 or both; see :func:`~lstmkit.layers.initializers.reg_factors`)
        on one parameter."""
        f1, f2 = reg_factors(reg, what)
        if f1 or f2:
            self._regularized.append((param_name, f1, f2))

    @property
    def losses(self) -> list[Tensor]:
        """One penalty tensor per regularised weight (this layer's and wrapped layers'), as Keras' ``layer.losses``."""
        out = [t for child in self.children() if isinstance(child, Layer) for t in child.losses]
        for pname, f1, f2 in self._regularized:
            w = self.get_parameter(pname)
            term = f2 * w.pow(2).sum() if f2 else None
            if f1:
                term = f1 * w.abs().sum() if term is None else term + f1 * w.abs().sum()
            out.append(term)
        return out

    def regularization_loss(self) -> Optional[Tensor]:
        """The penalties of this layer's regularised weights summed, or None when it has none."""
        terms = self.losses
        return torch.stack(terms).sum() if terms else None
