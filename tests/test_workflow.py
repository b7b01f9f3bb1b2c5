"""The Keras-style workflow: layers, Sequential, compile/fit/evaluate/predict, callbacks, against real Keras."""

import csv
import os

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit import Sequential
from lstmkit.layers import (LSTM, Bidirectional, Dense, Dropout, Embedding, LayerNormalization, Masking,
                            TimeDistributed, l2)
from lstmkit.train import (CSVLogger, EarlyStopping, KerasAdam, KerasRMSprop, LambdaCallback,
                           LearningRateScheduler, ReduceLROnPlateau, TensorBoard, Trainer, get_loss)


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def regression_data(n=40, T=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, T, 1)).astype(np.float32)
    y = x[:, -3:, 0].mean(1, keepdims=True)  # (n, 1): mean of the last three steps
    return x, y


# --- optimizers and losses against Keras --------------------------------------------------------------

@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_keras_optimizers_match_keras(keras, name):
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(4, 3)).astype(np.float32)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) * 10 ** (-k) for k in range(6)]  # tiny grads too
    kv = keras.Variable(w0.copy())
    kopt = keras.optimizers.get(name)
    p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = lstmkit.train.get_optimizer(name, [p])
    assert isinstance(opt, KerasRMSprop if name == "rmsprop" else KerasAdam)
    for g in grads:
        kopt.apply_gradients([(keras.ops.convert_to_tensor(g), kv)])
        p.grad = torch.from_numpy(g)
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), keras.ops.convert_to_numpy(kv), rtol=1e-5, atol=1e-7)


def test_rmsprop_defaults_are_keras_not_torch():
    opt = lstmkit.train.get_optimizer("rmsprop", [torch.nn.Parameter(torch.zeros(1))])
    assert (opt.defaults["lr"], opt.defaults["rho"], opt.defaults["eps"]) == (1e-3, 0.9, 1e-7)


@pytest.mark.parametrize("name,shape,labels", [
    ("mse", (6, 3), "real"), ("mae", (6, 3), "real"), ("huber", (6, 3), "real"),
    ("binary_crossentropy", (6, 1), "binary"), ("categorical_crossentropy", (6, 4), "onehot"),
    ("sparse_categorical_crossentropy", (6, 4), "sparse"),
])
def test_losses_match_keras(keras, name, shape, labels):
    rng = np.random.default_rng(2)
    if labels in ("onehot", "sparse"):
        pred = rng.dirichlet(np.ones(shape[1]), size=shape[0]).astype(np.float32)
    elif labels == "binary":
        pred = rng.uniform(0.01, 0.99, size=shape).astype(np.float32)
    else:
        pred = rng.normal(size=shape).astype(np.float32) * 3
    y = {"real": lambda: rng.normal(size=shape).astype(np.float32),
         "binary": lambda: rng.integers(0, 2, size=shape).astype(np.float32),
         "onehot": lambda: np.eye(shape[1], dtype=np.float32)[rng.integers(0, shape[1], shape[0])],
         "sparse": lambda: rng.integers(0, shape[1], shape[0])}[labels]()
    ours = float(get_loss(name)(torch.from_numpy(pred), torch.from_numpy(y)))
    theirs = float(keras.ops.convert_to_numpy(keras.losses.get(name)(y, pred)).mean())
    assert ours == pytest.approx(theirs, rel=1e-5, abs=1e-6)


# --- the seed's model trained side by side with real Keras ------------------------------------------------

def test_sequential_trains_like_keras(keras):
    """Same weights, same batches, Keras' rmsprop: lstmkit's weights after one epoch equal Keras'."""
    x, y = regression_data(n=30, T=15)
    kmodel = keras.Sequential([keras.Input((15, 1)), keras.layers.LSTM(8, activation="relu"),
                               keras.layers.Dense(1)])
    model = Sequential([LSTM(8, activation="relu", input_shape=(15, 1)), Dense(1)])
    kernel, rec, bias = kmodel.layers[0].get_weights()
    dk, db = kmodel.layers[1].get_weights()
    lstm = model.layers[0].lstm
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(rec.T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        lstm.bias_hh_l0.zero_()
        model.layers[1].linear.weight.copy_(torch.from_numpy(dk.T))
        model.layers[1].linear.bias.copy_(torch.from_numpy(db))
    np.testing.assert_allclose(model.predict(x), kmodel.predict(x, verbose=0), atol=1e-5)
    kmodel.compile(optimizer="rmsprop", loss="mse")
    model.compile(optimizer="rmsprop", loss="mse")
    kh = kmodel.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0)
    h = model.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(model.predict(x), kmodel.predict(x, verbose=0), atol=1e-4)


# --- layers ---------------------------------------------------------------------------------------------

def test_summary_shapes_and_counts():
    model = Sequential([Embedding(50, 8, mask_zero=True, input_shape=(None,)),
                        Bidirectional(LSTM(16, return_sequences=True)), LayerNormalization(),
                        TimeDistributed(Dense(4)), Dropout(0.1), LSTM(6, peephole=True), Dense(3, "softmax")])
    lines = []
    text = model.summary(print_fn=lines.append)
    assert lines == [text]
    assert "(None, None, 32)" in text and "(None, 3)" in text
    assert f"Total params: {sum(p.numel() for p in model.weights):,}" in text
    assert model.count_params() == sum(p.numel() for p in model.parameters()) - 2 * 64 - 24  # no bias_hh
    out = model(torch.randint(1, 50, (2, 7)))
    assert out.shape == (2, 3)
    torch.testing.assert_close(out.sum(1), torch.ones(2))


def test_mask_zero_matches_unpadded_sequences():
    torch.manual_seed(0)
    model = Sequential([Embedding(20, 5, mask_zero=True, input_shape=(None,)),
                        Bidirectional(LSTM(7), merge_mode="sum"), Dense(2)])
    model.eval()
    seqs = [[3, 4, 5, 6, 7], [8, 9], [1, 2, 3]]
    padded = torch.zeros(3, 5, dtype=torch.long)
    for i, s in enumerate(seqs):
        padded[i, :len(s)] = torch.tensor(s)
    batch = model(padded)
    for i, s in enumerate(seqs):
        single = model(torch.tensor([s]))
        torch.testing.assert_close(batch[i], single[0], atol=1e-6, rtol=0)


def test_masking_layer_right_and_left_padding():
    model = Sequential([Masking(0.0, input_shape=(4, 2)), LSTM(3)])
    x = torch.rand(2, 4, 2) + 0.1
    x[1, 2:] = 0
    out = model(x)
    torch.testing.assert_close(out[1], model.layers[1](x[1:, :2])[0])
    x[1] = torch.cat([x[1, 2:], x[1, :2]])  # the same sequence padded at the front: a masked step keeps the state
    torch.testing.assert_close(model(x), out)


def test_stateful_lstm_continues_sequences():
    torch.manual_seed(0)
    full = Sequential([LSTM(6, return_sequences=True, input_shape=(None, 2))])
    stateful = Sequential([LSTM(6, return_sequences=True, stateful=True, input_shape=(None, 2))])
    stateful.load_state_dict(full.state_dict())
    x = torch.randn(3, 10, 2)
    whole = full(x)
    halves = torch.cat([stateful(x[:, :6]), stateful(x[:, 6:])], dim=1)
    torch.testing.assert_close(halves, whole)
    stateful.reset_states()
    torch.testing.assert_close(stateful(x[:, :6]), whole[:, :6])


def test_go_backwards_reads_reversed_input():
    torch.manual_seed(0)
    fwd = LSTM(4, input_shape=(6, 2))
    bwd = LSTM(4, go_backwards=True, input_shape=(6, 2))
    bwd.load_state_dict(fwd.state_dict())
    x = torch.randn(2, 6, 2)
    torch.testing.assert_close(bwd(x), fwd(x.flip(1)))


def test_lstm_layer_variants_and_keras_init():
    layer = LSTM(5, peephole=True, layer_norm=True, zoneout=0.1, recurrent_dropout=0.2, input_shape=(3, 2))
    assert layer.lstm.config.peephole and layer.lstm.config.layer_norm
    torch.testing.assert_close(layer.lstm.bias_ih_l0[5:10], torch.ones(5))  # unit forget bias
    w = layer.lstm.weight_hh_l0.detach()
    torch.testing.assert_close(w.T @ w, torch.eye(5), atol=1e-5, rtol=0)  # orthogonal recurrent kernel


def test_l2_regularisation_enters_the_loss():
    model = Sequential([LSTM(4, kernel_regularizer=l2(0.5), input_shape=(3, 1)), Dense(1, kernel_regularizer=0.1)])
    w_ih = model.layers[0].lstm.weight_ih_l0
    w_d = model.layers[1].linear.weight
    expected = 0.5 * w_ih.pow(2).sum() + 0.1 * w_d.pow(2).sum()
    torch.testing.assert_close(model.regularization_loss(), expected)


# --- fit, evaluate, predict ------------------------------------------------------------------------------

def test_fit_learns_and_reports_metrics():
    torch.manual_seed(0)
    x, y = regression_data(n=64)
    model = Sequential([LSTM(16, input_shape=(12, 1)), Dense(1)])
    model.compile(optimizer={"name": "adam", "learning_rate": 0.01}, loss="mse", metrics=["mae"])
    h = model.fit(x, y, epochs=15, batch_size=16, validation_split=0.25, verbose=0, seed=0)
    assert set(h.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert h.history["loss"][-1] < 0.3 * h.history["loss"][0]
    loss, mae = model.evaluate(x, y)
    assert mae == pytest.approx(np.abs(model.predict(x) - y).mean(), rel=1e-4)
    assert model.evaluate(x, y, return_dict=True)["loss"] == pytest.approx(loss)
    assert model.predict(x, batch_size=7).shape == (64, 1)


def test_classification_accuracy_metric():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.int64)
    model = Sequential([LSTM(8, input_shape=(5, 2)), Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    h = model.fit(x, y, epochs=20, batch_size=20, verbose=0)
    acc = (model.predict(x).argmax(1) == y).mean()
    assert model.evaluate(x, y)[1] == pytest.approx(acc)
    assert h.history["accuracy"][-1] > 0.8


def test_metrics_accept_flat_targets():
    """Predictions (N, 1) against targets (N,), as Keras allows for regression and binary labels."""
    pred, y = torch.tensor([[0.9], [0.2], [0.7]]), torch.tensor([1.0, 0.0, 0.0])
    acc = lstmkit.train.get_metric("accuracy", "binary_crossentropy")
    mae = lstmkit.train.get_metric("mae")
    acc.update(pred, y)
    mae.update(pred, y)
    assert acc.compute() == pytest.approx(2 / 3)
    assert mae.compute() == pytest.approx((0.1 + 0.2 + 0.7) / 3)


def test_bf16_autocast_trains_every_backend():
    x, y = regression_data(n=32)
    for variant in ({}, {"peephole": True}):
        torch.manual_seed(0)
        model = Sequential([LSTM(8, input_shape=(12, 1), **variant), Dense(1)])
        model.compile({"name": "adam", "learning_rate": 0.01}, "mse", precision="bf16")
        h = model.fit(x, y, epochs=8, batch_size=8, verbose=0)
        assert h.history["loss"][-1] < h.history["loss"][0]


def test_gradient_clipping_bounds_the_update():
    x, y = regression_data(n=10)
    y = y * 1000  # huge gradients
    model = Sequential([LSTM(4, input_shape=(12, 1)), Dense(1)])
    model.compile({"name": "sgd", "learning_rate": 1.0}, "mse", clipvalue=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    model.fit(x, y, epochs=1, batch_size=10, verbose=0)
    for b, p in zip(before, model.parameters(), strict=True):
        assert (p.detach() - b).abs().max() <= 1e-3 + 1e-7


def test_trainer_on_plain_module_with_torch_objects():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 1))
    x = torch.randn(50, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    trainer = Trainer(net, torch.optim.SGD(net.parameters(), lr=0.1), torch.nn.MSELoss())
    h = trainer.fit(x, y, epochs=30, batch_size=10, verbose=0)
    assert h.history["loss"][-1] < 1e-3


# --- callbacks ------------------------------------------------------------------------------------------

def test_early_stopping_restores_best_weights():
    x, y = regression_data(n=20)
    model = Sequential([LSTM(4, input_shape=(12, 1)), Dense(1)])
    model.compile({"name": "sgd", "learning_rate": 5.0}, "mse")  # diverges after a step or two
    snapshots = []
    stop = EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    record = LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(
        (logs["loss"], [p.detach().clone() for p in model.parameters()])))
    h = model.fit(x, y, epochs=30, batch_size=20, verbose=0, shuffle=False, callbacks=[record, stop])
    assert len(h.history["loss"]) < 30
    best = min(range(len(snapshots)), key=lambda i: snapshots[i][0])
    for a, b in zip(model.parameters(), snapshots[best][1], strict=True):
        torch.testing.assert_close(a.detach(), b)


def test_csv_logger_and_tensorboard(tmp_path):
    x, y = regression_data(n=20)
    model = Sequential([LSTM(4, input_shape=(12, 1)), Dense(1)])
    model.compile("adam", "mse", ["mae"])
    csv_path, tb = tmp_path / "log.csv", tmp_path / "tb"
    h = model.fit(x, y, epochs=3, batch_size=10, verbose=0, callbacks=[CSVLogger(str(csv_path)), TensorBoard(str(tb))])
    rows = list(csv.DictReader(open(csv_path)))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [float(r["mae"]) for r in rows] == pytest.approx(h.history["mae"])
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tb))


def test_reduce_lr_on_plateau_halves():
    x, y = regression_data(n=20)
    model = Sequential([LSTM(4, input_shape=(12, 1)), Dense(1)])
    model.compile({"name": "sgd", "learning_rate": 0.0}, "mse")
    seen = []
    model.fit(x, y, epochs=5, batch_size=10, verbose=0, callbacks=[
        LearningRateScheduler(lambda e, lr: lr if e else 0.8),  # epoch 0 sets 0.8; loss then fluctuates
        ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_delta=1e9),  # never "improves"
        LambdaCallback(on_epoch_end=lambda e, logs: seen.append(model.trainer.optimizer.param_groups[0]["lr"]))],
        validation_data=(x, y))
    assert seen[0] == 0.8 and seen[-1] < 0.8 and all(b <= a for a, b in zip(seen, seen[1:]))


def test_progress_lines_when_not_a_terminal(capsys):
    x, y = regression_data(n=20)
    model = Sequential([LSTM(4, input_shape=(12, 1)), Dense(1)])
    model.compile("adam", "mse", ["mae"])
    model.fit(x, y, epochs=2, batch_size=10, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "mae:" in out


def test_learning_rate_schedule_is_saved_with_the_model(tmp_path):
    from lstmkit.train import CosineDecay

    torch.manual_seed(0)
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer={"name": "adam", "learning_rate": CosineDecay(1e-2, 10)}, loss="mse")
    x = np.random.default_rng(0).random((20, 5, 2), dtype=np.float32)
    y = x.sum((1, 2))[:, None]
    model.fit(x, y, epochs=2, batch_size=10, verbose=0)
    lrs = [g["lr"] for g in model.trainer.optimizer.param_groups]
    assert lrs == [pytest.approx(CosineDecay(1e-2, 10)(3))]  # set before each of the 4 steps
    model.save(tmp_path / "m.safetensors")
    back = lstmkit.load_model(tmp_path / "m.safetensors")
    sched = back.compile_config["optimizer"]["learning_rate"]
    assert sched == {"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.01, "decay_steps": 10,
                                                            "alpha": 0.0, "warmup_steps": 0}}
    assert back.trainer.lr_schedule(5) == pytest.approx(0.005)
    assert back.evaluate(x, y) == pytest.approx(model.evaluate(x, y))
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'Nope'"):
        Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)]).compile(
            optimizer={"name": "adam", "learning_rate": {"class_name": "Nope"}}, loss="mse")
