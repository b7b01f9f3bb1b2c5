"""Weight converters: Keras LSTM weights -> :class:`lstmkit.LSTM`, and ``torch.nn.LSTM`` <-> lstmkit.

Keras stores one LSTM layer as ``kernel`` (I, 4H), ``recurrent_kernel`` (H, 4H) and ``bias`` (4H,), columns in
gate order i, f, c, o (c is the candidate, our g): the transpose of torch's layout, same order, one bias.
The torch converters are :meth:`LSTM.from_torch` and :meth:`LSTM.to_torch`; this module sits above
:mod:`lstmkit.nn` and offers them as functions too.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .kernels import activations
from .nn import LSTM

__all__ = ["from_keras", "from_torch", "to_torch"]


def from_torch(module: nn.LSTM, **variant) -> LSTM:
    """:meth:`LSTM.from_torch` as a function."""
    return LSTM.from_torch(module, **variant)


def to_torch(lstm: LSTM) -> nn.LSTM:
    """:meth:`LSTM.to_torch` as a function."""
    return lstm.to_torch()


def _as_array(w: Any, what: str) -> np.ndarray:
    if isinstance(w, torch.Tensor):
        w = w.detach().cpu().numpy()
    arr = np.asarray(w)
    if arr.dtype.kind != "f":
        raise TypeError(f"{what} must be a float array, got dtype {arr.dtype}")
    return arr


def from_keras(weights: Any, **options) -> LSTM:
    """Build an :class:`LSTM` from Keras LSTM weights.

    Args:
        weights: a Keras ``LSTM`` layer (its ``get_weights()`` and ``get_config()`` are read), a list
            ``[kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,)]`` (bias omitted when
            ``use_bias=False``), or a list of such lists for stacked layers.
        options: :class:`LSTM` keyword arguments; ``batch_first`` defaults to True, as Keras is
            batch-major. Activations default to the Keras layer's, else tanh/sigmoid.

    Keras' ``hard_sigmoid`` is Keras 3's ``clip(x / 6 + 1/2, 0, 1)``; weights from Keras 2 models that used
    its ``clip(0.2 x + 0.5, 0, 1)`` need ``recurrent_activation="hard_sigmoid_legacy"``.

    Example:
        >>> import numpy as np
        >>> k, r, b = np.zeros((3, 8), "f"), np.zeros((2, 8), "f"), np.zeros(8, "f")
        >>> from_keras([k, r, b]).weight_ih_l0.shape
        torch.Size([8, 3])
    """
    if hasattr(weights, "get_weights") and hasattr(weights, "get_config"):
        kcfg = weights.get_config()
        options.setdefault("activation", activations.from_keras(kcfg.get("activation", "tanh")))
        options.setdefault("recurrent_activation", activations.from_keras(kcfg.get("recurrent_activation", "sigmoid")))
        if kcfg.get("use_bias", True) is False:
            options.setdefault("bias", False)
        weights = weights.get_weights()
    if not isinstance(weights, Sequence) or len(weights) == 0:
        raise TypeError("from_keras expects a Keras LSTM layer or a list of its weight arrays")
    stacked = isinstance(weights[0], Sequence) and not isinstance(weights[0], np.ndarray)
    layers = [list(w) for w in weights] if stacked else [list(weights)]
    bias = options.pop("bias", True)
    arrays = []
    for k, layer in enumerate(layers):
        expected = 3 if bias else 2
        if len(layer) != expected:
            raise ValueError(
                f"Keras layer {k} has {len(layer)} weight arrays, expected {expected} "
                "(kernel, recurrent_kernel" + (", bias)" if bias else ")")
            )
        arrays.append([_as_array(w, f"layer {k} weight {j}") for j, w in enumerate(layer)])
    kernel0, rec0 = arrays[0][0], arrays[0][1]
    if kernel0.ndim != 2 or rec0.ndim != 2 or rec0.shape[1] != 4 * rec0.shape[0]:
        raise ValueError(
            f"expected kernel (I, 4H) and recurrent_kernel (H, 4H), got {kernel0.shape} and {rec0.shape}"
        )
    input_size, hidden_size = kernel0.shape[0], rec0.shape[0]
    options.setdefault("batch_first", True)
    lstm = LSTM(input_size, hidden_size, num_layers=len(arrays), bias=bias, **options)
    if lstm.config.cifg or lstm.config.proj_size or lstm.config.bidirectional:
        raise ValueError("from_keras converts plain Keras LSTM layers: cifg, proj_size and bidirectional do not apply")
    with torch.no_grad():
        for k, layer in enumerate(arrays):
            kernel, rec = layer[0], layer[1]
            want_in = lstm.config.layer_input_size(k)
            if kernel.shape != (want_in, 4 * hidden_size) or rec.shape != (hidden_size, 4 * hidden_size):
                raise ValueError(
                    f"Keras layer {k}: kernel {kernel.shape} / recurrent_kernel {rec.shape} do not match "
                    f"({want_in}, {4 * hidden_size}) / ({hidden_size}, {4 * hidden_size})"
                )
            getattr(lstm, f"weight_ih_l{k}").copy_(torch.from_numpy(kernel.T.copy()))
            getattr(lstm, f"weight_hh_l{k}").copy_(torch.from_numpy(rec.T.copy()))
            if bias:
                if layer[2].shape != (4 * hidden_size,):
                    raise ValueError(f"Keras layer {k}: bias {layer[2].shape}, expected ({4 * hidden_size},)")
                getattr(lstm, f"bias_ih_l{k}").copy_(torch.from_numpy(layer[2].copy()))
                getattr(lstm, f"bias_hh_l{k}").zero_()  # Keras has one bias; ours is split in two
    return lstm
