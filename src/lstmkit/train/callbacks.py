"""Keras-style callbacks for :class:`lstmkit.train.Trainer`.

A callback overrides any of the hooks below; ``self.trainer`` gives it the trainer (``.model``,
``.optimizer``, ``.stop_training``). Callbacks that write files or the terminal set ``rank_zero_only`` and run
only on rank 0 under ``torchrun``. Every hook receives ``logs``, the metrics so far (``loss``, ``val_loss``, ...).
"""

from __future__ import annotations

import copy
import csv
import io
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .checkpoint import atomic_write_bytes

from .._deps import require

log = logging.getLogger(__name__)


class Callback:
    rank_zero_only = False

    def __init__(self) -> None:
        self.trainer = None

    def set_trainer(self, trainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, logs: dict) -> None: ...
    def on_train_end(self, logs: dict) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict) -> None: ...
    def on_test_begin(self, logs: dict) -> None: ...
    def on_test_end(self, logs: dict) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state saved with a resume checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class History(Callback):
    """Collects every epoch's logs: ``history.history["loss"]`` is the list of training losses."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {k: list(v) for k, v in state.get("history", {}).items()}
        self.epoch = list(state.get("epoch", []))


def _fmt(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4g}" for k, v in logs.items() if isinstance(v, (int, float)))


class ProgressBar(Callback):
    """Keras' ``verbose``: 1 = a tqdm bar per epoch (loss, metrics, ETA) on a terminal, one plain line per
    epoch otherwise; 2 = one line per epoch. Lines go to stdout, bars to stderr."""

    rank_zero_only = True

    def __init__(self, verbose: int = 1, stream=None) -> None:
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.bar = None
        self._t0 = 0.0

    def _tty(self) -> bool:
        s = self.stream or sys.stderr
        return hasattr(s, "isatty") and s.isatty()

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self._t0 = time.perf_counter()
        self.epochs = self.trainer.epochs
        if self.verbose == 1 and self._tty():
            tqdm = require("tqdm.auto", "train").tqdm

            self.bar = tqdm(total=self.trainer.steps_per_epoch, desc=f"Epoch {epoch + 1}/{self.epochs}",
                            unit="step", file=self.stream or sys.stderr, leave=True, dynamic_ncols=True)

    def on_train_batch_end(self, batch: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(_fmt(logs), refresh=False)
            self.bar.update(1)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        dt = time.perf_counter() - self._t0
        if self.bar is not None:
            self.bar.set_postfix_str(_fmt(logs))
            self.bar.close()
            self.bar = None
        elif self.verbose:
            tqdm = require("tqdm", "train").tqdm

            tqdm.write(f"Epoch {epoch + 1}/{self.epochs} - {dt:.1f}s - {_fmt(logs)}", file=self.stream or sys.stdout)


class MaxSteps(Callback):
    """Stop training after ``steps`` optimizer steps of this ``fit`` call, mid-epoch if need be (an epoch of a
    large data set can be longer than the time a quick run should take)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"MaxSteps needs a positive number of steps, got {steps!r}")
        self.steps = steps
        self._done = 0

    def on_train_begin(self, logs: dict) -> None:
        self._done = 0

    def on_train_batch_end(self, batch: int, logs: dict) -> None:
        self._done += 1
        if self._done >= self.steps:
            log.info("stopping after %d steps (max_steps)", self._done)
            self.trainer.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks: Callable) -> None:
        super().__init__()
        known = {"on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
                 "on_train_batch_end", "on_test_begin", "on_test_end"}
        unknown = set(hooks) - known
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hooks {sorted(unknown)}; known: {sorted(known)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)


class _Monitor(Callback):
    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.best = math.inf if mode == "min" else -math.inf

    def _value(self, logs: dict) -> Optional[float]:
        v = logs.get(self.monitor)
        if v is None:
            log.warning("%s: metric %r is not in the logs (have %s)", type(self).__name__, self.monitor,
                        sorted(logs))
        return v

    def _improved(self, v: float) -> bool:
        if self.mode == "min":
            return v < self.best - self.min_delta
        return v > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; optionally restore the best weights."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, mode: str = "auto",
                 baseline: Optional[float] = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience, self.baseline = patience, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs: dict) -> None:
        if self.baseline is not None:
            self.best = self.baseline

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        v = self._value(logs)
        if v is None or epoch < self.start_from_epoch:
            return
        if self._improved(v):
            self.best, self.best_epoch, self.wait = v, epoch, 0
            if self.restore_best_weights:
                self.best_weights = copy.deepcopy(self.trainer.unwrapped.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs: dict) -> None:
        if self.stopped_epoch:
            log.info("early stopping at epoch %d; best %s = %.4g at epoch %d", self.stopped_epoch + 1,
                     self.monitor, self.best, self.best_epoch + 1)
        if self.restore_best_weights and self.best_weights is not None:
            self.trainer.unwrapped.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait, self.best_epoch = state["best"], state["wait"], state["best_epoch"]


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, mode: str = "auto",
                 min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__(monitor, mode, min_delta)
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        self.factor, self.patience, self.cooldown, self.min_lr = factor, patience, cooldown, min_lr
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        logs["learning_rate"] = self.trainer.optimizer.param_groups[0]["lr"]
        v = self._value(logs)
        if v is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(v):
            self.best, self.wait = v, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                for group in self.trainer.optimizer.param_groups:
                    new = max(group["lr"] * self.factor, self.min_lr)
                    if new < group["lr"]:
                        log.info("epoch %d: ReduceLROnPlateau lowers the learning rate to %.3g", epoch + 1, new)
                    group["lr"] = new
                self.cooldown_counter, self.wait = self.cooldown, 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait, self.cooldown_counter = state["best"], state["wait"], state["cooldown_counter"]


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)``."""

    def __init__(self, schedule: Callable[[int, float], float]) -> None:
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        for group in self.trainer.optimizer.param_groups:
            group["lr"] = float(self.schedule(epoch, group["lr"]))


class TerminateOnNaN(Callback):
    """Stop training when the loss becomes NaN or infinite."""

    def on_train_batch_end(self, batch: int, logs: dict) -> None:
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            log.warning("batch %d: loss is %s; terminating training", batch, loss)
            self.trainer.stop_training = True


class ModelCheckpoint(_Monitor):
    """Save the model after each epoch, or only when ``monitor`` improves (``save_best_only``).

    ``filepath`` may hold ``{epoch}`` and log keys, e.g. ``"ckpt/{epoch:03d}-{val_loss:.3f}.safetensors"``.
    Writes are atomic: a crash leaves the previous file intact. A Sequential model is saved whole (config,
    weights, optimizer; reload with :func:`lstmkit.load_model`); any other module saves its weights and
    optimizer state (reload with :meth:`Trainer.load`).
    """

    rank_zero_only = True

    def __init__(self, filepath: str, monitor: str = "val_loss", save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", min_delta: float = 0.0) -> None:
        super().__init__(monitor, mode, min_delta)
        self.filepath, self.save_best_only, self.save_weights_only = str(filepath), save_best_only, save_weights_only
        self.last_saved: Optional[str] = None

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.save_best_only:
            v = self._value(logs)
            if v is None or not self._improved(v):
                return
            self.best = v
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, ValueError) as err:
            raise ValueError(f"ModelCheckpoint: cannot format {self.filepath!r} with epoch and {sorted(logs)}: "
                             f"{err}") from None
        self.trainer.save(path, include_optimizer=not self.save_weights_only)
        self.last_saved = path

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]


class CSVLogger(Callback):
    """Append each epoch's logs as a CSV row to ``filename`` (atomically rewritten, so never half a row)."""

    rank_zero_only = True

    def __init__(self, filename: str, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename, self.sep, self.append = Path(filename), separator, append
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: dict) -> None:
        if self.append and self.filename.exists() and not self.rows:
            with open(self.filename, newline="") as f:
                self.rows = list(csv.DictReader(f, delimiter=self.sep))

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.rows.append({"epoch": epoch, **{k: v for k, v in logs.items() if isinstance(v, (int, float))}})
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, delimiter=self.sep, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_bytes(self.filename, buf.getvalue().encode())


class TensorBoard(Callback):
    """Write epoch logs (and optionally batch losses) as TensorBoard scalars with PyTorch's SummaryWriter."""

    rank_zero_only = True

    def __init__(self, log_dir: str = "logs", update_freq: str = "epoch") -> None:
        super().__init__()
        if update_freq not in ("epoch", "batch"):
            raise ValueError("update_freq must be 'epoch' or 'batch'")
        self.log_dir, self.update_freq = str(log_dir), update_freq
        self.writer = None
        self.step = 0

    def on_train_begin(self, logs: dict) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:  # torch imports tensorboard lazily
            raise ImportError("the TensorBoard callback needs tensorboard: pip install 'lstmkit[tensorboard]'") from err
        os.makedirs(self.log_dir, exist_ok=True)
        self.writer = SummaryWriter(self.log_dir)

    def on_train_batch_end(self, batch: int, logs: dict) -> None:
        self.step += 1
        if self.update_freq == "batch" and "loss" in logs:
            self.writer.add_scalar("batch/loss", logs["loss"], self.step)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        for k, v in logs.items():
            if isinstance(v, (int, float)) and np.isfinite(v):
                self.writer.add_scalar(f"epoch/{k}", v, epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs: dict) -> None:
        if self.writer is not None:
            self.writer.close()
