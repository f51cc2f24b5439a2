"""Writing a file the way a user expects: atomically, where asked, with the usual mode.

- ``check_target`` says before any work whether a path can receive a file:
  its folder exists and is writable, and it is absent or a regular file (a
  folder, FIFO or device there is refused, and nothing there changes);
  ``check_outputs`` does so for a command's outputs, none of which may be one
  of its inputs or another output.
- ``atomic_write`` writes a temporary file beside the target and renames it
  over the target, so a crash never leaves a half-written file. A symlink is
  written through (its target is replaced, the link stays); a new file gets
  the mode the umask gives (as ``open`` would), an existing file keeps its mode.
- ``open_regular`` opens a file to read once, without blocking, and checks
  what it opened (a FIFO swapped in for the file is refused, not waited on).
- Temporary names are short (a file name of 255 bytes still saves) and name
  their target and writer, so that a later save can remove those that a
  killed writer left behind.
"""
import hashlib
import os
import stat
import tempfile
import time
from pathlib import Path

# a temporary is stale when its writer is dead AND it has not changed for this
# long: the pid alone could belong to another machine sharing the folder (NFS,
# containers), and a live writer keeps touching its file
_STALE_SECONDS = 60

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def open_regular(path):
    """``path`` opened once for reading, checked to be a regular file, and its size.

    The path is opened without blocking (a FIFO swapped in for the file would
    otherwise wait forever for a writer) and what was opened is checked with
    ``fstat``: a check of the path followed by a second open could meet another
    file.

    Returns
    -------
    (file object, int)
        An open binary file, and its size in bytes.

    Raises
    ------
    ValueError
        Naming the path: no such file, not a regular file, or not readable.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except OSError as exc:  # permission, a symlink loop, a name too long
        raise ValueError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
            raise ValueError(f"{path}: not a regular file (it is {kind})")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file ignores it; reads as usual
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise


def check_target(path, what="output"):
    """The real path a file for ``path`` will be written to; a ValueError now if it cannot.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the file is, for the message ("output", "checkpoint", "--plot").

    Returns
    -------
    pathlib.Path
        ``path`` with its symlinks resolved: where the bytes will go.
    """
    path = Path(path)
    real = Path(os.path.realpath(path))
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:  # a symlink loop, a path through a regular file
        raise ValueError(f"cannot write {what} {path}: {exc.strerror}") from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise ValueError(f"cannot write {what} {path}: it exists and is {kind}, not a "
                         f"regular file")
    folder = real.parent
    shown = folder if path.is_symlink() else (path.parent if str(path.parent) else Path("."))
    if not folder.is_dir():
        raise ValueError(f"cannot write {what} {path}: folder {shown} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {what} {path}: folder {shown} is not writable")
    return real


def check_outputs(outputs, inputs):
    """Each (option, path, what) of ``outputs`` can be written (``check_target``; a
    None path is skipped), and none of them is a file of ``inputs`` or another output."""
    seen = []
    for option, path, what in outputs:
        if path is None:
            continue
        if os.fspath(path) == "-":  # standard output's usual name: not for a binary file
            raise ValueError(f"{option} -: this command writes a file there, not to "
                             f"standard output; give a file name")
        check_target(path, what)
        for source in inputs:
            if _same_file(path, source):
                raise ValueError(f"{option} {path} is the input file {source}: writing it "
                                 f"would destroy it; choose another file")
        for other, earlier in seen:
            if _same_file(path, earlier):
                raise ValueError(f"{option} {path} is the same file as {other} {earlier}; "
                                 f"choose another file")
        seen.append((option, path))


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def atomic_write(path, writer, what="output"):
    """Call ``writer(f)`` on a temporary binary file, then rename it over ``path``.

    Returns
    -------
    pathlib.Path
        ``path`` as given.
    """
    real = check_target(path, what)
    prefix = _prefix(real.name)
    _remove_stale(real.parent, prefix)
    mode = _mode_for(real)
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f"{prefix}{os.getpid()}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(path)


def _prefix(name):
    """``.<the name's start>~<hash of the name>.``: one target's temporaries, short."""
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:10]
    return f".{name[:24]}~{digest}."


def _mode_for(real):
    try:
        return stat.S_IMODE(os.stat(real).st_mode)  # an existing file keeps its mode
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask():
    """The process's umask, read without changing it where Linux says it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _remove_stale(folder, prefix):
    """Delete temporaries of this target that a killed writer left behind."""
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        try:
            idle = now - entry.stat(follow_symlinks=False).st_mtime
            if pid.isdigit() and not _alive(int(pid)) and idle > _STALE_SECONDS:
                os.unlink(entry.path)
        except OSError:
            pass  # gone already, or not ours to remove


def _alive(pid):
    if os.name != "posix" or pid == os.getpid():
        return True  # os.kill(pid, 0) is no probe on Windows: never guess there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True
