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

import json
import os
import shutil
import tempfile
from pathlib import Path

from sigxfer._fsio import _RENAME_EXCHANGE, _fsync, _prefix, _rename_new, _renameat2, _umask, _write_error, make_readable, sweep
from sigxfer.errors import OutputExistsError, SigxferError

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
    check_output(path, overwrite=overwrite)
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


# --------------------------------------------------------------------------- what sigxfer owns
#: The file that marks a folder as sigxfer's output and lists the files sigxfer wrote in it.
MANIFEST_NAME = ".sigxfer-manifest.json"


def read_manifest(folder) -> dict | None:
    """``{"written_by": str, "files": [relative posix paths]}`` of ``folder``, or None.

    None when the folder has no manifest or one that is not sigxfer's (unreadable, wrong shape):
    such a folder is treated as the user's.
    """
    path = Path(folder) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(manifest, dict) and isinstance(manifest.get("written_by"), str)
            and isinstance(manifest.get("files"), list) and all(isinstance(f, str) for f in manifest["files"])):
        return None
    return manifest


def _holds(folder: Path, inner: Path) -> bool:
    """Whether ``inner`` is ``folder`` or lies inside it (symbolic links resolved)."""
    folder, inner = folder.resolve(), inner.resolve()
    return inner == folder or folder in inner.parents


def check_output(path, *, overwrite: bool, kind: str = "file", flag: str = "overwrite=True",
                 owner: str | None = None, inputs=()) -> list[Path]:
    """Refuse an output that must not be written, before any work; return what it will replace.

    The one rule for every output sigxfer writes:

    - a file: an existing one is replaced only with ``overwrite``; a folder in its place is refused;
    - a folder: it may be missing or empty; with ``overwrite`` it may also hold sigxfer's earlier
      output (a :data:`MANIFEST_NAME` written by ``owner``), of which only the listed files are
      replaced; a folder without a manifest is the user's and is never replaced;
    - neither may be any of the ``inputs``; a folder may not hold one, and a file may not replace
      one inside an input folder.

    Parameters
    ----------
    path : str or Path
        The output.
    overwrite : bool
        Whether the caller asked to replace an earlier output.
    kind : {"file", "folder"}
        What ``path`` is to be.
    flag : str
        How the caller's interface asks to overwrite, for the message.
    owner : str, optional
        The writer (``"save_pictures"``, ``"write_signals"``, ...): a folder written by another
        sigxfer writer is refused too. None accepts any sigxfer manifest.
    inputs : iterable of str or Path
        Input files or folders the output must neither be nor contain.

    Returns
    -------
    list of Path
        The existing files the write will replace (empty when nothing is replaced).

    Raises
    ------
    OutputExistsError
        Naming ``path`` and what to do instead.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "model.sigx"
    >>> check_output(out, overwrite=False)
    []
    """
    if kind not in ("file", "folder"):
        raise ValueError(f"kind={kind!r} must be 'file' or 'folder'")
    path = Path(path)
    for item in inputs:
        if item is None:
            continue
        if Path(item).resolve() == path.resolve():
            raise OutputExistsError(f"{path} is the input data; choose another output {kind}")
        if kind == "folder" and _holds(path, Path(item)):
            raise OutputExistsError(f"{path} holds the input data {item}; choose an output folder outside it")
        if kind == "file" and path.exists() and _holds(Path(item), path):
            raise OutputExistsError(f"{path} is part of the input data {item}; choose another output name")
    if kind == "file":
        if path.is_dir():
            raise OutputExistsError(f"{path} is a folder; give a file name for this output")
        if not (path.exists() or path.is_symlink()):
            return []
        if not overwrite:
            raise OutputExistsError(f"{path} exists; pass {flag} or choose another name")
        return [path]
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path} is a file; choose a folder name for this output")
    if not path.exists() or not any(path.iterdir()):
        return []
    if not overwrite:
        raise OutputExistsError(f"{path} exists and is not empty; pass {flag} or choose another folder")
    manifest = read_manifest(path)
    if manifest is None:
        raise OutputExistsError(
            f"{path} was not written by sigxfer (it has no {MANIFEST_NAME}), so {flag} will not replace it; "
            "choose another folder or delete it yourself"
        )
    if owner is not None and manifest["written_by"] != owner:
        raise OutputExistsError(
            f"{path} holds the output of sigxfer's {manifest['written_by']}, not of {owner}, so {flag} will "
            "not replace it; choose another folder"
        )
    return [path / f for f in manifest["files"] if (path / f).is_file()]


def _entries(folder: Path) -> tuple[set[str], set[str]]:
    """(files, folders) under ``folder`` as relative posix paths; links count as files."""
    files, folders = set(), set()
    for top, dirs, names in os.walk(folder):
        rel = Path(top).relative_to(folder)
        for d in list(dirs):
            if os.path.islink(os.path.join(top, d)):
                dirs.remove(d)  # never walk into, or later remove, what a link points at
                names.append(d)
            else:
                folders.add((rel / d).as_posix())
        files.update((rel / n).as_posix() for n in names)
    files.discard(MANIFEST_NAME)
    return files, folders


def install_folder(new, target, *, owner: str) -> list[Path]:
    """Mark the finished folder ``new`` as ``owner``'s output and put it in place of ``target``.

    Writes the manifest into ``new``, then: a missing or empty ``target``, or one holding only the
    files of its own manifest, is swapped whole (:func:`replace_folder`); a ``target`` that also
    holds files of the user's gets the new files moved in one by one, loses only the files its old
    manifest lists, and keeps everything else. Call :func:`check_output` first, before any work.

    Returns
    -------
    list of Path
        The earlier files of sigxfer's that were replaced or removed.

    Raises
    ------
    OutputExistsError
        ``target`` is not sigxfer's, or a new file would land on one of the user's files.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> new = new_staging_folder(root / "out")
    >>> _ = (new / "a.txt").write_text("1")
    >>> install_folder(new, root / "out", owner="example")
    []
    >>> read_manifest(root / "out")["files"]
    ['a.txt']
    """
    new, target = Path(new), Path(target)
    files, _ = _entries(new)
    manifest = {"written_by": owner, "files": sorted(files)}
    (new / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if not target.exists() or not any(target.iterdir()):
        replace_folder(new, target)
        return []
    old = read_manifest(target)
    if old is None or old["written_by"] != owner:
        # The folder changed since check_output: refuse rather than guess.
        check_output(target, overwrite=True, kind="folder", owner=owner)
    listed = set(old["files"])
    present, folders = _entries(target)
    listed_folders = {p.as_posix() for f in listed for p in Path(f).parents if p != Path(".")}
    foreign = (present - listed) | (folders - listed_folders)
    replaced = [target / f for f in sorted(listed & present)]
    if not foreign:
        replace_folder(new, target)
        return replaced
    users = present - listed
    for rel in sorted(files):
        in_the_way = [p.as_posix() for p in Path(rel).parents if p.as_posix() in users]
        if rel in users or rel in folders or in_the_way:
            raise OutputExistsError(
                f"{target / (in_the_way[0] if in_the_way else rel)} is not sigxfer's (not in {MANIFEST_NAME}) and "
                "is in the way of the new output; move it, or choose another folder"
            )
    # The user's files stay where they are; sigxfer's old files go first, then the new ones move in.
    for rel in sorted((listed & present) - files):
        (target / rel).unlink()
        for parent in Path(rel).parents:
            folder = target / parent
            if parent == Path(".") or any(folder.iterdir()):
                break
            folder.rmdir()
    for rel in sorted(files):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(new / rel, target / rel)
    os.replace(new / MANIFEST_NAME, target / MANIFEST_NAME)
    shutil.rmtree(new, ignore_errors=True)
    return replaced
