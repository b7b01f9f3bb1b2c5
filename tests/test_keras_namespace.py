"""``lstmkit.keras``: Keras' namespace (utils, optimizers, metrics, callbacks) against real Keras 3."""

import numpy as np
import pytest
import torch

import lstmkit.keras as lk
from lstmkit.keras import layers


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def test_pad_sequences_matches_keras(keras):
    seqs = [[1, 2, 3, 4, 5], [6], [], [7, 8]]
    for kw in [{}, {"maxlen": 3}, {"padding": "post"}, {"truncating": "post", "maxlen": 2},
               {"padding": "post", "truncating": "pre", "maxlen": 4, "value": -1}, {"dtype": "float32"}]:
        np.testing.assert_array_equal(lk.utils.pad_sequences(seqs, **kw), keras.utils.pad_sequences(seqs, **kw))
    vecs = [np.ones((2, 3)), np.ones((4, 3)) * 2]
    np.testing.assert_array_equal(lk.utils.pad_sequences(vecs, dtype="float32"),
                                  keras.utils.pad_sequences(vecs, dtype="float32"))
    with pytest.raises(ValueError, match="padding and truncating must be 'pre' or 'post'"):
        lk.utils.pad_sequences(seqs, padding="left")
    with pytest.raises(ValueError, match="sequence 1 has steps of shape"):
        lk.utils.pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


def test_to_categorical_matches_keras(keras):
    y = np.array([0, 2, 1, 2])
    np.testing.assert_array_equal(lk.utils.to_categorical(y), keras.utils.to_categorical(y))
    np.testing.assert_array_equal(lk.utils.to_categorical(y, 5), keras.utils.to_categorical(y, 5))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        lk.utils.to_categorical([0, 3], num_classes=2)


def test_optimizer_objects_set_the_optimizer_and_clipping():
    model = lk.Sequential([layers.LSTM(4, input_shape=(3, 2)), layers.Dense(1)])
    model.compile(optimizer=lk.optimizers.Adam(learning_rate=0.01, clipnorm=0.5), loss="mse")
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    assert model.trainer.options.clipnorm == 0.5
    model.optimizer.learning_rate = 0.002
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.002)
    x, y = np.random.rand(8, 3, 2), np.random.rand(8, 1)
    torch.manual_seed(0)
    a = lk.Sequential([layers.LSTM(4, input_shape=(3, 2)), layers.Dense(1)])
    b = lk.Sequential([layers.LSTM(4, input_shape=(3, 2)), layers.Dense(1)])
    b.set_weights(a.get_weights())
    a.compile(optimizer=lk.optimizers.RMSprop(learning_rate=0.01, rho=0.8), loss="mse")
    b.compile(optimizer={"name": "rmsprop", "learning_rate": 0.01, "rho": 0.8}, loss="mse")
    ha = a.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    hb = b.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(ha, hb)
    schedule = lk.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    model.compile(optimizer=lk.optimizers.SGD(learning_rate=schedule), loss="mse")
    assert model.optimizer.learning_rate == pytest.approx(0.1)


def test_metrics_match_keras(keras):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(np.float32)
    p = np.clip(y * 0.3 + rng.uniform(0, 0.7, 200), 0, 1).astype(np.float32)
    for ours, theirs in [(lk.metrics.AUC(), keras.metrics.AUC()), (lk.metrics.Precision(), keras.metrics.Precision()),
                         (lk.metrics.Recall(), keras.metrics.Recall())]:
        ours.update(torch.tensor(p[:, None]), torch.tensor(y[:, None]))
        theirs.update_state(y[:, None], p[:, None])
        assert ours.compute() == pytest.approx(float(keras.ops.convert_to_numpy(theirs.result())), abs=2e-3)
    scores = rng.random((50, 6)).astype(np.float32)
    labels = rng.integers(0, 6, 50)
    m = lk.metrics.SparseTopKCategoricalAccuracy(k=2)
    m.update(torch.tensor(scores), torch.tensor(labels))
    k = keras.metrics.SparseTopKCategoricalAccuracy(k=2)
    k.update_state(labels, scores)
    assert m.compute() == pytest.approx(float(keras.ops.convert_to_numpy(k.result())))


def test_metric_objects_restart_every_epoch_and_names_follow_keras():
    model = lk.Sequential([layers.LSTM(4, input_shape=(5, 1)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy", lk.metrics.AUC(), "precision", lk.metrics.Recall()])
    x = np.random.rand(40, 5, 1)
    y = (x[:, -1, 0] > 0.5).astype(np.float32)
    h = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0).history
    assert {"loss", "accuracy", "auc", "precision", "recall", "val_auc", "val_recall"} <= set(h)
    logs = model.evaluate(x, y, return_dict=True)
    assert 0.0 <= logs["auc"] <= 1.0


def test_callbacks_and_models_namespaces():
    assert lk.callbacks.EarlyStopping is not None and lk.models.Model is lk.Model
    assert lk.layers.Input is lk.Input


# --- fit(class_weight=..., sample_weight=...) -----------------------------------------------------------------

def _twin_classifiers(keras, loss):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 6, 3)).astype("float32")
    y = rng.integers(0, 3, size=(24,))
    kmodel = keras.Sequential([keras.Input((6, 3)), keras.layers.LSTM(5), keras.layers.Dense(3, activation="softmax")])
    model = lk.Sequential([lk.Input((6, 3)), layers.LSTM(5), layers.Dense(3, activation="softmax")])
    model.set_weights(kmodel.get_weights())
    for m in (kmodel, model):
        m.compile(optimizer=keras.optimizers.SGD(0.1) if m is kmodel else lk.optimizers.SGD(0.1), loss=loss,
                  metrics=["accuracy"])
    return x, y, kmodel, model


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_class_and_sample_weights_train_like_keras(keras, loss):
    x, y, kmodel, model = _twin_classifiers(keras, loss)
    target = y if loss.startswith("sparse") else np.eye(3, dtype="float32")[y]
    sw = np.linspace(0.2, 2.0, len(x)).astype("float32")
    for extra in ({"class_weight": {0: 0.5, 2: 4.0}}, {"sample_weight": sw}):
        kw = dict(epochs=3, batch_size=8, shuffle=False, verbose=0, validation_data=(x[:8], target[:8], sw[:8]),
                  **extra)
        kh, h = kmodel.fit(x, target, **kw), model.fit(x, target, **kw)
        for key in ("loss", "val_loss", "accuracy"):  # the weighted losses; accuracy unweighted, as in Keras
            np.testing.assert_allclose(h.history[key], kh.history[key], rtol=2e-4, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(model.evaluate(x, target, sample_weight=sw, verbose=0)[0],
                               kmodel.evaluate(x, target, sample_weight=sw, verbose=0)[0], rtol=1e-4)


def test_weights_change_the_loss_and_bad_weights_are_refused():
    x = np.random.default_rng(1).normal(size=(10, 4, 2)).astype("float32")
    y = (x[:, -1, 0] > 0).astype("float32")
    model = lk.Sequential([layers.LSTM(3, input_shape=(4, 2)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    plain = model.evaluate(x, y)
    np.testing.assert_allclose(model.evaluate(x, y, sample_weight=np.full(10, 2.0)), 2 * plain, rtol=1e-6)
    zero = np.where(y > 0, 1.0, 0.0)  # only the positives count, still divided by all 10 samples (Keras)
    per = model.trainer.loss_fn.elementwise(torch.as_tensor(model.predict(x)), torch.as_tensor(y))
    np.testing.assert_allclose(model.evaluate(x, y, sample_weight=zero), float((per * torch.as_tensor(zero)).mean()),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="one weight per sample"):
        model.fit(x, y, sample_weight=np.ones(9), verbose=0)
    with pytest.raises(ValueError, match=">= 0"):
        model.fit(x, y, sample_weight=-np.ones(10), verbose=0)
    with pytest.raises(ValueError, match="integer labels and finite weights"):
        model.fit(x, y, class_weight={"a": 1.0}, verbose=0)
    with pytest.raises(ValueError, match="not both"):
        model.fit(x, y, sample_weight=np.ones(10), class_weight={1: 2.0}, verbose=0)
    with pytest.raises(ValueError, match="contains NaN"):
        model.fit(x, y, sample_weight=np.full(10, np.nan), verbose=0)
