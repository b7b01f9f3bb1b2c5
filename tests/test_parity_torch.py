"""lstmkit.LSTM against torch.nn.LSTM with copied weights, over a grid of configurations and backends."""

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import lstmkit

ATOL = 1e-5  # fp32: outputs and gradients within 1e-5 of torch.nn.LSTM

GRID = list(itertools.product([1, 2], [False, True], [0, 3], [False, True]))  # layers, bidir, proj, batch_first


def _pair(layers, bidir, proj, batch_first, backend):
    ref = torch.nn.LSTM(4, 6, num_layers=layers, bidirectional=bidir, proj_size=proj, batch_first=batch_first)
    ours = lstmkit.LSTM.from_torch(ref, backend=backend)
    return ref, ours


def _grads(module):
    return {n: p.grad.clone() for n, p in module.named_parameters()}


def _check_grads(ref, ours, xr, xo):
    for n, g in _grads(ref).items():
        torch.testing.assert_close(ours.get_parameter(n).grad, g, atol=ATOL, rtol=0)
    torch.testing.assert_close(xo.grad, xr.grad, atol=ATOL, rtol=0)


@pytest.mark.parametrize("backend", ["native", "fused", "reference"])
@pytest.mark.parametrize("layers,bidir,proj,batch_first", GRID)
def test_padded_outputs_and_gradients(backend, layers, bidir, proj, batch_first):
    ref, ours = _pair(layers, bidir, proj, batch_first, backend)
    shape = (3, 5, 4) if batch_first else (5, 3, 4)
    x = torch.randn(shape)
    D = 2 if bidir else 1
    h0 = torch.randn(layers * D, 3, proj or 6)
    c0 = torch.randn(layers * D, 3, 6)
    xr, xo = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_r, (h_r, c_r) = ref(xr, (h0, c0))
    out_o, (h_o, c_o) = ours(xo, (h0, c0))
    for a, b in ((out_o, out_r), (h_o, h_r), (c_o, c_r)):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    ((out_r ** 2).sum() + h_r.sum() + (c_r * 0.5).sum()).backward()
    ((out_o ** 2).sum() + h_o.sum() + (c_o * 0.5).sum()).backward()
    _check_grads(ref, ours, xr, xo)


@pytest.mark.parametrize("backend", ["native", "fused", "reference"])
@pytest.mark.parametrize("bidir,proj", [(False, 0), (True, 0), (True, 2)])
def test_packed_sequence(backend, bidir, proj):
    ref, ours = _pair(2, bidir, proj, False, backend)
    lengths = [3, 6, 1, 4]  # unsorted: exercises sorted_indices / unsorted_indices
    x = torch.randn(6, 4, 4)
    xr, xo = x.clone().requires_grad_(), x.clone().requires_grad_()
    D = 2 if bidir else 1
    hx = (torch.randn(2 * D, 4, proj or 6), torch.randn(2 * D, 4, 6))
    pr = pack_padded_sequence(xr, lengths, enforce_sorted=False)
    po = pack_padded_sequence(xo, lengths, enforce_sorted=False)
    out_r, (h_r, c_r) = ref(pr, hx)
    out_o, (h_o, c_o) = ours(po, hx)
    assert isinstance(out_o, torch.nn.utils.rnn.PackedSequence)
    assert torch.equal(out_o.batch_sizes, out_r.batch_sizes)
    assert torch.equal(out_o.unsorted_indices, out_r.unsorted_indices)
    for a, b in ((out_o.data, out_r.data), (h_o, h_r), (c_o, c_r)):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    (out_r.data.sum() + h_r.sum() + c_r.sum()).backward()
    (out_o.data.sum() + h_o.sum() + c_o.sum()).backward()
    _check_grads(ref, ours, xr, xo)


@pytest.mark.parametrize("backend", ["native", "fused", "reference"])
@pytest.mark.parametrize("bidir,batch_first", [(False, False), (True, False), (True, True)])
def test_lengths_equal_packing(backend, bidir, batch_first):
    ref, ours = _pair(2, bidir, 0, batch_first, backend)
    lengths = torch.tensor([2, 5, 3])
    x = torch.randn((3, 5, 4) if batch_first else (5, 3, 4))
    x_zeroed_pad = x.clone()
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out_r, (h_r, c_r) = ref(packed)
    out_r, _ = pad_packed_sequence(out_r, batch_first=batch_first, total_length=5)
    out_o, (h_o, c_o) = ours(x_zeroed_pad, lengths=lengths)
    for a, b in ((out_o, out_r), (h_o, h_r), (c_o, c_r)):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize("backend", ["native", "fused", "reference"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input(backend, batch_first):
    ref, ours = _pair(2, True, 0, batch_first, backend)
    x = torch.randn(5, 4)
    hx = (torch.randn(4, 6), torch.randn(4, 6))
    out_r, (h_r, c_r) = ref(x, hx)
    out_o, (h_o, c_o) = ours(x, hx)
    assert out_o.shape == out_r.shape == (5, 12) and h_o.shape == (4, 6)
    for a, b in ((out_o, out_r), (h_o, h_r), (c_o, c_r)):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_state_dict_round_trip_strict():
    ref = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3)
    ours = lstmkit.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3)
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert list(ours.state_dict()) == list(ref.state_dict())  # same names, same order
    back = ours.to_torch()
    for n, v in ref.state_dict().items():
        assert torch.equal(back.state_dict()[n], v)
    ref2 = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3)
    ref2.load_state_dict(ours.state_dict(), strict=True)


def test_dropout_between_layers_only_in_training():
    ref = torch.nn.LSTM(4, 6, num_layers=3, dropout=0.5)
    ours = lstmkit.LSTM.from_torch(ref, backend="reference")
    x = torch.randn(5, 2, 4)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=ATOL, rtol=0)
    ours.train()
    torch.manual_seed(1)
    a = ours(x)[0]
    torch.manual_seed(1)
    assert torch.equal(a, ours(x)[0])  # same seed, same dropout
    assert not torch.allclose(a, ref.eval()(x)[0], atol=1e-3)  # dropout is active in training


def test_attributes_match_torch():
    ref = torch.nn.LSTM(4, 6, num_layers=2, batch_first=True, dropout=0.1, bidirectional=True, proj_size=2)
    ours = lstmkit.LSTM.from_torch(ref)
    for name in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
                 "proj_size"):
        assert getattr(ours, name) == getattr(ref, name)
    assert len(ours.all_weights) == len(ref.all_weights)
    ours.flatten_parameters()  # drop-in code calls it


def test_no_bias():
    ref = torch.nn.LSTM(4, 6, bias=False)
    for backend in ("native", "fused", "reference"):
        ours = lstmkit.LSTM.from_torch(ref, backend=backend)
        assert not any("bias" in n for n, _ in ours.named_parameters())
        x = torch.randn(5, 2, 4)
        torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("backend", ["native", "fused", "reference"])
def test_empty_batch(backend):
    # torch.nn.LSTM accepts a batch of zero sequences; so does every backend
    ref = torch.nn.LSTM(3, 4, bidirectional=True)
    ours = lstmkit.LSTM.from_torch(ref, backend=backend)
    x = torch.randn(5, 0, 3, requires_grad=True)
    out, (h, c) = ours(x)
    assert out.shape == ref(x)[0].shape == (5, 0, 8) and h.shape == (2, 0, 4)
    out.sum().backward()
    assert x.grad.shape == x.shape


def test_from_torch_with_a_neutral_variant():
    # extra parameters start neutral: a peephole copy of a torch.nn.LSTM computes the same function
    ref = torch.nn.LSTM(4, 6, num_layers=2)
    ours = lstmkit.LSTM.from_torch(ref, peephole=True)
    assert ours.config.peephole and torch.count_nonzero(ours.weight_ph_l1) == 0
    x = torch.randn(5, 3, 4)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=ATOL, rtol=0)
