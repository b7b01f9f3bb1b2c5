"""NaN and inf go where torch.nn.LSTM sends them, on every backend, in train and eval mode.

A fast kernel that turns a NaN into an ordinary number hides a diverged run (finite losses from NaN
weights), so the pattern of NaN and inf entries in every output is compared, element by element, with the
reference backend (plain torch ops) and, for torch's own math, with torch.nn.LSTM itself.
"""

import math

import pytest
import torch

import lstmkit
from lstmkit.kernels import BACKENDS

VARIANTS = [
    {},
    {"peephole": True},
    {"layer_norm": True},
    {"cifg": True, "peephole": True},
    {"activation": "relu"},
    {"recurrent_activation": "hard_sigmoid"},
    {"proj_size": 3},
    {"zoneout": 0.3},
    {"recurrent_dropout": 0.3},
    {"bidirectional": True, "num_layers": 2},
]
BAD = [math.nan, math.inf, -math.inf]


def _backends(opts, training):
    names = []
    for name in ("reference", "fused", "native"):
        if name not in BACKENDS:
            continue
        m = lstmkit.LSTM(4, 6, backend=name, **opts).train(training)
        req = m._request(m.weight_ih_l0, False)
        if BACKENDS[name].unsupported(req) is None:
            names.append(name)
    return names


def _run(opts, backend, training, poison, seed=0):
    torch.manual_seed(seed)
    m = lstmkit.LSTM(4, 6, backend=backend, **opts).train(training)
    x = torch.randn(7, 3, 4)  # (T, B, I)
    poison(m, x)
    torch.manual_seed(seed + 1)
    out, (h, c) = m(x)
    return out, h, c


def _pattern(t):
    return torch.isnan(t), torch.isinf(t)


def _poison_input(value):
    def poison(m, x):
        x[3, 1, 2] = value  # one sequence, one step: the rest of the batch stays finite
    return poison


def _poison_weight(name, value):
    def poison(m, x):
        with torch.no_grad():
            getattr(m, name)[0, 0] = value
    return poison


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("opts", VARIANTS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "vanilla")
def test_bad_values_propagate_like_the_reference(opts, training):
    # (poison, must give NaN): an infinite input saturates the gates and can leave every output finite
    poisons = [(_poison_input(v), math.isnan(v)) for v in BAD] + [
        (_poison_weight("weight_hh_l0", math.nan), True), (_poison_weight("weight_ih_l0", math.nan), True)]
    for poison, must_nan in poisons:
        want = _run(opts, "reference", training, poison)
        assert torch.isnan(want[2]).any() or not must_nan  # the test itself poisons something
        for backend in _backends(opts, training):
            got = _run(opts, backend, training, poison)
            for g, w, what in zip(got, want, ("output", "h_n", "c_n")):
                for pg, pw, kind in zip(_pattern(g), _pattern(w), ("NaN", "inf")):
                    assert torch.equal(pg, pw), f"{backend}: {kind} entries of {what} differ from the reference"
                finite = torch.isfinite(w)
                torch.testing.assert_close(g[finite], w[finite], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_nan_matches_torch_lstm(training):
    ref = torch.nn.LSTM(4, 6, num_layers=2)
    x = torch.randn(7, 3, 4)
    x[2, 0, 1] = math.nan
    with torch.no_grad():
        ref.weight_hh_l1[5, 3] = math.nan
    want = ref.train(training)(x)[0]
    assert torch.isnan(want).any() and not torch.isnan(want).all()
    for name in _backends({"num_layers": 2}, training):
        got = lstmkit.LSTM.from_torch(ref, backend=name).train(training)(x)[0]
        assert torch.equal(torch.isnan(got), torch.isnan(want)), name


@pytest.mark.parametrize("opts", [{}, {"peephole": True}, {"layer_norm": True, "bidirectional": True}])
def test_nan_in_padding_is_ignored(opts):
    # torch.nn.LSTM on a packed batch never reads the padding; neither may a backend given lengths
    for backend in _backends(opts, False):
        m = lstmkit.LSTM(4, 6, backend=backend, **opts).eval()
        x = torch.randn(7, 3, 4)
        x[5:, 1] = math.nan  # past sequence 1's length
        out, (h, c) = m(x, lengths=[7, 5, 7])
        assert torch.isfinite(out).all() and torch.isfinite(h).all() and torch.isfinite(c).all(), backend


def test_nan_gradients_propagate():
    for opts in ({}, {"peephole": True, "layer_norm": True}):
        for backend in _backends(opts, True):
            torch.manual_seed(0)
            m = lstmkit.LSTM(4, 6, backend=backend, **opts)
            with torch.no_grad():
                m.weight_hh_l0[1, 1] = math.nan
            m(torch.randn(5, 2, 4))[0].sum().backward()
            assert torch.isnan(m.weight_ih_l0.grad).any(), backend


def test_terminate_on_nan_fires_when_weights_go_nan():
    from lstmkit import Sequential
    from lstmkit.layers import LSTM, Dense
    from lstmkit.train import TerminateOnNaN

    torch.manual_seed(0)
    model = Sequential([LSTM(8, input_shape=(5, 2), peephole=True), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = torch.randn(32, 5, 2), torch.randn(32, 1)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(math.nan)
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[TerminateOnNaN()])
    losses = history.history["loss"]
    assert len(losses) == 1 and math.isnan(losses[0])  # this fit's History (Keras 3): stopped in its first epoch
