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


def prune_run(run: Run, sparsity: float, structured: bool = False, epochs: int = 3,
              out: Optional[str] = None) -> dict:
    """Prune every model of a finished classification run and fine-tune it on the run's own training data
    (``epochs`` epochs at a third of its learning rate): ``structured`` removes ``sparsity`` of every LSTM
    layer's hidden units (a smaller, faster model), otherwise the smallest ``sparsity`` of the LSTM weights
    are zeroed. Writes ``model-pruned.safetensors`` (``model-k-pruned...``) and returns parameters, sparsity,
    test accuracy and CPU time of a test-set prediction, before and after."""
    import copy
    import time

    import numpy as np

    from .. import prune
    from . import get_recipe
    from .base import load_config

    cfg_json = run.read_json("config.json")
    recipe = get_recipe(cfg_json.get("recipe", "?"))
    cfg = load_config(recipe, run)
    train = recipe.train_data(cfg, run)
    test = recipe.test_data(cfg, run)
    if train is None or test is None:
        raise ValueError(f"the {recipe.name} recipe cannot give its training data back for fine-tuning; prune its "
                         "models with lstmkit.prune in Python and fine-tune them yourself")
    x, y, val = train
    xt, yt, _ = test
    members = load_members(run)
    dest = Path(out) if out else run.path
    dest.mkdir(parents=True, exist_ok=True)
    pruned, files = [], []
    for k, model in enumerate(members):
        small = prune.units(model, sparsity) if structured else prune.magnitude(copy.deepcopy(model), sparsity)
        small.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        small.trainer.optimizer.param_groups[0]["lr"] = cfg.train.lr / 3
        small.fit(x, y, epochs=epochs, batch_size=cfg.train.batch_size, validation_data=val, verbose=0)
        prune.finalize(small)
        path = dest / ("model-pruned.safetensors" if k == 0 else f"model-{k}-pruned.safetensors")
        small.save(str(path))
        pruned.append(small.eval())
        files.append(str(path))

    def score(models) -> tuple[float, float]:
        t0 = time.process_time()
        p = np.mean([m.predict(xt, batch_size=256) for m in models], axis=0)
        return float((p.argmax(-1) == np.asarray(yt)).mean()), time.process_time() - t0

    acc0, cpu0 = score(members)
    acc1, cpu1 = score(pruned)
    return {"files": files, "structured": structured, "sparsity": sparsity, "epochs": epochs,
            "params_before": sum(p.numel() for m in members for p in m.parameters()),
            "params_after": sum(p.numel() for m in pruned for p in m.parameters()),
            "lstm_zeros_after": float(np.mean([prune.sparsity(m) for m in pruned])),
            "test_accuracy_before": acc0, "test_accuracy_after": acc1,
            "predict_cpu_seconds_before": cpu0, "predict_cpu_seconds_after": cpu1}
