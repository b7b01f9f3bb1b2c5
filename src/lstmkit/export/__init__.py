"""Deployment: models built from lstmkit layers, out of PyTorch.

``lstmkit.export.onnx(model, path, example_input)`` writes an ONNX graph of every LSTM variant (see
:mod:`lstmkit.export._onnx` for how each is expressed) with dynamic batch and sequence length.
"""

from ._onnx import OPSET, onnx

__all__ = ["OPSET", "onnx"]
