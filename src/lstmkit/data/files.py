"""The user's own CSV files: a numeric series column, or text and label columns. Every error names the file,
the column and the row (1-based, counting the header as row 1, as a spreadsheet shows it)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Union

import numpy as np


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
    values = []
    for i, r in enumerate(rows, start=2):
        cell = r[j].strip() if j < len(r) else ""
        try:
            v = float(cell)
        except ValueError:
            raise DataFileError(f"{p}: column {column!r}, row {i}: {cell!r} is not a number") from None
        if not math.isfinite(v):
            raise DataFileError(f"{p}: column {column!r}, row {i}: {cell!r} is not a finite number")
        values.append(v)
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
