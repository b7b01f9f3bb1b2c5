"""The backend registry and "auto" dispatch."""

import pytest
import torch

import lstmkit
from lstmkit.kernels import BACKENDS, Backend, LSTMConfig, Request, register, select_backend


def _req(cfg, **kw):
    return Request(cfg, torch.device("cpu"), torch.float32, **kw)


def test_auto_prefers_native_for_vanilla():
    sel = select_backend("auto", _req(LSTMConfig(4, 8, num_layers=2, bidirectional=True)))
    assert sel.backend.name == "native" and "oneDNN" in sel.reason


@pytest.mark.parametrize("opts,why", [
    ({"peephole": True}, "peephole"),
    ({"activation": "relu"}, "activation='relu'"),
    ({"layer_norm": True, "cifg": True}, "layer_norm and cifg are not supported"),
    ({"forget_bias": 1.0}, "forget_bias"),
    ({"zoneout": 0.1}, "zoneout"),
])
def test_auto_reports_why_native_was_skipped(opts, why):
    sel = select_backend("auto", _req(LSTMConfig(4, 8, **opts)))
    assert sel.backend.name != "native"
    assert "native skipped: " in sel.reason and why in sel.reason


def test_projection_reports_aten_kernel_and_auto_prefers_fused():
    assert "ATen" in lstmkit.LSTM(4, 8, proj_size=2, backend="native").backend_info()
    sel = select_backend("auto", _req(LSTMConfig(4, 8, proj_size=2), training=False))
    if BACKENDS["fused"].unsupported(_req(LSTMConfig(4, 8, proj_size=2))) is None:
        assert sel.backend.name == "fused" and "ATen loop" in sel.reason


@pytest.mark.parametrize("hidden, batch, training, grad, packed, expected", [
    (50, 10, True, True, False, "fused"),  # training a small width: the hand-written BPTT is faster
    (64, 32, True, True, False, "fused"),
    (128, 32, True, True, False, "native"),  # wider layers in small batches: oneDNN is as fast or faster
    (512, 128, True, True, False, "fused"),  # ... but not in large batches
    (50, 10, False, True, False, "native"),  # eval mode
    (50, 10, True, False, False, "native"),  # no autograd: inference
    (512, 128, True, False, False, "native"),
    (50, 10, True, True, True, "native"),  # packed input goes to the kernel that takes it as it is
])
def test_auto_dispatch_by_shape(hidden, batch, training, grad, packed, expected):
    req = Request(LSTMConfig(4, hidden), torch.device("cpu"), torch.float32, training, False, grad, packed, batch)
    if expected == "fused" and BACKENDS["fused"].unsupported(req) is not None:
        pytest.skip("fused extension unavailable")
    sel = select_backend("auto", req)
    assert sel.backend.name == expected, sel.reason
    if expected == "fused":
        assert "chosen over native" in sel.reason


def test_auto_dispatch_reaches_the_layer():
    lstm = lstmkit.LSTM(3, 16)
    if BACKENDS["fused"].unsupported(lstm._request(lstm.weight_ih_l0, False)) is not None:
        pytest.skip("fused extension unavailable")
    assert lstm.backend_info().startswith("fused")  # training mode, parameters require grad
    assert lstm.eval().backend_info().startswith("native")
    with torch.no_grad():
        assert lstm.train().backend_info().startswith("native")


def test_recurrent_dropout_native_only_in_eval():
    cfg = LSTMConfig(4, 8, recurrent_dropout=0.3)
    assert select_backend("auto", _req(cfg, training=False)).backend.name == "native"
    assert select_backend("auto", _req(cfg, training=True)).backend.name != "native"


def test_named_backends():
    assert select_backend("reference", _req(LSTMConfig(4, 8))).reason.endswith("(requested)")
    with pytest.raises(ValueError, match="expected 'auto' or one of"):
        select_backend("nope", _req(LSTMConfig(4, 8)))


def test_registering_a_backend_slots_into_auto():
    calls = []

    class Recording(Backend):
        name, description, priority = "recording-test", "test double that delegates", 5

        def unsupported(self, req):
            return None if req.config.peephole else "only peephole"

        def run(self, *args):
            calls.append(1)
            return BACKENDS["reference"].run(*args)

    register(Recording())
    try:
        lstm = lstmkit.LSTM(3, 4, peephole=True)
        assert lstm.backend_info().startswith("recording-test")
        ref = lstmkit.LSTM(3, 4, peephole=True, backend="reference")
        ref.load_state_dict(lstm.state_dict())
        x = torch.randn(5, 2, 3)
        torch.testing.assert_close(lstm(x)[0], ref(x)[0])
        assert calls == [1]
        assert lstmkit.LSTM(3, 128).backend_info().startswith("native")  # vanilla still goes to native
    finally:
        del BACKENDS["recording-test"]


def test_auto_streams_single_steps_on_the_reference_loop():
    """Frame-by-frame inference: the fused kernel's per-call setup costs more than the loop on 1-2 steps."""
    import lstmkit
    from lstmkit.kernels import BACKENDS, select_backend

    m = lstmkit.LSTM(4, 8, peephole=True).eval()
    x = torch.zeros(1, 1, 4)
    with torch.no_grad():
        one = select_backend("auto", m._request(x, False, batch=1, steps=1))
        many = select_backend("auto", m._request(x, False, batch=1, steps=8))
    assert one.backend.name == "reference" and "per-call setup" in one.reason
    if BACKENDS["fused"].unsupported(m._request(x, False, batch=1, steps=8)) is None:
        assert many.backend.name == "fused"
        trained = select_backend("auto", m.train()._request(x.requires_grad_(), False, batch=1, steps=1))
        assert trained.backend.name == "fused"  # training keeps the hand-written BPTT
