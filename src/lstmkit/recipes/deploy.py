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


def quantize_run(run: Run, out: Optional[str] = None) -> dict:
    """int8 copies of every model of a finished run (``model-int8.safetensors``, ``model-k-int8.safetensors``),
    loadable with :func:`lstmkit.load_model`; for classifiers, the test accuracy of the float and the int8
    ensemble, recomputed from the run's test set."""
    import numpy as np

    from ..nn.quantized import quantize
    from . import get_recipe
    from .base import load_config

    cfg = run.read_json("config.json")
    if (run.path / "forecaster.safetensors").exists() and not run.model_path.exists():
        raise ValueError(f"{run.path} holds a forecaster (lstmkit forecast); quantize its networks with "
                         "lstmkit.quantize in Python")
    members = load_members(run)
    dest = Path(out) if out else run.path
    dest.mkdir(parents=True, exist_ok=True)
    quantized, paths = [], []
    for k, model in enumerate(members):
        q = quantize(model.eval())
        path = dest / ("model-int8.safetensors" if k == 0 else f"model-{k}-int8.safetensors")
        q.save(str(path))
        quantized.append(q)
        paths.append(path)
    result: dict = {"files": [str(p) for p in paths],
                    "float_bytes": sum(member_bytes(m) for m in members),
                    "int8_bytes": sum(member_bytes(q) for q in quantized)}
    recipe = get_recipe(cfg.get("recipe", "?"))
    data = recipe.test_data(load_config(recipe, run), run)
    if data is not None:
        x, y, _ = data
        for name, models in (("float32", members), ("int8", quantized)):
            p = np.mean([m.predict(x, batch_size=256) for m in models], axis=0)
            result[f"test_accuracy_{name}"] = float((p.argmax(-1) == np.asarray(y)).mean())
    return result


def member_bytes(model) -> int:
    """Bytes of a model's weights as saved (its state_dict)."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())
