"""Writing outputs without ever leaving a half-written file or silently replacing a user's file."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from sigxfer.errors import OutputExistsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_readable(path) -> None:
    """Give a file made by ``mkstemp`` (mode 0600) the permissions a plain ``open`` would."""
    os.chmod(path, 0o666 & ~_umask())


def atomic_write(path, write, *, overwrite: bool = False) -> Path:
    """Have ``write(tmp_path)`` fill a temporary file beside ``path``, then rename it into place.

    An interrupted write never leaves a half-written ``path``, and an existing ``path`` is never
    replaced unless ``overwrite``.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) or choose another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        make_readable(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_bytes(path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), overwrite=overwrite)


def atomic_write_text(path, text: str, *, overwrite: bool = False) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def new_staging_folder(out) -> Path:
    """An empty hidden folder beside ``out`` to build it in, with the umask's permissions.

    ``tempfile.mkdtemp`` makes folders private (0700); a renamed result should look like any folder
    the user makes.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def replace_folder(new, target) -> None:
    """Rename the finished folder ``new`` to ``target``; an old ``target`` is removed only afterwards.

    At every moment one complete folder has the name: the old one is moved aside first and moved
    back if the rename fails.
    """
    new, target = Path(new), Path(target)
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, old / target.name)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(old / target.name, target)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
