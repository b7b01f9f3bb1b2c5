"""Training for any ``torch.nn.Module`` the Keras way: optimizers, losses and metrics by name, callbacks,
safetensors checkpoints, resumable runs and ``torchrun`` distributed training. Knows nothing of lstmkit's
models; :mod:`lstmkit.models` builds ``Sequential.fit`` on it."""

from .callbacks import (CSVLogger, Callback, EarlyStopping, History, LambdaCallback, LearningRateScheduler, MaxSteps,
                        ModelCheckpoint, ProgressBar, ReduceLROnPlateau, TensorBoard, TerminateOnNaN)
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .devices import resolve_device
from .losses import LOSSES, LossShapeError, get_loss
from .metrics import METRIC_NAMES, Metric, get_metric
from .optim import OPTIMIZERS, CosineDecay, ExponentialDecay, KerasAdam, KerasRMSprop, get_optimizer
from .trainer import Trainer, TrainOptions

__all__ = [
    "MaxSteps",
    "CSVLogger", "Callback", "CheckpointError", "CosineDecay", "EarlyStopping", "ExponentialDecay", "History",
    "KerasAdam", "KerasRMSprop", "LOSSES", "LambdaCallback", "LearningRateScheduler", "LossShapeError",
    "METRIC_NAMES", "Metric", "ModelCheckpoint", "OPTIMIZERS", "ProgressBar", "ReduceLROnPlateau", "TensorBoard",
    "TerminateOnNaN", "TrainOptions", "Trainer", "get_loss", "get_metric", "get_optimizer", "load_checkpoint",
    "resolve_device", "save_checkpoint",
]
