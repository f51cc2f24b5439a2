"""Reading a CSV file with a header row, for ``anynet.datasets.load_csv``.

Everything a file can get wrong is a ValueError naming the file and, where
there is one, the row (the header is row 1) and the column: bytes that are not
in the file's encoding, a field over the csv module's limit, NUL bytes,
duplicate or missing columns, rows of the wrong length, missing values, text
or non-finite numbers among the features.
"""
import codecs
import csv
import io
import math

import numpy as np


def read_rows(path, sep=",", encoding="utf-8"):
    """(header, [(row number, cells)]) of a CSV file, cells stripped, blank rows skipped."""
    if not isinstance(sep, str) or len(sep) != 1:
        raise ValueError(f"the separator must be one character, got {sep!r}")
    text = _decoded(path, encoding)
    rows = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep):
            rows.append(row)
    except csv.Error as exc:
        problem = str(exc)
        if "field limit" in problem:  # almost always a quote that never closes
            problem = (f"a field is longer than {csv.field_size_limit()} characters "
                       f"(an unclosed quote?)")
        raise ValueError(f"{path}, row {len(rows) + 1}: {problem}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ValueError(f"{path}: the file is empty")
    header = [name.strip() for name in rows[0]]
    first = {}
    for number, name in enumerate(header, start=1):
        if name in first:
            raise ValueError(f"{path}: the column name {name!r} appears twice (columns "
                             f"{first[name]} and {number}); rename one")
        first[name] = number
    body = [(number, [cell.strip() for cell in row])
            for number, row in enumerate(rows[1:], start=2) if any(c.strip() for c in row)]
    if not body:
        raise ValueError(f"{path}: the file has a header but no rows")
    for number, cells in body:
        if len(cells) != len(header):
            raise ValueError(f"{path}, row {number}: {len(cells)} fields, but the header "
                             f"has {len(header)}")
    return header, body


def _decoded(path, encoding):
    """The file's text; the whole file is decoded at once so that an error knows its line."""
    try:
        codec = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise ValueError(f"unknown encoding {encoding!r}") from None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]  # a byte-order mark, as Excel writes
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{path}, line {line}: byte 0x{data[exc.start]:02x} is not "
                         f"{encoding} text; give the file's encoding, e.g. --encoding "
                         f"latin-1 (encoding= in Python)") from None


def number(path, row, column, cell):
    """The float in a feature cell; a ValueError naming the row and column otherwise."""
    if not cell:
        raise ValueError(f"{path}, row {row}, column {column!r}: missing value")
    try:
        value = float(cell)
    except ValueError:
        raise ValueError(f"{path}, row {row}, column {column!r}: {_short(cell)} is not a "
                         f"number (a column that is not a feature can be left out: "
                         f"--drop {column})") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}, row {row}, column {column!r}: {_short(cell)} is not "
                         f"finite")
    return value


def targets(path, column, cells, task, infer_task):
    """y from the target column's [(row number, text)], typed for ``task``.

    Regression: float64. Classification: int64 where every label is written as
    an integer ("7", not "007", "7.0" or "1e19"), else the labels as written,
    so that "007" and "7" stay two classes.
    """
    values = []
    for row, text in cells:
        try:
            values.append(float(text))
        except ValueError:
            if task == "regress":
                raise ValueError(f"{path}, row {row}, column {column!r}: {_short(text)} is "
                                 f"not a number, and the task is regression") from None
            return np.array([t for _, t in cells])  # text: class labels
    values = np.array(values)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row, text = cells[bad[0]]
        raise ValueError(f"{path}, row {row}, column {column!r}: the target {_short(text)} "
                         f"is not a finite number")
    if (task or infer_task(values)) == "regress":
        return values
    return _labels([t for _, t in cells])


def _labels(texts):
    try:
        whole = [int(t) for t in texts]
    except ValueError:
        return np.array(texts)
    if any(str(i) != t for i, t in zip(whole, texts)) or not (
            -2 ** 63 <= min(whole) and max(whole) < 2 ** 63):
        return np.array(texts)  # "007", "+7", "1_0", or beyond int64: kept as written
    return np.array(whole, dtype=np.int64)


def _short(text, limit=40):
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."
