"""What PyTorch's own LSTM tests ask of torch.nn.LSTM, asked of lstmkit on every backend.

The cases follow ``test/test_nn.py`` (args checks, zero-size batches, pruning, weight norm, the pre-1.8 pickle,
differentiable backward through oneDNN) and the ModuleInfo entries of ``test/test_modules.py`` (error inputs,
train/eval), written here against lstmkit.LSTM and lstmkit.LSTMCell with torch's exception types and key
phrases; plus ``torch.func`` (functional_call, grad, vmap) and double backward.
"""

import pickle

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn.utils import parametrize, prune

import lstmkit
from lstmkit.kernels import BACKENDS

BACKEND_NAMES = [b for b in ("native", "fused", "reference") if b in BACKENDS]


def _runs(backend, **opts):
    m = lstmkit.LSTM(3, 5, backend=backend, **opts)
    req = m._request(m.weight_ih_l0, False)
    return BACKENDS[backend].unsupported(req) is None


@pytest.fixture(params=BACKEND_NAMES)
def backend(request):
    if not _runs(request.param):
        pytest.skip(f"{request.param} is not available here")
    return request.param


# ---- argument checks (test_rnn_args_check, test_rnn_proj_args_check) ---------------------------------------
@pytest.mark.parametrize("proj_size", [0, 2])
def test_rnn_args_check(backend, proj_size):
    I, H, L, B, T, bad = 3, 5, 2, 4, 6, 7
    P = proj_size or H
    good_x, good_h, good_c = torch.randn(T, B, I), torch.randn(L, B, P), torch.randn(L, B, H)
    m = lstmkit.LSTM(I, H, L, proj_size=proj_size, backend=backend)
    cases = [
        (torch.randn(T, bad, I), good_h, good_c),  # input batch differs from the state's
        (good_x, torch.randn(L, bad, P), good_c),  # hidden batch
        (good_x, good_h, torch.randn(L, bad, H)),
        (torch.randn(T, B, bad), good_h, good_c),  # input size
        (good_x, torch.randn(L, B, bad), good_c),  # hidden size
        (good_x, good_h, torch.randn(L, B, bad)),
        (good_x, torch.randn(bad, B, P), good_c),  # layers
        (good_x, good_h, torch.randn(bad, B, H)),
    ]
    for x, h, c in cases:
        with pytest.raises(RuntimeError, match="Expected hidden|input.size"):
            m(x, (h, c))
        with pytest.raises(ValueError):  # lstmkit's callers catch ValueError: both work
            m(x, (h, c))


def test_error_messages_carry_torch_phrases():
    m = lstmkit.LSTM(3, 5)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 5\), got \[1, 2, 4\]"):
        m(torch.randn(4, 2, 3), (torch.randn(1, 2, 4), torch.randn(1, 2, 5)))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx and cx should also be 3-D"):
        m(torch.randn(4, 2, 3), (torch.randn(2, 5), torch.randn(2, 5)))
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0"):
        m(torch.randn(0, 2, 3))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D instead"):
        m(torch.randn(1, 4, 2, 3))
    with pytest.raises(ValueError, match=r"RNN input dtype \(torch.float64\) does not match weight dtype"):
        m(torch.randn(4, 2, 3, dtype=torch.float64))
    for kwargs, phrase in (({"hidden_size": 0}, "hidden_size must be greater than zero"),
                           ({"num_layers": 0}, "num_layers must be greater than zero"),
                           ({"proj_size": 5}, "proj_size has to be smaller than hidden_size"),
                           ({"proj_size": -1}, "proj_size should be a positive integer or zero")):
        args = {"input_size": 10, "hidden_size": 5, **kwargs}
        with pytest.raises(ValueError, match=phrase):
            lstmkit.LSTM(**args)
        with pytest.raises(ValueError, match=phrase.split(" should")[0].split(" has")[0]):
            nn.LSTM(**args)  # the same condition is an error in torch too


def test_cell_error_inputs_match_torch():
    # module_error_inputs_torch_nn_RNN_GRU_Cell, with LSTMCell's tuple state
    x = lambda *s: torch.randn(*s)  # noqa: E731
    cases = [
        ((x(3, 11), (x(3, 20), x(3, 20))), RuntimeError, "input has inconsistent input_size: got 11 expected 10"),
        ((x(3, 10), (x(3, 21), x(3, 20))), RuntimeError, "hidden0 has inconsistent hidden_size: got 21, expected 20"),
        ((x(3, 10), (x(5, 20), x(5, 20))), RuntimeError, "Input batch size 3 doesn't match hidden0 batch size 5"),
        ((x(3, 10), (x(3, 20), x(5, 20))), RuntimeError, "Input batch size 3 doesn't match hidden1 batch size 5"),
        ((x(3, 10), (x(3, 1, 1, 20), x(3, 20))), ValueError, "Expected hx\\[0\\] to be 1D or 2D, got 4D instead"),
        ((x(3, 1, 10),), ValueError, "Expected input to be 1D or 2D, got 3D instead"),
    ]
    for cls in (nn.LSTMCell, lstmkit.LSTMCell):
        cell = cls(10, 20)
        for args, error, phrase in cases:
            with pytest.raises(error, match=phrase):
                cell(*args)


def test_zero_size_batch(backend):
    # test_RNN_input_size_zero
    m = lstmkit.LSTM(3, 4, backend=backend)
    out, (h, c) = m(torch.zeros(5, 0, 3))
    assert out.shape == (5, 0, 4) and h.shape == (1, 0, 4)
    out.sum().backward()


def test_cell_does_not_read_training_without_noise():
    # test_if_train_and_eval_modes_differ: a module whose train and eval agree must not read self.training
    for cls in (nn.LSTMCell, lstmkit.LSTMCell):
        cell = cls(3, 4)
        delattr(cell, "training")
        cell(torch.randn(2, 3))
    noisy = lstmkit.LSTMCell(3, 4, recurrent_dropout=0.5)
    delattr(noisy, "training")
    with pytest.raises(AttributeError, match="training"):
        noisy(torch.randn(2, 3))


# ---- reparametrised weights (test_rnn_pruning, test_rnn_weight_norm, parametrize) --------------------------
def _count_parameters(m):
    return sum(isinstance(p, nn.Parameter) for p in m._flat_weights)


@pytest.mark.parametrize("opts", [{}, {"peephole": True, "layer_norm": True}])
def test_pruning(backend, opts):
    if not _runs(backend, **opts):
        pytest.skip(f"{backend} does not run {opts}")
    torch.manual_seed(0)
    m = lstmkit.LSTM(32, 32, backend=backend, **opts)
    prune.l1_unstructured(m, "weight_ih_l0", 0.5)
    assert _count_parameters(m) == 3
    assert (m.weight_ih_l0 == 0).float().mean() == 0.5
    x = torch.randn(4, 2, 32)
    out = m(x)[0]
    # the pruned weights are what the kernel reads
    plain = lstmkit.LSTM(32, 32, backend="reference", **opts)
    plain.load_state_dict({k.replace("_orig", ""): v for k, v in m.state_dict().items() if "mask" not in k},
                          strict=False)
    with torch.no_grad():
        plain.weight_ih_l0.copy_(m.weight_ih_l0)
    torch.testing.assert_close(out, plain(x)[0], atol=1e-5, rtol=1e-5)
    out.sum().backward()
    orig_grad = m.weight_ih_l0_orig.grad
    assert orig_grad is not None and (orig_grad[m.weight_ih_l0_mask == 0] == 0).all()
    prune.remove(m, "weight_ih_l0")
    assert _count_parameters(m) == 4
    assert m._parameters["weight_ih_l0"] is not None and "weight_ih_l0_orig" not in dict(m.named_parameters())


@pytest.mark.parametrize("name,proj_size,count", [("weight_ih_l0", 0, 4), ("weight_hr_l0", 16, 5)])
def test_weight_norm(backend, name, proj_size, count):
    m = lstmkit.LSTM(32, 32, proj_size=proj_size, backend=backend if backend != "native" or not proj_size
                     else "native")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm is deprecated
        m = torch.nn.utils.weight_norm(m, name=name)
    assert _count_parameters(m) == count - 1
    x = torch.randn(3, 2, 32)
    m(x)[0].sum().backward()
    assert getattr(m, name + "_g").grad is not None and getattr(m, name + "_v").grad is not None
    m = torch.nn.utils.remove_weight_norm(m, name=name)
    assert _count_parameters(m) == count
    assert name in m._parameters and name + "_v" not in m._parameters and name + "_g" not in m._parameters


def test_parametrizations(backend):
    torch.manual_seed(0)
    m = lstmkit.LSTM(6, 6, backend=backend)
    x = torch.randn(5, 2, 6)
    torch.nn.utils.parametrizations.orthogonal(m, "weight_ih_l0")  # (24, 6): orthonormal columns
    torch.nn.utils.parametrizations.weight_norm(m, "weight_hh_l0")
    w = m.weight_ih_l0
    torch.testing.assert_close(w.t() @ w, torch.eye(6), atol=1e-5, rtol=0)
    out = m(x)[0]
    ref = lstmkit.LSTM(6, 6, backend="reference")
    with torch.no_grad():
        for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(ref, n).copy_(getattr(m, n))
    torch.testing.assert_close(out, ref(x)[0], atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert m.parametrizations.weight_hh_l0.original0.grad is not None
    parametrize.remove_parametrizations(m, "weight_ih_l0")
    assert isinstance(m._parameters["weight_ih_l0"], nn.Parameter)


# ---- pickles (test_save_lstm_compatibility) -----------------------------------------------------------------
def test_state_without_proj_size_loads():
    model = lstmkit.LSTM(2, 3)
    x = torch.randn(32, 5, 2)
    expected = model(x)
    assert model.proj_size == 0
    state = model.__dict__
    del state["proj_size"]  # as a module pickled before proj_size existed
    loaded = lstmkit.LSTM(2, 3)
    loaded.__setstate__(state)
    torch.testing.assert_close(loaded(x), expected)


def test_torch_lstm_state_loads_into_lstmkit():
    torch_lstm = nn.LSTM(2, 3, num_layers=2, bidirectional=True)
    state = dict(torch_lstm.__dict__)
    del state["proj_size"]  # a torch < 1.8 pickle
    m = lstmkit.LSTM.__new__(lstmkit.LSTM)
    m.__setstate__(state)
    x = torch.randn(4, 5, 2)
    torch.testing.assert_close(m(x)[0], torch_lstm(x)[0])
    assert m.proj_size == 0 and m.num_layers == 2


def test_pickle_round_trip():
    m = lstmkit.LSTM(3, 4, peephole=True, num_layers=2)
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(pickle.loads(pickle.dumps(m))(x), m(x))


# ---- double backward (test_LSTM_differentiable_backward_using_oneDNN) ---------------------------------------
def _double_backward(backend, opts, seed=0):
    torch.manual_seed(seed)
    m = lstmkit.LSTM(3, 5, backend=backend, **opts).double()
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(seed + 1)
    out = m(x, lengths=[4, 2])[0]
    (gx,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
    gx.pow(2).sum().backward()
    return x.grad, m.weight_hh_l0.grad


@pytest.mark.parametrize("opts", [{}, {"peephole": True, "layer_norm": True, "proj_size": 2},
                                  {"cifg": True, "zoneout": 0.3, "recurrent_dropout": 0.2},
                                  {"bidirectional": True, "num_layers": 2}])
def test_double_backward_matches_reference(backend, opts):
    if not _runs(backend, **opts):
        pytest.skip(f"{backend} does not run {opts}")
    got, want = _double_backward(backend, opts), _double_backward("reference", opts)
    for g, w in zip(got, want):
        assert g is not None
        torch.testing.assert_close(g, w, atol=1e-10, rtol=1e-8)


def test_fused_second_derivatives_gradgradcheck():
    if not _runs("fused"):
        pytest.skip("fused is not available here")
    torch.manual_seed(0)
    m = lstmkit.LSTM(2, 3, backend="fused", peephole=True, layer_norm=True).double()
    params = dict(m.named_parameters())
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    w = params["weight_hh_l0"].detach().clone().requires_grad_()

    def f(x, w):
        return functional_call(m, {**params, "weight_hh_l0": w}, (x,))[0]

    assert torch.autograd.gradgradcheck(f, (x, w), atol=1e-6)


# ---- torch.func ------------------------------------------------------------------------------------------------
def test_functional_call_and_grad(backend):
    torch.manual_seed(0)
    m = lstmkit.LSTM(3, 5, backend=backend)
    params = {k: v.detach() for k, v in m.named_parameters()}
    x = torch.randn(4, 2, 3)
    grads = grad(lambda p: functional_call(m, p, (x,))[0].pow(2).sum())(params)
    m(x)[0].pow(2).sum().backward()
    for name, p in m.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, atol=1e-6, rtol=1e-5)


def test_vmap_runs_where_torch_cannot():
    x = torch.randn(3, 5, 2, 4)  # vmap over the first dimension
    with pytest.raises(RuntimeError):
        vmap(lambda xi: nn.LSTM(4, 6)(xi)[0])(x)  # no batching rule for aten::lstm
    for opts in ({}, {"peephole": True}):
        m = lstmkit.LSTM(4, 6, **opts)  # auto: the reference loop, written in batchable torch ops
        y = vmap(lambda xi: m(xi)[0])(x)
        torch.testing.assert_close(y[1], m(x[1])[0], atol=1e-6, rtol=1e-5)
    for name in ("native", "fused"):
        if name in BACKENDS:
            named = lstmkit.LSTM(4, 6, backend=name)
            with pytest.raises(ValueError, match="vmap"):
                vmap(lambda xi: named(xi)[0])(x)


# ---- quantization --------------------------------------------------------------------------------------------
def test_quantize_dynamic_says_what_to_do():
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = nn.Sequential(lstmkit.LSTM(4, 8), )
        with pytest.raises(NotImplementedError, match=r"to_torch\(\)"):
            quantize_dynamic(model, {lstmkit.LSTM})
        with pytest.raises(NotImplementedError, match="variants"):
            quantize_dynamic(nn.Sequential(lstmkit.LSTM(4, 8, peephole=True)), {lstmkit.LSTM})
        holder = nn.Sequential(model[0].to_torch())  # the route the message gives
        q = quantize_dynamic(holder, {nn.LSTM})
        assert type(q[0]).__module__.startswith("torch.ao.nn.quantized")
        x = torch.randn(5, 2, 4)
        torch.testing.assert_close(q[0](x)[0], model[0](x)[0], atol=0.05, rtol=0)
