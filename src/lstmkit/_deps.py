"""Optional dependencies: the layers need only torch, numpy and safetensors; the rest comes with extras.

>>> require("math", "train").__name__
'math'
"""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {
    "train": "the Keras-style fit/evaluate and the Trainer (tqdm, torchmetrics)",
    "recipes": "the recipes and the lstmkit command (click, matplotlib, scikit-learn, statsmodels)",
    "tensorboard": "the TensorBoard callback",
    "forecast": "lstmkit.forecast's statistical models (statsmodels)",
    "gpu": "the Triton GPU backend (triton)",
    "deploy": "ONNX export (onnx, onnxruntime)",
    "sklearn": "the scikit-learn estimators (scikit-learn >= 1.6)",
    "tune": "hyper-parameter search with pruning (optuna, optuna-integration)",
}


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{module.split('.')[0]} is needed for {EXTRAS[extra]} and is not installed: "
            f"pip install 'lstmkit[{extra}]' (or 'lstmkit[all]')"
        ) from err
