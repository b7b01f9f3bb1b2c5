"""Keras' GRU layer: the native (torch kernel) path and the reference loop against each other in float64, and
both against real Keras 3 where it is installed: same weights, same outputs, masks and training losses."""

import numpy as np
import pytest
import torch

from lstmkit import Model, Sequential, load_model
from lstmkit.layers import GRU, Bidirectional, Dense, Embedding, Input


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _mask():
    m = np.ones((4, 7), bool)
    m[0, :3] = False  # left padding (pad_sequences' default)
    m[1, 5:] = False  # right padding
    m[2, 2] = False  # a gap
    m[3] = False  # all padding: the state stays the initial one
    return m


X = np.random.default_rng(0).normal(size=(4, 7, 3)).astype("float32")


@pytest.mark.parametrize("kw", [{}, {"return_sequences": True}, {"reset_after": False}, {"activation": "relu"},
                                {"go_backwards": True, "return_sequences": True}, {"use_bias": False},
                                {"recurrent_activation": "hard_sigmoid", "return_sequences": True}])
@pytest.mark.parametrize("masked", [False, True])
def test_gru_matches_keras(keras, kw, masked):
    theirs = keras.layers.GRU(5, **kw)
    mask = _mask() if masked else None
    want = keras.ops.convert_to_numpy(theirs(X, mask=mask))
    ours = GRU(5, **kw)
    ours(X)
    ours.set_weights(theirs.get_weights())
    got = ours(X, mask=None if mask is None else torch.tensor(mask))
    np.testing.assert_allclose(_np(got), want, atol=2e-6)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
def test_bidirectional_gru_and_states_match_keras(keras, merge_mode):
    h0 = [np.random.default_rng(1).normal(size=(4, 5)).astype("float32") for _ in range(2)]
    theirs = keras.layers.Bidirectional(keras.layers.GRU(5, return_sequences=True, return_state=True),
                                        merge_mode=merge_mode)
    want = theirs(X, mask=_mask(), initial_state=h0)
    ours = Bidirectional(GRU(5, return_sequences=True, return_state=True), merge_mode=merge_mode)
    ours(X)
    ours.set_weights(theirs.get_weights())
    got = ours(X, mask=torch.tensor(_mask()), initial_state=h0)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(_np(a), keras.ops.convert_to_numpy(b), atol=2e-6)


def test_gru_classifier_trains_like_keras(keras):
    rng = np.random.default_rng(2)
    seqs = rng.integers(1, 20, size=(16, 9))
    seqs[::2, :4] = 0  # left-padded half of the batch
    y = rng.integers(0, 2, size=(16, 1)).astype("float32")
    kmodel = keras.Sequential([keras.Input((9,)), keras.layers.Embedding(20, 4, mask_zero=True),
                               keras.layers.Bidirectional(keras.layers.GRU(6)),
                               keras.layers.Dense(1, activation="sigmoid")])
    model = Sequential([Input((9,)), Embedding(20, 4, mask_zero=True), Bidirectional(GRU(6)),
                        Dense(1, activation="sigmoid")])
    model.set_weights(kmodel.get_weights())
    assert model.count_params() == kmodel.count_params()
    kmodel.compile(optimizer="adam", loss="binary_crossentropy")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    kh = kmodel.fit(seqs, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    h = model.fit(seqs, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=2e-4)


def test_native_path_equals_the_reference_loop_in_float64():
    torch.manual_seed(0)
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    lengths = torch.tensor([6, 4, 1])
    for bidirectional in (False, True):
        g = GRU(4, bidirectional=bidirectional)
        g(x.float())
        g.double()
        h0 = torch.randn(2 if bidirectional else 1, 3, 4, dtype=torch.float64)
        native = g._run_native(x, h0, lengths, packed=True)
        loop = g._run_loop(x, h0, lengths, None)
        valid = (torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)  # outputs past a length: unused
        torch.testing.assert_close(torch.where(valid, native[0], 0.0), torch.where(valid, loop[0], 0.0))
        torch.testing.assert_close(native[1], loop[1])
        params = list(g.parameters())

        def run(*ps, path):
            with torch.no_grad():
                for p, v in zip(params, ps):
                    p.copy_(v)
            out = path()
            return (torch.where(valid, out[0], 0.0) ** 2).sum() + out[1].sum()

        grads_native = torch.autograd.grad(run(*params, path=lambda: g._run_native(x, h0, lengths, True)), params)
        grads_loop = torch.autograd.grad(run(*params, path=lambda: g._run_loop(x, h0, lengths, None)), params)
        for a, b in zip(grads_native, grads_loop):
            torch.testing.assert_close(a, b)
        xg = x.clone().requires_grad_()
        assert torch.autograd.gradcheck(lambda t: g._run_loop(t, h0, lengths, None)[1], (xg,))
        assert torch.autograd.gradcheck(lambda t: g._run_native(t, h0, lengths, True)[1], (xg,))


def test_recurrent_dropout_is_seeded_and_off_in_eval():
    g = GRU(6, recurrent_dropout=0.5, dropout=0.2, seed=3, return_sequences=True)
    g(X)
    g2 = GRU(6, recurrent_dropout=0.5, dropout=0.2, seed=3, return_sequences=True)
    g2(X)
    g2.set_weights(g.get_weights())
    g.train()
    g2.train()
    a, b = g(X), g2(X)
    torch.testing.assert_close(a, b)  # the same seed draws the same masks
    g.eval()
    assert not torch.allclose(g(X), a)
    g.train(False)
    torch.testing.assert_close(g(X), g(X))


def test_stateful_gru_saves_loads_and_refuses_bad_input(tmp_path):
    inp = Input((None, 3))
    h = GRU(5, return_sequences=True, name="gru")(inp)
    model = Model(inp, Dense(2)(GRU(4)(h)))
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, np.zeros((4, 2)), epochs=1, verbose=0)
    model.save(tmp_path / "gru.lstmkit")
    again = load_model(tmp_path / "gru.lstmkit")
    np.testing.assert_allclose(again.predict(X), model.predict(X), atol=1e-6)
    s = GRU(5, stateful=True)
    first = s(X[:, :3])
    assert s.states[0].shape == (4, 5)
    whole = GRU(5)
    whole(X)
    whole.set_weights(s.get_weights())
    torch.testing.assert_close(s(X[:, 3:]), whole(X))  # two chunks with the state carried = one pass
    s.reset_state()
    torch.testing.assert_close(s(X[:, :3]), first)
    with pytest.raises(ValueError, match="keep the batch size fixed"):
        s(X[:2])
    with pytest.raises(ValueError, match="built for 3 features"):
        GRU(2, input_shape=(7, 3))(np.zeros((1, 7, 4)))
    with pytest.raises(ValueError, match="units must be a positive int"):
        GRU(0)
    with pytest.raises(ValueError, match=r"initial_state\[0\] has shape"):
        GRU(2)(X, initial_state=[np.zeros((4, 3))])
    with pytest.raises(ValueError, match="mask must have shape"):
        GRU(2)(X, mask=torch.ones(4, 6, dtype=torch.bool))
