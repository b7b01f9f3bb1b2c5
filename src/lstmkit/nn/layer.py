"""``lstmkit.LSTM``: a drop-in for ``torch.nn.LSTM`` that also runs every LSTM variant."""

from __future__ import annotations

import logging
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from ..kernels import Gates, LSTMConfig, Request, StackWeights, graph_capture, select_backend, under_vmap
from ..kernels.config import keyword_signature
from ..kernels.onnx_trace import exporting as export_tracing
from ..errors import DTypeError, ShapeError
from .params import create_parameters, direction_weights, parameter_shapes, reset_parameters

log = logging.getLogger(__name__)

Lengths = Union[Tensor, Sequence[int], None]

# torch.nn.LSTM's constructor arguments, which from_torch/to_torch copy
_TORCH_ARGS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
               "proj_size")


def _autocast_enabled(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def check_lengths(lengths: Lengths, T: int, B: int) -> Optional[Tensor]:
    """Validate ``lengths`` against a (T, B) batch; return an int64 CPU tensor (B,) or None."""
    if lengths is None:
        return None
    if isinstance(lengths, Tensor):
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
        lens = lengths.detach().to("cpu", torch.int64)
    else:
        try:
            lens = torch.as_tensor(list(lengths), dtype=torch.int64)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"lengths must be a sequence of ints or an integer tensor: {err}") from None
    if lens.dim() != 1 or lens.shape[0] != B:
        raise ValueError(f"lengths must have shape ({B},) (one length per sequence), got {tuple(lens.shape)}")
    if B and int(lens.min()) < 1:
        bad = int(torch.nonzero(lens < 1)[0])
        raise ValueError(f"lengths must be positive; lengths[{bad}] = {int(lens[bad])}")
    if B and int(lens.max()) > T:
        bad = int(torch.nonzero(lens > T)[0])
        raise ValueError(
            f"lengths[{bad}] = {int(lens[bad])} is longer than the sequence ({T} time steps)"
        )
    return lens


class LSTM(nn.Module):
    r"""Multi-layer LSTM with torch.nn.LSTM's interface and every common variant.

    With default options it computes exactly ``torch.nn.LSTM`` and loads its ``state_dict``.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size, device,
            dtype: as in ``torch.nn.LSTM``.
        **options: the variant and setup options of :class:`~lstmkit.kernels.LSTMConfig`, by keyword (listed
            below from its field documentation; ``inspect.signature(LSTM)`` shows them too).

    Example:
        >>> lstm = LSTM(8, 16, num_layers=2, peephole=True, batch_first=True)
        >>> out, (h, c) = lstm(torch.randn(4, 10, 8))  # (B, T, I)
        >>> out.shape, h.shape
        (torch.Size([4, 10, 16]), torch.Size([2, 4, 16]))
    """

    # every option LSTMConfig declares beyond torch.nn.LSTM's arguments
    OPTIONS = LSTMConfig.option_names("variant", "setup")
    _INT8 = False  # QuantizedLSTM: int8 weights the "int8" backend runs

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        **options,
    ) -> None:
        super().__init__()
        LSTMConfig.check_options("LSTM.__init__()", options, self.OPTIONS)
        self.config = LSTMConfig(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                                 proj_size, **options)
        factory = {"device": device, "dtype": dtype}
        self._names: list[list[list[str]]] = []  # [layer][direction] -> parameter names
        for k in range(num_layers):
            self._names.append([
                create_parameters(self, self.config, self.config.layer_input_size(k), _suffix(k, d), factory)
                for d in range(self.config.num_directions)
            ])
        self._mirror_torch_attributes()
        self.reset_parameters()

    __init__.__signature__ = keyword_signature(__init__, OPTIONS)
    __doc__ = (__doc__ or "") + "\n    Options:\n" + LSTMConfig.option_doc(OPTIONS) + "\n"

    _TORCH_ATTRS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
                    "proj_size")

    def _mirror_torch_attributes(self) -> None:
        # torch.nn.LSTM keeps these in the instance __dict__, and code that pickles or edits a module's
        # __dict__ (torch's own compatibility test deletes "proj_size" from it) expects them there. The
        # read-only properties below read the config and take precedence, so the copies cannot go stale.
        self.__dict__.update({"mode": "LSTM", **{a: getattr(self.config, a) for a in self._TORCH_ATTRS}})

    def __setstate__(self, state: dict) -> None:
        """Unpickle an lstmkit.LSTM, or a ``torch.nn.LSTM``'s state (e.g. pickled before torch 1.8, without
        ``proj_size``) into an lstmkit.LSTM with torch's math."""
        if "config" not in state:
            if "_parameters" not in state or "input_size" not in state:
                raise ValueError("cannot restore an lstmkit.LSTM from this state: it has neither an lstmkit config "
                                 "nor torch.nn.LSTM's attributes")
            state = dict(state)
            kw = {a: state.get(a, 0 if a == "proj_size" else None) for a in self._TORCH_ATTRS}
            kw["dropout"] = float(kw["dropout"])
            cfg = LSTMConfig(**kw)
            for key in ("_flat_weights", "_flat_weights_names", "_flat_weight_refs", "_all_weights"):
                state.pop(key, None)
            names = [[[stem + _suffix(k, d) for stem, _ in parameter_shapes(cfg, cfg.layer_input_size(k))]
                      for d in range(cfg.num_directions)] for k in range(cfg.num_layers)]
            state.update(config=cfg, _names=names)
        super().__setstate__(state)
        self._mirror_torch_attributes()

    def __setattr__(self, name: str, value) -> None:
        if name == "qconfig" and value is not None:
            # torch.ao.quantization (quantize_dynamic, prepare) sets a qconfig and then swaps the module types
            # it knows, silently leaving an lstmkit.LSTM in float: say so instead
            torch_math = self.config.is_vanilla_math and self.config.zoneout == 0
            route = ("replace it with its .to_torch() copy inside the model first: torch.ao quantizes the "
                     "torch.nn.LSTM children of a model (weights to int8, dynamic activations)" if torch_math else
                     "int8 kernels for lstmkit's variants do not exist yet; quantize the model's Linear layers "
                     "only (qconfig_spec={torch.nn.Linear}) or keep this layer in float")
            raise NotImplementedError(f"torch.ao.quantization cannot quantize lstmkit.LSTM ({self.extra_repr()}): "
                                      f"{route}")
        super().__setattr__(name, value)

    def __prepare_scriptable__(self) -> nn.Module:
        """``torch.jit.script`` cannot compile this module (its forward dispatches to kernels in Python, with
        keyword options): raise saying which routes work, rather than torch's error about the signature.
        (Returning a ``torch.nn.LSTM`` here would let a vanilla one script, but torch.jit.script swaps the
        returned module into the caller's model in place, so the user's model would change under them.)"""
        cfg = self.config
        vanilla = cfg.is_vanilla_math and cfg.zoneout == 0
        raise NotImplementedError(
            f"torch.jit.script cannot compile lstmkit.LSTM({self.extra_repr()}): its forward dispatches to kernels "
            "in Python. Use torch.jit.trace, torch.export.export or torch.compile (all tested), or "
            "lstmkit.export.onnx for deployment outside PyTorch"
            + ("; or script a model holding its .to_torch() copy (this LSTM has torch.nn.LSTM's math)" if vanilla
               else ""))

    @classmethod
    def from_config(cls, config: LSTMConfig, device=None, dtype=None) -> "LSTM":
        fields = {f: getattr(config, f) for f in config.__dataclass_fields__}
        return cls(**fields, device=device, dtype=dtype)

    # torch.nn.LSTM's public attributes, read from the (immutable) config.
    input_size = property(lambda self: self.config.input_size)
    hidden_size = property(lambda self: self.config.hidden_size)
    num_layers = property(lambda self: self.config.num_layers)
    bias = property(lambda self: self.config.bias)
    batch_first = property(lambda self: self.config.batch_first)
    dropout = property(lambda self: self.config.dropout)
    bidirectional = property(lambda self: self.config.bidirectional)
    proj_size = property(lambda self: self.config.proj_size)

    def reset_parameters(self) -> None:
        for k in range(self.config.num_layers):
            for d in range(self.config.num_directions):
                reset_parameters(self, self.config, _suffix(k, d))

    def flatten_parameters(self) -> None:
        """No-op kept for drop-in compatibility with ``torch.nn.LSTM`` (no backend needs one flat buffer)."""

    @property
    def _flat_weights_names(self) -> list[str]:
        """torch.nn.LSTM's weight names in its order (the variants' peephole and layer-norm weights excluded)."""
        return [n for layer in self._names for names in layer for n in names
                if not n.startswith(("weight_ph", "ln_"))]

    @property
    def _flat_weights(self) -> list[Tensor]:
        """The weights the kernels read now: Parameters, or the tensors that ``prune``, ``weight_norm`` or a
        parametrization computes in their place."""
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        return [[getattr(self, n) for n in names] for layer in self._names for names in layer]

    def extra_repr(self) -> str:
        cfg, defaults = self.config, LSTMConfig(1, 2)
        parts = [str(cfg.input_size), str(cfg.hidden_size)]
        for f in cfg.__dataclass_fields__:
            if f not in ("input_size", "hidden_size") and getattr(cfg, f) != getattr(defaults, f):
                parts.append(f"{f}={getattr(cfg, f)!r}")
        return ", ".join(parts)

    # ---- backends -------------------------------------------------------------------------------------
    def _stack_weights(self) -> StackWeights:
        cfg = self.config
        layers = [[direction_weights(self, cfg, _suffix(k, d)) for d in range(cfg.num_directions)]
                  for k in range(cfg.num_layers)]
        return StackWeights(layers, self._flat_weights)

    def _request(self, like: Tensor, return_gates: bool, packed: bool = False, batch: int = 0,
                 hx=None, steps: int = 0) -> Request:
        params = list(self.parameters())
        grad = torch.is_grad_enabled() and (like.requires_grad or any(p.requires_grad for p in params))
        vmapped = under_vmap([like, *(hx or ()), *self._vmap_probe()])
        exporting = export_tracing()
        if exporting and packed:
            raise NotImplementedError("a PackedSequence cannot be exported to ONNX; export padded input with "
                                      "lengths=... instead (the graph then takes a lengths input)")
        return Request(self.config, like.device, like.dtype, self.training, return_gates, grad, packed, batch,
                       vmapped, exporting, "" if exporting else graph_capture(), self._INT8, steps)

    def backend_info(self, return_gates: bool = False, batch: int = 0) -> str:
        """Which backend a forward call would use now (device, dtype, grad mode, train/eval), for a batch of
        ``batch`` sequences if given, and why.

        >>> LSTM(4, 128).backend_info().split(":")[0]
        'native'
        >>> with torch.no_grad():  # small widths and large batches train faster on the fused kernel
        ...     LSTM(4, 8).backend_info().split(":")[0]
        'native'
        >>> LSTM(4, 8, peephole=True).backend_info().split(":")[0] != 'native'
        True
        """
        req = self._request(self._weight_like(), return_gates, batch=batch)
        return select_backend(self.config.backend, req).reason

    # ---- forward --------------------------------------------------------------------------------------
    def _initial_state(self, hx, B: int, like: Tensor, batched: bool) -> tuple[Tensor, Tensor]:
        cfg = self.config
        LD = cfg.num_layers * cfg.num_directions
        h_shape, c_shape = (LD, B, cfg.out_size), (LD, B, cfg.hidden_size)
        if hx is None:
            return like.new_zeros(h_shape), like.new_zeros(c_shape)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2 or not all(isinstance(t, Tensor) for t in hx):
            raise TypeError("hx must be a tuple (h_0, c_0) of two tensors")
        h0, c0 = hx
        want_dim = 3 if batched else 2
        if h0.dim() != want_dim or c0.dim() != want_dim:  # torch.nn.LSTM's wording
            kind = "batched 3-D" if batched else "unbatched 2-D"
            raise ShapeError(f"For {kind} input, hx and cx should also be {want_dim}-D but got "
                             f"({h0.dim()}-D, {c0.dim()}-D) tensors")
        if not batched:
            h_shape, c_shape = (LD, cfg.out_size), (LD, cfg.hidden_size)
        for k, (name, t, shape) in enumerate((("h_0", h0, h_shape), ("c_0", c0, c_shape))):
            if tuple(t.shape) != shape:
                width = "proj_size" if name == "h_0" and cfg.proj_size else "hidden_size"
                raise ShapeError(
                    f"Expected hidden[{k}] size {shape}, got {list(t.shape)}: {name} must have shape "
                    f"(num_layers*num_directions, {'batch, ' if batched else ''}{width})"
                )
            if t.dtype != like.dtype:
                raise DTypeError(f"{name} has dtype {t.dtype}, expected the input's {like.dtype}")
        if not batched:
            h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        return h0, c0

    def _vmap_probe(self) -> list[Tensor]:
        """The weights whose being vmap-batched sends a call to a torch-ops backend."""
        return self._flat_weights

    def _weight_like(self) -> Tensor:
        """A tensor with the weights' dtype and device (the first weight; a quantized LSTM has no float one)."""
        return self.weight_ih_l0

    def _check_dtype(self, x: Tensor) -> None:
        w = self._weight_like()
        if x.dtype != w.dtype:
            raise DTypeError(
                f"RNN input dtype ({x.dtype}) does not match weight dtype ({w.dtype}): input has dtype {x.dtype} "
                f"but the LSTM's parameters are {w.dtype}; convert one: input.to({w.dtype}) or model.to({x.dtype})"
            )

    def forward(self, input, hx=None, *, lengths: Lengths = None, return_gates: bool = False):
        """Run the LSTM.

        Args:
            input: (T, B, I), (B, T, I) with ``batch_first``, unbatched (T, I), or a ``PackedSequence``.
            hx: optional ``(h_0, c_0)`` of shapes (L*D, B, P or H) and (L*D, B, H).
            lengths: optional lengths (B,) of padded sequences: outputs past them are zero and h_n, c_n
                are taken at each sequence's last valid step.
            return_gates: also return ``gates[layer][direction]`` with fields i, f, g, o, c shaped like
                the output (T, B, H), or (B, T, H) with ``batch_first``.

        Returns:
            ``(output, (h_n, c_n))`` as ``torch.nn.LSTM``, plus ``gates`` when ``return_gates``.
        """
        cfg = self.config
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths cannot be combined with a PackedSequence: it carries its own lengths")
            return self._forward_packed(input, hx, return_gates)
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a Tensor or PackedSequence, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            layout = "(B, T, I)" if cfg.batch_first else "(T, B, I)"
            raise ShapeError(
                f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead: a 3-D batched input {layout} "
                f"or a 2-D unbatched input (T, I), got {input.dim()}-D input of shape {tuple(input.shape)}"
            )
        if input.shape[-1] != cfg.input_size:
            raise ShapeError(
                f"input.size(-1) must be equal to input_size. Expected {cfg.input_size}, got {input.shape[-1]}: "
                f"input has {input.shape[-1]} features in its last dimension (shape {tuple(input.shape)})"
            )
        autocast = _autocast_enabled(input.device.type)
        if autocast and input.is_floating_point() and input.dtype != self._weight_like().dtype:
            input = input.to(self._weight_like().dtype)  # e.g. bf16 from an autocast layer before this one
        self._check_dtype(input)
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(0 if cfg.batch_first else 1)
        if cfg.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        T, B = x.shape[0], x.shape[1]
        if T == 0:
            raise ShapeError(f"Expected sequence length to be larger than 0 in RNN: input has no time steps "
                             f"(shape {tuple(input.shape)})")
        lens = check_lengths(lengths, T, B)
        h0, c0 = self._initial_state(hx, B, x, batched)
        req = self._request(x, return_gates, batch=B, hx=(h0, c0), steps=T)
        backend = select_backend(cfg.backend, req).backend
        if autocast and backend.name != "native":
            # Only torch's own kernel has autocast rules; the fused and reference backends run in the
            # parameters' dtype (float32) inside an autocast region.
            with torch.autocast(x.device.type, enabled=False):
                res = backend.run(x, h0, c0, lens, self._stack_weights(), cfg, req)
        else:
            res = backend.run(x, h0, c0, lens, self._stack_weights(), cfg, req)
        out, h_n, c_n, gates = res.out, res.h_n, res.c_n, res.gates
        if cfg.batch_first:
            out = out.transpose(0, 1)
        if not batched:
            out, h_n, c_n = out.squeeze(0 if cfg.batch_first else 1), h_n.squeeze(1), c_n.squeeze(1)
        if not return_gates:
            return out, (h_n, c_n)
        return out, (h_n, c_n), self._layout_gates(gates, batch_dim=None if batched else 1)

    def _layout_gates(self, gates, batch_dim: Optional[int] = None, order: Optional[Tensor] = None):
        """Time-major (T, B, H) gates -> the output's layout; reorder or squeeze the batch if asked."""
        def fix(t: Tensor) -> Tensor:
            if order is not None:
                t = t.index_select(1, order)
            if batch_dim is not None:
                t = t.squeeze(batch_dim)
            elif self.config.batch_first:
                t = t.transpose(0, 1)
            return t
        return [[Gates(*(fix(v) for v in g)) for g in layer] for layer in gates]

    def _forward_packed(self, packed: PackedSequence, hx, return_gates: bool):
        cfg = self.config
        data, batch_sizes, sorted_idx, unsorted_idx = packed
        if data.dim() != 2 or data.shape[-1] != cfg.input_size:
            raise ShapeError(
                f"PackedSequence.data must have shape (N, input_size={cfg.input_size}), got {tuple(data.shape)}"
            )
        self._check_dtype(data)
        B = int(batch_sizes[0])
        h0, c0 = self._initial_state(hx, B, data, batched=True)
        if sorted_idx is not None:  # hx is given in the caller's order; the kernel works in sorted order
            h0, c0 = h0.index_select(1, sorted_idx), c0.index_select(1, sorted_idx)
        req = self._request(data, return_gates, packed=True, batch=B)
        backend = select_backend(cfg.backend, req).backend
        out, h_n, c_n, gates = backend.run_packed(data, batch_sizes, h0, c0, self._stack_weights(), cfg, req)
        if unsorted_idx is not None:
            h_n, c_n = h_n.index_select(1, unsorted_idx), c_n.index_select(1, unsorted_idx)
        output = PackedSequence(out, batch_sizes, sorted_idx, unsorted_idx)
        if not return_gates:
            return output, (h_n, c_n)
        return output, (h_n, c_n), self._layout_gates(gates, order=unsorted_idx)

    # ---- conversion -----------------------------------------------------------------------------------
    @classmethod
    def from_torch(cls, module: nn.LSTM, **variant) -> "LSTM":
        """Copy a ``torch.nn.LSTM`` (weights, device, dtype); ``variant`` adds options such as peephole=True.

        >>> ref = torch.nn.LSTM(3, 5, num_layers=2)
        >>> LSTM.from_torch(ref).weight_hh_l1.equal(ref.weight_hh_l1)
        True

        Options whose extra parameters start neutral (``peephole``, ``forget_bias`` of 0,
        ``recurrent_dropout``, ``zoneout``, ``backend``) keep the function; options that change the math of
        the copied weights are accepted too, but then the copy no longer computes the same function. ``cifg``
        drops the input-gate rows and is refused.
        """
        if not isinstance(module, nn.LSTM):
            raise TypeError(f"from_torch expects a torch.nn.LSTM, got {type(module).__name__}")
        if variant.get("cifg"):
            raise ValueError("cifg drops the input-gate rows, so torch.nn.LSTM weights cannot be copied into it")
        w = module.weight_ih_l0
        lstm = cls(**{name: getattr(module, name) for name in _TORCH_ARGS}, **variant, device=w.device,
                   dtype=w.dtype)
        missing, unexpected = lstm.load_state_dict(module.state_dict(), strict=False)
        assert not unexpected, unexpected  # same constructor arguments give the same torch parameter names
        extra = [n for n in missing if not n.startswith(("weight_ph", "ln_"))]
        if extra:
            raise ValueError(f"torch.nn.LSTM state_dict lacks {extra}")
        return lstm

    def to_torch(self) -> nn.LSTM:
        """A ``torch.nn.LSTM`` with a copy of the weights; raises if this LSTM's math is not torch's."""
        cfg = self.config
        if not cfg.is_vanilla_math or cfg.zoneout > 0:
            raise ValueError(
                "to_torch needs torch.nn.LSTM's math (tanh/sigmoid, no peephole, layer_norm, cifg, forget_bias, "
                f"residual or zoneout); this LSTM has {self.extra_repr()}"
            )
        if cfg.recurrent_dropout > 0:
            log.warning("to_torch: torch.nn.LSTM has no recurrent_dropout; the copy trains without it")
        w = self.weight_ih_l0
        module = nn.LSTM(**{name: getattr(cfg, name) for name in _TORCH_ARGS}, device=w.device, dtype=w.dtype)
        module.load_state_dict(self.state_dict(), strict=True)
        return module
