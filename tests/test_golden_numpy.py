"""Every variant against the independent NumPy implementation in numpy_lstm.py (float64 golden values)."""

import numpy as np
import pytest
import torch

import lstmkit
from conftest import randomize_
from numpy_lstm import run_lstm

CASES = {
    "vanilla": {},
    "relu": {"activation": "relu"},
    "identity_hard_sigmoid": {"activation": "identity", "recurrent_activation": "hard_sigmoid"},
    "softsign": {"activation": "softsign"},
    "peephole": {"peephole": True},
    "layer_norm": {"layer_norm": True},
    "cifg": {"cifg": True},
    "cifg_peephole": {"cifg": True, "peephole": True},
    "forget_bias": {"forget_bias": 1.0},
    "zoneout_eval": {"zoneout": 0.3},
    "proj_peephole": {"proj_size": 3, "peephole": True},
    "residual": {"residual": True, "num_layers": 3},
    "bidir_ln_cifg": {"bidirectional": True, "layer_norm": True, "cifg": True, "num_layers": 2},
    "everything": {"bidirectional": True, "layer_norm": True, "peephole": True, "forget_bias": 0.5,
                   "proj_size": 3, "zoneout": 0.2, "residual": True, "num_layers": 2, "activation": "relu"},
    "no_bias_peephole": {"bias": False, "peephole": True},
    "cell_clip_peephole": {"cell_clip": 0.4, "peephole": True, "activation": "relu"},
    "proj_clip_zoneout": {"proj_size": 3, "proj_clip": 0.2, "cell_clip": 0.5, "zoneout": 0.2},
}


@pytest.mark.parametrize("backend", ["reference", "fused"])
@pytest.mark.parametrize("use_lengths", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_numpy(name, use_lengths, backend):
    lstm = lstmkit.LSTM(5, 4, dtype=torch.float64, backend=backend, **CASES[name]).eval()
    randomize_(lstm, seed=3)
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    lengths = [6, 2, 4] if use_lengths else None
    out, (h, c) = lstm(x, lengths=lengths)
    params = {n: p.detach().numpy() for n, p in lstm.named_parameters()}
    cfg = lstm.config
    np_opts = {k: getattr(cfg, k) for k in lstmkit.LSTMConfig.option_names("variant")}  # every variant option
    out_np, h_np, c_np = run_lstm(x.numpy(), params, np_opts, cfg.num_layers, cfg.bidirectional, 4, cfg.out_size,
                                  lengths)
    np.testing.assert_allclose(out.detach().numpy(), out_np, atol=1e-12, rtol=1e-10)
    np.testing.assert_allclose(h.detach().numpy(), h_np, atol=1e-12, rtol=1e-10)
    np.testing.assert_allclose(c.detach().numpy(), c_np, atol=1e-12, rtol=1e-10)


def test_peephole_starts_as_vanilla():
    torch.manual_seed(5)
    vanilla = lstmkit.LSTM(3, 4)
    peep = lstmkit.LSTM(3, 4, peephole=True)
    peep.load_state_dict(vanilla.state_dict(), strict=False)
    assert torch.count_nonzero(peep.weight_ph_l0) == 0 and peep.weight_ph_l0.shape == (3, 4)
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(peep(x)[0], vanilla(x)[0], atol=1e-6, rtol=0)


def test_variant_parameter_shapes():
    lstm = lstmkit.LSTM(3, 4, num_layers=2, bidirectional=True, cifg=True, peephole=True, layer_norm=True)
    shapes = {n: tuple(p.shape) for n, p in lstm.named_parameters()}
    assert shapes["weight_ih_l0"] == (12, 3) and shapes["weight_hh_l1_reverse"] == (12, 4)
    assert shapes["weight_ph_l1_reverse"] == (2, 4)  # rows f, o: cifg has no input gate
    assert shapes["ln_ih_weight_l0"] == (12,) and shapes["ln_c_bias_l1"] == (4,)
    assert shapes["weight_ih_l1"] == (12, 8)


def test_keras_init():
    lstm = lstmkit.LSTM(3, 8, init="keras", proj_size=0)
    w_hh = lstm.weight_hh_l0.detach()  # (4H, H), orthonormal columns
    torch.testing.assert_close(w_hh.t() @ w_hh, torch.eye(8), atol=1e-5, rtol=0)
    b = lstm.bias_ih_l0.detach()
    assert torch.equal(b[8:16], torch.ones(8)) and torch.count_nonzero(b[:8]) == 0
    assert torch.count_nonzero(lstm.bias_hh_l0) == 0
    limit = (6 / (3 + 32)) ** 0.5
    assert lstm.weight_ih_l0.abs().max() <= limit


def test_torch_init_bounds():
    lstm = lstmkit.LSTM(3, 16, layer_norm=True)
    assert lstm.weight_ih_l0.abs().max() <= 0.25 and lstm.weight_ih_l0.abs().max() > 0.2
    assert torch.equal(lstm.ln_c_weight_l0, torch.ones(16))
