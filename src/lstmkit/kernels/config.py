"""The one flat, validated description of an LSTM stack that every backend reads."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union

from .activations import gate_names, is_gate, resolve_activation

Activation = Union[str, Callable]

INITS = ("torch", "keras")

REQUIRED: Any = dataclasses.MISSING


def _opt(default: Any, doc: str, kind: str = "variant") -> Any:
    """A config field with its documentation and kind: "shape" (sizes and layout), "torch" (torch.nn.LSTM's
    other arguments), "variant" (the math of the cell and the stack), "setup" (backend and initialisation)."""
    return field(default=default, metadata={"doc": doc, "kind": kind})


@functools.lru_cache(maxsize=None)
def _option_fields(cls: type, kinds: tuple[str, ...]) -> tuple[dataclasses.Field, ...]:
    return tuple(f for f in dataclasses.fields(cls) if not kinds or f.metadata.get("kind") in kinds)


def keyword_signature(fn: Callable, names: Sequence[str], drop: str = "options") -> inspect.Signature:
    """``fn``'s signature with its ``**options`` replaced by keyword-only parameters ``names`` (their
    LSTMConfig defaults), so ``help()`` and editors show every option a ``**options`` function accepts."""
    sig = inspect.signature(fn)
    defaults = {f.name: f.default for f in dataclasses.fields(LSTMConfig)}
    params = [p for p in sig.parameters.values() if p.name != drop]
    taken = {p.name for p in params}
    extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=defaults[n]) for n in names
             if n not in taken]
    head = [p for p in params if p.kind != inspect.Parameter.VAR_KEYWORD]
    tail = [p for p in params if p.kind == inspect.Parameter.VAR_KEYWORD]
    return sig.replace(parameters=[*head, *extra, *tail])


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:  # torch.nn.LSTM's wording
        if minimum == 1:
            raise ValueError(f"{name} must be greater than zero, got {value}")
        raise ValueError(f"{name} should be a positive integer or zero to disable projections, got {value}")


def _check_prob(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__} ({value!r})")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


@dataclass(frozen=True)
class LSTMConfig:
    """Everything that defines an LSTM stack's math; validated on construction.

    >>> LSTMConfig(input_size=8, hidden_size=16, peephole=True).num_gates
    4
    """

    input_size: int = _opt(REQUIRED, "features per time step of the input", "shape")
    hidden_size: int = _opt(REQUIRED, "H: width of the cell state c and of the gates", "shape")
    num_layers: int = _opt(1, "stacked layers; layer k > 0 reads layer k-1's output", "shape")
    bias: bool = _opt(True, "learn b_ih and b_hh", "torch")
    batch_first: bool = _opt(False, "input/output as (B, T, F) instead of (T, B, F)", "shape")
    dropout: float = _opt(0.0, "dropout on each layer's output except the last (training only)", "torch")
    bidirectional: bool = _opt(False, "run a second, time-reversed direction and concatenate", "torch")
    proj_size: int = _opt(0, "P > 0: h_t = W_hr (o * act(c_t)), h has width P (Sak et al. 2014)", "torch")
    activation: Activation = _opt(
        "tanh", "function of the candidate g and of c in h = o * act(c): a name from "
        "lstmkit.kernels.ACTIVATIONS (register_activation adds one) or a callable")
    recurrent_activation: Activation = _opt("sigmoid", "function of the gates i, f, o (a name or a callable)")
    peephole: bool = _opt(False, "diagonal peephole weights weight_ph_l{k} from c into i, f, o, zero-initialised "
                          "(Gers & Schmidhuber 2000)")
    layer_norm: bool = _opt(False, "layer-normalised gates and cell (Ba et al. 2016)")
    cifg: bool = _opt(False, "coupled input-forget gate i = 1 - f; the weights hold rows f, g, o only "
                      "(Greff et al. 2017)")
    forget_bias: float = _opt(0.0, "constant added to the forget gate's pre-activation (1.0 is a common choice)")
    recurrent_dropout: float = _opt(0.0, "variational dropout on h_{t-1}, one mask per sequence (training only; "
                                    "Gal & Ghahramani 2016)")
    zoneout: float = _opt(0.0, "probability of keeping each unit of h and c from the previous step (training); "
                          "eval uses the expectation (Krueger et al. 2017)")
    residual: bool = _opt(False, "add each layer's input to its output wherever the widths are equal")
    cell_clip: float = _opt(0.0, "v > 0 clips the cell state c_t to [-v, v] before the output gate and h read it "
                            "(Sak et al. 2014; TensorFlow's cell_clip); 0 = off")
    proj_clip: float = _opt(0.0, "v > 0 clips the projected h_t to [-v, v] (needs proj_size; Sak et al. 2014); "
                            "0 = off")
    backend: str = _opt("auto", "\"auto\" or a name in lstmkit.kernels.BACKENDS (\"native\", \"fused\", "
                        "\"reference\", ...)", "setup")
    init: str = _opt("torch", "\"torch\" (uniform +-1/sqrt(H)) or \"keras\" (glorot-uniform, orthogonal "
                     "recurrent, unit forget bias)", "setup")
    layer_norm_eps: float = _opt(1e-5, "epsilon of every layer norm")

    # -- the option catalogue: what the modules, layers, recipes and CLI derive their arguments from --------
    @classmethod
    def option_fields(cls, *kinds: str) -> tuple[dataclasses.Field, ...]:
        """The fields of the given kinds ("shape", "torch", "variant", "setup"), all when none is given."""
        return _option_fields(cls, kinds)

    @classmethod
    def option_names(cls, *kinds: str) -> tuple[str, ...]:
        return tuple(f.name for f in cls.option_fields(*kinds))

    @classmethod
    def option_doc(cls, names: Sequence[str], indent: int = 8) -> str:
        """Docstring lines ``name: doc (default ...)`` for ``names``, as the modules' docstrings show them."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        pad = " " * indent
        lines = []
        for n in names:
            f = fields[n]
            wrapped = textwrap.wrap(f"{n}: {f.metadata['doc']} (default {f.default!r}).", 104)
            lines += [pad + wrapped[0], *(pad + "    " + w for w in wrapped[1:])]
        return "\n".join(lines)

    @classmethod
    def check_options(cls, owner: str, options: dict, allowed: Sequence[str]) -> None:
        """Python's TypeError for a keyword ``owner`` does not take, naming the ones it does."""
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise TypeError(f"{owner} got an unexpected keyword argument {unknown[0]!r}; its LSTM options are "
                            f"{', '.join(allowed)}")

    def __post_init__(self) -> None:
        _check_int("input_size", self.input_size, 1)
        _check_int("hidden_size", self.hidden_size, 1)
        _check_int("num_layers", self.num_layers, 1)
        _check_int("proj_size", self.proj_size, 0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size has to be smaller than hidden_size ({self.hidden_size}), got {self.proj_size}"
            )
        for name in ("bias", "batch_first", "bidirectional", "peephole", "layer_norm", "cifg", "residual"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        _check_prob("dropout", self.dropout)
        _check_prob("recurrent_dropout", self.recurrent_dropout)
        _check_prob("zoneout", self.zoneout)
        if isinstance(self.forget_bias, bool) or not isinstance(self.forget_bias, (int, float)):
            raise TypeError(f"forget_bias must be a float, got {self.forget_bias!r}")
        if not math.isfinite(self.forget_bias):
            raise ValueError(f"forget_bias must be finite, got {self.forget_bias}")
        for name in ("cell_clip", "proj_clip"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"{name} must be a float (0 = off), got {v!r}")
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite value >= 0 (0 = off), got {v}")
        if self.proj_clip > 0 and self.proj_size == 0:
            raise ValueError("proj_clip clips the projected h, so it needs proj_size > 0")
        if not (isinstance(self.layer_norm_eps, (int, float)) and self.layer_norm_eps > 0):
            raise ValueError(f"layer_norm_eps must be a positive float, got {self.layer_norm_eps!r}")
        resolve_activation(self.activation, "activation")
        resolve_activation(self.recurrent_activation, "recurrent_activation")
        if self.cifg and not is_gate(self.recurrent_activation):
            raise ValueError(
                "cifg couples the gates as i = 1 - f, which needs a recurrent_activation with values in "
                f"[0, 1] (one of {gate_names()}), got {self.recurrent_activation!r}"
            )
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if not isinstance(self.backend, str):
            raise TypeError(f"backend must be a str, got {self.backend!r}")
        if self.residual and self.num_layers == 1 and self.input_size != self.layer_output_size:
            raise ValueError(
                "residual=True adds a layer's input to its output, so it needs equal widths: a single layer "
                f"has input_size={self.input_size} but output width {self.layer_output_size} "
                f"(hidden/proj size x {self.num_directions} directions); use num_layers >= 2 or equal widths"
            )

    # Derived values, never stored, so they cannot go stale.
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def out_size(self) -> int:
        """Width of h (P with a projection, else H)."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def layer_output_size(self) -> int:
        """Width of a layer's output: both directions concatenated."""
        return self.out_size * self.num_directions

    @property
    def num_gates(self) -> int:
        """Rows blocks in the weight matrices: 4 (i, f, g, o), or 3 (f, g, o) with cifg."""
        return 3 if self.cifg else 4

    @property
    def num_peepholes(self) -> int:
        """Rows of weight_ph: 3 (i, f, o), or 2 (f, o) with cifg."""
        return 2 if self.cifg else 3

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.layer_output_size

    def has_residual(self, layer: int) -> bool:
        """Residual connections join every layer whose input and output widths are equal."""
        return self.residual and self.layer_input_size(layer) == self.layer_output_size

    @functools.cached_property
    def is_vanilla_math(self) -> bool:
        """True when the cell is exactly torch.nn.LSTM's (noise aside): every variant option but the two noises
        (recurrent_dropout, zoneout) and layer_norm_eps at its default, read from the field list itself
        (once per config: dispatch asks on every call)."""
        return all(getattr(self, f.name) == f.default for f in self.option_fields("variant")
                   if f.name not in ("recurrent_dropout", "zoneout", "layer_norm_eps"))
