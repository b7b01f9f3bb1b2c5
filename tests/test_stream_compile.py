"""Streaming inference (PyTorch and onnxruntime) equals one call over the whole sequence; the model-compiler
routes (torch.jit.trace, torch.export, torch.compile) work on models holding lstmkit.LSTM, and
torch.jit.script fails with an error that names them."""

import numpy as np
import pytest
import torch
from torch import nn

import lstmkit


def _random(m):
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.5, 0.5)
    return m.eval()


@pytest.mark.parametrize("opts", [{}, {"peephole": True, "layer_norm": True, "num_layers": 2},
                                  {"proj_size": 3, "zoneout": 0.2, "batch_first": True}])
def test_chunks_of_any_size_equal_one_call(opts):
    torch.manual_seed(0)
    lstm = _random(lstmkit.LSTM(4, 8, **opts))
    bf = lstm.batch_first
    x = torch.randn(3, 17, 4) if bf else torch.randn(17, 3, 4)
    with torch.no_grad():
        whole, (h, c) = lstm(x)
    s = lstmkit.Stream(lstm)
    cuts = [0, 1, 2, 7, 8, 17]
    parts = [s(x[:, a:b] if bf else x[a:b]) for a, b in zip(cuts, cuts[1:])]
    torch.testing.assert_close(torch.cat(parts, dim=1 if bf else 0), whole, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(s.state[0], h, atol=1e-6, rtol=1e-6)
    assert not parts[0].requires_grad  # inference: no autograd graph kept across a stream
    # one stream restarted: its next chunk is computed from zeros, the others carry on
    s.reset(1)
    nxt = s(x[:, :2] if bf else x[:2])
    with torch.no_grad():
        fresh, _ = lstm(x[:, :2] if bf else x[:2])
    torch.testing.assert_close(nxt[1] if bf else nxt[:, 1], fresh[1] if bf else fresh[:, 1])
    assert not torch.allclose(nxt[0] if bf else nxt[:, 0], fresh[0] if bf else fresh[:, 0])


def test_stream_errors():
    with pytest.raises(ValueError, match="bidirectional LSTM .*cannot run on a stream"):
        lstmkit.Stream(lstmkit.LSTM(2, 3, bidirectional=True))
    s = lstmkit.Stream(lstmkit.LSTM(2, 3).eval())
    s(torch.randn(4, 2))  # unbatched
    with pytest.raises(ValueError, match="unbatched state, got a 3-D chunk"):
        s(torch.randn(4, 1, 2))
    with pytest.raises(ValueError, match="unbatched: call reset"):
        s.reset([0])
    s.reset()
    s(torch.randn(4, 2, 2))
    with pytest.raises(IndexError, match="2 streams"):
        s.reset(5)


def test_onnxruntime_stream_equals_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    from lstmkit import export

    torch.manual_seed(1)
    lstm = _random(lstmkit.LSTM(4, 8, num_layers=2, peephole=True, cifg=True))
    path = export.onnx_stream(lstm, tmp_path / "stream.onnx")
    x = torch.randn(12, 2, 4)
    with torch.no_grad():
        whole, _ = lstm(x)
    run = export.OnnxStream(path)
    got = np.concatenate([run(x[a:b].numpy()) for a, b in [(0, 1), (1, 5), (5, 6), (6, 12)]])
    np.testing.assert_allclose(got, whole.numpy(), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="takes input, h_0, c_0"):
        export.OnnxStream(export.onnx(lstm, tmp_path / "plain.onnx", x))


class Head(nn.Module):
    def __init__(self, **opts):
        super().__init__()
        self.lstm = lstmkit.LSTM(3, 6, batch_first=True, **opts)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        y, _ = self.lstm(x)  # (B, T, 6)
        return self.out(y[:, -1])  # (B, 2)


@pytest.mark.parametrize("opts", [{}, {"peephole": True, "layer_norm": True}])
def test_trace_export_and_compile_work(opts):
    torch.manual_seed(2)
    m = _random(Head(**opts))
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        want = m(x)
        traced = torch.jit.trace(m, (x,))
        torch.testing.assert_close(traced(x), want)
        exported = torch.export.export(m, (x,))
        torch.testing.assert_close(exported.module()(x), want)
    compiled = torch.compile(m)
    torch.testing.assert_close(compiled(x), want)  # with autograd on: it trains too
    compiled(x).sum().backward()
    assert m.lstm.weight_hh_l0.grad is not None


def test_script_names_the_routes_that_work():
    with pytest.raises(NotImplementedError, match="torch.jit.trace, torch.export.export or torch.compile.*to_torch"):
        torch.jit.script(Head())
    m = Head(peephole=True)
    with pytest.raises(NotImplementedError, match="lstmkit.export.onnx"):
        torch.jit.script(m)
    assert isinstance(m.lstm, lstmkit.LSTM)  # the model is left as it was
