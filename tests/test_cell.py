"""LSTMCell: torch.nn.LSTMCell parity, and stepping a cell equals the layer (streaming inference)."""

import pytest
import torch

import lstmkit
from conftest import randomize_


def test_matches_torch_lstm_cell():
    ref = torch.nn.LSTMCell(3, 5)
    cell = lstmkit.LSTMCell(3, 5)
    cell.load_state_dict(ref.state_dict(), strict=True)
    x, h, c = torch.randn(2, 3), torch.randn(2, 5), torch.randn(2, 5)
    for a, b in zip(cell(x, (h, c)), ref(x, (h, c)), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    for a, b in zip(cell(x[0]), ref(x[0]), strict=True):  # unbatched, zero state
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


OPTIONS = [
    {},
    {"peephole": True},
    {"layer_norm": True, "cifg": True},
    {"proj_size": 2, "peephole": True, "activation": "relu"},
    {"zoneout": 0.3, "forget_bias": 1.0},
    {"recurrent_activation": "hard_sigmoid", "activation": "gelu"},
]


@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("layer,direction", [(0, 0), (1, 0), (1, 1)])
def test_cell_steps_equal_layer(opts, layer, direction):
    lstm = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True, dtype=torch.float64, **opts).eval()
    randomize_(lstm, seed=7)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    out, (h_n, c_n), gates = lstm(x, return_gates=True)
    # the input that layer `layer` sees, and the output it gives
    layer0_out = lstm_layer0_output(lstm, x)
    seq = x if layer == 0 else layer0_out
    expected = layer0_out if layer == 0 else out
    if direction == 1:
        seq = seq.flip(0)
    cell = lstmkit.LSTMCell.from_layer(lstm, layer, direction).eval()
    state, hs = None, []
    for x_t in seq:
        state = cell(x_t, state)
        hs.append(state[0])
    hs = torch.stack(hs)
    if direction == 1:
        hs = hs.flip(0)
    P = lstm.config.out_size
    torch.testing.assert_close(hs, expected[..., direction * P:(direction + 1) * P], atol=1e-12, rtol=0)
    torch.testing.assert_close(state[1], gates[layer][direction].c[0 if direction else -1], atol=1e-12, rtol=0)
    idx = 2 * layer + direction
    torch.testing.assert_close(state[0], h_n[idx], atol=1e-12, rtol=0)
    torch.testing.assert_close(state[1], c_n[idx], atol=1e-12, rtol=0)


def lstm_layer0_output(lstm, x):
    # a one-layer LSTM holding layer 0's weights
    single = lstmkit.LSTM(3, 5, bidirectional=True, dtype=torch.float64, proj_size=lstm.config.proj_size,
                          **{k: getattr(lstm.config, k) for k in ("activation", "recurrent_activation", "peephole",
                                                                  "layer_norm", "cifg", "forget_bias", "zoneout")})
    single.load_state_dict({k: v for k, v in lstm.state_dict().items() if "_l0" in k})
    return single.eval()(x)[0]


def test_from_layer_shares_parameters():
    lstm = lstmkit.LSTM(3, 5, peephole=True)
    cell = lstmkit.LSTMCell.from_layer(lstm)
    assert cell.weight_ph is lstm.weight_ph_l0 and cell.weight_ih is lstm.weight_ih_l0
    with pytest.raises(ValueError, match="no layer 1"):
        lstmkit.LSTMCell.from_layer(lstm, layer=1)


def test_cell_recurrent_dropout_mask_is_kept_per_sequence():
    cell = lstmkit.LSTMCell(3, 5, recurrent_dropout=0.5).train()
    h, c = torch.ones(4, 5), torch.zeros(4, 5)
    cell(torch.randn(4, 3), (h, c))
    mask = cell._rec_mask.clone()
    cell(torch.randn(4, 3), (h, c))
    assert torch.equal(mask, cell._rec_mask)
    assert set(mask.unique().tolist()) <= {0.0, 2.0}
    cell.reset_dropout_mask()
    assert cell._rec_mask is None


def test_cell_bad_input():
    cell = lstmkit.LSTMCell(3, 5)
    with pytest.raises(ValueError, match="input_size=3"):
        cell(torch.randn(2, 4))
    with pytest.raises(ValueError, match="2-D batched"):
        cell(torch.randn(2, 2, 3))
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        cell(torch.randn(2, 3), (torch.randn(3, 5), torch.randn(2, 5)))
