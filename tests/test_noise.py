"""Recurrent dropout, zoneout and dropout: active in training, deterministic in eval, seeded."""

import pytest
import torch

import lstmkit
from conftest import randomize_


def _pair(**opts):
    noisy = lstmkit.LSTM(3, 5, num_layers=2, **opts)
    clean = lstmkit.LSTM(3, 5, num_layers=2)
    randomize_(noisy)
    randomize_(clean)
    return noisy, clean


def test_recurrent_dropout_is_identity_in_eval():
    noisy, clean = _pair(recurrent_dropout=0.5)
    x = torch.randn(7, 2, 3)
    torch.testing.assert_close(noisy.eval()(x)[0], clean.eval()(x)[0], atol=1e-6, rtol=0)
    assert noisy.backend_info().startswith("native")  # eval needs no mask, so the native kernel runs it
    noisy.train()
    assert noisy.backend_info().startswith("fused")
    assert not torch.allclose(noisy(x)[0], clean(x)[0], atol=1e-3)


def test_zoneout_eval_is_deterministic_expectation():
    noisy, clean = _pair(zoneout=0.4)
    noisy.eval()
    x = torch.randn(7, 2, 3)
    a, b = noisy(x)[0], noisy(x)[0]
    assert torch.equal(a, b)
    assert not torch.allclose(a, clean(x)[0], atol=1e-3)  # eval uses (1 - p) new + p old, not plain steps
    noisy.train()
    assert not torch.equal(noisy(x)[0], noisy(x)[0])  # fresh masks each call


def test_zoneout_one_keeps_state():
    # zoneout masks drawn as all-ones keep h and c at their initial values: check the mechanism directly
    lstm = lstmkit.LSTM(3, 5, zoneout=0.999999).train()
    h0, c0 = torch.randn(1, 2, 5), torch.randn(1, 2, 5)
    torch.manual_seed(0)
    out, (h, c) = lstm(torch.randn(4, 2, 3), (h0, c0))
    torch.testing.assert_close(h, h0)
    torch.testing.assert_close(c, c0)


@pytest.mark.parametrize("opts", [{"recurrent_dropout": 0.3}, {"zoneout": 0.2}, {"dropout": 0.3},
                                  {"recurrent_dropout": 0.2, "zoneout": 0.1, "bidirectional": True}])
def test_same_seed_same_result(opts):
    lstm = lstmkit.LSTM(3, 5, num_layers=2, **opts).train()
    x = torch.randn(6, 2, 3)
    torch.manual_seed(42)
    a = lstm(x)
    torch.manual_seed(42)
    b = lstm(x)
    torch.manual_seed(43)
    c = lstm(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1][1], b[1][1])
    assert not torch.equal(a[0], c[0])


def test_recurrent_dropout_one_mask_per_sequence():
    # H = 1: each sequence's mask is one number, 0 or 1/(1-p) = 2. A mask drawn once per sequence makes every
    # step of a sequence match either the cell with W_hh = 0 or the cell with W_hh doubled; masks drawn per
    # step would mix the two within a sequence.
    lstm = lstmkit.LSTM(2, 1, recurrent_dropout=0.5, dtype=torch.float64)
    randomize_(lstm, scale=1.0)
    x = torch.randn(10, 64, 2, dtype=torch.float64)
    torch.manual_seed(0)
    out = lstm.train()(x)[0][..., 0]  # (T, B)
    dropped, doubled = lstmkit.LSTM(2, 1, dtype=torch.float64), lstmkit.LSTM(2, 1, dtype=torch.float64)
    dropped.load_state_dict(lstm.state_dict())
    doubled.load_state_dict(lstm.state_dict())
    with torch.no_grad():
        dropped.weight_hh_l0.zero_()
        doubled.weight_hh_l0.mul_(2)
    a, b = dropped(x)[0][..., 0], doubled(x)[0][..., 0]
    is_a = torch.isclose(out, a, atol=1e-12).all(0)
    is_b = torch.isclose(out, b, atol=1e-12).all(0)
    assert bool((is_a | is_b).all())
    assert 10 < int(is_a.sum()) < 54  # both cases occur, roughly half each


def test_same_seed_same_weights():
    torch.manual_seed(9)
    a = lstmkit.LSTM(3, 5, peephole=True, layer_norm=True, init="keras")
    torch.manual_seed(9)
    b = lstmkit.LSTM(3, 5, peephole=True, layer_norm=True, init="keras")
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(p, q), n
