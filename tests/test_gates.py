"""return_gates: layout, consistency with outputs and states, packed input."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import lstmkit
from conftest import randomize_


@pytest.mark.parametrize("batch_first", [False, True])
def test_gate_shapes_and_consistency(batch_first):
    lstm = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = torch.randn((2, 6, 3) if batch_first else (6, 2, 3))
    out, (h_n, c_n), gates = lstm(x, return_gates=True)
    assert len(gates) == 2 and all(len(layer) == 2 for layer in gates)
    T_dim = 1 if batch_first else 0
    for k in range(2):
        for d in range(2):
            g = gates[k][d]
            for v in g:
                assert v.shape == ((2, 6, 5) if batch_first else (6, 2, 5))
            assert ((g.i >= 0) & (g.i <= 1) & (g.f >= 0) & (g.f <= 1)).all()
            last = g.c.select(T_dim, 0 if d else 5)  # the reverse direction ends at t = 0
            torch.testing.assert_close(last, c_n[2 * k + d])
            h = g.o * torch.tanh(g.c)  # vanilla: h_t = o_t * tanh(c_t)
            if k == 1:
                torch.testing.assert_close(h, out[..., d * 5:(d + 1) * 5])
    # the same values as without gates, and a vanilla model with gates is routed off the native kernel
    torch.testing.assert_close(lstm(x)[0], out, atol=1e-6, rtol=0)
    assert "return_gates" in lstm.backend_info(return_gates=True)


def test_gates_cifg_and_unbatched():
    lstm = lstmkit.LSTM(3, 4, cifg=True)
    randomize_(lstm)
    _, _, gates = lstm(torch.randn(5, 3), return_gates=True)
    g = gates[0][0]
    assert g.i.shape == (5, 4)
    torch.testing.assert_close(g.i, 1 - g.f)


def test_gates_with_lengths_are_zero_past_the_end():
    lstm = lstmkit.LSTM(3, 4, bidirectional=True, batch_first=True)
    x = torch.randn(2, 6, 3)
    _, (h_n, c_n), gates = lstm(x, lengths=[6, 3], return_gates=True)
    for g in gates[0]:
        assert torch.count_nonzero(g.f[1, 3:]) == 0 and torch.count_nonzero(g.f[1, :3]) == 3 * 4
    torch.testing.assert_close(gates[0][0].c[1, 2], c_n[0, 1])
    torch.testing.assert_close(gates[0][1].c[1, 0], c_n[1, 1])


def test_gates_packed_in_caller_order():
    lstm = lstmkit.LSTM(3, 4, batch_first=True)
    x = torch.randn(3, 5, 3)
    lengths = [2, 5, 4]
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    _, (h_p, c_p), gates_p = lstm(packed, return_gates=True)
    _, (h_l, c_l), gates_l = lstm(x, lengths=lengths, return_gates=True)
    torch.testing.assert_close(c_p, c_l)
    for a, b in zip(gates_p[0][0], gates_l[0][0], strict=True):
        torch.testing.assert_close(a, b)
