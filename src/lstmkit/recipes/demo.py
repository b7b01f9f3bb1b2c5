"""The embedded demo: forecast next year's sunspot number from the previous 20 years with an LSTM."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data import load_sunspots_yearly, sliding_windows
from ..nn import LSTM

log = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    window: int = 20  # years of history per input
    hidden_size: int = 32  # LSTM units
    epochs: int = 300  # full-batch Adam steps
    lr: float = 1e-2  # Adam learning rate
    test_fraction: float = 0.2  # the last windows, in time order, held out
    seed: int = 0  # torch seed for weights
    activation: str = "tanh"  # any lstmkit activation
    peephole: bool = False
    layer_norm: bool = False
    cifg: bool = False

    def __post_init__(self) -> None:
        if self.window < 1 or self.hidden_size < 1 or self.epochs < 1:
            raise ValueError("window, hidden_size and epochs must be >= 1")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")


class Forecaster(nn.Module):
    def __init__(self, cfg: DemoConfig) -> None:
        super().__init__()
        self.lstm = LSTM(1, cfg.hidden_size, batch_first=True, activation=cfg.activation, peephole=cfg.peephole,
                         layer_norm=cfg.layer_norm, cifg=cfg.cifg)
        self.head = nn.Linear(cfg.hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x)  # h: (1, B, H)
        return self.head(h[-1]).squeeze(-1)  # (B,)


def run(cfg: DemoConfig) -> dict:
    """Train on the first 80% of windows, report test RMSE of the LSTM and of the last-value baseline."""
    torch.manual_seed(cfg.seed)
    years, spots = load_sunspots_yearly()
    x, y = sliding_windows(spots, cfg.window)  # (M, W, 1), (M, 1)
    n_test = int(round(len(x) * cfg.test_fraction))
    split = len(x) - n_test
    scale = float(spots[: split + cfg.window].max())  # fit the scaler on training years only
    xt = torch.tensor(x / scale, dtype=torch.float32)
    yt = torch.tensor(y[:, 0] / scale, dtype=torch.float32)
    model = Forecaster(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    log.info("backend: %s", model.lstm.backend_info())
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(xt[:split]), yt[:split])
        loss.backward()
        opt.step()
        if (epoch + 1) % max(1, cfg.epochs // 5) == 0:
            log.info("epoch %d/%d  train mse %.5f", epoch + 1, cfg.epochs, loss.item())
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        pred = model(xt[split:]).numpy() * scale
    truth = y[split:, 0]
    naive = x[split:, -1, 0]  # last observed year
    rmse = float(np.sqrt(np.mean((pred - truth) ** 2)))
    naive_rmse = float(np.sqrt(np.mean((naive - truth) ** 2)))
    return {
        "test_years": f"{years[split + cfg.window]}-{years[-1]}",
        "lstm_rmse": rmse,
        "naive_rmse": naive_rmse,
        "train_seconds": seconds,
        "backend": model.lstm.backend_info(),
    }
