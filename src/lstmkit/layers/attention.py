"""Keras' attention layers for recurrent models: ``Attention`` (dot-product, Luong et al. 2015) and
``AdditiveAttention`` (Bahdanau et al. 2015), called on ``[query, value]`` or ``[query, value, key]``."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .base import Layer, Shape, register_layer
from .initializers import get_initializer

_MASKED = 1.0e9  # Keras subtracts this from masked scores (65504 in float16)


class _BaseAttention(Layer):
    multi_input = True
    supports_masking = True
    #: call arguments that change the outputs' number (read by the functional API's shape inference)
    shape_kwargs = ("return_attention_scores",)

    def __init__(self, dropout: float = 0.0, seed: Optional[int] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1), got {dropout}")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise TypeError(f"{type(self).__name__}: seed must be an int or None, got {seed!r}")
        self.dropout, self.seed = float(dropout), seed
        self._generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None

    def _check(self, shapes: Sequence[Shape]) -> None:
        name = type(self).__name__
        if not isinstance(shapes, (list, tuple)) or not 2 <= len(shapes) <= 3:
            raise ValueError(f"{name} takes a list [query, value] or [query, value, key], got "
                             f"{len(shapes) if isinstance(shapes, (list, tuple)) else type(shapes).__name__}")
        q, v = shapes[0], shapes[1]
        k = shapes[2] if len(shapes) == 3 else v
        if len(q) != 2 or len(v) != 2 or len(k) != 2:
            raise ValueError(f"{name}: query, value and key must be (batch, steps, dim), got shapes "
                             f"{[(None, *s) for s in shapes]}")
        if k[0] is not None and v[0] is not None and k[0] != v[0]:
            raise ValueError(f"{name}: key and value must have the same number of steps, got {k[0]} and {v[0]}")
        if q[-1] is not None and k[-1] is not None and q[-1] != k[-1]:
            raise ValueError(f"{name}: query and key must have the same width, got {q[-1]} and {k[-1]}")

    def build(self, input_shape: Sequence[Shape]) -> None:
        self._check(input_shape)

    def scores(self, q: Tensor, k: Tensor) -> Tensor:
        raise NotImplementedError

    def call(self, x: list[Tensor], mask: Any = None, return_attention_scores: bool = False,
             use_causal_mask: bool = False):
        self._check([tuple(t.shape[1:]) for t in x])
        q, v = x[0], x[1]
        k = x[2] if len(x) == 3 else v
        if mask is not None and (not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3):
            raise ValueError(f"{type(self).__name__}: mask must be a list [query_mask, value_mask]")
        q_mask, v_mask = (mask[0], mask[1]) if mask is not None else (None, None)
        scores = self.scores(q, k)  # (B, Tq, Tv)
        valid = None
        if v_mask is not None:
            valid = v_mask.bool().to(scores.device).unsqueeze(-2)  # (B, 1, Tv)
        if use_causal_mask:
            Tq, Tv = scores.shape[-2:]
            causal = torch.ones(Tq, Tv, dtype=torch.bool, device=scores.device).tril().unsqueeze(0)  # (1, Tq, Tv)
            valid = causal if valid is None else valid & causal
        if valid is not None:
            big = 65504.0 if scores.dtype == torch.float16 else _MASKED
            scores = torch.where(valid, scores, scores - big)
        weights = torch.softmax(scores, dim=-1)  # (B, Tq, Tv)
        if self.training and self.dropout > 0:
            keep = torch.empty(weights.shape, dtype=weights.dtype).bernoulli_(1 - self.dropout,
                                                                              generator=self._generator)
            weights = weights * keep.to(weights.device) / (1 - self.dropout)
        out = weights @ v  # (B, Tq, dim_v)
        if q_mask is not None:
            out = torch.where(q_mask.bool().to(out.device).unsqueeze(-1), out, 0.0)
        return (out, weights) if return_attention_scores else out

    def compute_mask(self, x: Any, mask: Any) -> Optional[Tensor]:
        return None if mask is None else mask[0]

    def output_shape_for(self, input_shape: Sequence[Shape]) -> Shape:
        self._check(input_shape)
        return (*input_shape[0][:-1], input_shape[1][-1])

    def compute_output_shape(self, input_shape: Sequence[Shape], return_attention_scores: bool = False):
        q, v = tuple(input_shape[0]), tuple(input_shape[1])
        k = tuple(input_shape[2]) if len(input_shape) == 3 else v
        out = (*q[:-1], v[-1])
        return [out, (*q[:-1], k[-2])] if return_attention_scores else out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dropout": self.dropout, "seed": self.seed}


@register_layer
class Attention(_BaseAttention):
    """Keras' ``Attention``: ``softmax(scale * query @ key^T) @ value`` (``score_mode="dot"``) or
    ``concat_score_weight * sum(tanh(scale * (query + key)))`` (``"concat"``), masked by the value mask
    (and ``use_causal_mask=True``), the outputs at masked query steps zero. ``use_scale`` learns the scalar
    scale (initialised to 1). ``return_attention_scores=True`` also returns the weights (B, Tq, Tv).

    >>> q, v = torch.randn(2, 4, 8), torch.randn(2, 6, 8)
    >>> out, w = Attention()([q, v], return_attention_scores=True)
    >>> out.shape, w.shape
    (torch.Size([2, 4, 8]), torch.Size([2, 4, 6]))
    """

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: Optional[int] = None, **kwargs) -> None:
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention: score_mode must be 'dot' or 'concat', got {score_mode!r}")
        self.use_scale, self.score_mode = bool(use_scale), score_mode

    def build(self, input_shape: Sequence[Shape]) -> None:
        super().build(input_shape)
        if self.use_scale:
            self.scale = nn.Parameter(torch.ones(()))
        if self.score_mode == "concat":
            self.concat_score_weight = nn.Parameter(torch.ones(()))

    def scores(self, q: Tensor, k: Tensor) -> Tensor:
        if self.score_mode == "dot":
            s = q @ k.transpose(-2, -1)  # (B, Tq, Tv)
            return s * self.scale if self.use_scale else s
        pair = q.unsqueeze(-2) + k.unsqueeze(-3)  # (B, Tq, Tv, dim)
        if self.use_scale:
            pair = self.scale * pair
        return self.concat_score_weight * torch.tanh(pair).sum(-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode}


@register_layer
class AdditiveAttention(_BaseAttention):
    """Keras' ``AdditiveAttention`` (Bahdanau-style): scores ``sum(scale * tanh(query + key), -1)`` with a
    learned per-feature ``scale`` (glorot-uniform, ``use_scale=True``), masks as in :class:`Attention`.

    >>> AdditiveAttention()([torch.randn(2, 3, 5), torch.randn(2, 7, 5)]).shape
    torch.Size([2, 3, 5])
    """

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, seed: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_shape: Sequence[Shape]) -> None:
        super().build(input_shape)
        if self.use_scale:
            dim = input_shape[0][-1]
            self.scale = nn.Parameter(get_initializer("glorot_uniform")((dim,)).float())

    def scores(self, q: Tensor, k: Tensor) -> Tensor:
        t = torch.tanh(q.unsqueeze(-2) + k.unsqueeze(-3))  # (B, Tq, Tv, dim)
        return (self.scale * t).sum(-1) if self.use_scale else t.sum(-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale}
