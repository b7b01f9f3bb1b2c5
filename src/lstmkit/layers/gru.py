"""Keras' ``GRU`` layer (Cho et al. 2014), the recurrent layer LSTM programs compare against, with Keras'
weights, masks and defaults."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .base import Shape, get_activation, register_layer
from .initializers import get_initializer, initializer_spec, regularizer_spec
from .recurrent import RecurrentLayer, valid_steps_first


def _torch_order(w: Tensor, H: int) -> Tensor:
    """Keras' gate blocks z, r, h along the last axis -> torch's r, z, n."""
    return torch.cat([w[..., H:2 * H], w[..., :H], w[..., 2 * H:]], dim=-1)


def _reverse_within(x: Tensor, lengths: Tensor) -> Tensor:
    """Each sequence's first ``length`` steps reversed in place (padding after them stays where it is)."""
    B, T = x.shape[:2]
    t = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    L = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    idx = torch.where(t < L, L - 1 - t, t)  # (B, T)
    return x.gather(1, idx.view(B, T, *([1] * (x.dim() - 2))).expand_as(x))


@register_layer
class GRU(RecurrentLayer):
    """Keras' ``GRU``: ``h = z * h_prev + (1 - z) * act(x W_h + r * (h_prev U_h + b_rh))`` with update gate z
    and reset gate r (``reset_after=True``, Keras' default; ``reset_after=False`` applies r before the
    recurrent product, as in Cho et al. 2014).

    Keras' weights and layout: ``kernel`` (features, 3 units), ``recurrent_kernel`` (units, 3 units), gate
    order z, r, h, and ``bias`` (2, 3 units) with ``reset_after`` (input and recurrent biases), (3 units,)
    without. Masks work as for :class:`~lstmkit.layers.LSTM` (right or left padding, gaps); ``dropout`` and
    ``recurrent_dropout`` draw one mask per sequence (shared by the three gates), ``seed`` gives the layer its
    own stream; ``return_state`` adds the final h; ``stateful`` carries it between batches;
    ``Bidirectional(GRU(...))`` runs both directions. The default configuration (tanh, sigmoid,
    ``reset_after``, no recurrent dropout) runs on torch's native GRU kernel; the others on a loop over time.
    ``unroll``, ``implementation`` and ``use_cudnn`` are accepted and change nothing.

    >>> gru = GRU(8, return_sequences=True, input_shape=(5, 3))
    >>> gru(torch.randn(2, 5, 3)).shape
    torch.Size([2, 5, 8])
    >>> [w.shape for w in gru.get_weights()]
    [(3, 24), (8, 24), (2, 24)]
    """

    def __init__(self, units: int, activation: str = "tanh", recurrent_activation: str = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, seed: Optional[int] = None,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, unroll: bool = False, reset_after: bool = True, use_cudnn: Any = "auto",
                 implementation: int = 2, zero_output_for_mask: bool = False, bidirectional: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(f"GRU: units must be a positive int, got {units!r}")
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"GRU: {name} must be in [0, 1), got {rate}")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise TypeError(f"GRU: seed must be an int or None, got {seed!r}")
        if implementation not in (1, 2):
            raise ValueError(f"GRU: implementation must be 1 or 2 (Keras' modes), got {implementation!r}")
        self.units, self.activation, self.recurrent_activation = units, activation, recurrent_activation
        self._act, self._ract = get_activation(activation), get_activation(recurrent_activation)
        self.use_bias, self.reset_after = bool(use_bias), bool(reset_after)
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.stateful, self.bidirectional = go_backwards, stateful, bool(bidirectional)
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.kernel_initializer = initializer_spec(kernel_initializer)
        self.recurrent_initializer = initializer_spec(recurrent_initializer)
        self.bias_initializer = initializer_spec(bias_initializer)
        for spec in (self.kernel_initializer, self.recurrent_initializer, self.bias_initializer):
            get_initializer(spec)  # an unknown name fails here, not at the first batch
        self.kernel_regularizer = regularizer_spec(kernel_regularizer)
        self.recurrent_regularizer = regularizer_spec(recurrent_regularizer)
        self.bias_regularizer = regularizer_spec(bias_regularizer)
        self.unroll, self.implementation, self.use_cudnn = bool(unroll), implementation, use_cudnn
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.seed = None if seed is None else int(seed)
        self._rng_state = None if seed is None else torch.Generator().manual_seed(self.seed).get_state()
        self._state: Optional[Tensor] = None
        self._native: Optional[nn.GRU] = None
        if self.input_shape_arg is not None:
            self.ensure_built(self.input_shape_arg)

    @property
    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    @property
    def out_width(self) -> int:
        return self.units * (2 if self.bidirectional else 1)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"GRU expects input_shape (timesteps, features) with known features, got {input_shape}")
        I, H = input_shape[-1], self.units
        for sfx in self._suffixes:  # Keras' order of weights: the forward direction's, then the backward one's
            self.register_parameter("kernel" + sfx, nn.Parameter(
                get_initializer(self.kernel_initializer)((I, 3 * H)).float()))
            self.register_parameter("recurrent_kernel" + sfx, nn.Parameter(
                get_initializer(self.recurrent_initializer)((H, 3 * H)).float()))
            self.add_l2("kernel" + sfx, self.kernel_regularizer, "kernel_regularizer")
            self.add_l2("recurrent_kernel" + sfx, self.recurrent_regularizer, "recurrent_regularizer")
            if self.use_bias:
                shape = (2, 3 * H) if self.reset_after else (3 * H,)
                bias = get_initializer(self.bias_initializer)(shape).float()
                self.register_parameter("bias" + sfx, nn.Parameter(bias))
                self.add_l2("bias" + sfx, self.bias_regularizer, "bias_regularizer")
        # torch's kernel computes exactly Keras' reset_after GRU with tanh and sigmoid: the weights are
        # handed to it (reordered) at each call, so the parameters stay Keras' own
        # (kept out of the module tree: its own parameters are placeholders on the meta device)
        object.__setattr__(self, "_native", nn.GRU(I, H, bias=self.use_bias, batch_first=True,
                                                   bidirectional=self.bidirectional, device="meta"))
        self.input_size = I

    # --- state ------------------------------------------------------------------------------------------

    @property
    def states(self) -> Optional[list[Tensor]]:
        """A stateful layer's carried ``[h]`` (per direction), or None before the first batch."""
        return None if self._state is None else list(self._state.unbind(0))

    def _state_shapes(self, batch: Any) -> list[tuple]:
        return [(batch, self.units)]

    def _initial_state(self, x: Tensor, initial_state: Any) -> Optional[Tensor]:
        D, B = len(self._suffixes), x.shape[0]
        if initial_state is not None:
            if isinstance(initial_state, (Tensor, np.ndarray)) and D == 1:
                initial_state = [initial_state]
            if not isinstance(initial_state, Sequence) or len(initial_state) != D:
                raise ValueError(f"this GRU takes initial_state as a list of {D} (batch, units) tensor"
                                 f"{'s (one per direction)' if D == 2 else ''}")
            states = [torch.as_tensor(np.asarray(s) if not isinstance(s, Tensor) else s).to(x.device, x.dtype)
                      for s in initial_state]
            for k, s in enumerate(states):
                if tuple(s.shape) != (B, self.units):
                    raise ValueError(f"initial_state[{k}] has shape {tuple(s.shape)}, expected (batch={B}, "
                                     f"{self.units})")
            return torch.stack(states)  # (D, B, H)
        if not self.stateful or self._state is None:
            return None
        if self._state.shape[1] != B:
            raise ValueError(f"this stateful GRU carries state for {self._state.shape[1]} sequences but got a "
                             f"batch of {B}; keep the batch size fixed (Keras' rule) or call reset_state()")
        return self._state

    # --- the forward pass -------------------------------------------------------------------------------

    def call(self, x: Tensor, mask: Optional[Tensor] = None, initial_state: Any = None):
        if x.dim() != 3:
            raise ValueError(f"GRU expects (batch, timesteps, features) inputs, got shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"GRU was built for {self.input_size} features per step, got shape {tuple(x.shape)}")
        m = self._check_mask(mask, x) if mask is not None else None
        h0 = self._initial_state(x, initial_state)  # (D, B, H) or None
        if self.go_backwards:
            x = x.flip(1)
            m = m.flip(1) if m is not None else None
        if m is not None and bool(m.all()):
            m = None
        B, T = x.shape[:2]
        if m is None:
            lengths = torch.full((B,), T, dtype=torch.long)
        else:
            x, lengths = valid_steps_first(x, m)  # (B, T, I), (B,)
        empty = lengths == 0
        run_lengths = lengths.clamp(min=1)
        with self._own_random_stream():
            if self.dropout > 0 and self.training:  # (B, 1, I): one mask per sequence, drawn on the CPU
                keep = torch.empty(B, 1, x.shape[2], dtype=x.dtype).bernoulli_(1 - self.dropout).to(x.device)
                x = x * keep / (1 - self.dropout)
            rec_keep = None
            if self.recurrent_dropout > 0 and self.training:  # (D, B, H)
                rate = self.recurrent_dropout
                rec_keep = (torch.empty(len(self._suffixes), B, self.units, dtype=x.dtype).bernoulli_(1 - rate)
                            / (1 - rate)).to(x.device)
            if self._native_ok(rec_keep):
                out, h = self._run_native(x, h0, run_lengths, m is not None)
            else:
                out, h = self._run_loop(x, h0, run_lengths, rec_keep)
        if bool(empty.any()):  # an all-masked sequence keeps its initial state
            start = h0 if h0 is not None else torch.zeros_like(h)
            h = torch.where(empty.to(h.device).view(1, B, 1), start, h)
        if self.stateful:
            self._state = h.detach()
        y = self._outputs(out, h, m)
        if self.return_state:
            return (y, *h.unbind(0))
        return y

    def _native_ok(self, rec_keep: Optional[Tensor]) -> bool:
        return (self.reset_after and rec_keep is None and self.activation == "tanh"
                and self.recurrent_activation == "sigmoid")

    def _run_native(self, x: Tensor, h0: Optional[Tensor], lengths: Tensor, packed: bool) -> tuple[Tensor, Tensor]:
        """torch's GRU kernel with this layer's weights reordered into its layout (differentiable)."""
        H, params = self.units, {}
        for sfx in self._suffixes:
            tsfx = "_l0" + sfx
            params["weight_ih" + tsfx] = _torch_order(getattr(self, "kernel" + sfx), H).T.contiguous()
            params["weight_hh" + tsfx] = _torch_order(getattr(self, "recurrent_kernel" + sfx), H).T.contiguous()
            if self.use_bias:
                bias = _torch_order(getattr(self, "bias" + sfx), H)  # (2, 3H)
                params["bias_ih" + tsfx], params["bias_hh" + tsfx] = bias[0], bias[1]
        inp = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False) if packed else x
        out, h = functional_call(self._native, params, (inp, h0))
        if packed:
            out = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
        return out, h  # (B, T, D*H), (D, B, H)

    def _run_loop(self, x: Tensor, h0: Optional[Tensor], lengths: Tensor,
                  rec_keep: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        """The reference recurrence (any activation, ``reset_after=False``, recurrent dropout)."""
        B, T, _ = x.shape
        H = self.units
        outs, finals = [], []
        for d, sfx in enumerate(self._suffixes):
            xs = _reverse_within(x, lengths) if d == 1 else x
            K, U = getattr(self, "kernel" + sfx), getattr(self, "recurrent_kernel" + sfx)
            bias = getattr(self, "bias" + sfx) if self.use_bias else None
            b_in = None if bias is None else (bias[0] if self.reset_after else bias)
            b_rec = bias[1] if bias is not None and self.reset_after else None
            proj = xs @ K  # (B, T, 3H)
            if b_in is not None:
                proj = proj + b_in
            h = h0[d] if h0 is not None else x.new_zeros(B, H)
            valid = torch.arange(T, device=x.device).unsqueeze(1) < lengths.to(x.device).unsqueeze(0)  # (T, B)
            steps = []
            for t in range(T):
                hd = h * rec_keep[d] if rec_keep is not None else h  # (B, H)
                xz, xr, xh = proj[:, t].chunk(3, dim=-1)
                if self.reset_after:
                    inner = hd @ U  # (B, 3H)
                    if b_rec is not None:
                        inner = inner + b_rec
                    z, r = self._ract(xz + inner[:, :H]), self._ract(xr + inner[:, H:2 * H])
                    hh = self._act(xh + r * inner[:, 2 * H:])
                else:
                    inner = hd @ U[:, :2 * H]  # (B, 2H)
                    z, r = self._ract(xz + inner[:, :H]), self._ract(xr + inner[:, H:])
                    hh = self._act(xh + (r * hd) @ U[:, 2 * H:])
                h_new = z * h + (1 - z) * hh  # (B, H)
                h = torch.where(valid[t].unsqueeze(1), h_new, h)
                steps.append(h_new)
            seq = torch.stack(steps, dim=1)  # (B, T, H)
            outs.append(_reverse_within(seq, lengths) if d == 1 else seq)
            finals.append(h)
        return torch.cat(outs, dim=-1), torch.stack(finals)  # (B, T, D*H), (D, B, H)

    # --- config ---------------------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        cfg = {**super().get_config(), "units": self.units, "activation": self.activation,
               "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
               "kernel_initializer": self.kernel_initializer, "recurrent_initializer": self.recurrent_initializer,
               "bias_initializer": self.bias_initializer, "kernel_regularizer": self.kernel_regularizer,
               "recurrent_regularizer": self.recurrent_regularizer, "bias_regularizer": self.bias_regularizer,
               "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
               "return_sequences": self.return_sequences, "return_state": self.return_state,
               "go_backwards": self.go_backwards, "stateful": self.stateful, "reset_after": self.reset_after,
               "zero_output_for_mask": self.zero_output_for_mask}
        if self.bidirectional:
            cfg["bidirectional"] = True
        return cfg
