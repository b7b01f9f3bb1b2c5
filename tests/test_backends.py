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


def test_projection_reports_aten_kernel():
    assert "ATen" in lstmkit.LSTM(4, 8, proj_size=2).backend_info()


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
        assert lstmkit.LSTM(3, 4).backend_info().startswith("native")  # vanilla still goes to native
    finally:
        del BACKENDS["recording-test"]
