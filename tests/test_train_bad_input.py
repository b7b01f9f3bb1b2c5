"""Bad inputs to the workflow: each a clear error naming what and where, before any training happens."""

import numpy as np
import pytest
import torch

from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense


def model(units_out=1, loss="mse"):
    m = Sequential([LSTM(4, input_shape=(5, 2)), Dense(units_out)])
    m.compile("rmsprop", loss)
    return m


X = np.random.default_rng(0).random((6, 5, 2)).astype(np.float32)
Y = np.ones((6, 1), np.float32)


def unchanged(m, before):
    return all(torch.equal(a, b) for a, b in zip(before, m.parameters(), strict=True))


@pytest.mark.parametrize("x,y,err,match", [
    (X[:5], Y, ValueError, "different numbers of samples: 5 and 6"),
    (np.full((6, 5, 2), "a"), Y, TypeError, "x has dtype <U1"),
    (np.array([[1, 2], [3]], dtype=object), Y[:2], TypeError, "x has dtype object"),
    (np.where(np.arange(60).reshape(6, 5, 2) == 17, np.nan, X), Y, ValueError, r"x contains NaN at index \(1, 3, 1\)"),
    (X, np.where(np.arange(6)[:, None] == 4, np.inf, Y), ValueError, r"y contains inf at index \(4, 0\)"),
    (X[:, :, :1], Y, ValueError, r"expects inputs of shape \(batch, 5, 2\)"),
])
def test_bad_arrays(x, y, err, match):
    m = model()
    before = [p.detach().clone() for p in m.parameters()]
    with pytest.raises(err, match=match):
        m.fit(x, y, epochs=1, verbose=0)
    assert unchanged(m, before)


def test_loss_that_does_not_fit_the_output():
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy: needs an output of class scores"):
        model(1, "sparse_categorical_crossentropy").fit(X, np.zeros(6, np.int64), verbose=0)
    with pytest.raises(ValueError, match=r"mse: the model outputs shape \(6, 3\) but y has shape \(6, 1\)"):
        model(3).fit(X, Y, batch_size=6, verbose=0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        model(3, "sparse_categorical_crossentropy").fit(X, np.arange(6), verbose=0)


@pytest.mark.parametrize("kind,name,known", [("optimizer", "adamax2", "rmsprop"), ("loss", "msee", "huber"),
                                             ("metric", "acuracy", "accuracy")])
def test_unknown_names_list_the_known_ones(kind, name, known):
    m = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    with pytest.raises(ValueError, match=f"unknown {kind} '{name}'; known: .*{known}"):
        if kind == "optimizer":
            m.compile(name, "mse")
        elif kind == "loss":
            m.compile("adam", name)
        else:
            m.compile("adam", "mse", [name])
            m.fit(X, Y, verbose=0)


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="input_shape must hold positive ints"):
        LSTM(4, input_shape=(0, 2))
    with pytest.raises(ValueError, match="LSTM expects input_shape \\(timesteps, features\\)"):
        LSTM(4, input_shape=(5,))
    with pytest.raises(ValueError, match="cannot sit inside a Sequential"):
        Sequential([LSTM(4, return_state=True, input_shape=(5, 2))])
    with pytest.raises(RuntimeError, match="compile"):
        Sequential([LSTM(4, input_shape=(5, 2))]).fit(X, Y)


def test_device_settings_are_checked_before_training():
    from lstmkit.recipes.base import TrainConfig
    from lstmkit.train import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match="lstmkit trains on 'cpu' or 'cuda'"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="train.device: device 'cuda': torch sees no CUDA device"):
            TrainConfig(device="cuda")
    assert TrainConfig(device="auto").device == "auto"
