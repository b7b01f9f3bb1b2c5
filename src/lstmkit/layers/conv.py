"""Keras' 1-D convolution and pooling layers on (batch, steps, channels) inputs: ``Conv1D``, ``MaxPooling1D``,
``AveragePooling1D``, ``GlobalMaxPooling1D``, ``GlobalAveragePooling1D``. Keras' padding rules ("valid",
"same" with the extra padding on the right as TensorFlow places it, "causal"), Keras' weight layout
(kernel ``(kernel_size, in, filters)``) and mask handling (convolution and pooling drop the mask; global
average pooling averages the valid steps only).

>>> import torch
>>> conv = Conv1D(16, 5, activation="relu", padding="same", input_shape=(40, 8))
>>> conv(torch.randn(2, 40, 8)).shape
torch.Size([2, 40, 16])
>>> GlobalMaxPooling1D()(MaxPooling1D(4)(conv(torch.randn(2, 40, 8)))).shape
torch.Size([2, 16])
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Layer, Shape, get_activation, register_layer
from .initializers import get_initializer, initializer_spec, regularizer_spec

PADDINGS = ("valid", "same", "causal")


def _int(value: Any, what: str) -> int:
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


def conv_length(steps: Optional[int], size: int, stride: int, padding: str, dilation: int = 1) -> Optional[int]:
    """Output steps of a 1-D convolution or pooling window, as Keras computes them."""
    if steps is None:
        return None
    if padding in ("same", "causal"):
        return -(-steps // stride)
    span = (size - 1) * dilation + 1
    return (steps - span) // stride + 1 if steps >= span else 0


def same_padding(steps: int, size: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same": output ceil(steps / stride), the odd padding step on the right."""
    out = -(-steps // stride)
    total = max((out - 1) * stride + (size - 1) * dilation + 1 - steps, 0)
    return total // 2, total - total // 2


@register_layer
class Conv1D(Layer):
    """``Conv1D(filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None)`` over the
    steps of (batch, steps, channels) inputs. Glorot-uniform kernel, zero bias, as Keras."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: str = "channels_last", dilation_rate: Any = 1, groups: int = 1,
                 activation: Optional[str] = None, use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters = _int(filters, "Conv1D: filters")
        self.kernel_size = _int(kernel_size, "Conv1D: kernel_size")
        self.strides = _int(strides, "Conv1D: strides")
        self.dilation_rate = _int(dilation_rate, "Conv1D: dilation_rate")
        self.groups = _int(groups, "Conv1D: groups")
        if padding not in PADDINGS:
            raise ValueError(f"Conv1D: padding must be one of {PADDINGS}, got {padding!r}")
        if data_format != "channels_last":
            raise ValueError("Conv1D: only data_format='channels_last' (batch, steps, channels) is supported")
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError("Conv1D: strides > 1 with dilation_rate > 1 is not supported (nor is it in Keras)")
        self.padding, self.activation, self.use_bias = padding, activation, use_bias
        self.kernel_initializer = initializer_spec(kernel_initializer)
        self.bias_initializer = initializer_spec(bias_initializer)
        get_initializer(self.kernel_initializer), get_initializer(self.bias_initializer)
        self.kernel_regularizer = regularizer_spec(kernel_regularizer)
        self.bias_regularizer = regularizer_spec(bias_regularizer)
        self._act = get_activation(activation)
        self.conv: Optional[nn.Conv1d] = None

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"Conv1D needs (steps, channels) inputs with known channels, got {input_shape}")
        c_in = input_shape[-1]
        if c_in % self.groups or self.filters % self.groups:
            raise ValueError(f"Conv1D: groups={self.groups} must divide the input channels ({c_in}) and filters")
        self.conv = nn.Conv1d(c_in, self.filters, self.kernel_size, stride=self.strides,
                              dilation=self.dilation_rate, groups=self.groups, bias=self.use_bias)
        shape = (self.kernel_size, c_in // self.groups, self.filters)  # Keras' kernel layout
        with torch.no_grad():
            if self.kernel_initializer == "glorot_uniform":
                w = torch.empty(shape)
                fan_in, fan_out = self.kernel_size * shape[1], self.kernel_size * self.filters
                bound = (6.0 / (fan_in + fan_out)) ** 0.5
                w.uniform_(-bound, bound)
            else:
                w = get_initializer(self.kernel_initializer)(shape)
            self.conv.weight.copy_(w.permute(2, 1, 0))  # (filters, in, k)
            if self.use_bias:
                self.conv.bias.copy_(get_initializer(self.bias_initializer)((self.filters,)))
        self.add_l2("conv.weight", self.kernel_regularizer, "kernel_regularizer")
        if self.use_bias:
            self.add_l2("conv.bias", self.bias_regularizer, "bias_regularizer")

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.conv.in_channels:
            raise ValueError(f"Conv1D was built for (batch, steps, {self.conv.in_channels}) inputs, got shape "
                             f"{tuple(x.shape)}")
        z = x.transpose(1, 2)  # (B, C, T)
        k, s, d = self.kernel_size, self.strides, self.dilation_rate
        if self.padding == "same":
            z = F.pad(z, same_padding(z.shape[-1], k, s, d))
        elif self.padding == "causal":
            z = F.pad(z, ((k - 1) * d, 0))
        if z.shape[-1] < (k - 1) * d + 1:
            raise ValueError(f"Conv1D: {x.shape[1]} steps are fewer than the kernel spans ({(k - 1) * d + 1})")
        return self._act(self.conv(z).transpose(1, 2))  # (B, T', filters)

    def output_shape_for(self, input_shape: Shape) -> Shape:
        return (conv_length(input_shape[0], self.kernel_size, self.strides, self.padding, self.dilation_rate),
                self.filters)

    def _keras_weights(self) -> list[Tensor]:
        return [self.conv.weight.permute(2, 1, 0)] + ([self.conv.bias] if self.use_bias else [])

    def get_config(self) -> dict[str, Any]:
        cfg = {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
               "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
               "groups": self.groups, "activation": self.activation, "use_bias": self.use_bias,
               "kernel_regularizer": self.kernel_regularizer, "bias_regularizer": self.bias_regularizer}
        for key, default in (("kernel_initializer", "glorot_uniform"), ("bias_initializer", "zeros")):
            if getattr(self, key) != default:
                cfg[key] = getattr(self, key)
        return cfg


class _Pooling1D(Layer):
    reduce = "max"

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str = "channels_last", **kwargs) -> None:
        super().__init__(**kwargs)
        self.pool_size = _int(pool_size, f"{type(self).__name__}: pool_size")
        self.strides = self.pool_size if strides is None else _int(strides, f"{type(self).__name__}: strides")
        if padding not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same', got {padding!r}")
        if data_format != "channels_last":
            raise ValueError(f"{type(self).__name__}: only data_format='channels_last' is supported")
        self.padding = padding

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"{type(self).__name__} needs (batch, steps, channels) inputs, got {tuple(x.shape)}")
        z = x.transpose(1, 2)  # (B, C, T)
        if self.padding == "same":
            left, right = same_padding(z.shape[-1], self.pool_size, self.strides)
            if self.reduce == "max":
                z = F.pad(z, (left, right), value=float("-inf"))
                y = F.max_pool1d(z, self.pool_size, self.strides)
            else:  # Keras averages over the real steps of a window only
                ones = F.pad(torch.ones_like(z[:, :1]), (left, right))
                z = F.pad(z, (left, right))
                y = F.avg_pool1d(z, self.pool_size, self.strides) / F.avg_pool1d(ones, self.pool_size, self.strides)
        else:
            if z.shape[-1] < self.pool_size:
                raise ValueError(f"{type(self).__name__}: {z.shape[-1]} steps are fewer than pool_size "
                                 f"{self.pool_size}")
            pool = F.max_pool1d if self.reduce == "max" else F.avg_pool1d
            y = pool(z, self.pool_size, self.strides)
        return y.transpose(1, 2)  # (B, T', C)

    def compute_mask(self, x: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        return None

    def output_shape_for(self, input_shape: Shape) -> Shape:
        return (conv_length(input_shape[0], self.pool_size, self.strides, self.padding), input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


@register_layer
class MaxPooling1D(_Pooling1D):
    """The largest value of each window of ``pool_size`` steps, ``strides`` apart (default: pool_size)."""

    reduce = "max"


@register_layer
class AveragePooling1D(_Pooling1D):
    """The mean of each window of ``pool_size`` steps, ``strides`` apart (default: pool_size)."""

    reduce = "mean"


class _GlobalPooling1D(Layer):
    supports_masking = True

    def __init__(self, data_format: str = "channels_last", keepdims: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if data_format != "channels_last":
            raise ValueError(f"{type(self).__name__}: only data_format='channels_last' is supported")
        self.keepdims = bool(keepdims)

    def compute_mask(self, x: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        return None

    def output_shape_for(self, input_shape: Shape) -> Shape:
        return (1, input_shape[-1]) if self.keepdims else (input_shape[-1],)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 3:
            raise ValueError(f"{type(self).__name__} needs (batch, steps, channels) inputs, got {tuple(x.shape)}")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "keepdims": self.keepdims}


@register_layer
class GlobalMaxPooling1D(_GlobalPooling1D):
    """(batch, steps, channels) -> (batch, channels): the largest value over the steps. As in Keras, a mask
    is not used (padded steps take part)."""

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        self._check(x)
        return x.amax(dim=1, keepdim=self.keepdims)


@register_layer
class GlobalAveragePooling1D(_GlobalPooling1D):
    """(batch, steps, channels) -> (batch, channels): the mean over the steps, over the valid steps only
    when a mask comes with the input (as Keras)."""

    def call(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        self._check(x)
        if mask is None:
            return x.mean(dim=1, keepdim=self.keepdims)
        w = mask.to(x.dtype).unsqueeze(-1)  # (B, T, 1)
        return (x * w).sum(dim=1, keepdim=self.keepdims) / w.sum(dim=1, keepdim=self.keepdims).clamp_min(1.0)


__all__ = ["AveragePooling1D", "Conv1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "MaxPooling1D"]
