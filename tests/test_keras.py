"""The Keras converter against real Keras (torch backend) and against Keras' equations in NumPy."""

import numpy as np
import pytest
import torch

import lstmkit
from numpy_lstm import ACT


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")  # installed by the test extras (`make test`); NumPy tests run regardless


def keras_equations(x, kernel, rec, bias, act, ract):
    """Keras' LSTMCell.call written out: z = x K + h R + b, split i, f, c, o; batch-major x (B, T, I)."""
    B, T, _ = x.shape
    H = rec.shape[0]
    h, c = np.zeros((B, H)), np.zeros((B, H))
    outs = []
    for t in range(T):
        z = x[:, t] @ kernel + h @ rec + bias
        i, f, cc, o = (z[:, k * H:(k + 1) * H] for k in range(4))
        c = ract(f) * c + ract(i) * act(cc)
        h = ract(o) * act(c)
        outs.append(h)
    return np.stack(outs, 1), h, c


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_from_keras_matches_keras_equations(activation):
    rng = np.random.default_rng(0)
    kernel, rec, bias = rng.normal(size=(3, 20)) * 0.4, rng.normal(size=(5, 20)) * 0.4, rng.normal(size=20) * 0.1
    lstm = lstmkit.convert.from_keras([kernel, rec, bias], activation=activation, dtype=torch.float64)
    x = rng.normal(size=(2, 7, 3))
    out, (h, c) = lstm(torch.from_numpy(x))
    out_k, h_k, c_k = keras_equations(x, kernel, rec, bias, ACT[activation], ACT["sigmoid"])
    np.testing.assert_allclose(out.detach().numpy(), out_k, atol=1e-12)
    np.testing.assert_allclose(h[0].detach().numpy(), h_k, atol=1e-12)
    np.testing.assert_allclose(c[0].detach().numpy(), c_k, atol=1e-12)


@pytest.mark.parametrize("activation,recurrent", [("tanh", "sigmoid"), ("relu", "sigmoid"), ("tanh", "hard_sigmoid")])
def test_from_keras_matches_real_keras(keras, activation, recurrent):
    layer = keras.layers.LSTM(6, activation=activation, recurrent_activation=recurrent, return_sequences=True,
                              return_state=True)
    x = np.random.default_rng(1).normal(size=(3, 9, 4)).astype("float32")
    out_k, h_k, c_k = (np.asarray(keras.ops.convert_to_numpy(t)) for t in layer(x))
    lstm = lstmkit.convert.from_keras(layer)  # reads activations from the layer's config
    assert lstm.config.activation == activation and lstm.config.recurrent_activation == recurrent
    out, (h, c) = lstm(torch.from_numpy(x))
    np.testing.assert_allclose(out.detach().numpy(), out_k, atol=1e-5)
    np.testing.assert_allclose(h[0].detach().numpy(), h_k, atol=1e-5)
    np.testing.assert_allclose(c[0].detach().numpy(), c_k, atol=1e-5)


def test_from_keras_seed_layer(keras):
    # the first seed's layer: LSTM(50, activation='relu', input_shape=(100, 1))
    layer = keras.layers.LSTM(50, activation="relu")
    x = np.random.default_rng(2).normal(size=(2, 100, 1)).astype("float32")
    y = np.asarray(keras.ops.convert_to_numpy(layer(x)))  # last h, (B, 50)
    _, (h, _) = lstmkit.convert.from_keras(layer)(torch.from_numpy(x))
    np.testing.assert_allclose(h[0].detach().numpy(), y, atol=1e-4)


def test_from_keras_stacked_weight_lists(keras):
    l1 = keras.layers.LSTM(6, return_sequences=True)
    l2 = keras.layers.LSTM(6, return_sequences=True)
    x = np.random.default_rng(3).normal(size=(2, 8, 4)).astype("float32")
    y = np.asarray(keras.ops.convert_to_numpy(l2(l1(x))))
    stacked = lstmkit.convert.from_keras([l1.get_weights(), l2.get_weights()])
    assert stacked.num_layers == 2
    np.testing.assert_allclose(stacked(torch.from_numpy(x))[0].detach().numpy(), y, atol=1e-5)


def test_from_keras_rejects_bad_weights():
    with pytest.raises(ValueError, match="recurrent_kernel"):
        lstmkit.convert.from_keras([np.zeros((3, 8)), np.zeros((3, 8)), np.zeros(8)])
    with pytest.raises(ValueError, match="weight arrays"):
        lstmkit.convert.from_keras([np.zeros((3, 8)), np.zeros((2, 8))])
    with pytest.raises(ValueError, match="bias"):
        lstmkit.convert.from_keras([np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(7)])
