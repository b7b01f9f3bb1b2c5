"""The user's own CSV files: a numeric series column, or text and label columns. Every error names the file,
the column and the row (1-based, counting the header as row 1, as a spreadsheet shows it)."""

from __future__ import annotations

import csv
import datetime
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np


log = logging.getLogger(__name__)


class DataFileError(ValueError):
    """A user data file that cannot be used; the message says which file, column and row."""


def _rows(path: Union[str, Path]) -> tuple[Path, list[str], list[list[str]]]:
    p = Path(path)
    if not p.exists():
        raise DataFileError(f"{p}: no such file")
    if p.is_dir():
        raise DataFileError(f"{p}: is a folder, expected a CSV file")
    raw = p.read_bytes()
    if not raw.strip():
        raise DataFileError(f"{p}: the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataFileError(f"{p}: not UTF-8 text (bad byte 0x{raw[err.start]:02x} on line {line}); "
                            "save it as UTF-8") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [r for r in csv.reader(text.splitlines(), dialect) if any(c.strip() for c in r)]
    if not rows:
        raise DataFileError(f"{p}: no rows")
    header = [h.strip() for h in rows[0]]
    return p, header, rows[1:]


def _column(p: Path, header: list[str], name: str) -> int:
    if name not in header:
        raise DataFileError(f"{p}: no column {name!r}; the header has {', '.join(repr(h) for h in header)}")
    return header.index(name)


def _number(p: Path, column: str, row: int, cell: str) -> float:
    """A finite number from a cell, or a DataFileError naming the file, column and row."""
    try:
        v = float(cell)
    except ValueError:
        raise DataFileError(f"{p}: column {column!r}, row {row}: {cell!r} is not a number") from None
    if not math.isfinite(v):
        raise DataFileError(f"{p}: column {column!r}, row {row}: {cell!r} is not a finite number")
    return v


def read_series_csv(path: Union[str, Path], column: str, min_length: int = 2) -> np.ndarray:
    """The numeric column ``column`` of a CSV file as float64 (N,), in file order.

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> _ = open(f, "w").write("month,y\\n1,10\\n2,12.5\\n")
    >>> read_series_csv(f, "y").tolist()
    [10.0, 12.5]
    """
    p, header, rows = _rows(path)
    j = _column(p, header, column)
    values = [_number(p, column, i, r[j].strip() if j < len(r) else "") for i, r in enumerate(rows, start=2)]
    if len(values) < min_length:
        raise DataFileError(f"{p}: column {column!r} has {len(values)} values; this needs at least {min_length}")
    return np.array(values, dtype=np.float64)


def read_labelled_text_csv(path: Union[str, Path], text: str, label: str) -> tuple[list[str], list[str]]:
    """Columns ``text`` and ``label`` of a CSV file; empty texts or labels are errors naming the row."""
    p, header, rows = _rows(path)
    jt, jl = _column(p, header, text), _column(p, header, label)
    texts, labels = [], []
    for i, r in enumerate(rows, start=2):
        t = r[jt].strip() if jt < len(r) else ""
        lab = r[jl].strip() if jl < len(r) else ""
        if not t:
            raise DataFileError(f"{p}: column {text!r}, row {i}: empty text")
        if not lab:
            raise DataFileError(f"{p}: column {label!r}, row {i}: empty label")
        texts.append(t)
        labels.append(lab)
    if len(set(labels)) < 2:
        raise DataFileError(f"{p}: column {label!r} needs at least two different labels, found "
                            f"{sorted(set(labels)) or 'none'}")
    return texts, labels


def read_text_csv(path: Union[str, Path], text: str) -> list[str]:
    """Column ``text`` of a CSV file (for prediction)."""
    p, header, rows = _rows(path)
    jt = _column(p, header, text)
    out = []
    for i, r in enumerate(rows, start=2):
        t = r[jt].strip() if jt < len(r) else ""
        if not t:
            raise DataFileError(f"{p}: column {text!r}, row {i}: empty text")
        out.append(t)
    return out


# ---- many series in one file (long format), with timestamps -------------------------------------------------

_MONTHS = {m: k for k, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}


def parse_time(cell: str) -> Union[float, datetime.datetime]:
    """A time cell: a number (a step index or a year), or a date: ISO (``2024-03-01``, ``2024-03-01 12:30``),
    a month (``2024-03``, ``2024 Mar``, ``Mar 2024``) or a quarter (``2024Q1``, ``2024 Q1``).

    >>> [str(parse_time(c)) for c in ("2024-03", "1991 Jul", "2020 Q3", "17", "2024-03-01T12:30")]
    ['2024-03-01 00:00:00', '1991-07-01 00:00:00', '2020-07-01 00:00:00', '17.0', '2024-03-01 12:30:00']
    """
    s = cell.strip()
    try:
        return float(s)
    except ValueError:
        pass
    m = re.fullmatch(r"(\d{4})[-/ ]?[qQ]([1-4])", s)
    if m:
        return datetime.datetime(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
    m = re.fullmatch(r"(\d{4})[-/](\d{1,2})", s)
    if m and 1 <= int(m.group(2)) <= 12:
        return datetime.datetime(int(m.group(1)), int(m.group(2)), 1)
    m = re.fullmatch(r"(\d{4})[ -]([A-Za-z]{3})[a-z]*", s) or re.fullmatch(r"([A-Za-z]{3})[a-z]*[ -](\d{4})", s)
    if m:
        year, month = (m.group(1), m.group(2)) if m.group(1).isdigit() else (m.group(2), m.group(1))
        if month.lower() in _MONTHS:
            return datetime.datetime(int(year), _MONTHS[month.lower()], 1)
    try:
        t = datetime.datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{cell!r} is not a number or a date") from None
    return t.replace(tzinfo=None) if t.tzinfo is None else t


def _months(t: datetime.datetime) -> int:
    return t.year * 12 + t.month - 1


@dataclass
class TimedSeries:
    """One series of a long-format file: its id, regular timestamps and values, and (when asked for) covariate
    columns: their rows for the history and for the rows after it that have covariates but no value yet."""

    id: str
    times: list  # floats or datetimes, increasing, one step apart
    values: np.ndarray  # (N,)
    step: Union[float, datetime.timedelta, int]  # numeric step, a fixed duration, or a number of months
    monthly: bool = False  # step counts calendar months (monthly, quarterly, yearly dates)
    covariates: Optional[np.ndarray] = None  # (N, C): the covariate columns on the history's rows
    future_covariates: Optional[np.ndarray] = None  # (F, C): on the F rows after the last value
    covariate_names: tuple = ()
    past_covariates: Optional[np.ndarray] = None  # (N, P): columns observed with the value, history rows only
    past_covariate_names: tuple = ()

    def future(self, horizon: int) -> list:
        """The ``horizon`` timestamps after the last one."""
        last = self.times[-1]
        if self.monthly:
            out = []
            for h in range(1, horizon + 1):
                k = _months(last) + h * self.step
                out.append(last.replace(year=k // 12, month=k % 12 + 1))
            return out
        return [last + h * self.step for h in range(1, horizon + 1)]


def _regular_step(p: Path, sid: str, times: list, rows: list[int]):
    """The series' constant step, or a DataFileError naming the first irregular gap."""
    if len(times) < 2:
        return 1.0, False
    dated = isinstance(times[0], datetime.datetime)
    if dated and all(t.day == times[0].day and t.time() == times[0].time() for t in times):
        gaps = [_months(b) - _months(a) for a, b in zip(times, times[1:])]
        monthly = gaps[0] > 0
    else:
        gaps = [b - a for a, b in zip(times, times[1:])]
        monthly = False
    for k, g in enumerate(gaps[1:], start=1):
        if g != gaps[0]:
            raise DataFileError(f"{p}: series {sid!r}: irregular timestamps: {times[k]} -> {times[k + 1]} (row "
                                f"{rows[k + 1]}) is not the step {times[0]} -> {times[1]} of the rows before; "
                                "resample the series to a regular step (or fill the missing rows with blank "
                                "values)")
    return gaps[0], monthly


def read_long_csv(path: Union[str, Path], value: str = "value", time: str = "time", id: str = "",
                  missing: str = "interpolate", min_length: int = 2,
                  covariates: Sequence[str] = (), past_covariates: Sequence[str] = ()) -> list[TimedSeries]:
    """Series in long format (one row per series and time, like statsforecast's ``unique_id``/``ds``/``y``):
    ``id`` (optional: one series without it), ``time`` and ``value`` columns, in any row order (with
    ``time=""`` the rows are the steps, in file order).

    Errors name the file, series and row: an unparseable time, a duplicate time within a series, irregular
    steps, a series shorter than ``min_length``. Blank values inside a series are filled by linear
    interpolation with a warning (``missing="interpolate"``) or refused (``missing="error"``). Rows after a
    series' last value (a blank value) are its *future* rows: with ``covariates`` (columns known in advance,
    such as prices or holidays) they hold the covariates of the steps to forecast (``future_covariates``), and
    a blank covariate there is an error; without, they are ignored with a warning. ``past_covariates`` are
    columns observed along with the value (a measured temperature, a competitor's sales): read on the history's
    rows only (``past_covariates`` of the series), blanks there filled like the values, future rows ignored.

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> _ = open(f, "w").write("store,month,units\\nb,2024-02,5\\na,2024-01,1\\na,2024-02,2\\nb,2024-01,4\\n")
    >>> [(s.id, s.values.tolist(), str(s.future(1)[0].date())) for s in read_long_csv(f, "units", "month", "store")]
    [('a', [1.0, 2.0], '2024-03-01'), ('b', [4.0, 5.0], '2024-03-01')]
    """
    if missing not in ("interpolate", "error"):
        raise ValueError(f"missing must be 'interpolate' or 'error', got {missing!r}")
    p, header, rows = _rows(path)
    jv = _column(p, header, value)
    jt = _column(p, header, time) if time else None
    ji = _column(p, header, id) if id else None
    covariates, past_covariates = tuple(covariates), tuple(past_covariates)
    for name in covariates + past_covariates:
        if name in (value, time, id):
            raise DataFileError(f"{p}: column {name!r} cannot be both a covariate and the value, time or id column")
    for name in set(covariates) & set(past_covariates):
        raise DataFileError(f"{p}: column {name!r} cannot be both a covariate known in advance and a past covariate")
    jc = [_column(p, header, name) for name in covariates]
    jp = [_column(p, header, name) for name in past_covariates]
    groups: dict[str, list] = {}
    for i, r in enumerate(rows, start=2):
        sid = (r[ji].strip() if ji is not None and ji < len(r) else "") if ji is not None else "series"
        if ji is not None and not sid:
            raise DataFileError(f"{p}: column {id!r}, row {i}: empty series id")
        if jt is None:
            t = float(i - 1)  # no time column: the rows are the steps, in file order
        else:
            cell_t = r[jt].strip() if jt < len(r) else ""
            try:
                t = parse_time(cell_t)
            except ValueError as err:
                raise DataFileError(f"{p}: column {time!r}, row {i}: {err}") from None
        v = _cell(p, value, i, r[jv] if jv < len(r) else "")
        cov = [_cell(p, name, i, r[j] if j < len(r) else "") for name, j in zip(covariates, jc)]
        pst = [_cell(p, name, i, r[j] if j < len(r) else "") for name, j in zip(past_covariates, jp)]
        groups.setdefault(sid, []).append((t, v, i, cov, pst))
    out = []
    for sid, items in groups.items():
        kinds = {isinstance(e[0], datetime.datetime) for e in items}
        if len(kinds) > 1:
            raise DataFileError(f"{p}: series {sid!r}: column {time!r} mixes dates and numbers")
        items.sort(key=lambda e: e[0])
        for (t0, _, r0, *_), (t1, _, r1, *_) in zip(items, items[1:]):
            if t0 == t1:
                raise DataFileError(f"{p}: series {sid!r}: time {t0} appears twice (rows {min(r0, r1)} and "
                                    f"{max(r0, r1)})")
        times = [e[0] for e in items]
        rows_of = [e[2] for e in items]
        step, monthly = _regular_step(p, sid, times, rows_of)
        vals = np.array([e[1] for e in items], dtype=np.float64)  # (N + F,)
        known = np.flatnonzero(~np.isnan(vals))
        if known.size == 0:
            raise DataFileError(f"{p}: series {sid!r}: {len(vals)} blank value(s), the first in row {rows_of[0]}; "
                                "every value is blank")
        n = int(known[-1]) + 1  # the rows after the last value are the future part
        cov = np.array([e[3] for e in items], dtype=np.float64).reshape(len(items), len(covariates))  # (N + F, C)
        future = cov[n:]  # (F, C)
        if n < len(vals):
            if covariates:
                bad = np.argwhere(np.isnan(future))
                if bad.size:
                    r, c = bad[0]
                    raise DataFileError(f"{p}: series {sid!r}: covariate {covariates[c]!r} is missing in the future "
                                        f"part (row {rows_of[n + r]}, time {times[n + r]}): the rows after the last "
                                        "value must give every covariate, the values the forecast steps will have")
            else:
                log.warning("%s: series %r: %d row(s) after the last value (from row %d) have no value and are "
                            "ignored", p, sid, len(vals) - n, rows_of[n])
        pst = np.array([e[4] for e in items[:n]], dtype=np.float64).reshape(n, len(past_covariates))  # (N, P)
        vals, hist_rows, cov = vals[:n], rows_of[:n], cov[:n]
        vals = _fill(p, sid, f"column {value!r}", vals, hist_rows, missing)
        for c, name in enumerate(covariates):
            cov[:, c] = _fill(p, sid, f"covariate {name!r}", cov[:, c], hist_rows, missing)
        for c, name in enumerate(past_covariates):
            pst[:, c] = _fill(p, sid, f"past covariate {name!r}", pst[:, c], hist_rows, missing)
        if len(vals) < min_length:
            raise DataFileError(f"{p}: series {sid!r} has {len(vals)} values; this needs at least {min_length}")
        out.append(TimedSeries(sid, times[:n], vals, step, monthly,
                               cov if covariates else None, future if covariates else None, covariates,
                               pst if past_covariates else None, past_covariates))
    return sorted(out, key=lambda s: s.id)


def _cell(p: Path, column: str, row: int, cell: str) -> float:
    """A number, or NaN for a blank (or NA) cell."""
    cell = cell.strip()
    if cell == "" or cell.lower() in ("na", "nan", "null"):
        return math.nan
    return _number(p, column, row, cell)


def _fill(p: Path, sid: str, what: str, vals: np.ndarray, rows: list[int], missing: str) -> np.ndarray:
    """Blank cells inside a series filled linearly with a warning (at the ends: the nearest value), or refused."""
    bad = np.flatnonzero(np.isnan(vals))
    if not bad.size:
        return vals
    if missing == "error" or bad.size == len(vals):
        raise DataFileError(f"{p}: series {sid!r}: {what}: {bad.size} blank value(s), the first in row "
                            f"{rows[bad[0]]}" + ("" if missing == "error" else "; every value is blank"))
    idx = np.arange(len(vals))
    good = ~np.isnan(vals)
    vals = vals.copy()
    vals[~good] = np.interp(idx[~good], idx[good], vals[good])
    log.warning("%s: series %r: %s: %d blank value(s) filled by linear interpolation (the first in row %d)",
                p, sid, what, bad.size, rows[bad[0]])
    return vals
