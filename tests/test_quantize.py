"""int8 quantization: every variant, close to float; 4x smaller weights; torch's int8 kernel for vanilla; saved
and loaded with a model; clear errors."""

import pytest
import torch

import lstmkit
from lstmkit.kernels.variants import VARIANTS


def _trained_like(m):
    # weights of a trained network's scale, not the tiny init (int8 error is relative to the largest weight)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.3, 0.3)
    return m.eval()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_stays_close_to_float(name):
    lstm = _trained_like(lstmkit.LSTM(6, 32, **VARIANTS[name]))
    q = lstmkit.quantize(lstm)
    x = torch.randn(20, 3, 6)
    with torch.no_grad():
        want, (h, c) = lstm(x)
        got, (hq, cq) = q(x)
    # per-row int8 weights: outputs within about 1% of their range here
    assert (got - want).abs().max() < 0.03 * want.abs().max().clamp(min=0.1)
    assert (cq - c).abs().max() < 0.05 * c.abs().max().clamp(min=0.1)
    assert lstm.weight_hh_l0.dtype == torch.float32  # the float model is left as it was


@pytest.mark.parametrize("opts", [{}, {"peephole": True, "layer_norm": True, "num_layers": 2, "bidirectional": True}])
def test_weights_are_about_4x_smaller(opts):
    lstm = lstmkit.LSTM(40, 256, **opts)
    floats = sum(t.numel() * t.element_size() for t in lstm.state_dict().values())
    assert floats / lstmkit.quantize(lstm).weight_bytes() > 3.5  # biases, scales and gains stay float32


def test_vanilla_runs_torchs_int8_kernel_variants_their_own():
    q = lstmkit.quantize(_trained_like(lstmkit.LSTM(6, 32, num_layers=2, bidirectional=True)))
    assert q.backend_info().startswith("int8")
    v = lstmkit.quantize(_trained_like(lstmkit.LSTM(6, 32, peephole=True)))
    assert "int8 skipped: a variant cell" in v.backend_info()
    # the int8 kernel against the same int8 weights in float (only the activations' quantization differs)
    x, lens = torch.randn(9, 4, 6), torch.tensor([9, 3, 6, 1])
    with torch.no_grad():
        fast, (h, _) = q(x, lengths=lens)
    ref = lstmkit.LSTM.from_config(q.config).eval()
    ref.load_state_dict({k: getattr(q, k) for k in ref.state_dict()})
    with torch.no_grad():
        slow, (hs, _) = ref(x, lengths=lens)
    assert (fast - slow).abs().max() < 0.02 and (h - hs).abs().max() < 0.02
    assert (fast[3:, 1] == 0).all()  # past a length: zero, as every backend


def test_saved_keras_model_loads_quantized(tmp_path):
    from lstmkit.keras import Input, layers, models

    m = models.Sequential([Input((None, 3)), layers.LSTM(16, return_sequences=True),
                           layers.LSTM(8, layer_norm=True), layers.Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    q = lstmkit.quantize(m)
    assert isinstance(q.layers[0].lstm, lstmkit.QuantizedLSTM) and not lstmkit.nn.quantized.is_quantized(m)
    q.save(tmp_path / "q.safetensors")
    m.save(tmp_path / "f.safetensors")
    assert (tmp_path / "q.safetensors").stat().st_size < (tmp_path / "f.safetensors").stat().st_size
    back = lstmkit.load_model(tmp_path / "q.safetensors")
    x = torch.randn(4, 7, 3)
    torch.testing.assert_close(back.predict(x.numpy()), q.predict(x.numpy()))
    with pytest.raises(RuntimeError, match="cannot be trained"):
        back.fit(x.numpy(), torch.randn(4, 2).numpy(), epochs=1, verbose=0)


def test_bad_requests():
    q = lstmkit.quantize(lstmkit.LSTM(3, 4))
    with pytest.raises(ValueError, match="quantized already"):
        lstmkit.quantize(q)
    with pytest.raises(ValueError, match="holds no lstmkit.LSTM"):
        lstmkit.quantize(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="float32"):
        lstmkit.quantize(lstmkit.LSTM(3, 4, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="inference"):
        q.train()


def test_forecaster_quantizes_saves_and_loads(tmp_path):
    import numpy as np

    from lstmkit.forecast import LSTMForecaster

    t = np.arange(120)
    y = 10 + np.sin(2 * np.pi * t / 12) + 0.01 * t + np.random.default_rng(0).normal(0, 0.1, 120)
    fc = LSTMForecaster(6, period=12, steps=40, ensemble=2).fit(y)
    q = lstmkit.quantize(fc)
    assert all(lstmkit.nn.quantized.is_quantized(n) for n in q.networks)
    assert not any(lstmkit.nn.quantized.is_quantized(n) for n in fc.networks)
    np.testing.assert_allclose(q.predict(), fc.predict(), rtol=0.02)
    back = LSTMForecaster.load(q.save(tmp_path / "q.safetensors"))
    np.testing.assert_allclose(back.predict(), q.predict(), rtol=1e-6)
    assert (tmp_path / "q.safetensors").stat().st_size < fc.save(tmp_path / "f.safetensors").stat().st_size
    with pytest.raises(ValueError, match="quantized already"):
        q.quantize()
