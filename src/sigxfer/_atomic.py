"""Writing outputs without ever leaving a half-written file or silently replacing a user's file.

Every output is built under a hidden temporary name beside its target and renamed into place
whole. The temporary names say whose they are: ``.model.sigx.<pid>-<host>.<random>.tmp`` (files
and staging folders) and ``.<name>.<pid>-<host>.<random>.old`` (a replaced folder on its way
out). A process killed mid-write leaves such a name behind; the next write to the same target
removes the ones whose process is gone (never those of a live writer, so two processes can write
at once) and, if a kill came between the two renames of a folder swap, puts the earlier folder
back first.

On Linux the final rename is one system call that either swaps the new folder with the old one
or refuses to replace anything (``renameat2``), so at every moment the target names one whole
output, and two writers that both found the name free cannot both take it.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from sigxfer.errors import OutputExistsError, SigxferError, WriteError

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
def atomic_write(path, write, *, overwrite: bool = False) -> Path:
    """Have ``write(tmp_path)`` fill a temporary file beside ``path``, then rename it into place.

    An interrupted write never leaves a half-written ``path``; an existing ``path`` is never
    replaced unless ``overwrite``, not even by a second process that checked at the same moment.
    Leftovers of killed writers of ``path`` are removed first (see :func:`sweep`).

    Raises
    ------
    OutputExistsError
        ``path`` exists (or appeared while writing) and ``overwrite`` is False.
    WriteError
        The disk is full or the folder is not writable; ``path`` is as it was, no temporary
        file is left.

    Examples
    --------
    >>> out = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(out, lambda tmp: Path(tmp).write_text("hi")).read_text()
    'hi'
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) or choose another name")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep(path)
        fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(tmp)
        make_readable(tmp)
        _fsync(tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_new(Path(tmp), path)
        _fsync(path.parent, folder=True)
    except OSError as err:
        if isinstance(err, SigxferError):
            raise
        raise _write_error(path, err) from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_bytes(path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`).

    Examples
    --------
    >>> atomic_write_bytes(Path(tempfile.mkdtemp()) / "b.bin", b"\\x00\\x01").stat().st_size
    2
    """
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), overwrite=overwrite)


def atomic_write_text(path, text: str, *, overwrite: bool = False) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text.

    Examples
    --------
    >>> atomic_write_text(Path(tempfile.mkdtemp()) / "t.csv", "a,b\\n").read_text()
    'a,b\\n'
    """
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


# ------------------------------------------------------------------ folders
def new_staging_folder(out) -> Path:
    """An empty hidden folder beside ``out`` to build it in, with the umask's permissions.

    ``tempfile.mkdtemp`` makes folders private (0700); a renamed result should look like any folder
    the user makes. Leftovers of killed writers of ``out`` are removed first (see :func:`sweep`).

    Examples
    --------
    >>> new_staging_folder(Path(tempfile.mkdtemp()) / "pictures").name.startswith(".pictures.")
    True
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep(out)
    # What `out` was when the caller checked it travels in the name, for replace_folder: a name
    # that was free (or an empty folder) must not be taken from a writer that got there first.
    state = _NEW if not os.path.lexists(out) else _EMPTY if out.is_dir() and not any(out.iterdir()) else ".tmp"
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(out), suffix=state, dir=out.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


#: Staging-folder suffixes: the target did not exist / was an empty folder when staging began.
_NEW, _EMPTY = ".new.tmp", ".empty.tmp"


def replace_folder(new, target) -> None:
    """Rename the finished folder ``new`` to ``target``; an old ``target`` is removed only afterwards.

    Where the system can (Linux), the old and new folders are swapped in one rename, so ``target``
    always names one complete folder. Elsewhere the old one is moved aside first and moved back
    if the rename fails; a kill between the two leaves it aside, and the next write restores it.

    A folder from :func:`new_staging_folder` for a ``target`` that did not exist (or was empty)
    then never replaces an output another writer put there meanwhile.

    Raises
    ------
    OutputExistsError
        ``target`` was free (or empty) when the write began and another writer filled it meanwhile.
    WriteError
        The renames failed (``target`` is as it was).
    """
    new, target = Path(new), Path(target)
    try:
        if new.name.endswith(_EMPTY) and target.is_dir() and any(target.iterdir()):
            raise OutputExistsError(f"{target} was filled by another writer while this one was writing; "
                                    "pass overwrite=True (--overwrite) or choose another folder")
        if not os.path.lexists(target) or new.name.endswith(_NEW):
            _rename_new(new, target)
        elif _renameat2(new, target, _RENAME_EXCHANGE):
            shutil.rmtree(new, ignore_errors=True)  # the old folder, under the new one's name
        else:
            _swap_in_two_steps(new, target)
        _fsync(target.parent, folder=True)
    except OSError as err:
        if isinstance(err, SigxferError):
            raise
        raise _write_error(target, err) from err


def _swap_in_two_steps(new: Path, target: Path) -> None:
    old = Path(tempfile.mkdtemp(prefix=_prefix(target), suffix=".old", dir=target.parent))
    os.replace(target, old / target.name)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(old / target.name, target)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
