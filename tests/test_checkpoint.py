"""Saving, loading, resuming, and every way a checkpoint can be bad."""

import os

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense, Dropout
from lstmkit.train import CheckpointError, LambdaCallback, ModelCheckpoint
from lstmkit.train.checkpoint import load_checkpoint, save_checkpoint


def data(n=40, T=10):
    rng = np.random.default_rng(0)
    x = rng.random((n, T, 2)).astype(np.float32)
    return x, x[:, -2:, 0].mean(1, keepdims=True)


def make_model(units=6, **variant):
    model = Sequential([LSTM(units, input_shape=(10, 2), recurrent_dropout=0.1, **variant), Dropout(0.2), Dense(1)])
    model.compile("adam", "mse", ["mae"])
    return model


def test_save_and_load_model_roundtrip(tmp_path):
    torch.manual_seed(0)
    x, y = data()
    model = make_model(peephole=True)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = lstmkit.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.layers[0].lstm.config.peephole
    # optimizer state came back: one more identical step on both gives identical weights
    torch.manual_seed(1)
    model.fit(x, y, epochs=1, batch_size=40, verbose=0, shuffle=False)
    torch.manual_seed(1)
    loaded.fit(x, y, epochs=1, batch_size=40, verbose=0, shuffle=False)
    for a, b in zip(model.parameters(), loaded.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_file_holds_no_pickle(tmp_path):
    path = tmp_path / "m.safetensors"
    make_model().save(path)
    raw = path.read_bytes()
    assert b"\x80\x04" not in raw[:16] and raw[8:9] == b"{"  # a JSON header, not a pickle stream


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "empty", "garbage", "not_lstmkit"])
def test_damaged_checkpoints_raise(tmp_path, damage):
    path = tmp_path / "m.safetensors"
    make_model().save(path)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip_byte":
        path.write_bytes(raw[:-5] + bytes([raw[-5] ^ 0xFF]) + raw[-4:])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(b"hello world, not a checkpoint at all")
    else:
        from safetensors.torch import save_file
        save_file({"w": torch.ones(2)}, str(path))
    with pytest.raises(CheckpointError, match=str(path.name)):
        lstmkit.load_model(path)


def test_other_architecture_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    make_model(units=6).save(path)
    other = make_model(units=7)
    with pytest.raises(CheckpointError, match="different architecture.*shape mismatch"):
        other.load_weights(path)


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, {"model.w": torch.ones(3)}, {"v": 1})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"model.w": torch.zeros(3)}, {"v": 2})
    monkeypatch.undo()
    tensors, meta = load_checkpoint(path)
    assert meta == {"v": 1} and tensors["model.w"].tolist() == [1.0, 1.0, 1.0]
    assert os.listdir(tmp_path) == ["m.safetensors"]  # no temporary file left behind


def test_model_checkpoint_best_only(tmp_path):
    torch.manual_seed(0)
    x, y = data()
    model = make_model()
    path = tmp_path / "best.safetensors"
    ckpt = ModelCheckpoint(str(path), monitor="val_loss", save_best_only=True)
    h = model.fit(x, y, epochs=4, batch_size=8, validation_split=0.25, verbose=0, callbacks=[ckpt])
    best = lstmkit.load_model(path)
    val = x[30:], y[30:]
    assert best.evaluate(*val)[0] == pytest.approx(min(h.history["val_loss"]), rel=1e-5)


def test_resume_matches_an_uninterrupted_run(tmp_path):
    x, y = data()

    def run(resume, stop_after=None):
        torch.manual_seed(0)
        model = make_model()

        def interrupt(epoch, logs):
            if stop_after is not None and epoch == stop_after:
                raise KeyboardInterrupt

        try:
            model.fit(x, y, epochs=4, batch_size=8, verbose=0, resume=resume,
                      callbacks=[LambdaCallback(on_epoch_end=interrupt)])
        except KeyboardInterrupt:
            pass
        return model

    straight = run(str(tmp_path / "a.safetensors"))
    path = str(tmp_path / "b.safetensors")
    run(path, stop_after=1)  # killed at the end of epoch 2 (its state was not saved), epoch 1 was
    torch.manual_seed(123)  # a different process state; the file must restore everything
    resumed = make_model()
    resumed.fit(x, y, epochs=4, batch_size=8, verbose=0, resume=path)
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert len(resumed.trainer.history.history["loss"]) == 4


# ---- hostile or damaged headers -------------------------------------------------------------------------------
def _rewrite(path, edit_meta, version="2", digest=True):
    """Rewrite ``path`` with its tensors and ``edit_meta(meta)``; re-sign it unless ``digest`` is False (what
    an attacker or a tool that edits the JSON could do)."""
    import json

    from safetensors.torch import load_file, save as st_save

    from lstmkit.train import checkpoint as ck

    tensors = load_file(str(path))
    header = ck._read_header(path.read_bytes())
    meta = json.loads(header["meta"])
    meta = edit_meta(meta)
    meta_json = meta if isinstance(meta, str) else json.dumps(meta)
    sha = header["sha256"] if not digest else ck._digest(tensors, meta_json if version == "2" else None)
    path.write_bytes(st_save(tensors, metadata={**header, "version": version, "meta": meta_json, "sha256": sha}))


def _set_dense_activation(meta):
    meta["model_config"]["layers"][-1]["config"]["activation"] = "relu"
    return meta


def test_checksum_covers_the_architecture(tmp_path):
    path = tmp_path / "m.safetensors"
    make_model().save(path)
    _rewrite(path, _set_dense_activation, digest=False)  # the header edited, the old checksum kept
    with pytest.raises(CheckpointError, match="SHA-256"):
        lstmkit.load_model(path)


def test_version_1_files_still_load(tmp_path, caplog):
    x, _ = data()
    path = tmp_path / "m.safetensors"
    model = make_model()
    model.save(path)
    _rewrite(path, lambda m: m, version="1")
    np.testing.assert_array_equal(lstmkit.load_model(path).predict(x), model.predict(x))
    assert "version 1" in caplog.text


def test_oversized_claims_fail_before_allocating(tmp_path):
    import resource

    from lstmkit.layers import Embedding

    path = tmp_path / "m.safetensors"
    model = Sequential([Embedding(50, 4, input_shape=(10,)), LSTM(3), Dense(1)])
    model.save(path)

    def huge(meta):  # 100M x 4 float32 = 1.6 GB if it were built
        meta["model_config"]["layers"][0]["config"]["input_dim"] = 100_000_000
        return meta

    _rewrite(path, huge)  # correctly signed: the checksum is no defence against a crafted file
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=r"different architecture.*\(50, 4\) vs model \(100000000, 4\)"):
        lstmkit.load_model(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 400, grown_mb


@pytest.mark.parametrize("edit", [
    lambda m: "[" * 100_000 + "]" * 100_000,  # nesting deep enough for a RecursionError
    lambda m: [1, 2],  # not an object
    lambda m: {**m, "model_config": {"class_name": "Sequential", "layers": "LSTM"}},
    lambda m: {**m, "model_config": {"class_name": "Sequential", "layers": [{"class_name": "Dense",
                                                                             "config": {"units": -3}}]}},
    lambda m: {**m, "model_config": {"class_name": "Sequential", "layers": [{"class_name": "Dense",
                                                                             "config": ["units"]}]}},
    lambda m: {**m, "model_config": {"class_name": "Sequential", "layers": [{"class_name": "Dense",
                                                                             "config": {"units": 10 ** 30}}]}},
    lambda m: {**m, "model_config": {"class_name": "Sequential", "input_shape": [10, 2], "layers": [
        {"class_name": "LSTM", "config": {"units": 2 ** 40}}]}},
], ids=["deep", "list", "layers-str", "negative", "config-list", "huge-int", "huge-lstm"])
def test_malformed_headers_are_checkpoint_errors(tmp_path, edit):
    path = tmp_path / "m.safetensors"
    make_model().save(path)
    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match="m.safetensors"):
        lstmkit.load_model(path)


def test_tensor_entries_outside_the_file_are_refused(tmp_path):
    import json
    import struct

    path = tmp_path / "m.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [10 ** 9], "data_offsets": [0, 4 * 10 ** 9]},
                         "__metadata__": {"format": "lstmkit-checkpoint"}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(CheckpointError, match="claims bytes"):
        load_checkpoint(path)


def test_saves_keep_permissions_and_symlinks(tmp_path):
    old = os.umask(0o022)
    try:
        new = tmp_path / "new.safetensors"
        save_checkpoint(new, {"model.w": torch.ones(2)}, {})
        assert new.stat().st_mode & 0o777 == 0o644  # what the umask gives any new file
        os.chmod(new, 0o640)
        save_checkpoint(new, {"model.w": torch.zeros(2)}, {})
        assert new.stat().st_mode & 0o777 == 0o640  # an existing file keeps its mode
        link = tmp_path / "latest.safetensors"
        link.symlink_to(new)
        save_checkpoint(link, {"model.w": torch.full((2,), 7.0)}, {"v": 3})
        assert link.is_symlink() and load_checkpoint(new)[1] == {"v": 3}
    finally:
        os.umask(old)


def test_temp_files_of_killed_saves_are_removed(tmp_path):
    path = tmp_path / "m.safetensors"
    stale = tmp_path / ".m.safetensors.pid999999999.abc123.tmp"  # no such process
    stale.write_bytes(b"x" * 1000)
    live = tmp_path / f".m.safetensors.pid{os.getppid()}.def456.tmp"  # a running process's save
    live.write_bytes(b"y")
    save_checkpoint(path, {"model.w": torch.ones(2)}, {})
    assert not stale.exists() and live.exists()
