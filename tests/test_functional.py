"""Keras' functional API (Input, Model, several inputs and outputs, shared layers, saving) and the layers LSTM
programs use beside the LSTM (Conv1D, pooling, merges, RepeatVector...), against real Keras 3 where it is
installed: same weights, same outputs."""

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit import Model, Sequential, load_model
from lstmkit.layers import (LSTM, Activation, Add, AveragePooling1D, Bidirectional, Concatenate, Conv1D, Dense,
                            Embedding, Flatten, GlobalAveragePooling1D, GlobalMaxPooling1D, Input, MaxPooling1D,
                            Multiply, RepeatVector, Reshape, SpatialDropout1D, Subtract, TimeDistributed)


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


# --- the graph ---------------------------------------------------------------------------------------------

def test_symbolic_shapes_and_model_outputs():
    a, b = Input(shape=(10, 3), name="a"), Input(shape=(None, 2), name="b")
    ha = LSTM(8)(a)
    hb = Bidirectional(LSTM(4, return_sequences=True))(b)
    assert ha.shape == (None, 8) and hb.shape == (None, None, 8)
    out = Dense(1, name="y")(Concatenate()([ha, GlobalMaxPooling1D()(hb)]))
    model = Model(inputs=[a, b], outputs=out)
    assert model.input_names == ["a", "b"] and model.output_names == ["y"]
    xa, xb = np.random.rand(5, 10, 3), np.random.rand(5, 7, 2)
    y1 = model.predict([xa, xb])
    y2 = model.predict({"b": xb, "a": xa})  # by name, in any order
    np.testing.assert_allclose(y1, y2)
    assert y1.shape == (5, 1)
    assert isinstance(model, torch.nn.Module) and model(torch.rand(5, 10, 3), torch.rand(5, 7, 2)).shape == (5, 1)
    text = model.summary(print_fn=lambda s: None)
    assert "Connected to" in text and "(InputLayer)" in text and f"Total params: {model.count_params():,}" in text


def test_wrong_connections_name_both_layers():
    x = Input(shape=(6, 4), name="seq")
    h = LSTM(8, name="encoder")(x)
    with pytest.raises(ValueError, match=r"layer 'rv' \(RepeatVector\) cannot take the output of "
                       r"'repeat_vector(_\d+)?' \(RepeatVector\) output \(None, 2, 8\)") as err:
        RepeatVector(3, name="rv")(RepeatVector(2)(h))
    assert "(batch, features)" in str(err.value)
    d = Dense(2, name="head")
    d(h)
    with pytest.raises(ValueError, match=r"layer 'head' \(Dense\) cannot take the output of Input 'seq'.*built for"):
        d(x)  # a shared layer called on inputs of another width
    with pytest.raises(ValueError, match=r"Concatenate on axis -1: inputs must agree"):
        Concatenate()([LSTM(3, return_sequences=True)(x), Input(shape=(5, 2))])
    with pytest.raises(ValueError, match="not one of the model's inputs"):
        Model(x, Dense(1)(Concatenate()([h, Input(shape=(3,), name="other")])))
    with pytest.raises(ValueError, match=r"input\(s\) \['unused'\] are not used"):
        Model([x, Input(shape=(2,), name="unused")], Dense(1)(h))
    model = Model(x, Dense(1)(h))
    with pytest.raises(ValueError, match=r"input 'seq' expects shape \(None, 6, 4\), got \(2, 6, 5\)"):
        model.predict(np.zeros((2, 6, 5)))


def test_several_outputs_train_with_per_output_losses_and_metrics(tmp_path):
    torch.manual_seed(0)
    x = Input(shape=(12, 1), name="x")
    h = LSTM(16, name="enc")(x)
    reg = Dense(1, name="level")(h)
    cls = Dense(1, activation="sigmoid", name="rising")(h)
    model = Model(x, [reg, cls])
    model.compile(optimizer="adam", loss={"level": "mse", "rising": "binary_crossentropy"},
                  loss_weights=[1.0, 0.5], metrics=["accuracy"])
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(64, 12, 1)).cumsum(1).astype(np.float32)
    level, rising = xs[:, -1], (xs[:, -1] > xs[:, 0]).astype(np.float32)
    hist = model.fit(xs, {"level": level, "rising": rising}, epochs=3, batch_size=16, validation_split=0.25,
                     verbose=0)
    keys = set(hist.history)
    assert {"loss", "level_loss", "rising_loss", "rising_accuracy", "val_loss", "val_level_loss"} <= keys
    h = hist.history
    np.testing.assert_allclose(h["val_loss"][-1], h["val_level_loss"][-1] + 0.5 * h["val_rising_loss"][-1],
                               rtol=1e-5)
    assert h["loss"][-1] < h["loss"][0]
    logs = model.evaluate(xs, [level, rising], return_dict=True)
    assert set(logs) >= {"loss", "level_loss", "rising_loss"}
    p_level, p_rising = model.predict(xs)
    assert p_level.shape == (64, 1) and p_rising.shape == (64, 1) and (0 <= p_rising).all() and (p_rising <= 1).all()
    with pytest.raises(ValueError, match=r"fit: targets: the model has 2 targets \(level, rising\)"):
        model.fit(xs, level, epochs=1, verbose=0)


def test_seq2seq_encoder_decoder_with_states_saves_and_loads(tmp_path):
    # the character-level translation idiom: the encoder's states start the decoder
    torch.manual_seed(0)
    enc_in, dec_in = Input(shape=(None, 5), name="encoder_inputs"), Input(shape=(None, 6), name="decoder_inputs")
    _, h, c = LSTM(16, return_state=True, name="encoder")(enc_in)
    dec_seq, _, _ = LSTM(16, return_sequences=True, return_state=True, name="decoder")(dec_in, initial_state=[h, c])
    out = Dense(6, activation="softmax", name="probs")(dec_seq)
    model = Model([enc_in, dec_in], out)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    a, b = np.random.rand(8, 7, 5), np.eye(6)[np.random.randint(0, 6, (8, 4))]
    model.fit([a, b], b, epochs=1, batch_size=4, verbose=0)
    before = model.predict([a, b])
    assert before.shape == (8, 4, 6)
    model.save(tmp_path / "s2s.safetensors")
    again = load_model(tmp_path / "s2s.safetensors")
    assert isinstance(again, Model) and again.input_names == ["encoder_inputs", "decoder_inputs"]
    np.testing.assert_allclose(again.predict([a, b]), before, rtol=1e-5, atol=1e-6)
    again.fit([a, b], b, epochs=1, batch_size=4, verbose=0)  # compiled again, optimizer state restored


def test_shared_layer_is_one_set_of_weights(tmp_path):
    left, right = Input(shape=(5, 3), name="left"), Input(shape=(5, 3), name="right")
    shared = LSTM(4, name="siamese")
    diff = Subtract()([shared(left), shared(right)])
    model = Model([left, right], Dense(1, activation="sigmoid")(diff))
    assert sum(1 for m in model.layers if m is shared) == 1
    x = np.random.rand(3, 5, 3)
    np.testing.assert_allclose(model.predict([x, x]), model.predict([x, x * 0 + x]))
    out = model([torch.tensor(x, dtype=torch.float32), torch.tensor(x, dtype=torch.float32)])
    assert torch.allclose(out, torch.full_like(out, float(torch.sigmoid(model.layers[-1].linear.bias.detach()))))
    model.save(tmp_path / "m.safetensors")
    assert len(load_model(tmp_path / "m.safetensors").layers) == len(model.layers)


def test_masks_flow_through_the_graph():
    torch.manual_seed(0)
    ids = Input(shape=(None,), dtype="int32", name="ids")
    emb = Embedding(20, 8, mask_zero=True)(ids)
    seq = LSTM(6, return_sequences=True)(emb)
    pooled = GlobalAveragePooling1D()(seq)  # the valid steps only
    last = LSTM(5)(seq)
    model = Model(ids, Concatenate()([pooled, last]))
    tokens = np.array([[3, 4, 5, 6]])
    left = np.array([[0, 0, 3, 4, 5, 6]])  # pad_sequences' default: padding first
    right = np.array([[3, 4, 5, 6, 0, 0]])
    want = model.predict(tokens)
    np.testing.assert_allclose(model.predict(left), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(right), want, rtol=1e-5, atol=1e-6)


def test_sequential_is_a_model_and_still_loads():
    model = Sequential([LSTM(4, input_shape=(3, 2)), Dense(1)])
    assert isinstance(model, Model) and model.input_shape == (3, 2)
    assert lstmkit.Model is Model


# --- the layers against real Keras -------------------------------------------------------------------------

def _keras_pair(keras, ours, theirs, x, *, weights=True, mask=None):
    """Run a Keras layer and ours on x with the Keras layer's weights; return both outputs."""
    k_out = theirs(x) if mask is None else theirs(x, mask=mask)
    if weights and theirs.get_weights():
        ours(torch.as_tensor(x[:1] if not isinstance(x, list) else [v[:1] for v in x]))  # build
        ours.set_weights(theirs.get_weights())
    o_out = ours(x) if mask is None else ours(x, mask=torch.as_tensor(mask))
    return _np(o_out), keras.ops.convert_to_numpy(k_out)


@pytest.mark.parametrize("padding,strides,dilation", [("valid", 1, 1), ("same", 1, 1), ("same", 2, 1),
                                                      ("causal", 1, 2), ("valid", 3, 1), ("same", 1, 3)])
def test_conv1d_matches_keras(keras, padding, strides, dilation):
    x = np.random.default_rng(0).normal(size=(2, 11, 3)).astype(np.float32)
    kw = dict(padding=padding, strides=strides, dilation_rate=dilation, activation="relu")
    ours, theirs = _keras_pair(keras, Conv1D(4, 4, **kw), keras.layers.Conv1D(4, 4, **kw), x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert Conv1D(4, 4, **kw).compute_output_shape((2, 11, 3)) == keras.layers.Conv1D(4, 4, **kw) \
        .compute_output_shape((2, 11, 3))


@pytest.mark.parametrize("cls", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, "valid"),
                                                  (2, None, "same")])
def test_pooling_matches_keras(keras, cls, pool, strides, padding):
    x = np.random.default_rng(1).normal(size=(2, 9, 3)).astype(np.float32)
    mine = {"MaxPooling1D": MaxPooling1D, "AveragePooling1D": AveragePooling1D}[cls]
    ours, theirs = _keras_pair(keras, mine(pool, strides, padding), getattr(keras.layers, cls)(pool, strides, padding),
                               x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_global_pooling_and_merges_match_keras(keras):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=bool)
    for ours, theirs, m in [(GlobalAveragePooling1D(), keras.layers.GlobalAveragePooling1D(), mask),
                            (GlobalAveragePooling1D(keepdims=True), keras.layers.GlobalAveragePooling1D(keepdims=True),
                             None),
                            (GlobalMaxPooling1D(), keras.layers.GlobalMaxPooling1D(), None),
                            (Flatten(), keras.layers.Flatten(), None), (Reshape((10, 2)), keras.layers.Reshape((10, 2)),
                                                                        None),
                            (Activation("softsign"), keras.layers.Activation("softsign"), None)]:
        a, b = _keras_pair(keras, ours, theirs, x, mask=m)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    v = rng.normal(size=(3, 4)).astype(np.float32)
    a, b = _keras_pair(keras, RepeatVector(3), keras.layers.RepeatVector(3), v)
    np.testing.assert_allclose(a, b)
    parts = [x, x[:, :, :2], x * 2]
    for axis in (-1, 1):
        pieces = parts[::2] if axis == 1 else parts
        a, b = _keras_pair(keras, Concatenate(axis=axis), keras.layers.Concatenate(axis=axis), pieces)
        np.testing.assert_allclose(a, b)
    for ours, theirs in [(Add(), keras.layers.Add()), (Multiply(), keras.layers.Multiply()),
                         (Subtract(), keras.layers.Subtract())]:
        a, b = _keras_pair(keras, ours, theirs, [x, x * 3])
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_a_functional_keras_model_ports_with_its_weights(keras):
    """The same multimodal graph in Keras and lstmkit (only the imports differ); Keras' weights, layer by
    layer, give the same predictions."""
    def build(L, Input, Model):
        seq = Input(shape=(20, 3), name="signal")
        txt = Input(shape=(7,), name="words", dtype="int32")
        c = L.Conv1D(8, 3, padding="same", activation="relu", name="conv")(seq)
        c = L.MaxPooling1D(2, name="pool")(c)
        c = L.LSTM(6, name="lstm_signal")(c)
        e = L.Embedding(30, 5, mask_zero=True, name="emb")(txt)
        e = L.Bidirectional(L.LSTM(4, return_sequences=True), name="bi")(e)
        e = L.GlobalAveragePooling1D(name="gap")(e)
        h = L.Concatenate(name="fuse")([c, e])
        h = L.Dense(5, activation="tanh", name="hidden")(h)
        return Model([seq, txt], L.Dense(2, activation="softmax", name="out")(h))

    from lstmkit import layers as ours_layers
    k_model = build(keras.layers, keras.Input, keras.Model)
    o_model = build(ours_layers, ours_layers.Input, Model)
    named = {layer.name: layer for layer in o_model.layers}
    for kl in k_model.layers:
        if kl.get_weights():
            named[kl.name].set_weights(kl.get_weights())
    rng = np.random.default_rng(3)
    sig = rng.normal(size=(4, 20, 3)).astype(np.float32)
    words = rng.integers(1, 30, size=(4, 7))
    words[0, :3] = 0  # left padding
    words[1, 5:] = 0  # right padding
    want = keras.ops.convert_to_numpy(k_model.predict([sig, words], verbose=0))
    np.testing.assert_allclose(o_model.predict([sig, words]), want, rtol=1e-4, atol=1e-5)
    assert o_model.count_params() == k_model.count_params()


def test_spatial_dropout_drops_whole_channels():
    layer = SpatialDropout1D(0.5, seed=1)
    layer.train()
    y = layer(torch.ones(4, 6, 10))
    per_channel = y.amax(dim=1)  # (4, 10): a channel is all kept (2.0) or all dropped (0.0) over the steps
    assert set(torch.unique(y).tolist()) <= {0.0, 2.0} and torch.equal(y.amin(dim=1), per_channel)
    layer.eval()
    assert torch.equal(layer(torch.ones(2, 3, 4)), torch.ones(2, 3, 4))


def test_layer_configs_round_trip(tmp_path):
    x = Input(shape=(16, 2), name="x")
    h = Conv1D(4, 3, padding="causal", name="c")(x)
    h = AveragePooling1D(2, padding="same")(h)
    h = SpatialDropout1D(0.1)(h)
    h = TimeDistributed(Dense(3))(LSTM(5, return_sequences=True)(h))
    y = Dense(1)(Flatten()(Reshape((8, 3))(h)))
    model = Model(x, y)
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "f.safetensors")
    data = np.random.rand(3, 16, 2)
    np.testing.assert_allclose(load_model(tmp_path / "f.safetensors").predict(data), model.predict(data), rtol=1e-5)
