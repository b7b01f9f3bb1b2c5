"""The fused C++ backend against the reference backend: every variant, fp32 and fp64, outputs and gradients."""

import contextlib
import os
import subprocess
import sys

import pytest
import torch

import lstmkit
import lstmkit.kernels.fused as fused_mod
from conftest import randomize_
from lstmkit.kernels.variants import VARIANTS as CATALOGUE

# the catalogue every test grid and benchmark reads (a new option is tested once it has an entry there)
VARIANTS = list(CATALOGUE.values())

# fp32 tolerances: outputs within 1e-5 of the reference; gradients (sums over B*T terms, some ~30 in size)
# within 1e-4 absolute plus 1e-5 relative.
# fp64 gradients within 1e-6: torch's hardsigmoid backward multiplies by 1/6 rounded to float32 even in
# float64 (ATen's `one_sixth(1.0f / 6.0f)`), a 3e-8 relative error the fused kernel does not share; the
# fp64 gradcheck tests hold the fused gradients to the numerical ones directly.
TOL = {torch.float32: (1e-5, 1e-4, 1e-5), torch.float64: (1e-12, 1e-6, 0.0)}


def _pair(opts, dtype=torch.float32, size=(5, 6), seed=11, scale=0.5):
    """A fused LSTM with random weights and a reference LSTM holding the same ones."""
    fused = lstmkit.LSTM(*size, backend="fused", dtype=dtype, **opts)
    randomize_(fused, seed=seed, scale=scale)
    ref = lstmkit.LSTM(*size, backend="reference", dtype=dtype, **opts)
    ref.load_state_dict(fused.state_dict())
    return fused, ref


@contextlib.contextmanager
def _threads(n):
    """torch's intra-op thread count set to n inside the block (the row and column splits need several)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(module, x, lengths, seed):
    torch.manual_seed(seed)
    out, (h, c), gates = module(x, lengths=lengths, return_gates=True)
    (out.pow(2).sum() + 2 * h.sum() + 3 * c.sum()).backward()
    return out, h, c, gates


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("opts", VARIANTS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "vanilla")
def test_fused_matches_reference(opts, training, dtype):
    _check_against_reference(opts, training, dtype)


LN_VARIANTS = [v for v in VARIANTS if v.get("layer_norm")] + [
    {"layer_norm": True, "recurrent_dropout": 0.3},
    {"layer_norm": True, "proj_size": 3},
]


@pytest.mark.parametrize("dtype", [torch.float64])  # fp64: 1e-12 on outputs; the fp32 code path is the same
@pytest.mark.parametrize("opts", LN_VARIANTS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_fused_layer_norm_with_stored_recurrent_product(opts, dtype, monkeypatch):
    """Wide layers keep W_hh h_{t-1} for the layer norm's backward; small ones recompute it. Both are exact."""
    monkeypatch.setenv("LSTMKIT_LN_STORE_MIN_P", "1")
    _check_against_reference(opts, True, dtype)


def _check_against_reference(opts, training, dtype):
    fused, ref = _pair(opts, dtype)
    fused.train(training)
    ref.train(training)
    atol, gtol, grtol = TOL[dtype]
    for lengths in (None, [7, 2, 5, 7]):
        x = torch.randn(7, 4, 5, dtype=dtype)
        xf, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
        rf = _run(fused, xf, lengths, seed=5)
        rr = _run(ref, xr, lengths, seed=5)
        for a, b in zip(rf[:3], rr[:3], strict=True):
            torch.testing.assert_close(a, b, atol=atol, rtol=0)
        for layer_f, layer_r in zip(rf[3], rr[3], strict=True):
            for gf, gr in zip(layer_f, layer_r, strict=True):
                for a, b in zip(gf, gr, strict=True):
                    torch.testing.assert_close(a, b.detach(), atol=atol, rtol=0)
        torch.testing.assert_close(xf.grad, xr.grad, atol=gtol, rtol=grtol)
        for (name, p), q in zip(fused.named_parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, atol=gtol, rtol=grtol, msg=name)
        fused.zero_grad()
        ref.zero_grad()


def test_auto_picks_fused_for_variants():
    info = lstmkit.LSTM(4, 8, peephole=True).backend_info()
    assert info.startswith("fused: ") and "native skipped: peephole" in info


def test_callable_activation_falls_back_to_reference():
    lstm = lstmkit.LSTM(4, 8, activation=torch.nn.functional.silu)
    info = lstm.backend_info()
    assert info.startswith("reference") and "fused skipped: fused needs a named activation" in info
    with pytest.raises(ValueError, match="backend 'fused' cannot run this configuration"):
        lstmkit.LSTM(4, 8, activation=torch.nn.functional.silu, backend="fused")(torch.randn(3, 1, 4))


def test_without_the_extension_auto_falls_back_with_reason():
    code = (
        "import torch, lstmkit\n"
        "m = lstmkit.LSTM(3, 4, peephole=True)\n"
        "print(m.backend_info())\n"
        "print(m(torch.randn(5, 2, 3))[0].shape)\n"
    )
    env = dict(os.environ, LSTMKIT_DISABLE_FUSED="1")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "reference:" in res.stdout and "fused skipped: disabled by LSTMKIT_DISABLE_FUSED" in res.stdout
    assert "torch.Size([5, 2, 4])" in res.stdout


def test_import_does_not_build_the_extension():
    code = "import lstmkit, lstmkit.kernels.fused as f, sys; sys.exit(0 if f._module is None else 1)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


@pytest.mark.parametrize("opts", VARIANTS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "vanilla")
def test_fused_inference_without_history(opts):
    # under no_grad the kernel keeps no per-step history; results must not change
    fused, ref = _pair(opts, torch.float32)
    fused.eval()
    ref.eval()
    x = torch.randn(9, 3, 5)
    for lengths in (None, [9, 4, 6]):
        with torch.no_grad():
            a = fused(x, lengths=lengths)
            b = ref(x, lengths=lengths)
        torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(a[1][0], b[1][0], atol=1e-5, rtol=0)
        torch.testing.assert_close(a[1][1], b[1][1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("opts", [{"peephole": True, "layer_norm": True}, {"cifg": True, "peephole": True},
                                  {"zoneout": 0.1, "proj_size": 16}])
def test_fused_parallel_rows_match_reference(opts):
    # B * 4H >= 16384 splits each step's rows across threads; per-thread gradient sums are merged
    with _threads(2):
        fused, ref = _pair(opts, torch.float64, size=(8, 64), seed=2, scale=0.2)
        x = torch.randn(6, 80, 8, dtype=torch.float64)
        lengths = torch.randint(1, 7, (80,))
        rf, rr = _run(fused, x, lengths, seed=3), _run(ref, x, lengths, seed=3)
        for a, b in zip(rf[:3], rr[:3], strict=True):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
        for (name, p), q in zip(fused.named_parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, atol=1e-9, rtol=1e-9, msg=name)


@pytest.mark.parametrize("opts", [{}, {"peephole": True, "layer_norm": True, "recurrent_dropout": 0.2}])
def test_fused_large_fp32_paths_match_reference(opts):
    # shapes big enough for oneDNN's GEMM in the input projection (>= 1.5M multiply-adds) and for splitting
    # the batch rows across threads, in float32 where the brgemm micro-kernel runs. Layer norm amplifies
    # float32 rounding (5e-5 apart after 2 layers x 20 steps), so each fp32 backend is held to the float64
    # reference: the fused error may be at most three times the reference backend's own (its exp is a
    # polynomial good to 2 ulp; seen: 2.3x on one layer-norm bias, 1x or less on most parameters), or
    # 5e-5 of the gradient's largest entry, the stated fp32 tolerance (an AVX2-only machine, whose GEMMs
    # block differently, saw 3.6e-5 on weight_hh_l1 under layer norm where the reference had 9.4e-6).
    with _threads(2):
        fused, ref = _pair({"num_layers": 2, **opts}, size=(64, 64), seed=4, scale=0.15)
        exact = lstmkit.LSTM(64, 64, num_layers=2, backend="reference", dtype=torch.float64, **opts)
        exact.load_state_dict({k: v.double() for k, v in fused.state_dict().items()})
        x = torch.randn(20, 64, 64)
        xf, xr, xd = x.clone().requires_grad_(), x.clone().requires_grad_(), x.double().requires_grad_()
        rf, rr, rd = _run(fused, xf, None, seed=8), _run(ref, xr, None, seed=8), _run(exact, xd, None, seed=8)
        for a, b, want in zip(rf[:3], rr[:3], rd[:3], strict=True):
            err_f = (a.double() - want).abs().max().item()
            err_r = (b.double() - want).abs().max().item()
            assert err_f <= 3 * err_r + 1e-6, (err_f, err_r)
        err = lambda g, gd: ((g.double() - gd).abs().max() / gd.abs().max()).item()  # noqa: E731
        assert err(xf.grad, xd.grad) <= max(3 * err(xr.grad, xd.grad), 5e-5)
        for (name, p), q, d in zip(fused.named_parameters(), ref.parameters(), exact.parameters(), strict=True):
            assert err(p.grad, d.grad) <= max(3 * err(q.grad, d.grad), 5e-5), name


@pytest.mark.parametrize("opts", [{}, {"peephole": True, "zoneout": 0.2}, {"cifg": True, "peephole": True},
                                  {"activation": "gelu", "recurrent_dropout": 0.3}, {"forget_bias": 1.0}])
@pytest.mark.parametrize("batch", [1, 3])
def test_fused_column_split_matches_reference(opts, batch, monkeypatch):
    # Small batches with a wide hidden layer: the threads split the hidden units in 16-float slices and meet
    # at a barrier after every step. 272 units give the two threads unequal slices (144 and 128). Gradients
    # too, since the forward pass that saves history for backward takes the same path.
    H = 272
    monkeypatch.setenv("LSTMKIT_COLUMN_SPLIT", "always")  # whatever else runs on the machine now
    assert fused_mod._split_columns(batch, H) and not fused_mod._split_columns(64, H)
    with _threads(2):
        fused, ref = _pair(opts, size=(5, H), seed=6, scale=0.15)
        x = torch.randn(9, batch, 5)
        lengths = torch.tensor([9, 4, 7][:batch])
        for train in (True, False):
            fused.train(train), ref.train(train)
            rf, rr = _run(fused, x, lengths, seed=1), _run(ref, x, lengths, seed=1)
            for a, b in zip(rf[:3], rr[:3], strict=True):
                torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)
            for ga, gb in zip(rf[3][0][0], rr[3][0][0], strict=True):  # gates and cell states, every step
                torch.testing.assert_close(ga, gb, atol=2e-6, rtol=1e-5)
            for (name, p), q in zip(fused.named_parameters(), ref.parameters(), strict=True):
                torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=name)
                p.grad = q.grad = None
            with torch.no_grad():  # inference without history: two state slots used in turn
                torch.manual_seed(2)
                a = fused(x, lengths=lengths)
                torch.manual_seed(2)
                b = ref(x, lengths=lengths)
            torch.testing.assert_close(a[0], b[0], atol=2e-6, rtol=1e-5)
            torch.testing.assert_close(a[1][1], b[1][1], atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("K, N, M", [(1, 1, 1), (700, 200, 1), (1030, 130, 33), (3584, 512, 28), (0, 8, 4)])
def test_weight_grad_matches_matmul(K, N, M):
    # the projection's weight gradient g^T x, streamed through brgemm in K-chunks and 64-column blocks
    if fused_mod.load_extension() is None or not fused_mod._module.brgemm_available():
        pytest.skip("needs the fused extension with the brgemm micro-kernel")
    g, x = torch.randn(K, N), torch.randn(K, M)
    got = fused_mod._module.weight_grad(g, x)
    want = g.double().t() @ x.double()
    assert got.shape == (N, M) and got.is_contiguous()
    torch.testing.assert_close(got.double(), want, atol=1e-4 * max(K, 1) ** 0.5, rtol=1e-5)


def test_buffer_pool_reuses_arrays_and_releases_them():
    if fused_mod.load_extension() is None:
        pytest.skip("fused extension unavailable")
    fused_mod.release_buffers()
    lstm = lstmkit.LSTM(8, 256, backend="fused")
    x = torch.randn(50, 32, 8)  # the gates of every step: 50 * 32 * 1024 floats, 6.5 MB, from the pool

    def step():
        lstm.zero_grad()
        out, _ = lstm(x)
        (out ** 2).sum().backward()
        return out.detach().clone(), [p.grad.clone() for p in lstm.parameters()]

    first = step()
    assert fused_mod.release_buffers() > 6_000_000  # the arrays came back to the pool when autograd freed them
    step()  # allocates afresh, then returns them
    again = step()  # runs on reused (uninitialised) memory
    # equal up to the order in which threads merge their parameter-gradient sums
    torch.testing.assert_close(again[0], first[0], rtol=1e-6, atol=1e-7)
    for a, b in zip(again[1], first[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    fused_mod.release_buffers()


@pytest.mark.parametrize("opts", [{}, {"peephole": True, "layer_norm": True}, {"proj_size": 192},
                                  {"recurrent_dropout": 0.3}])
def test_fused_sliced_gemms_match_reference(opts):
    # W_hh of 384 x 1536 floats (2.4 MB) is over the 512 KB at which the per-step GEMMs run in 64-column slices
    # (forward h W_hh^T, backward dz W_hh, projection) and over the 1 MB up to which dW_hh is summed inside
    # the loop (here: one brgemm GEMM over all T*B rows after it); batch 40 keeps the row split
    with _threads(2):
        fused, ref = _pair(opts, size=(16, 384), seed=9, scale=0.06)
        x = torch.randn(6, 40, 16)
        rf, rr = _run(fused, x, None, seed=1), _run(ref, x, None, seed=1)
        for a, b in zip(rf[:3], rr[:3], strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
        for (name, p), q in zip(fused.named_parameters(), ref.parameters(), strict=True):
            rel = ((p.grad - q.grad).abs().max() / q.grad.abs().max()).item()  # gradients reach ~600 here
            assert rel < 1e-5, (name, rel)


def test_fused_column_split_with_idle_threads(monkeypatch):
    # 8 threads over 272 units take 48-unit slices: threads 6 and 7 own none and must still meet every
    # barrier (forward and backward) instead of leaving the others waiting
    monkeypatch.setenv("LSTMKIT_COLUMN_SPLIT", "always")
    assert fused_mod._split_columns(2, 272)
    with _threads(8):
        fused, ref = _pair({"peephole": True, "zoneout": 0.2}, size=(5, 272), seed=1, scale=0.1)
        x = torch.randn(7, 2, 5)
        rf, rr = _run(fused, x, None, seed=3), _run(ref, x, None, seed=3)
        for a, b in zip(rf[:3], rr[:3], strict=True):
            torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)
        for (name, p), q in zip(fused.named_parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_column_split_only_on_free_cores(monkeypatch):
    # a barrier per step stalls for a time slice whenever another process holds one of the threads' cores
    monkeypatch.setattr(fused_mod, "_cores", lambda: 2)
    with _threads(2):
        monkeypatch.setattr(fused_mod, "_others_running", lambda: 0)
        assert fused_mod._split_columns(1, 256)
        monkeypatch.setattr(fused_mod, "_others_running", lambda: 1)
        assert not fused_mod._split_columns(1, 256)
        monkeypatch.setenv("LSTMKIT_COLUMN_SPLIT", "always")
        assert fused_mod._split_columns(1, 256)
        monkeypatch.setenv("LSTMKIT_COLUMN_SPLIT", "never")
        monkeypatch.setattr(fused_mod, "_others_running", lambda: 0)
        assert not fused_mod._split_columns(1, 256)
    assert fused_mod._others_running() >= 0


def test_long_sequences_flush_subnormal_gradients_and_restore_the_mode():
    # gradients through 300 saturated steps decay below float32's smallest normal number; the kernel flushes
    # them to zero (x86 microcode makes subnormals ~10x slower) and must agree with the reference regardless
    torch.manual_seed(0)
    ref = lstmkit.LSTM(1, 16, batch_first=True, backend="reference")
    fast = lstmkit.LSTM(1, 16, batch_first=True, backend="fused")
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(4, 300, 1)
    grads = []
    for m in (ref, fast):
        xx = x.clone().requires_grad_()
        m(xx)[0][:, -1].sum().backward()
        grads.append(xx.grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # subnormal: arithmetic on it is exact again afterwards
    assert (tiny * 1.0).item() != 0.0 and (tiny + 0.0).item() == pytest.approx(1e-39, rel=1e-3)
