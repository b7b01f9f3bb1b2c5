"""The Keras-style ``LSTM`` layer (every lstmkit variant) and ``Bidirectional``, with Keras' semantics: any mask
(right, left padding or gaps), ``initial_state``, stateful layers, initialisers, regularisers, weights."""

from __future__ import annotations

import contextlib
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..kernels.config import LSTMConfig, keyword_signature
from ..kernels.onnx_trace import exporting
from ..nn import LSTM as CoreLSTM
from .base import Layer, Shape, register_layer, serialize_layer
from .initializers import get_initializer, initializer_spec, regularizer_spec

_DEFAULT_INIT = {"kernel_initializer": "glorot_uniform", "recurrent_initializer": "orthogonal",
                 "bias_initializer": "zeros"}


def mask_to_lengths(mask: Tensor) -> Tensor:
    """(B, T) bool mask of right-padded sequences -> lengths (B,). Raises for gaps or left padding (the
    Keras layers take any mask; this helper is for code that needs lengths)."""
    mask = mask.bool()
    lengths = mask.sum(dim=1)  # (B,)
    T = mask.shape[1]
    expected = torch.arange(T, device=mask.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    if not torch.equal(mask, expected):
        bad = int(torch.nonzero((mask != expected).any(1))[0])
        raise ValueError(f"mask_to_lengths needs right-padded sequences (valid steps first, padding last); "
                         f"sequence {bad} has padding before valid steps")
    if mask.shape[0] and int(lengths.min()) == 0:
        bad = int(torch.nonzero(lengths == 0)[0])
        raise ValueError(f"sequence {bad} is entirely padding (length 0)")
    return lengths.cpu()


def valid_steps_first(x: Tensor, m: Tensor) -> tuple[Tensor, Tensor]:
    """(B, T, I) inputs and a (B, T) bool mask -> the inputs with each sequence's valid steps moved to the
    front in order (unchanged when right-padded already), and the lengths (B,)."""
    B, T, I = x.shape
    lengths = m.sum(1)  # (B,)
    if exporting():  # no data-dependent branch in a traced graph: the stable order by scatter, always
        valid_pos = m.long().cumsum(1) - 1  # (B, T): where a valid step goes
        pad_pos = lengths.unsqueeze(1) + (~m).long().cumsum(1) - 1  # (B, T): where a padded step goes
        dest = torch.where(m, valid_pos, pad_pos)
        steps = torch.arange(T, device=m.device).unsqueeze(0).expand(B, T)  # (B, T)
        order = torch.zeros_like(steps).scatter(1, dest, steps)  # (B, T): the step at each new position
        return x.gather(1, order.unsqueeze(-1).expand(B, T, I)), lengths
    right_padded = torch.equal(m, torch.arange(T, device=m.device).unsqueeze(0) < lengths.unsqueeze(1))
    if not right_padded:
        order = torch.argsort((~m).to(torch.uint8), dim=1, stable=True)  # (B, T): valid steps first
        x = x.gather(1, order.unsqueeze(-1).expand(B, T, I))  # (B, T, I)
    return x, lengths


# the variant options every saved config carries (configs from before an option existed omit the newer ones)
_ALWAYS_IN_CONFIG = ("peephole", "layer_norm", "cifg", "forget_bias", "zoneout", "proj_size")
_DEFAULTS = {f.name: f.default for f in LSTMConfig.option_fields()}


class RecurrentLayer(Layer):
    """What Keras' recurrent layers share (LSTM, GRU): masks (right, left padding or gaps: a masked step keeps
    the state), a layer ``seed``'s own random stream, ``stateful`` state, and the outputs at masked steps."""

    supports_masking = True

    def reset_state(self) -> None:
        """Forget the state a ``stateful`` layer carries between batches (Keras 3's name)."""
        self._state = None

    reset_states = reset_state  # Keras 2's name

    def _check_mask(self, mask: Tensor, x: Tensor) -> Tensor:
        if mask.dim() == 3 and mask.shape[-1] == 1:
            mask = mask[..., 0]
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ValueError(f"{type(self).__name__} mask must have shape (batch, timesteps) = "
                             f"{tuple(x.shape[:2])}, got {tuple(mask.shape)}")
        return mask.to(x.device).bool()

    @contextlib.contextmanager
    def _own_random_stream(self):
        """With a ``seed``: draw from the layer's generator state (every mask is drawn from torch's CPU
        generator), then give the global generator its state back. Not thread-safe, as torch's generator."""
        if self._rng_state is None or not self.training:
            yield
            return
        outer = torch.get_rng_state()
        torch.set_rng_state(self._rng_state)
        try:
            yield
        finally:
            self._rng_state = torch.get_rng_state()
            torch.set_rng_state(outer)

    def _outputs(self, out: Tensor, h: Tensor, m: Optional[Tensor]) -> Tensor:
        if m is None:
            if self.return_sequences:
                return out
            return torch.cat([h[-2], h[-1]], dim=-1) if self.bidirectional else h[-1]  # (B, D*P)
        B, T = m.shape
        P = out.shape[-1] // (2 if self.bidirectional else 1)
        lengths = m.sum(1, keepdim=True)  # (B, 1)
        pos = m.long().cumsum(1) - 1  # (B, T): compact index of the last valid step at or before t
        zero = self.zero_output_for_mask
        if not self.return_sequences:  # Keras' last output: the output sequence's final position
            keep_f = m[:, -1] if zero else lengths[:, 0] > 0  # (B,)
            y = torch.where(keep_f.unsqueeze(1), h[-2] if self.bidirectional else h[-1], 0.0)
            if not self.bidirectional:
                return y  # (B, P)
            keep_b = m[:, 0] if zero else lengths[:, 0] > 0  # the backward pass ends at step 0
            return torch.cat([y, torch.where(keep_b.unsqueeze(1), h[-1], 0.0)], dim=-1)  # (B, 2P)
        fwd = out[..., :P].gather(1, pos.clamp(min=0).unsqueeze(-1).expand(B, T, P))  # (B, T, P)
        keep_f = m if zero else pos >= 0  # before the first valid step Keras' previous output is zero
        fwd = torch.where(keep_f.unsqueeze(-1), fwd, 0.0)
        if not self.bidirectional:
            return fwd
        nxt = torch.where(m, pos, pos + 1)  # (B, T): compact index of the next valid step at or after t
        bwd = out[..., P:].gather(1, nxt.clamp(max=T - 1).unsqueeze(-1).expand(B, T, P))  # (B, T, P)
        keep_b = m if zero else nxt < lengths
        return torch.cat([fwd, torch.where(keep_b.unsqueeze(-1), bwd, 0.0)], dim=-1)  # (B, T, 2P)

    def compute_mask(self, x: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        return mask if self.return_sequences else None

    def output_shape_for(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.out_width) if self.return_sequences else (self.out_width,)

    def compute_output_shape(self, input_shape: Shape):
        """The output's shape, then with ``return_state`` each direction's states' (``_state_shapes``)."""
        out = super().compute_output_shape(input_shape)
        if not self.return_state:
            return out
        return [out] + self._state_shapes(input_shape[0]) * (2 if self.bidirectional else 1)


@register_layer
class LSTM(RecurrentLayer):
    """Keras' ``LSTM`` layer on lstmkit's fast kernels, with every lstmkit variant.

    Input (batch, time, features); output (batch, units), or (batch, time, units) with
    ``return_sequences``; ``return_state`` adds the final h and c. Keras' initialisers (glorot-uniform kernel,
    orthogonal recurrent kernel, unit forget bias; ``kernel_initializer=`` etc. take Keras' names, config dicts
    or Keras' own initialiser objects) and Keras' single bias: ``bias_hh`` is a frozen zero kept for torch's
    layout (not one of :attr:`weights`). ``dropout`` drops input features with one mask per sequence,
    ``recurrent_dropout`` does the same on h (Gal & Ghahramani 2016). ``seed`` gives the layer its own random
    stream for those masks (and zoneout's), as Keras' ``seed`` does: the same seed draws the same masks
    whatever the global seed, and calls leave torch's global generator where it was. Without it the masks
    come from torch's global generator (``torch.manual_seed`` reproduces them).

    Masks (from ``Embedding(mask_zero=True)``, ``Masking`` or ``mask=``) follow Keras: a masked step leaves h
    and c unchanged, so right padding, left padding (``pad_sequences``' default) and gaps all work; at a masked
    step ``return_sequences`` repeats the last output (zeros before the first valid step), or gives zeros with
    ``zero_output_for_mask=True``. ``go_backwards`` flips the whole time axis, mask included, as Keras does.
    ``implementation`` and ``unroll`` are accepted for Keras programs and change nothing (as with Keras on
    torch): every backend computes the same function.

    >>> lstm = LSTM(50, activation="relu", input_shape=(100, 1))
    >>> lstm(torch.randn(10, 100, 1)).shape
    torch.Size([10, 50])
    >>> y, h, c = LSTM(4, return_state=True)(np.ones((2, 3, 1)), initial_state=[np.zeros((2, 4))] * 2)
    >>> y.shape, c.shape
    (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    supports_masking = True
    # LSTMConfig's options that Keras' LSTM lacks (its own names cover activations and recurrent dropout;
    # the layer initialises the Keras way)
    OPTIONS = tuple(n for n in ("proj_size", "bidirectional", *LSTMConfig.option_names("variant", "setup"))
                    if n not in ("activation", "recurrent_activation", "recurrent_dropout", "init"))

    def __init__(self, units: int, activation: str = "tanh", recurrent_activation: str = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, unroll: bool = False, implementation: int = 2,
                 zero_output_for_mask: bool = False, seed: Optional[int] = None, **kwargs) -> None:
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in self.OPTIONS}
        super().__init__(**kwargs)
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise TypeError(f"LSTM: seed must be an int or None, got {seed!r}")
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(f"LSTM: units must be a positive int, got {units!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LSTM: dropout must be in [0, 1), got {dropout}")
        if implementation not in (1, 2):
            raise ValueError(f"LSTM: implementation must be 1 or 2 (Keras' modes), got {implementation!r}")
        self.units, self.activation, self.recurrent_activation = units, activation, recurrent_activation
        self.use_bias, self.return_sequences, self.return_state = use_bias, return_sequences, return_state
        self.go_backwards, self.stateful, self.dropout = go_backwards, stateful, dropout
        self.recurrent_dropout, self.unit_forget_bias = recurrent_dropout, unit_forget_bias
        self.kernel_initializer = initializer_spec(kernel_initializer)
        self.recurrent_initializer = initializer_spec(recurrent_initializer)
        self.bias_initializer = initializer_spec(bias_initializer)
        for key in _DEFAULT_INIT:
            get_initializer(getattr(self, key))  # an unknown name fails here, not at the first batch
        self.kernel_regularizer = regularizer_spec(kernel_regularizer)
        self.recurrent_regularizer = regularizer_spec(recurrent_regularizer)
        self.bias_regularizer = regularizer_spec(bias_regularizer)
        self.unroll, self.implementation = bool(unroll), implementation
        self.zero_output_for_mask = bool(zero_output_for_mask)
        # lstmkit's variant options beyond Keras' arguments (bidirectional and backend kept apart)
        self.variant = {k: options.get(k, _DEFAULTS[k]) for k in self.OPTIONS if k not in ("bidirectional", "backend")}
        self.bidirectional = options.get("bidirectional", False)
        self.backend = options.get("backend", "auto")
        self.seed = None if seed is None else int(seed)
        # the layer's own generator state for its dropout masks (None: torch's global generator)
        self._rng_state = None if seed is None else torch.Generator().manual_seed(self.seed).get_state()
        self.lstm: Optional[CoreLSTM] = None
        self._state: Optional[tuple[Tensor, Tensor]] = None
        if self.input_shape_arg is not None:  # validate the options now rather than at the first batch
            self.ensure_built(self.input_shape_arg)

    __init__.__signature__ = keyword_signature(__init__, OPTIONS, drop="")
    __doc__ = (__doc__ or "") + "\n    lstmkit options:\n" + LSTMConfig.option_doc(OPTIONS, indent=8) + "\n"

    @property
    def out_width(self) -> int:
        return (self.variant["proj_size"] or self.units) * (2 if self.bidirectional else 1)

    @property
    def _suffixes(self) -> tuple[str, ...]:
        return ("_l0", "_l0_reverse") if self.bidirectional else ("_l0",)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"LSTM expects input_shape (timesteps, features) with known features, got "
                             f"{input_shape}")
        self.lstm = CoreLSTM(input_shape[-1], self.units, bias=self.use_bias, batch_first=True,
                             bidirectional=self.bidirectional, activation=self.activation,
                             recurrent_activation=self.recurrent_activation,
                             recurrent_dropout=self.recurrent_dropout, backend=self.backend, init="keras",
                             **self.variant)
        custom = any(getattr(self, k) != v for k, v in _DEFAULT_INIT.items())
        H = self.units
        with torch.no_grad():
            for sfx in self._suffixes:
                w_ih, w_hh = getattr(self.lstm, "weight_ih" + sfx), getattr(self.lstm, "weight_hh" + sfx)
                b_ih = getattr(self.lstm, "bias_ih" + sfx, None)
                if custom:  # Keras' (in, out) layouts, stored transposed; gate order i, f, c, o as in torch
                    w_ih.copy_(get_initializer(self.kernel_initializer)(tuple(w_ih.shape[::-1])).T)
                    w_hh.copy_(get_initializer(self.recurrent_initializer)(tuple(w_hh.shape[::-1])).T)
                    if b_ih is not None:
                        b_ih.copy_(get_initializer(self.bias_initializer)((b_ih.shape[0],)))
                if b_ih is not None:
                    f_rows = slice(0, H) if self.variant["cifg"] else slice(H, 2 * H)
                    if self.unit_forget_bias:
                        b_ih[f_rows] = 1.0  # Keras' unit_forget_bias (Jozefowicz et al. 2015)
                    elif not custom:
                        b_ih.zero_()
                b_hh = getattr(self.lstm, "bias_hh" + sfx, None)
                if b_hh is not None:
                    # Keras has one bias per gate; torch's layout has two whose gradients are equal, which
                    # would move the sum twice as fast. b_hh stays a frozen zero (kept for torch's layout).
                    b_hh.zero_()
                    b_hh.requires_grad_(False)
                    b_hh._lstmkit_structural = True
        for name, _ in self.lstm.named_parameters():
            if name.startswith("weight_ih"):
                self.add_l2(f"lstm.{name}", self.kernel_regularizer, "kernel_regularizer")
            elif name.startswith("weight_hh"):
                self.add_l2(f"lstm.{name}", self.recurrent_regularizer, "recurrent_regularizer")
            elif name.startswith("bias_ih"):
                self.add_l2(f"lstm.{name}", self.bias_regularizer, "bias_regularizer")

    # --- state ------------------------------------------------------------------------------------------

    @property
    def states(self) -> Optional[list[Tensor]]:
        """A stateful layer's carried ``[h, c]`` (per direction), or None before the first batch."""
        if self._state is None:
            return None
        h, c = self._state
        return [t for d in range(h.shape[0]) for t in (h[d], c[d])]

    def _state_widths(self) -> tuple[int, int]:
        return self.variant["proj_size"] or self.units, self.units

    def _state_shapes(self, batch: Any) -> list[tuple]:
        """The shapes of one direction's returned states, h then c."""
        P, H = self._state_widths()
        return [(batch, P), (batch, H)]

    def _given_state(self, initial_state: Any, x: Tensor) -> tuple[Tensor, Tensor]:
        D = 2 if self.bidirectional else 1
        if isinstance(initial_state, (Tensor, np.ndarray)) or not isinstance(initial_state, Sequence):
            raise ValueError(f"initial_state must be a list [h, c]{' + [h_back, c_back]' if D == 2 else ''} of "
                             f"(batch, units) arrays, got {type(initial_state).__name__}")
        if len(initial_state) != 2 * D:
            raise ValueError(f"this LSTM takes initial_state as a list of {2 * D} tensors (h and c"
                             f"{' per direction' if D == 2 else ''}), got {len(initial_state)}")
        states = [torch.as_tensor(np.asarray(s) if not isinstance(s, Tensor) else s).to(x.device, x.dtype)
                  for s in initial_state]
        B = x.shape[0]
        for k, (s, width) in enumerate(zip(states, self._state_widths() * D)):
            if tuple(s.shape) != (B, width):
                raise ValueError(f"initial_state[{k}] has shape {tuple(s.shape)}, expected (batch={B}, {width})")
        h0 = torch.stack(states[0::2])  # (D, B, P)
        c0 = torch.stack(states[1::2])  # (D, B, H)
        return h0, c0

    def _initial_state(self, x: Tensor, initial_state: Any):
        if initial_state is not None:
            return self._given_state(initial_state, x)
        if not self.stateful or self._state is None:
            return None
        h, c = self._state
        if h.shape[1] != x.shape[0]:
            raise ValueError(f"this stateful LSTM carries state for {h.shape[1]} sequences but got a batch of "
                             f"{x.shape[0]}; keep the batch size fixed (Keras' rule) or call reset_state()")
        return h, c

    # --- the forward pass -------------------------------------------------------------------------------

    def call(self, x: Tensor, mask: Optional[Tensor] = None, initial_state: Any = None):
        if x.dim() != 3:
            raise ValueError(f"LSTM expects (batch, timesteps, features) inputs, got shape {tuple(x.shape)}")
        if x.shape[-1] != self.lstm.input_size:
            raise ValueError(f"LSTM was built for {self.lstm.input_size} features per step, got shape "
                             f"{tuple(x.shape)}")
        m = self._check_mask(mask, x) if mask is not None else None
        hx = self._initial_state(x, initial_state)
        if self.go_backwards:  # Keras flips the whole time axis, mask included
            x = x.flip(1)  # (B, T, I)
            m = m.flip(1) if m is not None else None
        if m is not None and not exporting() and bool(m.all()):
            m = None
        with self._own_random_stream():
            if self.dropout > 0 and self.training:
                # (B, 1, I): one mask per sequence, drawn on the CPU so that a seed gives it on every device
                keep = torch.empty(x.shape[0], 1, x.shape[2], dtype=x.dtype).bernoulli_(1 - self.dropout).to(x.device)
                x = x * keep / (1 - self.dropout)
            if m is None:
                out, (h, c) = self.lstm(x, hx)  # out (B, T, D*P), h (D, B, P), c (D, B, H)
            else:
                out, h, c = self._masked_run(x, m, hx)
        if self.stateful:
            self._state = (h.detach(), c.detach())
        y = self._outputs(out, h, m)
        if self.return_state:
            D = h.shape[0]
            return (y, *[t for d in range(D) for t in (h[d], c[d])])
        return y

    def _masked_run(self, x: Tensor, m: Tensor, hx):
        """Keras' masked recurrence: a masked step keeps h and c. The valid steps of each sequence are moved to
        the front (in order), run with per-sequence lengths, and :meth:`_outputs` puts them back."""
        B = x.shape[0]
        x, lengths = valid_steps_first(x, m)  # (B, T, I), (B,)
        empty = lengths == 0
        out, (h, c) = self.lstm(x, hx, lengths=lengths.clamp(min=1).cpu())  # out (B, T, D*P)
        if exporting() or bool(empty.any()):  # an all-masked sequence keeps its initial state
            h0 = hx[0] if hx is not None else torch.zeros_like(h)
            c0 = hx[1] if hx is not None else torch.zeros_like(c)
            h = torch.where(empty.view(1, B, 1), h0, h)
            c = torch.where(empty.view(1, B, 1), c0, c)
        return out, h, c

    # --- Keras' weights ---------------------------------------------------------------------------------

    def _keras_weights(self) -> list[Tensor]:
        """Per direction Keras' kernel (I, 4H), recurrent kernel (P, 4H) and bias (4H,), then any variant's
        own weights (peephole, layer norm, projection) in torch's layout."""
        out, main = [], {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
        for sfx in self._suffixes:
            out += [getattr(self.lstm, "weight_ih" + sfx).T, getattr(self.lstm, "weight_hh" + sfx).T]
            if self.use_bias:
                out.append(getattr(self.lstm, "bias_ih" + sfx))
            out += [p for name, p in self.lstm.named_parameters()
                    if name.endswith(sfx) and name[: -len(sfx)] not in main]
        return out

    def _set_keras_weights(self, arrays: list[Any]) -> None:
        super()._set_keras_weights(arrays)
        with torch.no_grad():
            for sfx in self._suffixes:
                b_hh = getattr(self.lstm, "bias_hh" + sfx, None)
                if b_hh is not None:
                    b_hh.zero_()

    def get_config(self) -> dict[str, Any]:
        cfg = {**super().get_config(), "units": self.units, "activation": self.activation,
               "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
               "return_sequences": self.return_sequences, "return_state": self.return_state,
               "go_backwards": self.go_backwards, "stateful": self.stateful, "dropout": self.dropout,
               "recurrent_dropout": self.recurrent_dropout, "unit_forget_bias": self.unit_forget_bias,
               "kernel_regularizer": self.kernel_regularizer,
               "recurrent_regularizer": self.recurrent_regularizer, "bias_regularizer": self.bias_regularizer,
               **{k: v for k, v in self.variant.items() if k in _ALWAYS_IN_CONFIG or v != _DEFAULTS[k]},
               "bidirectional": self.bidirectional, "backend": self.backend}
        for key, default in (*_DEFAULT_INIT.items(), ("zero_output_for_mask", False), ("unroll", False),
                             ("implementation", 2), ("seed", None)):
            if getattr(self, key) != default:  # configs of earlier saves stay as they were
                cfg[key] = getattr(self, key)
        return cfg


@register_layer
class Bidirectional(Layer):
    """``Bidirectional(LSTM(...), merge_mode="concat")``: forward and backward passes over each sequence
    (over its valid steps when masked), merged by "concat", "sum", "mul", "ave", or returned as a list
    ``[forward, backward]`` with ``merge_mode=None``. ``return_state=True`` on the wrapped LSTM returns
    ``[output, h_fwd, c_fwd, h_bwd, c_bwd]``, and ``initial_state`` takes those four states, as in Keras; as
    in Keras, masked steps of returned sequences are zeros.

    Runs as one bidirectional lstmkit LSTM, so both directions use the fast kernels. Keras'
    ``backward_layer`` (a differently configured backward LSTM) is not supported: both directions share one
    configuration.

    >>> bi = Bidirectional(LSTM(8, return_sequences=True), input_shape=(5, 3))
    >>> bi(torch.randn(2, 5, 3)).shape
    torch.Size([2, 5, 16])
    """

    supports_masking = True
    # LSTMConfig's options that Keras' LSTM lacks (its own names cover activations and recurrent dropout;
    # the layer initialises the Keras way)
    OPTIONS = tuple(n for n in ("proj_size", "bidirectional", *LSTMConfig.option_names("variant", "setup"))
                    if n not in ("activation", "recurrent_activation", "recurrent_dropout", "init"))
    MERGE_MODES = ("concat", "sum", "mul", "ave", None)

    def __init__(self, layer: RecurrentLayer, merge_mode: Optional[str] = "concat", backward_layer: Any = None,
                 **kwargs) -> None:
        if not isinstance(layer, RecurrentLayer):
            raise TypeError(f"Bidirectional wraps an lstmkit.layers.LSTM or GRU, got {type(layer).__name__}")
        if merge_mode not in self.MERGE_MODES:
            raise ValueError(f"merge_mode must be one of {self.MERGE_MODES}, got {merge_mode!r}")
        if backward_layer is not None:
            raise NotImplementedError("Bidirectional(backward_layer=...) is not supported: lstmkit runs both "
                                      "directions as one bidirectional LSTM with one configuration")
        if layer.go_backwards or layer.bidirectional:
            raise ValueError(f"Bidirectional needs a {type(layer).__name__} without go_backwards or bidirectional")
        if "input_shape" not in kwargs and layer.input_shape_arg is not None:
            kwargs["input_shape"] = layer.input_shape_arg
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        self.return_state = layer.return_state
        self.return_sequences = layer.return_sequences
        config = {k: v for k, v in layer.get_config().items() if k not in ("input_shape", "name")}
        self.inner_config = config
        # Keras forces zero_output_for_mask = return_sequences on both directions of a Bidirectional
        self.layer = type(layer)(**{**config, "bidirectional": True, "zero_output_for_mask": layer.return_sequences})
        if self.input_shape_arg is not None:
            self.ensure_built(self.input_shape_arg)

    def build(self, input_shape: Shape) -> None:
        self.layer.ensure_built(input_shape)

    def call(self, x: Tensor, mask: Optional[Tensor] = None, initial_state: Any = None):
        res = self.layer(x, mask, initial_state=initial_state)
        y, states = (res[0], list(res[1:])) if self.return_state else (res, [])  # y (..., 2P), forward first
        a, b = y.chunk(2, dim=-1)
        merged = {"concat": lambda: y, "sum": lambda: a + b, "mul": lambda: a * b, "ave": lambda: (a + b) / 2,
                  None: lambda: [a, b]}[self.merge_mode]()
        if not self.return_state:
            return merged
        return (merged if isinstance(merged, list) else [merged]) + states

    def compute_mask(self, x: Tensor, mask: Optional[Tensor]) -> Optional[Tensor]:
        return self.layer.compute_mask(x, mask)

    def output_shape_for(self, input_shape: Shape) -> Shape:
        shape = self.layer.output_shape_for(input_shape)
        return shape if self.merge_mode == "concat" else (*shape[:-1], shape[-1] // 2)

    def compute_output_shape(self, input_shape: Shape):
        out = Layer.compute_output_shape(self, input_shape)
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            outs += self.layer._state_shapes(input_shape[0]) * 2
        return outs if len(outs) > 1 else out

    def reset_state(self) -> None:
        self.layer.reset_state()

    reset_states = reset_state

    def _keras_weights(self) -> list[Tensor]:  # Keras: the forward layer's weights, then the backward one's
        return self.layer._keras_weights()

    def _set_keras_weights(self, arrays: list[Any]) -> None:
        self.layer._set_keras_weights(arrays)

    def get_config(self) -> dict[str, Any]:
        inner = type(self.layer)(**self.inner_config)
        return {**super().get_config(), "layer": serialize_layer(inner), "merge_mode": self.merge_mode}
