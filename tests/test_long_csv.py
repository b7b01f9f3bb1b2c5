"""Many series in one long-format CSV (id, time, value): timestamps parsed and checked, errors by series and row."""

import datetime
import logging

import numpy as np
import pytest

from lstmkit.data.files import DataFileError, read_long_csv
from lstmkit.forecast import LSTMForecaster


def _write(tmp_path, text, name="s.csv"):
    f = tmp_path / name
    f.write_text(text)
    return f


def test_rows_in_any_order_make_sorted_regular_series(tmp_path):
    f = _write(tmp_path, "id,ds,y\nb,2020Q2,6\na,2020-01-01,1\nb,2020Q1,5\na,2020-01-02,2\na,2020-01-03,3\n")
    a, b = read_long_csv(f, "y", "ds", "id")
    assert (a.id, a.values.tolist(), a.step) == ("a", [1.0, 2.0, 3.0], datetime.timedelta(days=1))
    assert b.monthly and b.step == 3
    assert [str(t.date()) for t in b.future(2)] == ["2020-07-01", "2020-10-01"]


def test_daily_and_numeric_steps(tmp_path):
    f = _write(tmp_path, "time,value\n2024-01-30,1\n2024-01-31,2\n2024-02-01,3\n")
    (s,) = read_long_csv(f)
    assert s.step == datetime.timedelta(days=1) and not s.monthly
    assert [str(t.date()) for t in s.future(2)] == ["2024-02-02", "2024-02-03"]
    f = _write(tmp_path, "time,value\n1990,1\n1995,2\n2000,3\n", "n.csv")
    (n,) = read_long_csv(f)
    assert n.step == 5.0 and n.future(1) == [2005.0]


def test_month_names_and_month_ends(tmp_path):
    f = _write(tmp_path, "time,value\n1991 Jul,1\n1991 Aug,2\n1991 Sep,3\n")
    (s,) = read_long_csv(f)
    assert s.monthly and s.step == 1 and str(s.future(4)[-1].date()) == "1992-01-01"


def test_blank_values_are_interpolated_with_a_warning_or_refused(tmp_path, caplog):
    f = _write(tmp_path, "time,value\n1,1\n2,\n3,3\n4,NA\n5,5\n")
    with caplog.at_level(logging.WARNING):
        (s,) = read_long_csv(f)
    assert s.values.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert "2 blank value(s) filled by linear interpolation (the first in row 3)" in caplog.text
    with pytest.raises(DataFileError, match="2 blank value.*first in row 3"):
        read_long_csv(f, missing="error")


@pytest.mark.parametrize("text, message", [
    ("time,value\n1,1\n2,2\n2,3\n", r"series 'series': time 2.0 appears twice \(rows 3 and 4\)"),
    ("time,value\n2024-01-01,1\n2024-01-02,2\n2024-01-04,3\n", "irregular timestamps: 2024-01-02 00:00:00 -> "
     r"2024-01-04 00:00:00 \(row 4\)"),
    ("time,value\n1,1\nsoon,2\n", "column 'time', row 3: 'soon' is not a number or a date"),
    ("time,value\n1,1\n2,x\n", "column 'value', row 3: 'x' is not a number"),
    ("time,value\n1,1\n2024-01-01,2\n", "mixes dates and numbers"),
    ("id,time,value\na,1,1\n,2,2\n", "column 'id', row 3: empty series id"),
    ("time,value\n1,\n2,\n", "every value is blank"),
    ("time,y\n1,1\n", "no column 'value'"),
])
def test_bad_files_name_series_and_row(tmp_path, text, message):
    f = _write(tmp_path, text)
    with pytest.raises(DataFileError, match=message):
        read_long_csv(f, id="id" if text.startswith("id") else "")


def test_a_short_series_says_the_minimum(tmp_path):
    f = _write(tmp_path, "id,time,value\na,1,1\na,2,2\nb,1,1\n")
    with pytest.raises(DataFileError, match="series 'b' has 1 values; this needs at least 2"):
        read_long_csv(f, id="id")


def test_a_long_file_fits_one_global_forecaster(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["store,month,units"]
    for store in ("north", "south"):
        for k in range(48):
            lines.append(f"{store},{2020 + k // 12}-{k % 12 + 1:02d},{10 + 3 * np.sin(k / 12 * 2 * np.pi) + rng.normal()}")
    series = read_long_csv(_write(tmp_path, "\n".join(lines) + "\n"), "units", "month", "store")
    fc = LSTMForecaster(horizon=3, period=12, steps=20, ensemble=1, combine="lstm").fit({s.id: s.values for s in series})
    assert fc.predict().shape == (2, 3)
    assert [str(t.date()) for t in series[0].future(3)] == ["2024-01-01", "2024-02-01", "2024-03-01"]
