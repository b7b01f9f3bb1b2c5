"""The training loop: ``fit -> train_epoch -> train_step``, with callback hooks, for any ``torch.nn.Module``.

A plain PyTorch user trains their own module with it:

>>> import torch
>>> from lstmkit.train import Trainer
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<...>
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
>>> x = torch.randn(64, 3); y = x.sum(1, keepdim=True)
>>> trainer = Trainer(model, optimizer={"name": "adam", "learning_rate": 0.01}, loss="mse", metrics=["mae"])
>>> history = trainer.fit(x, y, epochs=30, batch_size=16, verbose=0)
>>> history.history["loss"][-1] < history.history["loss"][0]
True

Subclass and override :meth:`train_step` / :meth:`eval_step` for custom batches or losses. Under
``torchrun --nproc_per_node=N`` the same script trains with DistributedDataParallel (gloo on CPU, NCCL on
GPU): each process sees its shard of every epoch, metrics are averaged over all processes, and callbacks
that write (checkpoints, CSV, TensorBoard, the progress bar) run on rank 0 only.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from . import distributed
from .callbacks import Callback, History, ProgressBar
from .checkpoint import (CheckpointError, load_checkpoint, optimizer_from_flat, optimizer_to_flat,
                         save_checkpoint)
from .inputs import as_checked_tensor, make_dataset, make_loader, split_validation
from .losses import Loss, LossShapeError, get_loss, loss_name, weighted_mean
from .metrics import Metric, get_metric, mean_metric
from .optim import get_optimizer

log = logging.getLogger(__name__)

PRECISIONS = ("float32", "bf16", "fp16")


@dataclass(frozen=True)
class TrainOptions:
    """What ``compile`` fixes besides optimizer, loss and metrics; validated on construction.

    clipnorm: clip each parameter's gradient to this L2 norm (Keras' per-variable ``clipnorm``).
    clipvalue: clip every gradient element to [-clipvalue, clipvalue].
    global_clipnorm: clip the norm of all gradients together (torch's ``clip_grad_norm_``).
    precision: "float32", "bf16" (autocast on CPU and GPU) or "fp16" (GPU only, with a GradScaler).
    """

    clipnorm: Optional[float] = None
    clipvalue: Optional[float] = None
    global_clipnorm: Optional[float] = None
    precision: str = "float32"

    def __post_init__(self) -> None:
        for name in ("clipnorm", "clipvalue", "global_clipnorm"):
            v = getattr(self, name)
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a positive number, got {v}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


class Trainer:
    """Trains ``model`` with Keras' conventions. ``optimizer``/``loss``/``metrics`` take Keras names or torch
    objects (see :func:`get_optimizer`, :func:`get_loss`, :func:`get_metric`); ``lr_schedule`` maps the
    optimizer step to a learning rate."""

    def __init__(self, model: nn.Module, optimizer: Any = "rmsprop", loss: Any = "mse",
                 metrics: Sequence[Any] = (), *, options: Optional[TrainOptions] = None,
                 lr_schedule: Optional[Callable[[int], float]] = None,
                 regularization: Optional[Callable[[], Optional[Tensor]]] = None) -> None:
        self.model = model
        self.options = options or TrainOptions()
        self.loss_fn = get_loss(loss)
        self._optimizer_spec = optimizer
        self.optimizer: Optional[torch.optim.Optimizer] = None
        self.metric_specs = list(metrics)
        self.lr_schedule = lr_schedule
        self.regularization = regularization or getattr(model, "regularization_loss", None)
        self.stop_training = False
        self.epochs = 0
        self.steps_per_epoch: Optional[int] = None
        self.global_step = 0
        self.history = History()
        self._ddp: Optional[nn.Module] = None
        self._checked_loss = False
        if self.options.precision == "fp16" and self.device.type != "cuda":
            raise ValueError("precision='fp16' needs a CUDA device; use 'bf16' on CPU")
        self._scaler = torch.amp.GradScaler("cuda") if self.options.precision == "fp16" else None

    # --- plumbing -------------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        p = next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def unwrapped(self) -> nn.Module:
        return self.model

    def ensure_optimizer(self) -> torch.optim.Optimizer:
        if self.optimizer is None:
            params = [p for p in self.model.parameters() if p.requires_grad]
            if not params:
                raise ValueError("the model has no trainable parameters (is it built? give input_shape)")
            self.optimizer = get_optimizer(self._optimizer_spec, params)
        return self.optimizer

    def _autocast(self):
        if self.options.precision == "float32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.options.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _metrics(self) -> list[Metric]:
        """Fresh metrics for one pass (a Metric object given to compile is copied, so every epoch and the
        validation start from zero)."""
        if self.output_names is None:
            return [_fresh(get_metric(m, loss_name(self.loss_fn))) for m in self.metric_specs]
        out = []
        fns = self.output_losses or [None] * len(self.output_names)
        for i, (name, fn) in enumerate(zip(self.output_names, fns)):
            for spec in self.metric_specs:
                m = _fresh(get_metric(spec, loss_name(fn or self.loss_fn)))
                out.append(OutputMetric(f"{name}_{m.name}", m, i))
        return out

    #: how many tensors of a batch are the model's inputs (a functional model may take several); the rest
    #: are targets, one per output
    n_inputs = 1
    #: the outputs' names when the model has several (losses and metrics are then logged per output)
    output_names: Optional[list[str]] = None
    #: per output: its loss (None: the compiled loss) and its weight in the total
    output_losses: Optional[list] = None
    output_loss_weights: Optional[list[float]] = None

    def forward(self, x: Any) -> Any:
        """The model's output for a batch (through DDP while training distributed); ``x`` is one tensor, or
        a tuple of them for a model with several inputs."""
        module = self._ddp if (self._ddp is not None and self.model.training) else self.model
        return module(*x) if isinstance(x, tuple) else module(x)

    def split_batch(self, batch) -> tuple[Any, Any]:
        """(x, y) of a batch on the device: x a tensor or a tuple of :attr:`n_inputs` tensors, y a tensor, a
        tuple (one per output) or None (predict)."""
        return self.split_weighted(batch)[:2]

    def split_weighted(self, batch) -> tuple[Any, Any, Optional[Tensor]]:
        """(x, y, sample_weight): a batch may carry one more tensor after the targets, the per-sample weights
        (as ``fit(sample_weight=...)`` packs them, or a Dataset yielding (x, y, w) as in Keras)."""
        batch = self._to_device(batch)
        n = self.n_inputs
        x = batch[0] if n == 1 else tuple(batch[:n])
        rest = batch[n:]
        n_targets = 1 if self.output_names is None else len(self.output_names)
        w = rest[n_targets] if len(rest) == n_targets + 1 else None
        rest = rest[:n_targets]
        y = None if not rest else (rest[0] if self.output_names is None else tuple(rest))
        return x, y, w

    @staticmethod
    def batch_len(x: Any) -> int:
        return len(x[0]) if isinstance(x, tuple) else len(x)

    def compute_loss(self, y_pred: Any, y: Any, sample_weight: Optional[Tensor] = None) -> Tensor:
        """The loss, weighted per sample by ``sample_weight`` (Keras' reduction); for several outputs the
        weighted sum of each output's loss (``self.last_output_losses`` keeps the terms for the logs)."""
        if self.output_names is None:
            return self._one_loss(self.loss_fn, y_pred, y, sample_weight)
        if not isinstance(y_pred, (list, tuple)) or not isinstance(y, (list, tuple)) or len(y) != len(y_pred):
            raise ValueError(f"the model has {len(self.output_names)} outputs "
                             f"({', '.join(self.output_names)}): give y as a list of {len(self.output_names)} arrays")
        fns = self.output_losses or [None] * len(y_pred)
        weights = self.output_loss_weights or [1.0] * len(y_pred)
        terms = [self._one_loss(fn or self.loss_fn, p, t, sample_weight) for fn, p, t in zip(fns, y_pred, y)]
        self.last_output_losses = [t.detach() for t in terms]
        return sum(w * t for w, t in zip(weights, terms))

    def _one_loss(self, loss_fn: Any, y_pred: Tensor, y: Tensor, sample_weight: Optional[Tensor] = None) -> Tensor:
        if not self._checked_loss or self.output_names is not None:
            check = getattr(loss_fn, "check", None)
            if check is not None:
                check(y_pred.detach(), y)
            elif isinstance(loss_fn, nn.Module) and y_pred.dim() == y.dim() and y_pred.shape != y.shape:
                raise LossShapeError(f"{loss_name(loss_fn)}: the model outputs {tuple(y_pred.shape)} "
                                     f"but y has shape {tuple(y.shape)}")
            self._checked_loss = True
        y_pred = y_pred.float() if y_pred.dtype in (torch.bfloat16, torch.float16) else y_pred
        if sample_weight is None:
            return loss_fn(y_pred, y)
        if isinstance(loss_fn, Loss):
            return loss_fn(y_pred, y, sample_weight=sample_weight)
        if isinstance(getattr(loss_fn, "reduction", None), str):  # a torch loss: its unreduced values
            unreduced = copy.copy(loss_fn)
            unreduced.reduction = "none"
            return weighted_mean(unreduced(y_pred, y), sample_weight, loss_name(loss_fn))
        raise TypeError(f"sample_weight/class_weight need a loss that gives per-sample values (a Keras name, an "
                        f"lstmkit loss or a torch loss with `reduction`); {loss_name(loss_fn)} returns only a mean")

    # --- steps ----------------------------------------------------------------------------------------

    def _to_device(self, batch) -> list[Tensor]:
        if isinstance(batch, Tensor):
            batch = [batch]
        return [t.to(self.device, non_blocking=True) for t in batch]

    def train_step(self, batch) -> dict[str, Any]:
        """One optimizer step on ``batch`` = (x, y). Returns the batch loss and predictions."""
        x, y, w = self.split_weighted(batch)
        opt = self.ensure_optimizer()
        if self.lr_schedule is not None:
            for group in opt.param_groups:
                group["lr"] = float(self.lr_schedule(self.global_step))
        opt.zero_grad(set_to_none=True)
        with self._autocast():
            y_pred = self.forward(x)
        loss = self.compute_loss(y_pred, y, w)
        total = loss
        penalty = self.regularization() if self.regularization is not None else None
        if penalty is not None:
            total = loss + penalty
        if self._scaler is not None:
            self._scaler.scale(total).backward()
            self._scaler.unscale_(opt)
        else:
            total.backward()
        self._clip()
        if self._scaler is not None:
            self._scaler.step(opt)
            self._scaler.update()
        else:
            opt.step()
        self.global_step += 1
        return {"loss": loss.detach(), "y_pred": _detach(y_pred), "y": y, "n": self.batch_len(x),
                "output_losses": getattr(self, "last_output_losses", None) if self.output_names else None}

    def _clip(self) -> None:
        o = self.options
        if o.clipvalue is None and o.clipnorm is None and o.global_clipnorm is None:
            return
        params = [p for p in self.model.parameters() if p.grad is not None]
        if o.clipvalue is not None:
            for p in params:
                p.grad.clamp_(-o.clipvalue, o.clipvalue)
        if o.clipnorm is not None:
            for p in params:
                norm = p.grad.norm()
                if norm > o.clipnorm:
                    p.grad.mul_(o.clipnorm / norm)
        if o.global_clipnorm is not None:
            torch.nn.utils.clip_grad_norm_(params, o.global_clipnorm)

    @torch.no_grad()
    def eval_step(self, batch) -> dict[str, Any]:
        x, y, w = self.split_weighted(batch)
        with self._autocast():
            y_pred = self.model(*x) if isinstance(x, tuple) else self.model(x)
        loss = self.compute_loss(y_pred, y, w)
        return {"loss": loss, "y_pred": y_pred, "y": y, "n": self.batch_len(x),
                "output_losses": getattr(self, "last_output_losses", None) if self.output_names else None}

    def _output_loss_metrics(self) -> list:
        """Running means of each output's loss (``{name}_loss``) for a model with several outputs."""
        return [OutputLoss(f"{name}_loss", i) for i, name in enumerate(self.output_names or [])]

    @staticmethod
    def _update(metrics: list, out: dict) -> None:
        for m in metrics:
            if isinstance(m, OutputLoss):
                m.update(out["output_losses"][m.index], torch.tensor(float(out["n"])))
            else:
                m.update(out["y_pred"], out["y"])

    # --- epochs ---------------------------------------------------------------------------------------

    def train_epoch(self, loader: DataLoader, epoch: int, callbacks: list[Callback]) -> dict[str, float]:
        self.model.train()
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        loss_mean, metrics = mean_metric("loss"), self._metrics()
        metrics = self._output_loss_metrics() + metrics
        for i, batch in enumerate(loader):
            for cb in callbacks:
                cb.on_train_batch_begin(i, {})
            out = self.train_step(batch)
            loss_mean.update(out["loss"], torch.tensor(float(out["n"])))
            self._update(metrics, out)
            batch_logs = {"loss": float(out["loss"])}
            for cb in callbacks:
                cb.on_train_batch_end(i, batch_logs)
            if self.stop_training:
                break
        logs = {"loss": loss_mean.compute()}
        logs.update({m.name: m.compute() for m in metrics})
        return logs

    def run_evaluation(self, loader: DataLoader) -> dict[str, float]:
        self.model.eval()
        loss_mean, metrics = mean_metric("loss"), self._metrics()
        metrics = self._output_loss_metrics() + metrics
        for batch in loader:
            out = self.eval_step(batch)
            loss_mean.update(out["loss"], torch.tensor(float(out["n"])))
            self._update(metrics, out)
        logs = {"loss": loss_mean.compute()}
        logs.update({m.name: m.compute() for m in metrics})
        return logs

    # --- public API -----------------------------------------------------------------------------------

    def fit(self, x: Any = None, y: Any = None, *, epochs: int = 1, batch_size: Optional[int] = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
            callbacks: Iterable[Callback] = (), verbose: int = 1, initial_epoch: int = 0,
            resume: Optional[str] = None, seed: Optional[int] = None, sample_weight: Any = None,
            class_weight: Optional[Mapping[int, float]] = None) -> History:
        """Keras' ``fit``. ``x`` may be arrays/tensors (with ``y``), a Dataset or a DataLoader yielding (x, y)
        or (x, y, sample_weight).

        ``sample_weight`` (one weight per sample, or per sample and step for sequence outputs) and
        ``class_weight`` (``{label: weight}``, the weight of each sample looked up from its label; missing
        labels weigh 1) scale each sample's loss as in Keras: ``sum(loss * w) / n``; give one of the two (Keras
        refuses both at once: fold the class weights into ``sample_weight``).
        ``validation_data`` may be ``(x, y, sample_weight)``; ``validation_split`` splits the weights too.

        ``resume=path`` saves the complete training state to ``path`` after every epoch and, when the file
        exists, continues from it (weights, optimizer, epoch, RNG states, callback state): on CPU the resumed
        run ends with the same weights as an uninterrupted one.
        """
        if epochs < 1 or initial_epoch < 0 or initial_epoch >= epochs:
            raise ValueError(f"need 0 <= initial_epoch < epochs, got initial_epoch={initial_epoch}, epochs={epochs}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose}")
        rank, world = distributed.setup()
        train_ds = self._weigh(self._dataset(x, y), sample_weight, class_weight, "fit")
        val_ds = None
        if validation_data is not None:
            if isinstance(validation_data, (tuple, list)):
                if len(validation_data) not in (2, 3):
                    raise ValueError(f"validation_data must be (x, y) or (x, y, sample_weight), got "
                                     f"{len(validation_data)} items")
                val_ds = validation_data[0] if validation_data[1] is None else make_dataset(
                    *validation_data[:2], names=("validation x", "validation y"))
                if len(validation_data) == 3:
                    val_ds = self._weigh(val_ds, validation_data[2], None, "validation_data")
            else:
                val_ds = validation_data
        elif validation_split:
            if not isinstance(train_ds, torch.utils.data.TensorDataset):
                raise ValueError("validation_split needs array inputs; pass validation_data for a Dataset")
            train_ds, val_ds = split_validation(train_ds, validation_split)
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, ()).item())
        self.prepare(train_ds)
        if world > 1 and self._ddp is None:
            self._ddp = distributed.wrap(self.model)
        self.ensure_optimizer()
        self.epochs = epochs
        self.stop_training = False
        self.history = History()  # each fit returns its own History, as in Keras 3
        cbs: list[Callback] = [self.history] + list(callbacks)
        if verbose:
            cbs.append(ProgressBar(verbose))
        if rank != 0:
            cbs = [cb for cb in cbs if not cb.rank_zero_only]
        for cb in cbs:
            cb.set_trainer(self)
        start = initial_epoch
        if resume is not None and os.path.exists(resume):
            start, seed = self._load_resume(resume, cbs)
            log.info("resuming from %s at epoch %d", resume, start + 1)
        train_loader = make_loader(train_ds, batch_size, shuffle, seed, rank, world)
        val_loader = make_loader(val_ds, batch_size, False, seed, rank, world) if val_ds is not None else None
        self.steps_per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None
        for cb in cbs:
            cb.on_train_begin({})
        logs: dict[str, float] = {}
        for epoch in range(start, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            logs = self.train_epoch(train_loader, epoch, cbs)
            if val_loader is not None:
                for cb in cbs:
                    cb.on_test_begin({})
                val_logs = self.run_evaluation(val_loader)
                for cb in cbs:
                    cb.on_test_end(val_logs)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if resume is not None:  # after the callbacks, so that their state is this epoch's
                self._save_resume(resume, epoch, seed, cbs, rank)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end(logs)
        return self.history

    def _dataset(self, x: Any, y: Any) -> Any:
        if isinstance(x, (DataLoader, Dataset)):
            if y is not None:
                raise ValueError("pass y inside the Dataset/DataLoader, not separately")
            return x
        if x is None:
            raise ValueError("fit needs training data x")
        if y is None:
            raise ValueError("y is missing: pass targets with x (or a Dataset/DataLoader yielding (x, y))")
        return make_dataset(x, y)

    def _weigh(self, ds: Any, sample_weight: Any, class_weight: Optional[Mapping[int, float]],
               what: str) -> Any:
        """``ds`` with one more tensor, the per-sample weights (sample_weight times the class weights)."""
        if sample_weight is None and class_weight is None:
            return ds
        if sample_weight is not None and class_weight is not None:
            raise ValueError(f"{what}: give class_weight or sample_weight, not both (as in Keras); multiply the "
                             "class weights into sample_weight to use both")
        if not isinstance(ds, TensorDataset):
            raise ValueError(f"{what}: sample_weight/class_weight need array inputs; a Dataset or DataLoader "
                             "carries its weights itself, as a third element (x, y, sample_weight)")
        n_targets = 1 if self.output_names is None else len(self.output_names)
        if len(ds.tensors) != self.n_inputs + n_targets:
            raise ValueError(f"{what}: sample_weight/class_weight need targets y")
        n = len(ds.tensors[0])
        w = torch.ones(n)
        if sample_weight is not None:
            sw = as_checked_tensor(f"{what}: sample_weight", sample_weight).float()
            if sw.dim() == 0 or len(sw) != n:
                raise ValueError(f"{what}: sample_weight must have one weight per sample ({n}), got shape "
                                 f"{tuple(sw.shape)}")
            if bool((sw < 0).any()):
                raise ValueError(f"{what}: sample_weight must be >= 0, found {float(sw.min())}")
            w = sw
        if class_weight is not None:
            if self.output_names is not None:
                raise ValueError(f"{what}: class_weight is for models with one output (as in Keras); give "
                                 "sample_weight instead")
            w = w * class_weights_to_samples(ds.tensors[self.n_inputs], class_weight, what).reshape(
                n, *([1] * (w.dim() - 1)))
        return TensorDataset(*ds.tensors, w)

    def prepare(self, data: Any) -> None:
        """Hook called with the training data before the optimizer is made (models build themselves here)."""

    def evaluate(self, x: Any = None, y: Any = None, *, batch_size: Optional[int] = None,
                 verbose: int = 0, sample_weight: Any = None) -> dict[str, float]:
        """Loss and metrics on (x, y) in eval mode, as a dict (the loss weighted by ``sample_weight``)."""
        rank, world = distributed.setup()
        ds = self._weigh(self._dataset(x, y), sample_weight, None, "evaluate")
        self.prepare(ds)
        logs = self.run_evaluation(make_loader(ds, batch_size, False, 0, rank, world))
        if verbose and rank == 0:
            log.info("evaluate: %s", logs)
        return logs

    @torch.no_grad()
    def predict(self, x: Any, *, batch_size: Optional[int] = None) -> np.ndarray:
        """Model outputs for ``x`` in eval mode, batch by batch, as one NumPy array (in the input's order)."""
        ds = x if isinstance(x, (Dataset, DataLoader)) else make_dataset(x)
        self.prepare(ds)
        loader = make_loader(ds, batch_size, False, 0)
        self.model.eval()
        outs = []
        for batch in loader:
            xb = self.split_batch(batch)[0]
            with self._autocast():
                yb = self.model(*xb) if isinstance(xb, tuple) else self.model(xb)
            outs.append([t.float().cpu() for t in yb] if isinstance(yb, (list, tuple)) else yb.float().cpu())
        if not outs:
            raise ValueError("predict got no samples")
        if isinstance(outs[0], list):  # several outputs: one array each, as Keras returns them
            return [torch.cat([o[i] for o in outs]).numpy() for i in range(len(outs[0]))]
        return torch.cat(outs).numpy()

    # --- saving ---------------------------------------------------------------------------------------

    def state_tensors(self, include_optimizer: bool = True) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        meta: dict[str, Any] = {"global_step": self.global_step}
        if include_optimizer and self.optimizer is not None:
            t, m = optimizer_to_flat(self.optimizer)
            tensors.update(t)
            meta["optimizer"] = m
        return tensors, meta

    def save(self, path: str, include_optimizer: bool = True) -> None:
        """Weights (and optimizer state) to a safetensors checkpoint; atomic."""
        tensors, meta = self.state_tensors(include_optimizer)
        save_checkpoint(path, tensors, meta)

    def load(self, path: str, load_optimizer: bool = True) -> dict[str, Any]:
        """Load weights (and optimizer state) saved by :meth:`save`; raises if the architecture differs."""
        tensors, meta = load_checkpoint(path)
        self.load_state(tensors, meta, str(path), load_optimizer)
        return meta

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any], where: str,
                   load_optimizer: bool = True) -> None:
        load_weights_into(self.model, tensors, where)
        self.global_step = int(meta.get("global_step", 0))
        if load_optimizer and "optimizer" in meta:
            optimizer_from_flat(self.ensure_optimizer(), tensors, meta["optimizer"], where)

    def _save_resume(self, path: str, epoch: int, seed: int, cbs: list[Callback], rank: int) -> None:
        if rank != 0:
            return
        tensors, meta = self.state_tensors(True)
        tensors["rng.torch"] = torch.get_rng_state()
        np_state = np.random.get_state()
        tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
        py_state = random.getstate()
        meta.update({
            "epoch": epoch, "seed": seed,
            "rng_numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "rng_python": [py_state[0], list(py_state[1]), py_state[2]],
            "callbacks": {f"{i}:{type(cb).__name__}": cb.state_dict() for i, cb in enumerate(cbs)},
        })
        save_checkpoint(path, tensors, meta)

    def _load_resume(self, path: str, cbs: list[Callback]) -> tuple[int, int]:
        tensors, meta = load_checkpoint(path)
        if "epoch" not in meta:
            raise CheckpointError(f"{path} is a checkpoint but not a resume state (no epoch); "
                                  "use load() or lstmkit.load_model() for it")
        self.load_state(tensors, meta, path)
        torch.set_rng_state(tensors["rng.torch"])
        name, pos, has_gauss, gauss = meta["rng_numpy"]
        np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
        version, internal, g = meta["rng_python"]
        random.setstate((version, tuple(internal), g))
        saved = meta.get("callbacks", {})
        for i, cb in enumerate(cbs):
            state = saved.get(f"{i}:{type(cb).__name__}")
            if state:
                cb.load_state_dict(state)
        return int(meta["epoch"]) + 1, int(meta["seed"])


def class_weights_to_samples(y: Tensor, class_weight: Mapping[int, float], what: str = "fit") -> Tensor:
    """Keras' ``class_weight``: each sample's weight looked up from its label (integer labels (n,) or (n, 1),
    0/1 targets, or one-hot rows, read by argmax); labels missing from the dict weigh 1.

    >>> class_weights_to_samples(torch.tensor([0, 1, 1, 2]), {1: 3.0})
    tensor([1., 3., 3., 1.])
    """
    if not isinstance(class_weight, Mapping) or not class_weight:
        raise ValueError(f"{what}: class_weight must be a non-empty dict {{label: weight}}, got {class_weight!r}")
    for k, v in class_weight.items():
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{what}: class_weight needs integer labels and finite weights >= 0, got {k!r}: {v!r}")
    if y.dim() > 2:
        raise ValueError(f"{what}: class_weight needs targets of shape (n,), (n, 1) or one-hot (n, classes), got "
                         f"{tuple(y.shape)}; weigh sequence targets with sample_weight (n, time)")
    labels = y if y.dim() == 1 else (y[:, 0] if y.shape[1] == 1 else y.argmax(1))
    labels = labels.round().long() if labels.is_floating_point() else labels.long()
    table = dict(class_weight)
    return torch.tensor([float(table.get(int(c), 1.0)) for c in labels.tolist()])  # (n,)


def _fresh(m: Metric) -> Metric:
    m = copy.deepcopy(m)
    m.reset()
    return m


def _detach(y: Any) -> Any:
    return [t.detach() for t in y] if isinstance(y, (list, tuple)) else y.detach()


class OutputMetric(Metric):
    """A metric of one output of a model with several: Keras' ``{output}_{metric}`` logs."""

    def __init__(self, name: str, inner: Metric, index: int) -> None:
        super().__init__(name, inner.metric, inner.transform)
        self.index = index

    def update(self, y_pred: Any, y_true: Any) -> None:
        super().update(y_pred[self.index], y_true[self.index])


class OutputLoss:
    """The running mean of one output's loss term."""

    def __init__(self, name: str, index: int) -> None:
        self.name, self.index = name, index
        self.inner = mean_metric(name)

    def update(self, value: Tensor, weight: Tensor) -> None:
        self.inner.update(value, weight)

    def compute(self) -> float:
        return self.inner.compute()


def check_weights_fit(own: dict[str, tuple], tensors: dict[str, Tensor], where: str) -> None:
    """Raise :class:`CheckpointError` unless the ``model.*`` tensors have exactly the names and shapes ``own``."""
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    mismatched = [f"{k}: checkpoint {tuple(weights[k].shape)} vs model {tuple(own[k])}"
                  for k in own if k in weights and tuple(weights[k].shape) != tuple(own[k])]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if mismatched:
            parts.append("shape mismatch " + "; ".join(mismatched[:5]))
        raise CheckpointError(f"{where} was saved from a different architecture: " + ", ".join(parts))


def load_weights_into(model: nn.Module, tensors: dict[str, Tensor], where: str) -> None:
    """Copy ``model.*`` tensors into ``model``; a clear error if names or shapes differ."""
    check_weights_fit({k: tuple(v.shape) for k, v in model.state_dict().items()}, tensors, where)
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(weights, strict=True)
