"""cell_clip and proj_clip (Sak et al. 2014): the first variant added through the one-definition path."""

import pytest
import torch

import lstmkit
from conftest import randomize_


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_clipping_bounds_the_state_and_blocks_its_gradient(backend):
    torch.manual_seed(0)
    lstm = lstmkit.LSTM(3, 8, activation="relu", cell_clip=0.5, proj_size=4, proj_clip=0.2, peephole=True,
                        backend=backend)
    randomize_(lstm, seed=2)
    x = (torch.randn(20, 5, 3) * 4).requires_grad_()
    out, (h, c), gates = lstm(x, return_gates=True)
    c_all = gates[0][0].c  # (T, B, H): the cell state of every step
    assert c_all.abs().max() <= 0.5 and (c_all.abs() == 0.5).float().mean() > 0.2  # clipped, often
    assert out.abs().max() <= 0.2 and (out.abs() == 0.2).any()
    ref = lstmkit.LSTM(3, 8, activation="relu", cell_clip=0.5, proj_size=4, proj_clip=0.2, peephole=True,
                       backend="reference")
    ref.load_state_dict(lstm.state_dict())
    xr = x.detach().clone().requires_grad_()
    (out.sum() + c.sum()).backward()
    out_r, (_, c_r) = ref(xr)
    (out_r.sum() + c_r.sum()).backward()
    torch.testing.assert_close(out, out_r, atol=1e-5, rtol=0)
    torch.testing.assert_close(x.grad, xr.grad, atol=1e-4, rtol=1e-5)
    for (name, p), q in zip(lstm.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-5, msg=name)


def test_clip_tames_the_seeds_relu_cell():
    # the first seed's model: relu LSTM(50); with forget gates near 1 its cell state grows without bound
    torch.manual_seed(0)
    x = torch.full((4, 400, 1), 3.0)
    free = lstmkit.LSTM(1, 50, activation="relu", batch_first=True, init="keras", forget_bias=4.0)
    clipped = lstmkit.LSTM(1, 50, activation="relu", batch_first=True, init="keras", forget_bias=4.0, cell_clip=3.0)
    clipped.load_state_dict(free.state_dict())
    with torch.no_grad():
        c_free = free(x)[1][1].abs().max()
        c_clip = clipped(x)[1][1].abs().max()
    assert c_clip <= 3.0 < c_free


def test_clip_options_are_checked_and_not_native():
    with pytest.raises(ValueError, match="proj_clip clips the projected h, so it needs proj_size"):
        lstmkit.LSTM(3, 4, proj_clip=0.5)
    with pytest.raises(ValueError, match="cell_clip must be a finite value >= 0"):
        lstmkit.LSTM(3, 4, cell_clip=-1.0)
    with pytest.raises(TypeError, match="cell_clip must be a float"):
        lstmkit.LSTM(3, 4, cell_clip="1")
    info = lstmkit.LSTM(3, 4, cell_clip=1.0).eval().backend_info()
    assert not info.startswith("native")  # torch.nn.LSTM has no clipping
    with pytest.raises(ValueError, match="to_torch needs torch.nn.LSTM's math"):
        lstmkit.LSTM(3, 4, cell_clip=1.0).to_torch()
    # the Keras-style layer and the recipes take it with no edit of their own
    from lstmkit.layers import LSTM as KerasLSTM
    assert KerasLSTM(4, cell_clip=2.0, input_shape=(3, 2)).lstm.config.cell_clip == 2.0
