"""What every recipe shares: the three config sections and their ``--set`` overrides, the run directory,
the LSTM stack builder, training with checkpoints, and plots.

A recipe is a class with ``name``, ``summary``, ``target``, a ``default_config(quick)`` and ``train(cfg, run)``
returning its metrics; :func:`run_recipe` wraps it with the run directory. Recipes use the Keras-style
:class:`lstmkit.Sequential`, so a run's ``model.safetensors`` reloads with :func:`lstmkit.load_model` and runs
no code from the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import platform
import shutil
import sys
import time
import typing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from .._version import __version__
from .._deps import require
from ..kernels import LSTMConfig
from ..layers import LSTM, Bidirectional, Dropout
from ..models import load_model
from ..train import CosineDecay, CSVLogger, EarlyStopping, MaxSteps, ModelCheckpoint, resolve_device
from ..train.checkpoint import atomic_write_bytes

log = logging.getLogger(__name__)


# --- configuration -----------------------------------------------------------------------------------------

# the LSTM layer options a recipe's model takes: Keras' names, then every lstmkit option the Keras-style layer has
# (read from LSTMConfig through layers.LSTM.OPTIONS, so a new option is a --set model.<name> key at once)
MODEL_LSTM_OPTIONS = ("activation", "recurrent_activation", "recurrent_dropout",
                      *(n for n in LSTM.OPTIONS if n != "bidirectional"))


def _model_post_init(self) -> None:
    if self.hidden_size < 1 or self.num_layers < 1 or self.embed_dim < 0:
        raise ValueError("model.hidden_size and model.num_layers must be >= 1, model.embed_dim >= 0")
    for name in ("dropout", "recurrent_dropout", "zoneout"):
        if not 0.0 <= getattr(self, name) < 1.0:
            raise ValueError(f"model.{name} must be in [0, 1), got {getattr(self, name)}")
    try:  # every LSTM option, checked as the layer will check it (input width and residual aside)
        LSTMConfig(1, self.hidden_size, bidirectional=self.bidirectional,
                   **{n: getattr(self, n) for n in MODEL_LSTM_OPTIONS if n != "residual"})
    except (TypeError, ValueError) as err:
        raise ValueError(f"model: {err}") from None


def _model_fields() -> list:
    defaults = {f.name: f for f in LSTMConfig.option_fields()}
    fields = [("hidden_size", int, 128), ("num_layers", int, 1),
              ("dropout", float, field(default=0.0, metadata={"doc": "between layers and before the head "
                                                                       "(Keras Dropout)"})),
              ("bidirectional", bool, False), ("embed_dim", int, field(default=0, metadata={
                  "doc": "text recipes: embedding width"}))]
    for n in MODEL_LSTM_OPTIONS:
        f = defaults[n]
        fields.append((n, type(f.default), field(default=f.default, metadata=dict(f.metadata))))
    return fields


ModelConfig = dataclasses.make_dataclass(
    "ModelConfig", _model_fields(), namespace={"__post_init__": _model_post_init, "__doc__": (
        "The LSTM stack: sizes, regularisation, and any lstmkit variant (every option of LSTMConfig that the "
        "Keras-style LSTM layer takes).")})
ModelConfig.__module__ = __name__


@dataclass
class TrainConfig:
    """Optimisation: Keras optimizer names, epochs, batch size, schedule, early stopping, seed, threads, device."""

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "constant"  # or "cosine" (per step, to 0 at the last epoch)
    clipnorm: float = 0.0  # 0 = no clipping
    patience: int = 0  # early stopping on the validation metric; 0 = off
    seed: int = 0
    threads: int = 0  # 0 = leave torch's choice
    ensemble: int = 1  # models trained from seeds seed, seed+1, ...; their probabilities are averaged
    max_steps: int = 0  # optimizer steps per model at most, mid-epoch if need be; 0 = no cap (--quick: 2000)
    device: str = "auto"  # where the networks train: "auto" (CUDA when present), "cpu", "cuda", "cuda:N"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("train.epochs and train.batch_size must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"train.lr must be positive, got {self.lr}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"train.schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if self.ensemble < 1:
            raise ValueError(f"train.ensemble must be >= 1, got {self.ensemble}")
        if self.clipnorm < 0 or self.patience < 0 or self.threads < 0 or self.max_steps < 0:
            raise ValueError("train.clipnorm, train.patience, train.threads and train.max_steps must be >= 0")
        try:
            resolve_device(self.device)
        except ValueError as err:
            raise ValueError(f"train.device: {err}") from None


@dataclass
class RecipeConfig:
    data: Any
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _convert(raw: str, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union:  # Optional[X]
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw.lower() in ("none", "null", ""):
            return None
        kind = args[0]
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {key}: expected true or false, got {raw!r}")
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            raise ValueError(f"--set {key}: expected {kind.__name__}, got {raw!r}") from None
    if typing.get_origin(kind) in (tuple, list):
        return tuple(s.strip() for s in raw.split(",") if s.strip())
    return raw


def apply_overrides(cfg: RecipeConfig, overrides: Sequence[str]) -> RecipeConfig:
    """Apply ``section.key=value`` strings; types follow the dataclass fields, and each section is validated
    again. An unknown section or key is an error that lists the known ones.

    >>> from lstmkit.recipes.base import RecipeConfig, apply_overrides
    >>> from dataclasses import make_dataclass
    >>> cfg = RecipeConfig(data=make_dataclass("D", [("window", int, 3)])())
    >>> apply_overrides(cfg, ["model.hidden_size=256", "data.window=5"]).model.hidden_size
    256
    """
    changes: dict[str, dict[str, Any]] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise ValueError(f"--set expects section.key=value (e.g. model.hidden_size=256), got {item!r}")
        sections = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
        if section not in sections:
            raise ValueError(f"--set {key}: unknown section {section!r}; known: {', '.join(sections)}")
        part = sections[section]
        hints = typing.get_type_hints(type(part))
        if name not in hints or name not in {f.name for f in dataclasses.fields(part)}:
            known = ", ".join(f"{section}.{f.name}" for f in dataclasses.fields(part))
            raise ValueError(f"--set {key}: unknown key; known: {known}")
        changes.setdefault(section, {})[name] = _convert(raw.strip(), hints[name], key)
    for section, values in changes.items():  # one replace() per section: validated with all its changes
        setattr(cfg, section, dataclasses.replace(getattr(cfg, section), **values))
    return cfg


# --- the run directory -------------------------------------------------------------------------------------

class Run:
    """A run directory: ``config.json``, ``metrics.json``, ``model.safetensors``, ``history.csv``, plots, and
    the recipe's artefacts (vocabulary, scaler). Files are written atomically."""

    def __init__(self, path: Path, verbose: int = 2) -> None:
        self.path = path
        self.verbose = verbose  # Keras' verbose for the run's fit calls: 0 silent, 1 bar, 2 a line per epoch
        path.mkdir(parents=True, exist_ok=True)

    @property
    def model_path(self) -> Path:
        return self.path / "model.safetensors"

    def write_json(self, name: str, data: Any) -> Path:
        p = self.path / name
        bad = _non_finite(data)
        if bad:  # NaN and Infinity are not JSON; a metric that is one means the run failed
            raise ValueError(f"{name}: {', '.join(bad[:5])} {'is' if len(bad) == 1 else 'are'} not finite")
        text = json.dumps(data, indent=2, default=_json_default, allow_nan=False)
        atomic_write_bytes(p, (text + "\n").encode("utf-8"))
        return p

    def read_json(self, name: str) -> Any:
        p = self.path / name
        if not p.exists():
            raise FileNotFoundError(f"{p} is missing: is {self.path} a finished lstmkit run directory?")
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{p}: not valid JSON ({err})") from None


def _non_finite(data: Any, where: str = "") -> list[str]:
    """'key=value' for every NaN or infinite number in a JSON-like structure."""
    if isinstance(data, dict):
        return [b for k, v in data.items() for b in _non_finite(v, f"{where}.{k}" if where else str(k))]
    if isinstance(data, (list, tuple)):
        return [b for i, v in enumerate(data) for b in _non_finite(v, f"{where}[{i}]")]
    if isinstance(data, (float, np.floating)) and not np.isfinite(data):
        return [f"{where}={data}"]
    return []


def file_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


DATA_FILE_FIELDS = ("csv",)  # data-section fields that name a user's file: hashed at training, checked later


def data_files(cfg: "RecipeConfig") -> dict[str, dict[str, str]]:
    """{field: {path (absolute), sha256}} of the user's data files a config names."""
    out = {}
    for name in DATA_FILE_FIELDS:
        value = getattr(cfg.data, name, "")
        if value and Path(value).is_file():
            out[name] = {"path": str(Path(value).resolve()), "sha256": file_sha256(Path(value))}
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def default_run_dir(name: str) -> Path:
    """``runs/NAME-YYYYmmdd-HHMMSS`` (under ``$LSTMKIT_RUNS``), with ``-2``, ``-3``... if that is taken."""
    base = Path(os.environ.get("LSTMKIT_RUNS", "runs")) / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


# --- models and training ----------------------------------------------------------------------------------

def lstm_stack(m: ModelConfig, return_sequences: bool = False, **first_kwargs) -> list:
    """``num_layers`` lstmkit Keras LSTM layers (bidirectional if asked) with Dropout between them."""
    layers: list = []
    for i in range(m.num_layers):
        last = i == m.num_layers - 1
        kwargs = dict({n: getattr(m, n) for n in MODEL_LSTM_OPTIONS}, return_sequences=return_sequences or not last)
        if i == 0:
            kwargs.update(first_kwargs)
        if m.bidirectional:  # one bidirectional lstmkit LSTM underneath; input_shape passes through
            layers.append(Bidirectional(LSTM(m.hidden_size, **kwargs)))
        else:
            layers.append(LSTM(m.hidden_size, **kwargs))
        if m.dropout:
            layers.append(Dropout(m.dropout))
    return layers


def compile_model(model, t: TrainConfig, loss: Any, metrics: Sequence[str], steps_per_epoch: int) -> None:
    lr: Any = t.lr
    if t.schedule == "cosine":
        lr = CosineDecay(t.lr, decay_steps=max(1, t.epochs * steps_per_epoch))
    model.compile(optimizer={"name": t.optimizer, "learning_rate": lr}, loss=loss, metrics=list(metrics),
                  clipnorm=t.clipnorm or None)


def fit_best(model, run: Run, t: TrainConfig, x, y, validation_data, monitor: str, verbose: Optional[int] = None,
             extra_callbacks: Sequence = (), member: int = 0) -> tuple[Any, dict]:
    """Train one model and return it reloaded from its file, with the history.

    With ``validation_data`` the file holds the best epoch by ``monitor`` (and early stopping applies); without,
    the last epoch. ``member`` k > 0 of an ensemble writes ``model-k.safetensors`` with seed ``t.seed + k``.
    """
    verbose = run.verbose if verbose is None else verbose
    path = member_path(run, member)
    best_only = validation_data is not None
    callbacks = [ModelCheckpoint(str(path), monitor=monitor if best_only else "loss", save_best_only=best_only),
                 *extra_callbacks]
    if member == 0:
        callbacks.append(CSVLogger(str(run.path / "history.csv")))
    if t.patience and best_only:
        callbacks.append(EarlyStopping(monitor=monitor, patience=t.patience))
    if t.max_steps:
        callbacks.append(MaxSteps(t.max_steps))
    torch.manual_seed(t.seed + member)
    model.to(resolve_device(t.device))  # the checkpoint it writes loads on the CPU (load_model below)
    history = model.fit(x, y, epochs=t.epochs, batch_size=t.batch_size, validation_data=validation_data,
                        callbacks=callbacks, verbose=verbose, seed=t.seed + member)
    return load_model(path), history.history


def train_members(build, run: Run, t: TrainConfig, loss: Any, metrics: Sequence[str], x, y, validation_data,
                  monitor: str, verbose: Optional[int] = None) -> tuple[list, dict]:
    """``t.ensemble`` models from ``build()``, each compiled and trained by :func:`fit_best`; returns them and
    the first one's history."""
    models, first = [], {}
    for k in range(t.ensemble):
        model = build()
        compile_model(model, t, loss, metrics, -(-len(x) // t.batch_size))
        best, history = fit_best(model, run, t, x, y, validation_data, monitor, verbose=verbose, member=k)
        models.append(best)
        first = first or history
    return models, first


def member_path(run: Run, k: int) -> Path:
    return run.model_path if k == 0 else run.path / f"model-{k}.safetensors"


def load_members(run: Run) -> list:
    """Every model of a run: ``model.safetensors`` and the ensemble's ``model-k.safetensors``."""
    models, k = [], 0
    while member_path(run, k).exists():
        models.append(load_model(member_path(run, k)))
        k += 1
    if not models:
        raise FileNotFoundError(f"{run.model_path} is missing: is {run.path} a finished run?")
    return models


def predict_members(models: Sequence, x, batch_size: int = 256) -> np.ndarray:
    """The ensemble's prediction: the mean of its members' outputs (probabilities)."""
    return np.mean([m.predict(x, batch_size=batch_size) for m in models], axis=0)


def seed_everything(t: TrainConfig) -> None:
    torch.manual_seed(t.seed)
    np.random.seed(t.seed)
    if t.threads:
        torch.set_num_threads(t.threads)


# --- plots -----------------------------------------------------------------------------------------------

def _pyplot():
    matplotlib = require("matplotlib", "recipes")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history: dict, path: Path, title: str) -> Path:
    """Loss (and the first metric) per epoch, training against validation."""
    plt = _pyplot()
    keys = [k for k in history if not k.startswith("val_") and k != "lr"]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5), squeeze=False)
    for ax, k in zip(axes[0], keys):
        epochs = np.arange(1, len(history[k]) + 1)
        ax.plot(epochs, history[k], label="train")
        if f"val_{k}" in history:
            ax.plot(epochs, history[f"val_{k}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(k)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path, title: str) -> Path:
    plt = _pyplot()
    ConfusionMatrixDisplay = require("sklearn.metrics", "recipes").ConfusionMatrixDisplay

    size = max(4.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(cm, display_labels=list(classes)).plot(ax=ax, colorbar=False, values_format="d")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, macro F1 and the confusion matrix (scikit-learn)."""
    skm = require("sklearn.metrics", "recipes")
    accuracy_score, confusion_matrix, f1_score = skm.accuracy_score, skm.confusion_matrix, skm.f1_score

    labels = list(range(len(classes)))
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
            "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()}


def finish_classification(name: str, run: Run, models: Sequence, history: dict, x_test, y_test: np.ndarray,
                          classes: Sequence[str], extra: dict) -> dict:
    """Test a classification run's models (their mean), draw its learning curves and confusion matrix, and
    return the metrics every classifier reports, plus ``extra``."""
    probs = predict_members(models, x_test)  # (N, C), the ensemble's mean
    report = classification_report(y_test, probs.argmax(-1), classes)
    plot_history(history, run.path / "learning_curves.png", name)
    plot_confusion(np.array(report["confusion_matrix"]), classes, run.path / "confusion_matrix.png",
                   f"{name}: test accuracy {report['accuracy']:.4f}")
    chance = float(np.bincount(y_test, minlength=len(classes)).max() / len(y_test))
    return {"test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"],
            "majority_class_accuracy": chance, "confusion_matrix": report["confusion_matrix"],
            "classes": list(classes), "epochs_run": len(history["loss"]),
            "best_val_accuracy": float(max(history["val_accuracy"])) if "val_accuracy" in history else None,
            "ensemble": len(models), **extra}


# --- the recipe protocol -----------------------------------------------------------------------------------

class Recipe:
    name = ""
    summary = ""
    target = ""  # what the full run should reach, in words
    main_metric = ""  # key in metrics.json

    def default_config(self, quick: bool) -> RecipeConfig:
        raise NotImplementedError

    def train(self, cfg: RecipeConfig, run: Run, quick: bool) -> dict:
        raise NotImplementedError

    def train_data(self, cfg: RecipeConfig, run: Optional[Run] = None) -> Optional[tuple[Any, np.ndarray, Any]]:
        """(x_train, y_train, validation_data or None) as :meth:`train` fits them, for fine-tuning a trained
        run's models (``lstmkit prune``); None = not available. Classifiers with sparse integer labels."""
        return None

    def test_data(self, cfg: RecipeConfig, run: Run) -> Optional[tuple[Any, np.ndarray, list[str]]]:
        """(x_test, y_test, classes) rebuilt from a run's config, for :meth:`evaluate`; None = not available."""
        return None

    def evaluate(self, run: Run) -> dict:
        """The run's recorded metrics; for classifiers, the test accuracy and confusion matrix recomputed from
        the saved model files and the test data (``recomputed: true``)."""
        metrics = run.read_json("metrics.json")
        data = self.test_data(load_config(self, run, check_data=True), run)
        if data is None:
            return metrics
        x, y, classes = data
        report = classification_report(y, predict_members(load_members(run), x).argmax(-1), classes)
        return {**metrics, "test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"],
                "confusion_matrix": report["confusion_matrix"], "recomputed": True}

    def predict(self, run: Run, inputs: list[str]) -> list[Any]:
        raise ValueError(f"recipe {self.name} has no predict; see `lstmkit recipes`")


def load_config(recipe: Recipe, run: Run, check_data: bool = False) -> RecipeConfig:
    """A run's resolved config, rebuilt into the recipe's dataclasses (and validated again).

    With ``check_data``, the user's data files the run was trained on are read from the absolute paths recorded
    at training time, and must still have the recorded SHA-256: a changed or replaced file is an error, not a
    silent score on other data.
    """
    saved = run.read_json("config.json")
    if check_data:
        for name, rec in saved.get("data_files", {}).items():
            path = Path(rec["path"])
            if not path.is_file():
                raise FileNotFoundError(f"data.{name}: {path}, the file this run was trained on, is gone")
            if file_sha256(path) != rec["sha256"]:
                raise ValueError(f"data.{name}: {path} has changed since this run was trained on it (SHA-256 "
                                 f"{rec['sha256'][:12]}...); retrain, or restore the file")
            saved.setdefault("data", {})[name] = str(path)
    cfg = recipe.default_config(bool(saved.get("quick")))
    for section in ("data", "model", "train"):
        part = getattr(cfg, section)
        names = {f.name for f in dataclasses.fields(part)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.get(section, {}).items() if k in names}
        setattr(cfg, section, dataclasses.replace(part, **values))
    return cfg


QUICK_MAX_STEPS = 2000


def resolve_config(recipe: Recipe, overrides: Sequence[str] = (), quick: bool = False) -> RecipeConfig:
    """The recipe's default config with ``--set`` overrides; ``--quick`` also caps each model at
    :data:`QUICK_MAX_STEPS` optimizer steps (unless train.max_steps is set), so it stays quick on big data."""
    cfg = apply_overrides(recipe.default_config(quick), overrides)
    if quick and cfg.train.max_steps == 0 and not any(o.strip().startswith("train.max_steps") for o in overrides):
        cfg.train = dataclasses.replace(cfg.train, max_steps=QUICK_MAX_STEPS)
    return cfg


def run_recipe(recipe: Recipe, overrides: Sequence[str] = (), quick: bool = False,
               out: Optional[Path] = None, verbose: int = 2) -> tuple[Run, dict]:
    """Resolve the config, make the run directory, train, and write ``config.json`` and ``metrics.json``."""
    cfg = resolve_config(recipe, overrides, quick)
    with fresh_run(out, recipe.name, verbose) as run:
        seed_everything(cfg.train)
        run.write_json("config.json", {"recipe": recipe.name, "quick": quick, "overrides": list(overrides),
                                       "data_files": data_files(cfg),
                                       "lstmkit": __version__, "torch": torch.__version__,
                                       "python": platform.python_version(), "threads": torch.get_num_threads(),
                                       "command": " ".join(sys.argv), **cfg.to_dict()})
        start = time.perf_counter()
        metrics = recipe.train(cfg, run, quick)
        metrics = {"recipe": recipe.name, "quick": quick, "target": recipe.target, **metrics,
                   "wall_seconds": round(time.perf_counter() - start, 1)}
        run.write_json("metrics.json", metrics)  # refuses NaN and infinity: a run that made them failed
    return run, metrics


@contextlib.contextmanager
def fresh_run(out: Optional[Path], name: str, verbose: int = 2):
    """A new run directory (``out``, or ``runs/NAME-...``) that must not exist or be empty; removed again if
    the block fails (errors, Ctrl-C and, in the CLI, SIGTERM), so a failed run leaves nothing half-written."""
    path = Path(out) if out else default_run_dir(name)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        # never mix two runs' files (a stale model-k.safetensors would join the next run's ensemble)
        raise ValueError(f"{path} already exists and is not an empty folder; choose another --out or remove it")
    run = Run(path, verbose=verbose)
    try:
        yield run
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
