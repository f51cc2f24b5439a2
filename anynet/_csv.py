"""Reading a delimited text file with a header row (CSV, TSV, gzip-compressed), with pandas.

pandas' C parser does the reading: time linear in the file, memory a small
multiple of the values read (``scripts/benchmark_csv.py`` measures both
against ``pandas.read_csv`` itself). Around it, anynet keeps its promises
about a user's file:

- the file is opened once and checked as opened (``_files.open_regular``): a
  FIFO or a link to a device is refused, never read;
- the separator is detected (``,`` ``;`` tab ``|``; tab first for a .tsv) unless
  given, and said;
- everything a file can get wrong is a ValueError naming the file and, where
  there is one, the row (the header is row 1) and the column: bytes that are
  not in the file's encoding, a quote that never closes, duplicate or missing
  columns, rows of the wrong length, missing values, text or non-finite
  numbers where numbers are needed;
- a ``.gz`` file may not inflate beyond 100 times its size plus 256 MiB.
"""
import codecs
import csv
import gzip
import io
import re
import zlib

import numpy as np

from ._files import open_regular

#: The separators ``read_table`` detects, and their names.
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: The file names read as delimited text.
SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_GZ_INFLATION = (100, 256 << 20)
_HEAD = 1 << 16
_SAMPLE = 10_000
_MAX_HEADER = 64 << 20


def is_text_file(path):
    """Whether ``path``'s name says delimited text (``SUFFIXES``)."""
    return str(path).lower().endswith(SUFFIXES)


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("reading CSV files needs pandas: pip install pandas") from None
    return pandas


class Table:
    """The cells of a delimited text file, as parsed.

    Attributes
    ----------
    path : pathlib.Path
    header : list of str
        The column names, stripped, all different.
    index : dict
        Each name's position in ``header`` (one dict: no search per column).
    sep : str
        The separator used.
    detected : bool
        Whether ``sep`` was detected (not given).
    decimal, encoding : str

    The columns are held as pandas parsed them (``frame``, keyed by position),
    or, for a wide file of numbers, as one float64 block that NumPy's loadtxt
    read (``block``, its columns at ``block_index[position]``): pandas spends
    tens of seconds on 100,000 columns, loadtxt under one.
    """

    def __init__(self, path, header, n_rows, sep, detected, decimal, encoding, *,
                 frame=None, block=None, block_index=None):
        self.path, self.header, self.n_rows = path, header, n_rows
        self.sep, self.detected, self.decimal, self.encoding = sep, detected, decimal, encoding
        self.index = {name: j for j, name in enumerate(header)}
        self.frame, self.block, self.block_index = frame, block, block_index or {}
        self.kinds = {} if frame is None else \
            dict(zip(frame.columns.tolist(), (d.kind for d in frame.dtypes)))

    def __len__(self):
        return self.n_rows

    def note(self):
        """How the file was read, in words: its separator, and whether it was detected."""
        how = "detected; --sep to override" if self.detected else "as given"
        return f"{SEPARATORS.get(self.sep, repr(self.sep))} separated ({how})"

    def position(self, name):
        """The position of the column ``name``; a ValueError listing the columns if none."""
        try:
            return self.index[name]
        except KeyError:
            shown = self.header if len(self.header) <= 20 else \
                self.header[:20] + [f"... ({len(self.header)} in all)"]
            raise ValueError(f"{self.path}: no column {name!r}; the columns are "
                             f"{shown}") from None

    def is_number(self, j):
        """Whether column ``j`` was parsed as numbers."""
        return j in self.block_index or self.kinds.get(j, "O") in "biuf"

    def row(self, i):
        """The file's row number of the ``i``-th row read (the header is row 1; blank
        lines, which are skipped, count). Found by reading the file again: only an
        error message asks."""
        try:
            with _open(self.path) as stream:
                lines = io.TextIOWrapper(stream, encoding=self.encoding, newline="")
                seen = -1
                for number, record in enumerate(csv.reader(lines, delimiter=self.sep), 1):
                    if number > 1 and record:
                        seen += 1
                        if seen == i:
                            return number
        except (ValueError, OSError, csv.Error, UnicodeDecodeError):
            pass
        return i + 2

    # --- typed columns ----------------------------------------------------------------

    def numbers(self, j):
        """Column ``j`` as finite float64 numbers; a ValueError naming the first bad cell."""
        if j in self.block_index:
            return self.block[:, self.block_index[j]]
        column = self.frame[j]
        if self.kinds[j] in "biuf":
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:  # NaN: an empty cell (text "nan" stays text); else +-inf
                value = values[bad[0]]
                self._bad_number(j, bad[0], None if np.isnan(value) else str(value))
            return values
        texts = column.to_numpy(dtype=object, na_value=None)
        values = self._to_numbers(texts)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            self._bad_number(j, bad[0], texts[bad[0]])
        return values

    def matrix(self, positions):
        """The columns ``positions`` as an (n_rows, len(positions)) float64 array of
        finite numbers, converted at once where they were all parsed as numbers."""
        if all(j in self.block_index for j in positions):
            return self.block[:, [self.block_index[j] for j in positions]]
        if all(self.kinds.get(j, "O") in "biuf" for j in positions):
            X = self.frame[positions].to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.argwhere(~np.isfinite(X))
            if len(bad):
                self.numbers(positions[bad[0][1]])  # raises, naming the row and column
            return X
        X = np.empty((len(self), len(positions)))
        for k, j in enumerate(positions):
            X[:, k] = self.numbers(j)
        return X

    def numeric_share(self, j, decimal=None):
        """The share of column ``j``'s present cells that are numbers (1.0 for a numeric
        column), written with ``decimal`` (the table's by default): a column mostly of
        text is a category column, one mostly of numbers with a stray word is a
        mistake to point at."""
        if self.is_number(j):
            return 1.0
        texts = self.frame[j].to_numpy(dtype=object, na_value=None)
        if len(texts) > _SAMPLE:  # evenly spaced cells estimate the share closely enough
            texts = texts[np.linspace(0, len(texts) - 1, _SAMPLE).astype(np.int64)]
        present = np.not_equal(texts, None)
        if not present.any():
            return 1.0
        values = self._to_numbers(texts[present], decimal)
        lowered = np.char.lower(np.asarray(texts[present], dtype=str))
        named = np.isin(np.char.strip(lowered), ["nan", "+nan", "-nan"])
        return float(np.mean(~np.isnan(values) | named))

    def categories(self, j):
        """Column ``j``'s distinct texts, sorted (as scikit-learn's ``OneHotEncoder``);
        a ValueError at a missing cell."""
        column = self.frame[j]
        if column.isna().any():
            self._missing(j, int(np.flatnonzero(column.isna().to_numpy())[0]))
        return sorted(str(v) for v in column.unique().tolist())

    def codes(self, j, categories):
        """Column ``j``'s cells as positions in ``categories`` (-1 for one not there),
        by hashing, not per-cell Python; a ValueError at a missing cell."""
        pd = _pandas()
        column = self.frame[j]
        if column.isna().any():
            self._missing(j, int(np.flatnonzero(column.isna().to_numpy())[0]))
        return np.asarray(pd.Index(categories, dtype=object).get_indexer(
            column.to_numpy(dtype=object)), dtype=np.int64)

    def text(self, j, i):
        """The ``i``-th cell of column ``j`` as written."""
        return str(self.frame[j].iloc[i])

    def texts(self, j):
        """Column ``j``'s cells as written (str array); a ValueError at a missing cell."""
        if j in self.block_index:
            raise ValueError(f"{self.path}: column {self.header[j]!r} was read as numbers")
        texts = self.frame[j].to_numpy(dtype=object, na_value=None)
        missing = np.flatnonzero(np.equal(texts, None))
        if missing.size:
            self._missing(j, missing[0])
        return np.asarray(texts, dtype=str) if len(texts) else np.array([], dtype=str)

    def _to_numbers(self, texts, decimal=None):
        pd = _pandas()
        decimal = decimal or self.decimal
        strings = pd.Series(texts, dtype=object)
        if decimal != ".":
            strings = strings.str.replace(decimal, ".", regex=False)
        return pd.to_numeric(strings, errors="coerce").to_numpy(dtype=np.float64,
                                                                 na_value=np.nan)

    def _bad_number(self, j, i, text):
        name, row = self.header[j], self.row(i)
        if text is None or not str(text).strip():
            self._missing(j, i)
        raise ValueError(_bad_cell(self.path, row, name, str(text), self.decimal))

    def _missing(self, j, i):
        row = self.row(i)
        fields = _fields_of_row(self, row)
        if fields is not None and fields != len(self.header):
            raise ValueError(f"{self.path}, row {row}: {fields} fields, but the header has "
                             f"{len(self.header)}")
        raise ValueError(f"{self.path}, row {row}, column {self.header[j]!r}: missing value")


def _bad_cell(path, row, name, text, decimal="."):
    try:
        float(text.replace(decimal, "."))
    except ValueError:
        return (f"{path}, row {row}, column {name!r}: {_short(text)} is not a number (a "
                f"column that is not a feature can be left out: --drop {name})")
    return f"{path}, row {row}, column {name!r}: {_short(text)} is not finite"


def read_table(path, *, sep=None, decimal=".", encoding="utf-8", columns=None, text=()):
    """Read the delimited text file ``path`` with a header row.

    Parameters
    ----------
    path : pathlib.Path
    sep : str, optional
        The one-character separator; detected when None (tab for a ``.tsv``).
    decimal : str
        The decimal mark of the numbers ("," for ``72,18``).
    encoding : str
        The file's text encoding (a UTF-8 byte-order mark is skipped).
    columns : list of str, optional
        Only these columns are parsed (all by default).
    text : iterable of str
        Columns kept as written, not parsed as numbers (labels, categories, ids).

    Returns
    -------
    Table
    """
    _pandas()  # says how to install it before anything is read
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1):
        raise ValueError(f"the separator must be one character, got {sep!r}")
    if not isinstance(decimal, str) or len(decimal) != 1:
        raise ValueError(f"the decimal mark must be one character, got {decimal!r}")
    try:
        codec = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if sep is not None and sep == decimal:
        raise ValueError(f"the separator and the decimal mark are both {sep!r}")
    with _open(path) as stream:
        head = _head(path, stream, codec, encoding)
        detected = sep is None
        if detected:
            sep = _detect(head, decimal, "\t" if ".tsv" in path.name.lower() else ",")
        header = _header(path, head, sep)
        if codec == "utf-8":
            codec = "utf-8-sig"  # a byte-order mark, as Excel writes, is not a column name
        wanted = list(range(len(header))) if columns is None else \
            _wanted(path, header, columns)
        text = {j for j in wanted if header[j] in set(text)}
        options = dict(sep=sep, decimal=decimal, encoding=codec, header=None, skiprows=1,
                       names=list(range(len(header))), index_col=False,
                       keep_default_na=False, na_values=[""], skip_blank_lines=True,
                       skipinitialspace=True, low_memory=False, quotechar='"',
                       encoding_errors="strict")
        table = None
        if len(wanted) - len(text) >= WIDE and decimal == ".":
            table = _wide(path, stream, header, wanted, text, options, detected)
        if table is None:
            stream.seek(0)
            frame = _pandas_read(path, stream, header, wanted, options,
                                 {j: str for j in text} or None)
            table = Table(path, header, len(frame), sep, detected, decimal, encoding,
                          frame=frame)
    if len(table) == 0:
        raise ValueError(f"{path}: the file has a header but no rows")
    return table


#: The name given to a column whose header cell is empty: "unnamed_1" for the first.
UNNAMED = "unnamed_"

#: From this many numeric columns on, NumPy's loadtxt reads them (``_wide``).
WIDE = 1000


def _pandas_read(path, stream, header, wanted, options, dtypes):
    pd = _pandas()
    try:
        return pd.read_csv(stream, usecols=wanted, dtype=dtypes, **options)
    except UnicodeDecodeError:
        _find_undecodable(path, options["encoding"], options["encoding"])
        raise
    except pd.errors.ParserError as exc:
        raise ValueError(_parser_problem(path, exc, len(header))) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None


def _wide(path, stream, header, wanted, text, options, detected):
    """A Table of a wide file whose numeric columns all hold finite numbers, read by
    loadtxt (and its text columns by pandas); None where anything is amiss, so that
    pandas reads it all and the error names the row and column."""
    numeric = [j for j in wanted if j not in text]
    stream.seek(0)
    lines = io.TextIOWrapper(stream, encoding=options["encoding"], newline="")
    try:
        block = np.loadtxt(lines, delimiter=options["sep"], skiprows=1, usecols=numeric,
                           dtype=np.float64, ndmin=2, comments=None, quotechar='"')
    except (ValueError, UnicodeDecodeError, OSError, EOFError, zlib.error):
        return None  # pandas reads it again, and names what is wrong
    finally:
        lines.detach()  # the stream stays open for pandas
        stream.seek(0)
    if not np.all(np.isfinite(block)):
        return None
    frame = None
    if text:
        frame = _pandas_read(path, stream, header, sorted(text), options,
                             {j: str for j in text})
        if len(frame) != len(block):
            return None
    return Table(path, header, len(block), options["sep"], detected, options["decimal"],
                 options["encoding"].replace("-sig", ""), frame=frame, block=block,
                 block_index={j: k for k, j in enumerate(numeric)})


def _wanted(path, header, columns):
    """The positions of ``columns`` in ``header``, in file order (one dict, not a
    search per column: 100,000 columns stay fast)."""
    positions = {name: j for j, name in enumerate(header)}
    missing = [name for name in columns if name not in positions]
    if missing:
        Table(path, header, 0, None, None, None, None).position(missing[0])
    return sorted({positions[name] for name in columns})


class _Limited(io.RawIOBase):
    """A gzip stream that refuses to inflate beyond ``limit`` bytes."""

    def __init__(self, path, inner, limit):
        self.path, self.inner, self.limit, self.seen = path, inner, limit, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        self.seen = 0
        return self.inner.seek(offset, whence)

    def tell(self):
        return self.inner.tell()

    def readinto(self, buffer):
        data = self.inner.read(len(buffer))
        self.seen += len(data)
        if self.seen > self.limit:
            raise ValueError(f"{self.path}: it inflates to more than {self.limit:,} bytes "
                             f"(100 times its size plus 256 MiB); decompress it first "
                             f"if that is what it holds")
        buffer[:len(data)] = data
        return len(data)

    def close(self):
        self.inner.close()
        super().close()


class _open:
    """The file, opened once and checked (``open_regular``); a ``.gz`` inflated, capped."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.raw, size = open_regular(self.path)
        if not self.path.name.lower().endswith(".gz"):
            return self.raw
        limit = _GZ_INFLATION[0] * size + _GZ_INFLATION[1]
        return io.BufferedReader(_Limited(self.path, gzip.GzipFile(fileobj=self.raw), limit))

    def __exit__(self, *exc):
        self.raw.close()
        return False


def _head(path, stream, codec, encoding):
    """The file's first lines as text (at least the whole header row)."""
    try:
        chunks = [stream.read(_HEAD)]
        size = len(chunks[0])
        while b"\n" not in chunks[-1] and size < _MAX_HEADER:  # a list: linear, not
            more = stream.read(_HEAD)                          # a copy per chunk
            if not more:
                break
            chunks.append(more)
            size += len(more)
        data = b"".join(chunks)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None
    if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if not data.strip():
        raise ValueError(f"{path}: the file is empty")
    if b"\n" not in data and len(data) >= _MAX_HEADER:
        raise ValueError(f"{path}: no line ends within its first {_MAX_HEADER >> 20} MiB; "
                         f"it is not a CSV file with a header row")
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        return decoder.decode(data, final=False)
    except UnicodeDecodeError as exc:
        raise ValueError(_undecodable(path, data, exc, encoding)) from None


def _undecodable(path, data, exc, encoding, lines_before=0):
    line = lines_before + data.count(b"\n", 0, exc.start) + 1
    return (f"{path}, line {line}: byte 0x{data[exc.start]:02x} is not {encoding} text; "
            f"give the file's encoding, e.g. --encoding latin-1 (encoding= in Python)")


def _find_undecodable(path, codec, encoding):
    """Raise the ValueError naming the line of the first byte not in ``encoding``."""
    decoder = codecs.getincrementaldecoder(codec)()
    lines = 0
    with _open(path) as stream:
        while True:
            data = stream.read(1 << 20)
            try:
                decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                start = max(exc.start, 0)
                raise ValueError(_undecodable(path, data, type(exc)(
                    exc.encoding, exc.object, start, exc.end, exc.reason), encoding,
                    lines)) from None
            if not data:
                return
            lines += data.count(b"\n")


def _records(text, sep, limit=20):
    """The first ``limit`` complete records of ``text`` split on ``sep`` (quotes honoured)."""
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line of the head may be cut
    try:
        return [row for row, _ in zip(csv.reader(lines, delimiter=sep), range(limit))
                if row]
    except csv.Error:
        return []


def _detect(head, decimal, usual):
    """The separator of ``SEPARATORS`` that splits the head's rows into the same number
    (more than one) of fields, the most fields winning, ``usual`` (tab for a .tsv,
    else ",") first among equals and when none does."""
    usual = ";" if usual == decimal else usual  # "72,18" with --decimal , is ;-separated
    best, best_fields = usual, 1
    for sep in sorted(SEPARATORS, key=lambda c: c != usual):
        if sep == decimal:
            continue
        rows = _records(head, sep)
        if not rows:
            continue
        widths = {len(row) for row in rows}
        if len(widths) == 1 and len(rows[0]) > best_fields:
            best, best_fields = sep, len(rows[0])
    return best


def _header(path, head, sep):
    rows = _records(head, sep, limit=1)
    if not rows and head.strip():
        raise ValueError(f"{path}: the header row cannot be read (a quote that never "
                         f"closes, or a name over {csv.field_size_limit():,} characters?)")
    header = [name.strip() for name in rows[0]] if rows else []
    if not any(header):
        raise ValueError(f"{path}: the file is empty")
    # a column without a name (the row index pandas' to_csv writes) gets one to --drop
    header = [name or f"{UNNAMED}{number}" for number, name in enumerate(header, start=1)]
    first = {}
    for number, name in enumerate(header, start=1):
        if name in first:
            raise ValueError(f"{path}: the column name {name!r} appears twice (columns "
                             f"{first[name]} and {number}); rename one")
        first[name] = number
    return header


def _parser_problem(path, exc, width):
    text = str(exc)
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if found:
        return (f"{path}, row {found.group(2)}: {found.group(3)} fields, but the header "
                f"has {width}")
    found = re.search(r"EOF inside string starting at row (\d+)", text)
    if found:
        return (f"{path}, row {int(found.group(1)) + 1}: a quoted field never closes (an "
                f"unclosed quote?)")
    return f"{path}: cannot read: {' '.join(text.split())}"


def _fields_of_row(table, row):
    """The number of fields of the file's row ``row``, or None if it cannot be found."""
    try:
        with _open(table.path) as stream:
            lines = io.TextIOWrapper(stream, encoding=table.encoding, newline="")
            for number, record in enumerate(csv.reader(lines, delimiter=table.sep), 1):
                if number == row:
                    return len(record)
    except (ValueError, OSError, csv.Error, UnicodeDecodeError):
        return None
    return None


def targets(path, column, texts, row, task, infer_task, decimal="."):
    """y from the target column's texts (as written), typed for ``task``; ``row(i)``
    is the file's row number of text ``i``, for a message.

    Regression: float64. Classification: int64 where every label is written as
    a whole number ("7" or "7.0", not "007", "+7" or "1e19"), else the labels as
    written, so that "007" and "7" stay two classes.
    """
    # each distinct text is parsed once (a target has few, or is read in linear time)
    codes, distinct = _pandas().factorize(np.asarray(texts, dtype=object))
    distinct = np.asarray(distinct, dtype=str)
    numbers = distinct if decimal == "." else np.char.replace(distinct, decimal, ".")
    try:
        values = np.array([float(t) for t in numbers.tolist()], dtype=np.float64)[codes]
    except ValueError:
        if task == "regress":
            for i, (text, number) in enumerate(zip(texts.tolist(), numbers[codes].tolist())):
                try:
                    float(number)
                except ValueError:
                    raise ValueError(f"{path}, row {row(i)}, column {column!r}: {_short(text)} "
                                     f"is not a number, and the task is regression") from None
        return texts  # text: class labels
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"{path}, row {row(bad[0])}, column {column!r}: the target "
                         f"{_short(texts[bad[0]])} is not a finite number")
    if (task or infer_task(values)) == "regress":
        return values
    labels = _labels(numbers)
    return labels[codes] if labels.dtype == np.int64 else texts


def _labels(texts):
    """int64 labels where every text spells a whole number plainly: "7", or "7.0" as a
    column of floats writes it (the same classes as an array of 0.0/1.0 gives); else
    the texts as written ("007", "+7", "1_0", "1e1", beyond int64)."""
    try:
        values = [float(t) for t in texts.tolist()]
    except ValueError:
        return texts
    if not all(v == v and abs(v) < 2 ** 63 and v == int(v) for v in values):
        return texts
    whole = [int(v) for v in values]
    if any(t not in (str(i), f"{i}.0") for i, t in zip(whole, texts.tolist())):
        return texts
    return np.array(whole, dtype=np.int64)


def _short(text, limit=40):
    text = str(text)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."
