"""The Triton backend under TRITON_INTERPRET=1 (its kernels run on CPU tensors): every variant against the
reference backend in float32 (forward, final states, and every gradient; lengths and both directions), float64
gradcheck, and the dispatch rules. Tolerances (float32): 1e-5 absolute on outputs and gradients, 5e-4 where a
layer norm on c divides by a row's standard deviation (its rounding differs from torch's two-pass layer_norm).
What the interpreter cannot check is guarded in code: the block is a power of two of at least 16 units per
row and widths past MAX_BLOCK are refused before launch; bf16/fp16 are refused (not yet written)."""

import importlib
import os
import sys

import pytest
import torch

import lstmkit
from lstmkit.kernels import LSTMConfig, Request, select_backend
from lstmkit.kernels.variants import VARIANTS

# triton reads TRITON_INTERPRET when it is imported (its own tl.* helpers are jitted then): import it under the
# interpreter here, and set the variable again around each test only (the backend reads it per call)
if "triton" not in sys.modules:
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        importlib.import_module("triton")
    except ImportError:
        pass
    finally:
        del os.environ["TRITON_INTERPRET"]
triton = pytest.importorskip("triton")
if not type(triton.language.sigmoid).__name__.startswith("Interpreted"):
    pytest.skip("triton was imported before this module, without the interpreter", allow_module_level=True)
triton_backend = importlib.import_module("lstmkit.kernels.triton_backend")


@pytest.fixture(autouse=True)
def interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # read when the kernels' module is first imported, and per call


def _pair(kw, dtype=torch.float32, I=3, H=6):
    torch.manual_seed(0)
    ref = lstmkit.LSTM(I, H, batch_first=True, backend="reference", **kw).to(dtype)
    tri = lstmkit.LSTM(I, H, batch_first=True, backend="triton", **kw).to(dtype)
    tri.load_state_dict(ref.state_dict())
    return ref, tri


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_matches_the_reference(name):
    kw = VARIANTS[name]
    ref, tri = _pair(kw)
    x = torch.randn(3, 4, 3, requires_grad=True)
    lengths = torch.tensor([4, 1, 3])
    results = []
    for model in (ref, tri):
        model.train()
        torch.manual_seed(1)  # the same dropout and zoneout masks on both
        y, (h, c) = model(x, lengths=lengths)
        loss = (y ** 2).sum() + (h * 0.5).sum() + c.sum()
        results.append([y, h, c, *torch.autograd.grad(loss, [x, *model.parameters()])])
    tol = 5e-4 if kw.get("layer_norm") else 1e-5
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, atol=tol, rtol=tol)


@pytest.mark.parametrize("name", ["peephole_cifg_layer_norm", "cell_clip", "gelu_hard_sigmoid"])
def test_float64_gradcheck(name):
    _, tri = _pair(VARIANTS[name], torch.float64, I=2, H=4)
    tri.eval()
    x = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 2])
    assert torch.autograd.gradcheck(lambda t: tri(t, lengths=lengths)[0], (x,), fast_mode=True)
    ph = [p for p in tri.parameters()]
    assert torch.autograd.gradcheck(lambda *ps: torch.func.functional_call(
        tri, dict(zip([n for n, _ in tri.named_parameters()], ps)), (x.detach(),), {"lengths": lengths})[1][1],
        tuple(p.detach().requires_grad_() for p in ph), fast_mode=True)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["peephole_cifg_layer_norm", "zoneout", "relu"])
def test_half_precision_keeps_a_float32_cell(dtype, name):
    """bf16/fp16 weights and inputs: GEMMs in that dtype, the cell's arithmetic and state in float32. Held to
    the float32 reference on the same rounded weights and inputs, at half precision's tolerance (3e-2)."""
    ref, tri = _pair(VARIANTS[name])
    tri.to(dtype)
    ref.load_state_dict({k: v.to(dtype).float() for k, v in tri.state_dict().items()})
    x = torch.randn(3, 5, 3).to(dtype)
    lengths = torch.tensor([5, 2, 4])
    outs = []
    for model, inp in ((ref, x.float().requires_grad_()), (tri, x.clone().requires_grad_())):
        model.eval()
        y, (h, c) = model(inp, lengths=lengths)
        assert y.dtype == inp.dtype and c.dtype == inp.dtype
        (gx,) = torch.autograd.grad((y.float() ** 2).sum() + c.float().sum(), [inp])
        outs.append([y.float(), h.float(), c.float(), gx.float()])
    for a, b in zip(*outs):
        torch.testing.assert_close(b, a, atol=3e-2, rtol=3e-2)


def test_gates_and_eval_zoneout_match():
    ref, tri = _pair({"zoneout": 0.2, "peephole": True})
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        ry, (_, _), rg = ref.eval()(x, return_gates=True)
        ty, (_, _), tg = tri.eval()(x, return_gates=True)
    torch.testing.assert_close(ty, ry, atol=1e-6, rtol=1e-6)
    for a, b in zip(rg[0][0], tg[0][0]):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-6)


def test_dispatch_rules(monkeypatch):
    cfg = LSTMConfig(4, 8, peephole=True)
    req = Request(cfg, torch.device("cpu"), torch.float32)
    assert select_backend("triton", req).backend.name == "triton"
    backend = triton_backend.TritonBackend()
    assert "return_gates under autograd" in backend.unsupported(Request(cfg, torch.device("cpu"), torch.float32,
                                                                        return_gates=True, grad=True))
    assert "not torch.complex64" in backend.unsupported(Request(cfg, torch.device("cpu"), torch.complex64))
    assert "no kernel for the activation" in backend.unsupported(
        Request(LSTMConfig(4, 8, activation="elu"), torch.device("cpu"), torch.float32))
    assert "over the 8192" in backend.unsupported(Request(LSTMConfig(4, 10000), torch.device("cpu"), torch.float32))
    assert triton_backend.block_for(6) == 16 and triton_backend.block_for(100) == 128
    cuda = torch.device("cuda")  # the choice "auto" makes on a GPU (unsupported() never touches the device)
    assert select_backend("auto", Request(cfg, cuda, torch.float32)).backend.name == "triton"
    assert select_backend("auto", Request(LSTMConfig(4, 8), cuda, torch.float32)).backend.name == "native"
    reason = select_backend("auto", Request(LSTMConfig(4, 8, activation="elu"), cuda, torch.float32)).reason
    assert reason.startswith("reference") and "triton skipped: triton has no kernel for the activation" in reason
    monkeypatch.delenv("TRITON_INTERPRET")
    assert "runs on GPUs" in backend.unsupported(req)  # CPU tensors only under the interpreter
    assert select_backend("auto", req).backend.name != "triton"
