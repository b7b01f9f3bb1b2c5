"""Deployment: models built from lstmkit layers, out of PyTorch.

``lstmkit.export.onnx(model, path, example_input)`` writes an ONNX graph of every LSTM variant (see
:mod:`lstmkit.export._onnx` for how each is expressed) with dynamic batch and sequence length;
``onnx_stream`` and :class:`OnnxStream` export and run an LSTM chunk by chunk with its state as graph
inputs and outputs (:class:`lstmkit.Stream` is the PyTorch side).
"""

from ._onnx import OPSET, OnnxStream, onnx, onnx_stream

__all__ = ["OPSET", "OnnxStream", "onnx", "onnx_stream"]
