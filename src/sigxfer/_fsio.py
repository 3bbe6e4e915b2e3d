"""File-system primitives of sigxfer's writes: owned temporary names, sweeping what dead writers
left, renames that refuse to replace (``renameat2`` on Linux), fsync, and disk errors in words.

:mod:`sigxfer._atomic` builds every write out of these.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import socket
import sys
from pathlib import Path

from sigxfer.errors import OutputExistsError, WriteError

_SUFFIXES = (".tmp", ".old")
#: ``renameat2`` flags (linux/fs.h) and the "current directory" file descriptor.
_RENAME_NOREPLACE, _RENAME_EXCHANGE, _AT_FDCWD = 1, 2, -100
#: errno values meaning "this system or file system cannot do that rename": fall back.
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_readable(path) -> None:
    """Give a file made by ``mkstemp`` (mode 0600) the permissions a plain ``open`` would."""
    os.chmod(path, 0o666 & ~_umask())


# ------------------------------------------------------------------ whose temporary names
def _host() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def _owner() -> str:
    # Computed per call: a forked child must not pass for its parent.
    return f"{os.getpid()}-{_host()}"


def _prefix(target: Path) -> str:
    return f".{target.name}.{_owner()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _stale(entry: Path, target: Path) -> bool:
    """Whether ``entry`` is a temporary name of ``target`` left by a process of this host that is gone."""
    name = entry.name
    head = f".{target.name}."
    if not name.startswith(head) or not name.endswith(_SUFFIXES):
        return False
    owner = name[len(head):].split(".", 1)[0]
    pid, _, host = owner.partition("-")
    return pid.isdigit() and host == _host() and not _alive(int(pid))


def sweep(target) -> list[Path]:
    """Remove what killed writers of ``target`` left beside it; restore a folder a kill left aside.

    Only names made by this module for ``target`` whose process no longer runs on this host are
    touched. When ``target`` is missing and such a leftover holds the earlier ``target`` (a kill
    between the two renames of :func:`replace_folder` where ``renameat2`` is not available), that
    folder is renamed back first.

    Returns
    -------
    list of Path
        The leftovers removed (or restored).

    Examples
    --------
    >>> sweep(Path(tempfile.mkdtemp()) / "out.csv")
    []
    """
    target = Path(target)
    try:
        entries = [e for e in target.parent.iterdir() if _stale(e, target)]
    except OSError:  # no parent folder yet, or not readable: nothing of ours is there
        return []
    for entry in sorted(entries, key=lambda e: not e.name.endswith(".old")):  # restore before removing
        kept = entry / target.name
        if entry.name.endswith(".old") and kept.exists() and not os.path.lexists(target):
            os.replace(kept, target)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink()
            except FileNotFoundError:
                pass
    return entries


# ------------------------------------------------------------------ renames that cannot lose a file
def _renameat2(src, dst, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False when this system or file system has no such rename."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc without it (glibc < 2.28, some musl builds)
        return False
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if call(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(dst))


def _rename_new(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, refusing (OutputExistsError) if ``dst`` appeared meanwhile."""
    try:
        if _renameat2(src, dst, _RENAME_NOREPLACE):
            return
    except OSError as err:
        if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise OutputExistsError(f"{dst} was created by another writer while this one was writing; "
                                    "pass overwrite=True (--overwrite) or choose another name") from None
        raise
    if os.path.lexists(dst):  # no atomic way here: the window is between this check and the rename
        raise OutputExistsError(f"{dst} exists; pass overwrite=True (--overwrite) or choose another name")
    os.replace(src, dst)


def _fsync(path, *, folder: bool = False) -> None:
    """Flush ``path`` to disk so a crash of the machine (not just the process) keeps it whole."""
    try:
        fd = os.open(path, (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if folder else os.O_RDWR)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if not folder:  # folders cannot be flushed on every system; files must be
            raise
        del err
    finally:
        os.close(fd)


def _write_error(path: Path, err: OSError) -> WriteError:
    reason = err.strerror or str(err) or type(err).__name__
    error = WriteError(f"{path}: could not be written ({reason}); any earlier {path.name} is unchanged: "
                       "free disk space or choose another folder")
    error.errno = err.errno  # one line for the user, the code for programs that test it
    return error


# ------------------------------------------------------------------ files
