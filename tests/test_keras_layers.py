"""The Keras-style LSTM and Bidirectional against Keras' own layer tests and against real Keras side by side.

The first part brings Keras' ``lstm_test.py`` and ``bidirectional_test.py`` (Keras 3, keras/src/layers/rnn)
into the suite in our own words: their constant-initialiser cases and the values Keras expects, so these
run without Keras. The second part runs real Keras 3 (torch backend, installed by the test extras) with the
same weights over a grid of masks (right and left padding, gaps, an all-padding row), ``go_backwards``,
``return_sequences``, ``zero_output_for_mask``, ``initial_state``, merge modes and ``return_state``.
"""

import itertools

import numpy as np
import pytest
import torch

from lstmkit import Sequential
from lstmkit.kernels.registry import BACKENDS
from lstmkit.layers import LSTM, Bidirectional, Dense, Embedding
from lstmkit.layers.initializers import get_initializer, reg_factors

CONST = dict(kernel_initializer={"class_name": "Constant", "config": {"value": 0.01}},
             recurrent_initializer={"class_name": "Constant", "config": {"value": 0.02}},
             bias_initializer={"class_name": "Constant", "config": {"value": 0.03}})


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


# --- Keras' lstm_test.py ---------------------------------------------------------------------------------

def test_weights_regularizers_and_shapes_count_as_in_keras():
    layer = LSTM(3, dropout=0.5, recurrent_dropout=0.5)
    y = layer(np.ones((3, 2, 4), "float32"), training=True)
    assert tuple(y.shape) == (3, 3)
    assert len(layer.trainable_weights) == 3 and len(layer.non_trainable_weights) == 0  # b_hh is layout only
    assert layer.count_params() == 4 * 3 * (4 + 3 + 1)
    reg = LSTM(3, return_sequences=True, bias_regularizer="l1", kernel_regularizer="l2",
               recurrent_regularizer="l2")
    assert tuple(reg(np.ones((3, 2, 4))).shape) == (3, 2, 3)
    assert len(reg.losses) == 3
    expected = (0.01 * reg.lstm.bias_ih_l0.abs().sum() + 0.01 * reg.lstm.weight_ih_l0.pow(2).sum()
                + 0.01 * reg.lstm.weight_hh_l0.pow(2).sum())
    torch.testing.assert_close(reg.regularization_loss(), expected)
    assert reg.compute_output_shape((3, 2, 4)) == (3, 2, 3)
    assert LSTM(3, return_state=True).compute_output_shape((8, 2, 4)) == [(8, 3), (8, 3), (8, 3)]


@pytest.mark.parametrize("implementation", [1, 2])
def test_correctness_keras_values(implementation):
    seq = np.arange(72).reshape((3, 6, 4)).astype("float32")
    cases = [({}, [0.6288687, 0.86899155, 0.9460773]),
             ({"go_backwards": True}, [0.35622165, 0.74789524, 0.8872726]),
             ({"unroll": True}, [0.6288687, 0.86899155, 0.9460773]),
             ({"unit_forget_bias": False}, [0.57019705, 0.8661914, 0.9459622]),
             ({"use_bias": False}, [0.54986924, 0.86226785, 0.9443936])]
    for kwargs, rows in cases:
        out = LSTM(3, implementation=implementation, **CONST, **kwargs)(seq)
        np.testing.assert_allclose(_np(out), np.repeat(np.array(rows)[:, None], 3, 1), atol=1e-5, rtol=1e-5,
                                   err_msg=str(kwargs))


def test_statefulness_keras_values():
    seq = np.arange(24).reshape((2, 3, 4)).astype("float32")
    layer = LSTM(4, stateful=True, **CONST)
    expected = np.repeat(np.array([0.3124785, 0.6863672])[:, None], 4, 1)
    layer(seq)
    np.testing.assert_allclose(_np(layer(seq)), expected, atol=1e-5)
    layer.reset_state()
    layer(seq)
    np.testing.assert_allclose(_np(layer(seq)), expected, atol=1e-5)
    with pytest.raises(ValueError, match="carries state for 2 sequences but got a batch of 1"):
        layer(seq[:1])  # Keras raises; silently dropping a row's state would be a wrong result
    layer.reset_state()
    assert tuple(layer(seq[:1]).shape) == (1, 4)


def test_initial_state_keras_values():
    seq = np.arange(24).reshape((2, 4, 3)).astype("float32")
    init = [np.arange(4).reshape((2, 2)).astype("float32")] * 2
    out = LSTM(2, **CONST)(seq, initial_state=init)
    np.testing.assert_allclose(_np(out), [[0.20574439, 0.3558822], [0.64930826, 0.66276]], atol=1e-5)
    out = LSTM(2, go_backwards=True, **CONST)(seq, initial_state=init)
    np.testing.assert_allclose(_np(out), [[0.13281618, 0.2790356], [0.5839337, 0.5992567]], atol=1e-5)
    with pytest.raises(ValueError, match=r"initial_state\[1\] has shape \(2, 3\)"):
        LSTM(2, **CONST)(seq, initial_state=[init[0], np.zeros((2, 3))])
    with pytest.raises(ValueError, match="list of 2 tensors"):
        LSTM(2)(seq, initial_state=[init[0]])


def test_masking_keras_values():
    seq = np.arange(24).reshape((2, 4, 3)).astype("float32")
    mask = np.array([[True, True, True, False], [True, True, False, False]])
    out = LSTM(2, unroll=True, **CONST)(seq, mask=mask)
    np.testing.assert_allclose(_np(out), [[0.11755939] * 2, [0.28556206] * 2], atol=1e-5)
    out = _np(LSTM(2, return_sequences=True, **CONST)(seq, mask=mask))
    np.testing.assert_allclose(out[0, :, 0], [0.0158891, 0.05552048, 0.11755939, 0.11755939], atol=1e-5)
    np.testing.assert_allclose(out[1, :, 0], [0.14185596, 0.28556206, 0.28556206, 0.28556206], atol=1e-5)
    out = _np(LSTM(2, return_sequences=True, zero_output_for_mask=True, **CONST)(seq, mask=mask))
    np.testing.assert_allclose(out[0, :, 0], [0.0158891, 0.05552048, 0.11755939, 0.0], atol=1e-5)
    np.testing.assert_allclose(out[1, :, 0], [0.14185596, 0.28556206, 0.0, 0.0], atol=1e-5)
    left = np.array([[False, True, True, True], [False, False, True, True]])  # left padding, read backwards
    out = LSTM(2, go_backwards=True, **CONST)(seq, mask=left)
    np.testing.assert_allclose(_np(out), [[0.15341201] * 2, [0.3844719] * 2], atol=1e-5)


# --- Keras' bidirectional_test.py ------------------------------------------------------------------------

def test_bidirectional_return_state_and_merge_none():
    x = np.arange(24).reshape((2, 4, 3)).astype("float32")
    bi = Bidirectional(LSTM(2, return_state=True, **CONST), merge_mode=None)
    fwd, bwd, h_f, c_f, h_b, c_b = bi(x)
    assert tuple(fwd.shape) == tuple(bwd.shape) == (2, 2)
    np.testing.assert_allclose(_np(fwd), _np(h_f))
    np.testing.assert_allclose(_np(bwd), _np(h_b))
    np.testing.assert_allclose(_np(fwd), _np(LSTM(2, **CONST)(x)), atol=1e-6)
    np.testing.assert_allclose(_np(bwd), _np(LSTM(2, go_backwards=True, **CONST)(x)), atol=1e-6)
    assert bi.compute_output_shape((2, 4, 3)) == [(2, 2)] * 6
    assert len(bi.trainable_weights) == 6 and len(bi.non_trainable_weights) == 0
    with pytest.raises(ValueError, match="merge_mode=None"):
        Sequential([Bidirectional(LSTM(2), merge_mode=None, input_shape=(4, 3))])
    with pytest.raises(NotImplementedError, match="backward_layer"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True))


# --- Keras' argument forms -------------------------------------------------------------------------------

def test_initializers_and_regularizers_by_name_dict_and_object(keras):
    assert reg_factors(keras.regularizers.L2(0.3)) == (0.0, pytest.approx(0.3))
    assert reg_factors({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}) == (0.1, 0.2)
    with pytest.raises(ValueError, match="unknown regularizer"):
        reg_factors("l3")
    layer = LSTM(3, kernel_initializer=keras.initializers.Constant(0.5), recurrent_initializer="identity",
                 bias_initializer="ones", unit_forget_bias=False, input_shape=(2, 4))
    k, r, b = layer.get_weights()
    assert k.shape == (4, 12) and np.all(k == 0.5)
    np.testing.assert_array_equal(r, np.eye(3, 12))
    assert np.all(b == 1.0)
    w = get_initializer("he_normal")((400, 300))
    assert abs(float(w.std()) - (2 / 400) ** 0.5) < 0.002
    with pytest.raises(ValueError, match="unknown initializer"):
        LSTM(3, kernel_initializer="glorious")


def test_integer_numpy_input_is_cast_and_training_flag_applies():
    layer = LSTM(4, dropout=0.5, input_shape=(5, 2))
    x = np.arange(20).reshape(2, 5, 2) % 3  # int64
    y = layer(x)
    assert y.dtype == torch.float32
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x.astype("float32")))
    assert not torch.equal(layer(x, training=True), layer(x, training=True))  # dropout on for this call
    assert not layer.training


@pytest.mark.parametrize("options", [dict(dropout=0.4), dict(recurrent_dropout=0.4), dict(zoneout=0.3)])
def test_seed_gives_the_layer_its_own_mask_stream(options):
    x = torch.randn(3, 6, 2)

    def run(seed, global_seed, calls=2):
        torch.manual_seed(0)
        layer = LSTM(4, seed=seed, return_sequences=True, input_shape=(6, 2), **options)  # same weights
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        out = [layer(x, training=True) for _ in range(calls)]
        return out, torch.equal(before, torch.get_rng_state())

    (a1, a2), untouched = run(7, global_seed=1)
    (b1, b2), _ = run(7, global_seed=2)
    assert untouched  # the global generator is where it was
    torch.testing.assert_close(a1, b1)  # whatever the global seed
    torch.testing.assert_close(a2, b2)
    assert not torch.equal(a1, a2)  # a stream, not one mask repeated
    (c1, _), _ = run(8, global_seed=1)
    assert not torch.equal(a1, c1)
    (d1, _), untouched = run(None, global_seed=1)
    assert not untouched  # unseeded: torch's global generator, as before
    assert LSTM(4, seed=7).get_config()["seed"] == 7 and "seed" not in LSTM(4).get_config()
    with pytest.raises(TypeError, match="seed must be an int"):
        LSTM(4, seed="7")


def test_trainable_false_freezes_and_summary_counts_like_keras(keras):
    model = Sequential([Embedding(30, 8, input_shape=(None,)), Bidirectional(LSTM(6, return_sequences=True)),
                        LSTM(5, peephole=False), Dense(2)])
    kmodel = keras.Sequential([keras.Input((None,)), keras.layers.Embedding(30, 8),
                               keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True)),
                               keras.layers.LSTM(5), keras.layers.Dense(2)])
    assert model.count_params() == kmodel.count_params()
    model.set_weights(kmodel.get_weights())
    x = np.random.default_rng(0).integers(1, 30, (3, 7))
    np.testing.assert_allclose(_np(model(x)), _np(kmodel(x)), atol=1e-5)
    model.layers[1].trainable = False
    assert len(model.non_trainable_weights) == 6 and "Non-trainable params: 720" in model.summary(lambda s: 0)


def test_model_optimizer_learning_rate_and_stop_training():
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 5, 1)).astype("float32"), rng.random((16, 1)).astype("float32")
    model = Sequential([LSTM(4, input_shape=(5, 1)), Dense(1)])
    model.compile(optimizer={"name": "adam", "learning_rate": 0.01}, loss="mse")
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    model.optimizer.learning_rate = 0.002
    assert all(g["lr"] == 0.002 for g in model.optimizer.param_groups)
    from lstmkit.train import LambdaCallback

    stop = LambdaCallback(on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", epoch >= 1))
    h = model.fit(x, y, epochs=10, batch_size=8, verbose=0, callbacks=[stop])
    assert len(h.history["loss"]) == 2 and model.optimizer.iterations == 4


# --- side by side with real Keras ------------------------------------------------------------------------

B, T, I, H = 4, 6, 3, 5
MASKS = {
    "none": None,
    "right": np.array([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5, [1] * 6], bool),
    "left": np.array([[1] * 6, [0] * 2 + [1] * 4, [0] * 5 + [1], [0] * 3 + [1] * 3], bool),
    "gaps": np.array([[1, 0, 1, 0, 1, 1], [0, 1, 1, 0, 0, 1], [1, 1, 0, 0, 0, 0], [0] * 6], bool),
}


def _cpu_backends():
    names = []
    for name in ("reference", "fused", "native"):
        layer = LSTM(H, backend=name, input_shape=(T, I)).lstm
        if name in BACKENDS and BACKENDS[name].unsupported(layer._request(layer.weight_ih_l0, False)) is None:
            names.append(name)
    return names


@pytest.mark.parametrize("mask", list(MASKS))
def test_lstm_matches_keras_masks_directions_states(keras, mask):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, I)).astype("float32")
    backends = _cpu_backends()
    for rs, gb, zo, init in itertools.product([False, True], repeat=4):
        kw = {"initial_state": [rng.normal(size=(B, H)).astype("float32") for _ in range(2)]} if init else {}
        opts = dict(return_sequences=rs, go_backwards=gb, zero_output_for_mask=zo, return_state=True)
        klayer = keras.layers.LSTM(H, **opts)
        want = [_np(keras.ops.convert_to_numpy(t)) for t in klayer(x, mask=MASKS[mask], **kw)]
        for backend in backends:
            ours = LSTM(H, backend=backend, input_shape=(T, I), **opts)
            ours.set_weights(klayer.get_weights())
            got = [_np(t) for t in ours(x, mask=MASKS[mask], **kw)]
            for k, (a, b) in enumerate(zip(got, want)):
                np.testing.assert_allclose(a, b, atol=1e-5, err_msg=f"{backend} {opts} init={init} output {k}")


@pytest.mark.parametrize("mask", list(MASKS))
def test_bidirectional_matches_keras(keras, mask):
    x = np.random.default_rng(1).normal(size=(B, T, I)).astype("float32")
    for rs, mode, state in itertools.product([False, True], ["concat", "sum", "ave", "mul", None], [False, True]):
        klayer = keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=rs, return_state=state),
                                            merge_mode=mode)
        want = klayer(x, mask=MASKS[mask])
        ours = Bidirectional(LSTM(H, return_sequences=rs, return_state=state), merge_mode=mode, input_shape=(T, I))
        ours.set_weights(klayer.get_weights())
        got = ours(x, mask=MASKS[mask])
        want, got = (r if isinstance(r, (list, tuple)) else [r] for r in (want, got))
        assert len(got) == len(want)
        for a, b in zip(got, want):
            np.testing.assert_allclose(_np(a), _np(keras.ops.convert_to_numpy(b)), atol=1e-5,
                                       err_msg=f"rs={rs} merge={mode} state={state}")


def test_left_padded_embedding_trains_like_keras(keras):
    """``pad_sequences`` pads at the front; ``mask_zero=True`` then masks the leading zeros, as in Keras."""
    seqs = [[3, 4, 5, 6, 7], [8, 9], [1, 2, 3]]
    x = keras.utils.pad_sequences(seqs, maxlen=6)  # left padding (Keras' default)
    y = np.array([[1.0], [0.0], [1.0]], "float32")
    kmodel = keras.Sequential([keras.Input((6,)), keras.layers.Embedding(12, 4, mask_zero=True),
                               keras.layers.LSTM(5), keras.layers.Dense(1)])
    model = Sequential([Embedding(12, 4, mask_zero=True, input_shape=(6,)), LSTM(5), Dense(1)])
    model.set_weights(kmodel.get_weights())
    np.testing.assert_allclose(model.predict(x), kmodel.predict(x, verbose=0), atol=1e-5)
    right = np.zeros_like(x)
    for i, s in enumerate(seqs):
        right[i, :len(s)] = s
    np.testing.assert_allclose(model.predict(x), model.predict(right), atol=1e-6)  # where the padding is: no matter
    kmodel.compile(optimizer="rmsprop", loss="mse")
    model.compile(optimizer="rmsprop", loss="mse")
    kh = kmodel.fit(x, y, epochs=3, batch_size=3, shuffle=False, verbose=0)
    h = model.fit(x, y, epochs=3, batch_size=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4)
