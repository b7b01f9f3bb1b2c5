"""``lstmkit export RUN_DIR``: a trained run's models out of PyTorch (ONNX), next to them in the run directory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import torch

from ..models import Model, Sequential
from .base import Run, load_members

log = logging.getLogger(__name__)

FORMATS = ("onnx",)
FREE_STEPS = 8  # the example's length along an axis the model leaves free (the graph keeps it free)


def example_inputs(model: Model) -> tuple[torch.Tensor, ...]:
    """A batch of two inputs of the shapes and dtypes a Keras-style model declares (token ids are 1)."""
    if isinstance(model, Sequential):
        if model.input_shape is None:
            raise ValueError("the model is not built (no input shape), so it has no graph to export")
        first = model.layers[0]
        specs = [((None, *model.input_shape), "float32" if first.float_input else "int64")]
    else:
        specs = [(tuple(t.shape), t.dtype) for t in model.inputs]
    out = []
    for shape, dtype in specs:
        dims = [2] + [FREE_STEPS if d is None else int(d) for d in shape[1:]]
        if dtype.startswith("float"):
            out.append(torch.randn(*dims, generator=torch.Generator().manual_seed(0)))
        else:
            out.append(torch.ones(*dims, dtype=torch.int64))
    return tuple(out)


def export_run(run: Run, fmt: str = "onnx", out: Optional[str] = None) -> list[Path]:
    """Export every model of a finished run (the ensemble's members too): ``model.onnx``, ``model-k.onnx``.
    Each file is checked by onnxruntime against PyTorch before it is written."""
    from .. import export

    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if (run.path / "forecaster.safetensors").exists() and not run.model_path.exists():
        raise ValueError(f"{run.path} holds a forecaster (lstmkit forecast), which combines several networks with "
                         "statistical models; only the recipes' Keras-style models export to ONNX so far")
    models = load_members(run)
    dest = Path(out) if out else run.path
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, model in enumerate(models):
        model.eval()
        path = dest / ("model.onnx" if k == 0 else f"model-{k}.onnx")
        paths.append(export.onnx(model, path, example_inputs(model)))
        log.info("exported %s", path)
    return paths
