"""Reading ``.npz`` archives and ``.npy`` files that may be damaged or hostile.

``numpy.load`` trusts a file's headers: a shape that is negative or overflows, or
a compressed member that claims (or inflates to) gigabytes, makes it allocate
far more than the file holds. Here each array's header is read and checked
before its data, so memory stays in proportion to the file:

- a member must be stored or deflated (what NumPy writes). zipfile inflates
  bzip2 and lzma members with no bound on the output of one read, so a few
  kilobytes can become gigabytes before any size is checked: they are refused;
- a deflated member may state at most ``factor`` times its compressed size
  plus ``slack`` bytes, and all the members together at most ``factor`` times
  the file's size plus ``slack`` (the caller's choice: anynet's models are
  written uncompressed, a user's data may be ``numpy.savez_compressed``, whose
  zeros deflate about 1,030 to 1, deflate's limit), so that many members, or
  entries of the directory that share their data, cannot add up to more;
- every dimension of a header's shape is an integer >= 0, and the bytes it
  implies (computed with Python integers, which cannot overflow) fit in what
  the member holds.

Errors are ``ValueError`` without the file's name; callers prefix it.
"""
import math
import zipfile
import zlib

import numpy as np

# what a damaged archive raises from zipfile, zlib and numpy's header parser
READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, KeyError, zlib.error,
               NotImplementedError, RuntimeError, MemoryError, UnicodeDecodeError)

ZIP_MAGIC, NPY_MAGIC = b"PK", b"\x93NUMPY"


def open_archive(handle):
    """A ``zipfile.ZipFile`` over an open binary file; a ValueError if it is not one."""
    try:
        return zipfile.ZipFile(handle)
    except (ValueError, *READ_ERRORS) as exc:
        raise ValueError(f"cannot load: the file is truncated or corrupted "
                         f"({type(exc).__name__}: {exc})") from None


class NpzMembers:
    """The ``.npy`` members of an open zip archive, read one at a time, headers first.

    Parameters
    ----------
    archive : zipfile.ZipFile
    factor, slack : int
        A deflated member may state at most ``factor * compressed + slack`` bytes,
        and the members together ``factor * held + slack``.
    held : int
        The size of the archive's file in bytes.
    """

    def __init__(self, archive, factor, slack, held):
        self.archive, self.factor, self.slack = archive, factor, slack
        self.names = {n[:-4]: n for n in archive.namelist() if n.endswith(".npy")}
        members = archive.infolist()
        for info in members:  # each member's method and claim, before their total
            try:
                self._check_member(info)
            except ValueError as exc:
                raise ValueError(f"cannot load: member {info.filename[:80]!r} is refused "
                                 f"({exc})") from None
        claimed = sum(info.file_size for info in members)
        allowed = factor * held + slack
        if claimed > allowed:
            raise ValueError(f"cannot load: its members state {claimed} bytes in all from a "
                             f"file of {held}, more than {factor}x its size plus {slack}: "
                             f"refused as a compression bomb")

    def keys(self):
        return self.names.keys()

    def fetch(self, key, shape=None, limit=None):
        """The array ``key`` (None if absent), its header checked against ``shape``
        and its size against ``limit`` bytes; a ValueError for any damage."""
        if key not in self.names:
            return None
        try:
            info = self.archive.getinfo(self.names[key])
            self._check_member(info)
            with self.archive.open(info) as f:
                return read_array(f, info.file_size, shape, key, limit)
        except ValueError as exc:
            if str(exc).startswith("array "):  # a shape that disagrees: said as is
                raise
            raise ValueError(f"cannot load: array {key!r} is damaged ({exc})") from None
        except READ_ERRORS as exc:
            raise ValueError(f"cannot load: the file is truncated or corrupted "
                             f"({type(exc).__name__}: {exc})") from None

    def _check_member(self, info):
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise ValueError(f"it is stored uncompressed, yet states {info.file_size} "
                                 f"bytes for {info.compress_size}")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            allowed = self.factor * info.compress_size + self.slack
            if info.file_size > allowed:
                raise ValueError(f"it states {info.file_size} bytes from "
                                 f"{info.compress_size} compressed, more than "
                                 f"{self.factor}x: refused as a compression bomb")
        else:
            raise ValueError(f"it is compressed with method {info.compress_type} "
                             f"(bzip2 or lzma?), which NumPy never writes: refused")


def read_array(f, held, shape=None, key="array", limit=None):
    """The .npy array in the binary file ``f`` that holds ``held`` bytes in all.

    The header is read first; its shape must be ``shape`` (when given), and its
    data must fit in what ``f`` holds and in ``limit`` bytes.
    """
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        found, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        found, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if dtype.hasobject:
        raise ValueError("it holds Python objects, which anynet never unpickles")
    if not all(isinstance(n, int) and n >= 0 for n in found):
        raise ValueError(f"its header claims the shape {found}")
    if shape is not None and tuple(found) != shape:
        raise ValueError(f"array {key!r} has shape {tuple(found)}, but the "
                         f"description says {shape}")
    size = math.prod(found) * dtype.itemsize  # Python integers: no overflow
    room = held - f.tell()
    if size > room:
        raise ValueError(f"its header claims {size} bytes, more than the file holds "
                         f"({room})")
    if limit is not None and size > limit:
        raise ValueError(f"its header claims {size} bytes, more than anynet reads "
                         f"({limit})")
    data = f.read(size)
    if len(data) != size:
        raise ValueError(f"it is cut short ({len(data)} of {size} bytes)")
    return np.frombuffer(data, dtype=dtype).reshape(found, order="F" if fortran else "C")
