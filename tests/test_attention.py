"""Keras' Attention and AdditiveAttention layers against real Keras 3 (same weights, same outputs and
weights of attention, masks and the causal mask), in a functional LSTM model, saved and loaded."""

import numpy as np
import pytest
import torch

from lstmkit import Model, load_model
from lstmkit.layers import LSTM, Attention, Dense, Embedding, GlobalAveragePooling1D, Input


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


rng = np.random.default_rng(0)
Q = rng.normal(size=(3, 4, 6)).astype("float32")
V = rng.normal(size=(3, 5, 6)).astype("float32")
K = rng.normal(size=(3, 5, 6)).astype("float32")
QM = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, 1]], bool)
VM = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], bool)


@pytest.mark.parametrize("make", [
    lambda L: L.Attention(), lambda L: L.Attention(use_scale=True), lambda L: L.Attention(score_mode="concat"),
    lambda L: L.Attention(use_scale=True, score_mode="concat"), lambda L: L.AdditiveAttention(),
    lambda L: L.AdditiveAttention(use_scale=False)])
@pytest.mark.parametrize("case", ["plain", "key", "masks", "causal"])
def test_attention_matches_keras(keras, make, case):
    import lstmkit.layers as ours_ns
    inputs = [Q, V, K] if case == "key" else [Q, V]
    kw = {"use_causal_mask": True} if case == "causal" else {}
    masks = [QM, VM] if case in ("masks", "causal") else None
    theirs, ours = make(keras.layers), make(ours_ns)
    want_out, want_w = theirs(inputs, mask=masks, return_attention_scores=True, **kw)
    ours(inputs)
    ours.set_weights([np.asarray(w) * 0.7 + 0.1 for w in theirs.get_weights()])  # not the initial values
    theirs.set_weights(ours.get_weights())
    want_out, want_w = theirs(inputs, mask=masks, return_attention_scores=True, **kw)
    got_out, got_w = ours(inputs, mask=None if masks is None else [torch.tensor(m) for m in masks],
                          return_attention_scores=True, **kw)
    np.testing.assert_allclose(got_out.detach().numpy(), keras.ops.convert_to_numpy(want_out), atol=2e-6)
    np.testing.assert_allclose(got_w.detach().numpy(), keras.ops.convert_to_numpy(want_w), atol=2e-6)


def test_attention_in_a_functional_lstm_model_trains_saves_and_loads(tmp_path):
    tokens = Input((9,), dtype="int32")
    emb = Embedding(30, 8, mask_zero=True)(tokens)
    seq = LSTM(8, return_sequences=True)(emb)
    context, weights = Attention(use_scale=True)([seq, seq], return_attention_scores=True)
    assert context.shape == (None, 9, 8) and weights.shape == (None, 9, 9)
    model = Model(tokens, Dense(1, activation="sigmoid")(GlobalAveragePooling1D()(context)))
    probe = Model(tokens, weights)
    x = np.random.default_rng(1).integers(1, 30, size=(16, 9))
    x[:8, :3] = 0  # left padding: padded keys get no weight
    model.compile(optimizer="adam", loss="binary_crossentropy")
    h = model.fit(x, (x[:, -1] > 15).astype("float32"), epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    w = probe.predict(x)
    np.testing.assert_allclose(w[:8, 3:, :3], 0.0, atol=1e-6)
    np.testing.assert_allclose(w[:, 3:].sum(-1), 1.0, rtol=1e-5)
    model.save(tmp_path / "att.lstmkit")
    np.testing.assert_allclose(load_model(tmp_path / "att.lstmkit").predict(x), model.predict(x), atol=1e-6)


def test_attention_refuses_bad_inputs():
    with pytest.raises(ValueError, match=r"list \[query, value\]"):
        Attention()([torch.zeros(2, 3, 4)])
    with pytest.raises(ValueError, match="same width"):
        Attention()([torch.zeros(2, 3, 4), torch.zeros(2, 5, 6)])
    with pytest.raises(ValueError, match="same number of steps"):
        Attention()([torch.zeros(2, 3, 4), torch.zeros(2, 5, 4), torch.zeros(2, 6, 4)])
    with pytest.raises(ValueError, match="score_mode"):
        Attention(score_mode="general")
    with pytest.raises(ValueError, match="cannot take the output"):
        Attention()([Input((3, 4)), Input((5, 6))])
