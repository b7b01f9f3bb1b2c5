"""Kernels: the reference math, the backends that run it, and the registry that picks one.

Nothing here knows about ``torch.nn.Module``; :mod:`lstmkit.nn` builds the layers on top.
"""

from .activations import ACTIVATIONS, ActivationSpec, register_activation, resolve_activation
from .config import LSTMConfig
from .functional import DirectionWeights, Gates, cell_step, input_projection
from .registry import (BACKENDS, Backend, Request, Selection, StackWeights, graph_capture, register, select_backend,
                       under_vmap)
from .stack import Noise, run_stack, sample_noise
from . import native as _native  # noqa: F401  (registers "native")
from . import reference as _reference  # noqa: F401  (registers "reference")
from . import fused as _fused  # noqa: F401  (registers "fused"; compiles lazily on first use)
from . import triton_backend as _triton  # noqa: F401  (registers "triton"; GPUs, or TRITON_INTERPRET=1 on CPU)
from . import int8 as _int8  # noqa: F401  (registers "int8": a quantized LSTM's weights, torch's int8 kernel)
from . import onnx_trace as _onnx  # noqa: F401  (registers "onnx": placeholders while lstmkit.export traces)

__all__ = [
    "ACTIVATIONS", "ActivationSpec", "BACKENDS", "Backend", "DirectionWeights", "Gates", "LSTMConfig", "Noise",
    "Request", "Selection", "StackWeights", "cell_step", "graph_capture", "input_projection", "register",
    "register_activation", "resolve_activation", "run_stack", "sample_noise", "select_backend", "under_vmap",
]
