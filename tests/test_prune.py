"""Pruning: magnitude masks that survive fine-tuning; structured pruning that leaves a smaller LSTM computing
the same function on the units it keeps; Keras-style models rewired and fine-tuned; clear errors."""

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit import prune
from lstmkit.kernels.variants import VARIANTS


def test_magnitude_masks_stay_through_training_and_finalize():
    torch.manual_seed(0)
    lstm = lstmkit.LSTM(4, 16, num_layers=2, peephole=True)
    prune.magnitude(lstm, 0.6)
    assert abs(prune.sparsity(lstm) - 0.6) < 0.01
    opt = torch.optim.SGD(lstm.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        lstm(torch.randn(5, 3, 4))[0].pow(2).sum().backward()
        opt.step()
    assert abs(prune.sparsity(lstm) - 0.6) < 0.01  # fine-tuning keeps the pruned weights at zero
    prune.finalize(lstm)
    assert "weight_hh_l0" in dict(lstm.named_parameters()) and abs(prune.sparsity(lstm) - 0.6) < 0.01


@pytest.mark.parametrize("name", ["vanilla", "peephole", "cifg", "projection", "cell_clip",
                                  "cifg_relu_zoneout_bidirectional"])
def test_structured_pruning_keeps_the_kept_units_function(name):
    """Removing units whose every weight is zero changes nothing: the smaller LSTM computes the same outputs."""
    torch.manual_seed(1)
    opts = VARIANTS[name]
    lstm = lstmkit.LSTM(3, 8, **opts).eval()
    H, D, P = 8, lstm.config.num_directions, lstm.config.proj_size
    dead = [1, 4, 6]
    with torch.no_grad():  # silence three units in every layer and direction: no weight into or out of them
        for n, p in lstm.named_parameters():
            if n.startswith(("weight_ih", "weight_hh", "bias", "ln_ih", "ln_hh")):
                rows = torch.tensor([u + g * H for g in range(p.shape[0] // H) for u in dead])
                p[rows] = 0
                if n.startswith("ln_"):
                    p[rows] = 0
            if n.startswith("weight_hh") and not P:
                p[:, dead] = 0
            if n.startswith("weight_ih_l1") and not P:
                p[:, [u + d * H for d in range(D) for u in dead]] = 0
            if n.startswith("weight_hr"):
                p[:, dead] = 0
            if n.startswith("weight_ph"):
                p[:, dead] = 0
    small = prune.units(lstm, 3 / 8)
    assert small.hidden_size == 5
    x = torch.randn(6, 2, 3)
    with torch.no_grad():
        want, (h, c) = lstm(x)
        got, (hs, cs) = small(x)
    alive = [u for u in range(H) if u not in dead]
    cols = [u + d * H for d in range(D) for u in alive] if not P else list(range(want.shape[-1]))
    torch.testing.assert_close(got, want[..., cols], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(cs, c[..., alive], atol=1e-6, rtol=1e-6)


def test_keras_model_pruned_fine_tuned_saved_and_loaded(tmp_path):
    from lstmkit.keras import Input, layers, models

    torch.manual_seed(2)
    x = np.random.default_rng(0).normal(size=(64, 12, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.int64)
    m = models.Sequential([Input((12, 3)), layers.Bidirectional(layers.LSTM(16, return_sequences=True)),
                           layers.Dropout(0.1), layers.LSTM(16, peephole=True), layers.Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=3, verbose=0)
    small = prune.units(m, 0.5)
    assert small.layers[0].layer.units == 8 and small.layers[2].units == 8
    assert small.layers[2].lstm.input_size == 16 and small.layers[3].linear.in_features == 8
    assert sum(p.numel() for p in small.parameters()) < 0.4 * sum(p.numel() for p in m.parameters())
    before = small.evaluate(x, y, verbose=0)[0]
    small.fit(x, y, epochs=3, verbose=0)  # recompiled: its optimizer holds the new parameters
    assert small.evaluate(x, y, verbose=0)[0] < before
    small.save(tmp_path / "small.safetensors")
    back = lstmkit.load_model(tmp_path / "small.safetensors")
    np.testing.assert_allclose(back.predict(x), small.predict(x), atol=1e-6)


def test_layer_norm_and_stacks_shrink_consistently():
    """Layer norm's statistics span the removed units, so this is not the same function (fine-tune after)."""
    lstm = lstmkit.LSTM(3, 8, **VARIANTS["stack_relu"]).eval()
    small = prune.units(lstm, 0.25)
    assert small.hidden_size == 6 and small.ln_ih_weight_l1.shape == (24,) and small.weight_ih_l1.shape == (24, 12)
    out, (h, c) = small(torch.randn(5, 2, 3))
    assert out.shape == (5, 2, 12) and torch.isfinite(out).all()


def test_bad_requests():
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        prune.magnitude(lstmkit.LSTM(2, 4), 1.0)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        prune.units(lstmkit.LSTM(2, 4), 1.0)
    with pytest.raises(ValueError, match="quantize"):
        prune.units(lstmkit.quantize(lstmkit.LSTM(2, 4)), 0.5)
    with pytest.raises(ValueError, match="no lstmkit.LSTM"):
        prune.units(torch.nn.Linear(2, 2), 0.5)
    from lstmkit.keras import Input, layers, models

    ends = models.Sequential([Input((5, 2)), layers.LSTM(8)])
    with pytest.raises(ValueError, match="ends with a pruned LSTM"):
        prune.units(ends, 0.5)
