"""Run by tests/test_distributed.py under torchrun: the same Keras-style script, two processes."""

import sys
from pathlib import Path

import numpy as np
import torch

from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense
from lstmkit.train import CSVLogger, ModelCheckpoint
from lstmkit.train.checkpoint import save_checkpoint
from lstmkit.train.distributed import rank


def build():
    torch.manual_seed(0)
    model = Sequential([LSTM(5, input_shape=(8, 2)), Dense(1)])
    model.compile({"name": "adam", "learning_rate": 0.01}, "mse", ["mae"])
    return model


def data():
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 2)).astype(np.float32)
    return x, x[:, -1:, 0]


if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    model = build()
    x, y = data()
    h = model.fit(x, y, epochs=2, batch_size=5, shuffle=False, verbose=0,
                  callbacks=[CSVLogger(str(out / "log.csv")), ModelCheckpoint(str(out / "ckpt.safetensors"),
                                                                                monitor="loss")])
    r = rank()
    save_checkpoint(out / f"rank{r}.safetensors", {f"model.{k}": v for k, v in model.state_dict().items()},
                    {"loss": h.history["loss"]})
