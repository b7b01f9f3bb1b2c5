"""Keras-style feed-forward layers: Dense, Dropout, Embedding, LayerNormalization, Masking, TimeDistributed."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from ..nn.params import glorot_uniform_
from .base import Layer, Shape, get_activation, register_layer, serialize_layer
from .initializers import get_initializer, initializer_spec, regularizer_spec


@register_layer
class Dense(Layer):
    """``Dense(units, activation=None)`` on the last axis (any leading axes). Glorot-uniform kernel, zero bias.

    >>> d = Dense(4, activation="relu", input_shape=(3,))
    >>> d(torch.randn(2, 3)).shape
    torch.Size([2, 4])
    """

    supports_masking = True

    def __init__(self, units: int, activation: Optional[str] = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        self.units, self.activation, self.use_bias = units, activation, use_bias
        self.kernel_initializer = initializer_spec(kernel_initializer)
        self.bias_initializer = initializer_spec(bias_initializer)
        get_initializer(self.kernel_initializer), get_initializer(self.bias_initializer)  # fail early
        self.kernel_regularizer = regularizer_spec(kernel_regularizer)
        self.bias_regularizer = regularizer_spec(bias_regularizer)
        self._act = get_activation(activation)
        self.linear: Optional[nn.Linear] = None

    def build(self, input_shape: Shape) -> None:
        if not input_shape or input_shape[-1] is None:
            raise ValueError(f"Dense needs a known last dimension, got input shape {input_shape}")
        self.linear = nn.Linear(input_shape[-1], self.units, bias=self.use_bias)
        with torch.no_grad():
            if self.kernel_initializer == "glorot_uniform":
                glorot_uniform_(self.linear.weight)
            else:  # Keras' (in, out) kernel, stored transposed
                self.linear.weight.copy_(get_initializer(self.kernel_initializer)((input_shape[-1], self.units)).T)
            if self.use_bias:
                self.linear.bias.copy_(get_initializer(self.bias_initializer)((self.units,)))
        self.add_l2("linear.weight", self.kernel_regularizer, "kernel_regularizer")
        if self.use_bias:
            self.add_l2("linear.bias", self.bias_regularizer, "bias_regularizer")

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if x.shape[-1] != self.linear.in_features:
            raise ValueError(f"Dense({self.units}) was built for inputs of width {self.linear.in_features}, "
                             f"got shape {tuple(x.shape)}")
        return self._act(self.linear(x))

    def output_shape_for(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def _keras_weights(self) -> list[Tensor]:
        return [self.linear.weight.T] + ([self.linear.bias] if self.use_bias else [])  # kernel (in, out), bias

    def get_config(self) -> dict[str, Any]:
        cfg = {**super().get_config(), "units": self.units, "activation": self.activation,
               "use_bias": self.use_bias, "kernel_regularizer": self.kernel_regularizer,
               "bias_regularizer": self.bias_regularizer}
        for key, default in (("kernel_initializer", "glorot_uniform"), ("bias_initializer", "zeros")):
            if getattr(self, key) != default:  # configs of earlier saves stay as they were
                cfg[key] = getattr(self, key)
        return cfg


@register_layer
class Dropout(Layer):
    """Zero a fraction ``rate`` of the inputs in training, scaling the rest by 1/(1-rate)."""

    supports_masking = True

    def __init__(self, rate: float, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.dropout = nn.Dropout(rate)

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        return self.dropout(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


@register_layer
class Embedding(Layer):
    """Integer ids (B, T) -> vectors (B, T, output_dim). ``mask_zero=True`` treats id 0 as padding and passes
    a mask to the following layers (an LSTM then stops at each sequence's end). Keras' U(-0.05, 0.05) init."""

    float_input = False  # token ids stay integers

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if input_dim < 1 or output_dim < 1:
            raise ValueError("Embedding: input_dim and output_dim must be >= 1")
        self.input_dim, self.output_dim, self.mask_zero = input_dim, output_dim, mask_zero
        self.embedding = nn.Embedding(input_dim, output_dim)
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        self.built = True

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if x.is_floating_point():
            if not torch.equal(x, x.round()):
                raise ValueError("Embedding expects integer token ids, got non-integer floats")
            x = x.long()
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.input_dim):
            raise ValueError(f"Embedding: token ids must lie in [0, {self.input_dim - 1}], found "
                             f"[{int(x.min())}, {int(x.max())}]")
        return self.embedding(x.long())

    def compute_mask(self, x: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        return (x != 0) if self.mask_zero else None

    def output_shape_for(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "mask_zero": self.mask_zero}


@register_layer
class LayerNormalization(Layer):
    """Layer normalisation over the last axis (Ba et al. 2016), Keras' epsilon 1e-3."""

    supports_masking = True

    def __init__(self, epsilon: float = 1e-3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.norm: Optional[nn.LayerNorm] = None

    def build(self, input_shape: Shape) -> None:
        self.norm = nn.LayerNorm(input_shape[-1], eps=self.epsilon)

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        return self.norm(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


@register_layer
class Masking(Layer):
    """Mark time steps whose features all equal ``mask_value`` as padding (B, T, F) -> mask (B, T)."""

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_mask(self, x: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        return (x != self.mask_value).any(dim=-1)

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        keep = (x != self.mask_value).any(dim=-1, keepdim=True)
        return x * keep.to(x.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}


@register_layer
class TimeDistributed(Layer):
    """Apply ``layer`` to every time step: (B, T, ...) -> (B*T, ...) -> layer -> (B, T, ...)."""

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed wraps an lstmkit layer, got {type(layer).__name__}")
        self.layer = layer

    def build(self, input_shape: Shape) -> None:
        self.layer.ensure_built(tuple(input_shape[1:]))

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if x.dim() < 3:
            raise ValueError(f"TimeDistributed needs (batch, time, ...) inputs, got shape {tuple(x.shape)}")
        B, T = x.shape[:2]
        y = self.layer(x.reshape(B * T, *x.shape[2:]))  # (B*T, ...)
        return y.reshape(B, T, *y.shape[1:])

    def output_shape_for(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *self.layer.output_shape_for(tuple(input_shape[1:])))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @property
    def float_input(self) -> bool:  # the wrapped layer decides (an Embedding keeps ids as integers)
        return self.layer.float_input


@register_layer
class Activation(Layer):
    """``Activation("relu")``: an activation function by name (or a callable) on its own."""

    supports_masking = True

    def __init__(self, activation: Any, **kwargs) -> None:
        super().__init__(**kwargs)
        self.activation = activation
        self._act = get_activation(activation)

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        return self._act(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation}


@register_layer
class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...). As in Keras, the mask is dropped."""

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        return x.reshape(x.shape[0], -1)

    def output_shape_for(self, input_shape: Shape) -> Shape:
        if any(d is None for d in input_shape):
            return (None,)
        n = 1
        for d in input_shape:
            n *= d
        return (n,)


@register_layer
class Reshape(Layer):
    """``Reshape(target_shape)``: each sample to ``target_shape`` (batch excluded; one entry may be -1)."""

    def __init__(self, target_shape: Any, **kwargs) -> None:
        super().__init__(**kwargs)
        shape = tuple(target_shape)
        if sum(d == -1 for d in shape) > 1 or any(not isinstance(d, int) or (d < 1 and d != -1) for d in shape):
            raise ValueError(f"Reshape: target_shape must hold positive ints and at most one -1, got {target_shape}")
        self.target_shape = shape

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        try:
            return x.reshape(x.shape[0], *self.target_shape)
        except RuntimeError:
            raise ValueError(f"Reshape: samples of shape {tuple(x.shape[1:])} cannot become {self.target_shape}") \
                from None

    def output_shape_for(self, input_shape: Shape) -> Shape:
        if -1 not in self.target_shape:
            return self.target_shape
        if any(d is None for d in input_shape):
            return tuple(None if d == -1 else d for d in self.target_shape)
        total = 1
        for d in input_shape:
            total *= d
        known = 1
        for d in self.target_shape:
            known *= d if d != -1 else 1
        if total % known:
            raise ValueError(f"Reshape: samples of shape {tuple(input_shape)} cannot become {self.target_shape}")
        return tuple(total // known if d == -1 else d for d in self.target_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@register_layer
class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the LSTM autoencoder's and seq2seq's bridge from a vector
    back to a sequence."""

    def __init__(self, n: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"RepeatVector: n must be a positive int, got {n!r}")
        self.n = n

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if x.dim() != 2:
            raise ValueError(f"RepeatVector needs (batch, features) inputs, got shape {tuple(x.shape)}")
        return x.unsqueeze(1).expand(-1, self.n, -1)  # (B, n, F)

    def output_shape_for(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(f"RepeatVector needs (batch, features) inputs, got {(None, *input_shape)}")
        return (self.n, input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


@register_layer
class SpatialDropout1D(Layer):
    """Dropout of whole feature channels: one keep/drop draw per (sample, channel), shared by every step
    (Tompson et al. 2015), so neighbouring steps cannot stand in for a dropped feature."""

    supports_masking = True

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"SpatialDropout1D: rate must be in [0, 1), got {rate}")
        self.rate, self.seed = rate, seed
        self._gen = None if seed is None else torch.Generator().manual_seed(int(seed))

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"SpatialDropout1D needs (batch, steps, channels) inputs, got shape {tuple(x.shape)}")
        if not self.training or self.rate == 0.0:
            return x
        keep = torch.rand((x.shape[0], 1, x.shape[2]), generator=self._gen).to(x.device) >= self.rate  # (B, 1, C)
        return x * keep.to(x.dtype) / (1.0 - self.rate)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, **({"seed": self.seed} if self.seed is not None else {})}
