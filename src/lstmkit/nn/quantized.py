"""int8 quantization of LSTM weights: :func:`quantize` and :class:`QuantizedLSTM`."""

from __future__ import annotations

import copy
import warnings
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from ..kernels import StackWeights
from .layer import LSTM, _suffix
from .params import direction_weights

# the weight matrices stored in int8 (biases, peepholes and layer-norm gains stay float: a few vectors)
_INT8_STEMS = ("weight_ih", "weight_hh", "weight_hr")


def quantize_rows(w: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-row int8: ``w ~ q * scale[:, None]``, q in [-127, 127] (zero point 0).

    >>> q, s = quantize_rows(torch.tensor([[1.0, -0.5], [0.0, 0.0]]))
    >>> q.tolist(), s.tolist()
    ([[127, -64], [0, 0]], [0.007874015718698502, 1.0])
    """
    w = w.detach().to(torch.float32)
    scale = w.abs().amax(dim=1) / 127.0  # (rows,)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(w / scale.unsqueeze(1)).clamp_(-127, 127).to(torch.int8)  # (rows, cols)
    return q, scale


class QuantizedLSTM(LSTM):
    """An :class:`lstmkit.LSTM` whose weight matrices are stored in int8 with one float32 scale per row
    (``weight_ih_l0_int8``, ``weight_ih_l0_scale``; 4x smaller than float32), for inference.

    Vanilla configurations run on torch's dynamic int8 kernel (backend ``"int8"``: int8 GEMMs with the
    activations quantized per call, a C++ loop over time, as ``torch.ao.quantization.quantize_dynamic``
    runs ``torch.nn.LSTM``, but with per-row scales). A variant runs its usual kernel on the dequantized
    weights (``weight * scale``, computed once and kept while the module is unchanged): the same int8
    weights, float compute. Build one with :func:`quantize`; it saves and loads with the rest of a model.

    >>> lstm = LSTM(8, 32).eval()
    >>> q = QuantizedLSTM.from_float(lstm)
    >>> q.backend_info().split(":")[0]
    'int8'
    >>> x = torch.randn(5, 2, 8)
    >>> float((q(x)[0] - lstm(x)[0]).abs().max()) < 0.02
    True
    """

    _INT8 = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._to_int8_storage()
        self._float_cache: Optional[dict] = None
        self._packed_cache: Optional[list] = None
        self.eval()

    def _to_int8_storage(self) -> None:
        for names in (n for layer in self._names for n in layer):
            for name in names:
                if name.startswith(_INT8_STEMS):
                    w = self._parameters.pop(name)
                    q, scale = quantize_rows(w)
                    self.register_buffer(name + "_int8", q)
                    self.register_buffer(name + "_scale", scale)
        for p in self.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_float(cls, lstm: LSTM) -> "QuantizedLSTM":
        """The int8 copy of a trained LSTM (its config, its float weights quantized row by row)."""
        if isinstance(lstm, QuantizedLSTM):
            raise ValueError("this LSTM is quantized already")
        if not isinstance(lstm, LSTM):
            raise TypeError(f"from_float needs an lstmkit.LSTM, got {type(lstm).__name__}")
        p = next(lstm.parameters())
        if p.dtype != torch.float32:
            raise TypeError(f"int8 quantization starts from float32 weights, this LSTM has {p.dtype}")
        q = cls.from_config(lstm.config, device=p.device)
        state = lstm.state_dict()
        for name in list(state):
            if name.startswith(_INT8_STEMS):
                w = state.pop(name)
                state[name + "_int8"], state[name + "_scale"] = quantize_rows(w)
        q.load_state_dict(state, strict=True)
        return q.eval()

    def __getstate__(self) -> dict:  # copies and pickles rebuild the caches (torch's packed weights do not copy)
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        return {**state, "_float_cache": None, "_packed_cache": None}

    def train(self, mode: bool = True) -> "QuantizedLSTM":
        if mode:
            raise RuntimeError("a QuantizedLSTM is for inference: its int8 weights cannot be trained; fine-tune the "
                               "float model and quantize it again")
        return super().train(False)

    # --- the weights the kernels read ---------------------------------------------------------------------

    # The caches (float weights for the variants' kernels, torch's packed int8 weights) are dropped whenever the
    # weights can change through the module: load_state_dict, .to()/.cpu() (_apply). Writing into the int8
    # buffers in place bypasses both; call clear_cache() after doing so.
    def clear_cache(self) -> None:
        self._float_cache = self._packed_cache = None

    def _load_from_state_dict(self, *args, **kwargs):
        self.clear_cache()
        return super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, fn, recurse: bool = True):
        self.clear_cache()
        return super()._apply(fn, recurse)

    def _dequantized(self) -> dict[str, Tensor]:
        if self._float_cache is None:
            b = self._buffers
            self._float_cache = {n[:-5]: b[n].to(torch.float32) * b[n[:-5] + "_scale"].unsqueeze(1)
                                 for n in b if n.endswith("_int8")}
        return self._float_cache

    def __getattr__(self, name: str):
        buffers = self.__dict__.get("_buffers", {})
        if name + "_int8" in buffers:
            return self._dequantized()[name]
        return super().__getattr__(name)

    def _weight_like(self) -> Tensor:
        return self._buffers["weight_ih_l0_scale"]  # float32, on the module's device

    def _vmap_probe(self) -> list[Tensor]:
        return [t for t in self._buffers.values() if t is not None]  # what the weights are computed from

    def _packed(self) -> list:
        if self._packed_cache is None:
            cfg, b = self.config, self._buffers
            cells = []
            for k in range(cfg.num_layers):
                for d in range(cfg.num_directions):
                    sfx = _suffix(k, d)
                    packed = []
                    for stem in ("weight_ih", "weight_hh"):
                        q, scale = b[stem + sfx + "_int8"], b[stem + sfx + "_scale"]
                        with warnings.catch_warnings():  # torch deprecates quantized tensors for a successor
                            warnings.simplefilter("ignore", UserWarning)
                            qw = torch._make_per_channel_quantized_tensor(
                                q, scale.double(), torch.zeros_like(scale, dtype=torch.long), 0)
                        bias = self._parameters.get(stem.replace("weight", "bias") + sfx)
                        packed.append(torch.ops.quantized.linear_prepack(qw, bias))
                    b_ih = self._parameters.get("bias_ih" + sfx)
                    b_hh = self._parameters.get("bias_hh" + sfx)
                    if b_ih is None:  # torch's cell params want bias tensors; bias=False adds zeros
                        b_ih = b_hh = torch.zeros(cfg.num_gates * cfg.hidden_size)
                    cells.append(torch.ops.quantized.make_quantized_cell_params_dynamic(
                        packed[0], packed[1], b_ih.detach(), b_hh.detach(), True))
            self._packed_cache = cells
        return self._packed_cache

    def _stack_weights(self) -> StackWeights:
        cfg = self.config
        if cfg.is_vanilla_math and not cfg.zoneout and not cfg.proj_size:
            # torch's int8 kernel reads only the packed weights: the float ones are made only if a fallback asks
            return StackWeights(_Lazy(self._float_layers), _Lazy(lambda: self._flat_weights), self._packed())
        return StackWeights(self._float_layers(), self._flat_weights)

    def _float_layers(self) -> list:
        cfg = self.config
        return [[direction_weights(self, cfg, _suffix(k, d)) for d in range(cfg.num_directions)]
                for k in range(cfg.num_layers)]

    def extra_repr(self) -> str:
        return super().extra_repr() + ", int8"

    def weight_bytes(self) -> int:
        """Bytes of every weight and buffer the module stores (what a saved file holds)."""
        return sum(t.numel() * t.element_size() for t in self.state_dict().values())


class _Lazy(Sequence):
    """A list computed on first use."""

    def __init__(self, make) -> None:
        self._make, self._items = make, None

    def _get(self) -> list:
        if self._items is None:
            self._items = list(self._make())
        return self._items

    def __getitem__(self, i):
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())


def quantize(model: nn.Module) -> nn.Module:
    """An int8 copy of ``model``: every :class:`lstmkit.LSTM` inside it (a bare one, a Keras-style layer's,
    a recipe model's, an ``LSTMForecaster``'s networks) replaced by a :class:`QuantizedLSTM`, the rest
    untouched. The original is not changed.

    >>> m = nn.Sequential(nn.Linear(4, 4))
    >>> quantize(LSTM(4, 8).eval()).extra_repr()
    '4, 8, int8'
    """
    if not isinstance(model, nn.Module) and callable(getattr(model, "quantize", None)):
        return model.quantize()  # an lstmkit.forecast.LSTMForecaster: its networks
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize needs a torch.nn.Module or an LSTMForecaster, got {type(model).__name__}")
    if any(isinstance(m, QuantizedLSTM) for m in model.modules()):
        raise ValueError("the model is quantized already (it holds a QuantizedLSTM); quantize the float model")
    if not any(isinstance(m, LSTM) for m in model.modules()):
        raise ValueError(f"{type(model).__name__} holds no lstmkit.LSTM to quantize")
    if isinstance(model, LSTM):
        return QuantizedLSTM.from_float(model.eval())
    return quantize_in_place(copy.deepcopy(model))


def quantize_in_place(model: nn.Module) -> nn.Module:
    """:func:`quantize` without the copy (how :func:`lstmkit.load_model` rebuilds a saved quantized model)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LSTM) and not isinstance(child, QuantizedLSTM):
                setattr(parent, name, QuantizedLSTM.from_float(child.eval()))
    return model.eval()


def is_quantized(model: nn.Module) -> bool:
    return any(isinstance(m, QuantizedLSTM) for m in model.modules())
