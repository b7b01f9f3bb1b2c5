"""float64 gradcheck of the reference and fused backends for every variant alone and in combinations.

nondet_tol=1e-12: MKL's GEMMs take alignment-dependent code paths, so two backward passes over freshly
allocated buffers can differ in the last bit (5e-17 seen); gradcheck's default demands bit equality.
"""

import pytest
import torch

import lstmkit
from conftest import randomize_
from lstmkit.kernels.variants import VARIANTS as CATALOGUE

# every option, alone and combined; stack_relu's combination is held to the reference in float32 by
# test_fused.py (its float64 gradcheck alone would cost half a minute)
VARIANTS = {name: opts for name, opts in CATALOGUE.items() if name != "stack_relu"}


@pytest.mark.parametrize("backend", ["reference", "fused"])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_gradcheck(name, training, backend):
    lstm = lstmkit.LSTM(3, 4, backend=backend, dtype=torch.float64, **VARIANTS[name])
    randomize_(lstm, seed=1)
    lstm.train(training)
    cfg = lstm.config
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    LD = cfg.num_layers * cfg.num_directions
    h0 = torch.randn(LD, 2, cfg.out_size, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(LD, 2, 4, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in lstm.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in lstm.parameters()]

    def fn(x, h0, c0, *ps):
        torch.manual_seed(123)  # the same random masks at every evaluation
        out, (h, c) = torch.func.functional_call(lstm, dict(zip(names, ps, strict=True)), (x, (h0, c0)))
        return out, h, c

    assert torch.autograd.gradcheck(fn, (x, h0, c0, *params), eps=1e-6, atol=1e-5, nondet_tol=1e-12)


def test_gradcheck_lengths_fused():
    lstm = lstmkit.LSTM(3, 4, bidirectional=True, peephole=True, layer_norm=True, proj_size=2, zoneout=0.2,
                        backend="fused", dtype=torch.float64).train()
    randomize_(lstm)
    x = torch.randn(5, 3, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 2, 4])

    def fn(x, h0):
        torch.manual_seed(0)
        out, (h, c) = lstm(x, (h0, torch.zeros(2, 3, 4, dtype=torch.float64)), lengths=lengths)
        return out, h, c

    assert torch.autograd.gradcheck(fn, (x, h0), eps=1e-6, atol=1e-5, nondet_tol=1e-12)


def test_gradcheck_lengths_and_gates():
    # the reference backend differentiates through the returned gates too (fused returns them detached)
    lstm = lstmkit.LSTM(3, 4, bidirectional=True, peephole=True, backend="reference", dtype=torch.float64)
    randomize_(lstm)
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 3])

    def fn(x):
        out, (h, c), gates = lstm(x.transpose(0, 1), lengths=lengths, return_gates=True)
        return out, h, c, gates[0][1].f, gates[0][0].c

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5, nondet_tol=1e-12)


def test_gradcheck_cell():
    cell = lstmkit.LSTMCell(3, 4, peephole=True, layer_norm=True, proj_size=2, dtype=torch.float64)
    randomize_(cell)
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h, c: cell(x, (h, c)), (x, h, c), eps=1e-6, atol=1e-5, nondet_tol=1e-12)
