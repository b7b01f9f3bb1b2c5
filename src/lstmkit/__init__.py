"""lstmkit: LSTM networks for PyTorch, every variant as a drop-in for ``torch.nn.LSTM``.

>>> import torch, lstmkit
>>> lstm = lstmkit.LSTM(1, 50, activation="relu", batch_first=True)
>>> out, (h, c) = lstm(torch.randn(10, 100, 1))
>>> out.shape
torch.Size([10, 100, 50])
"""

from .kernels import BACKENDS, Gates, LSTMConfig, select_backend
from .nn import LSTM, LSTMCell, QuantizedLSTM, Stream, quantize
from . import convert, layers
from .models import Model, Sequential, load_model

from ._version import __version__

__all__ = ["BACKENDS", "Gates", "LSTM", "LSTMCell", "LSTMConfig", "Model", "QuantizedLSTM", "Sequential", "Stream",
           "convert", "layers", "load_model", "quantize", "select_backend", "__version__"]
