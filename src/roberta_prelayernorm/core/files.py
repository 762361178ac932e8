"""Writing files so that a failure never leaves half a file or half a folder behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from typing import Any, Callable, Iterator

from .errors import CheckpointError


def parse_size(size: int | str) -> int:
    """``"5GB"``, ``"500MB"``, ``"10KiB"`` or an int → bytes."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B)?\s*", size.upper())
    if not match:
        raise ValueError(f"cannot read size {size!r}: use an int or a string such as '5GB'")
    number, unit, suffix = match.groups()
    base = 1024 if suffix == "IB" else 1000
    return int(float(number) * base ** " KMGT".index(unit or " "))


def ordinary_permissions(path: str) -> None:
    """Give a file, or a folder and everything in it, the permissions of a newly created one (0666 for
    files, 0777 for folders, less the umask) instead of the private 0600/0700 of ``tempfile`` and of
    safetensors' own temporary files, before it is renamed into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~umask)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o777 & ~umask)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o666 & ~umask)


def atomic_write_text(path: str, text: str) -> None:
    """Write a text file through a temporary file in the same folder, then rename it into place."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        ordinary_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def write_json(path: str, data: Any, **dump: Any) -> None:
    """``atomic_write_text`` of ``json.dumps(data, **dump)`` and a final newline."""
    atomic_write_text(path, json.dumps(data, **dump) + "\n")


@contextlib.contextmanager
def staging_folder(folder: str, *, replaces: Callable[[str], bool] = lambda name: False, whole: bool = False,
                   fsync: bool = False) -> Iterator[str]:
    """Stage the files of ``folder`` in a temporary folder beside it, then move them in at once.

    Yields the staging folder. On success a new ``folder`` appears whole (one rename). An existing one
    gets the staged files, and its files for which ``replaces(name)`` is true and that the staging does
    not hold (stale weight shards of an earlier save) are removed; other files (a tokenizer) stay. With
    ``whole`` an existing folder is swapped out entirely instead. ``fsync`` flushes the staged files to
    disk before the rename. On any error ``folder`` is left as it was and the staging is removed.

    Raises:
        CheckpointError: If the folder cannot be written.
    """
    parent = os.path.dirname(os.path.abspath(folder))
    name = os.path.basename(os.path.abspath(folder))
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{name}-")
    except OSError as e:
        raise CheckpointError(f"cannot write to {parent}: {e.strerror or e}") from None
    try:
        yield staging
        if fsync:
            fsync_tree(staging)
        ordinary_permissions(staging)
        if not os.path.exists(folder):
            os.rename(staging, folder)  # a new folder appears whole, or not at all
            return
        if whole:
            old = tempfile.mkdtemp(dir=parent, prefix=f".old-{name}-")
            os.replace(folder, os.path.join(old, name))
            os.replace(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
            return
        staged = set(os.listdir(staging))
        stale = [n for n in os.listdir(folder) if replaces(n) and n not in staged]
        for entry in staged:
            os.replace(os.path.join(staging, entry), os.path.join(folder, entry))
        for entry in stale:
            remove(os.path.join(folder, entry))
    except OSError as e:
        raise CheckpointError(f"could not save to {folder}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fsync_tree(folder: str) -> None:
    """Flush every file under ``folder``, and the folders themselves, to disk."""
    for dirpath, _, filenames in os.walk(folder):
        for entry in filenames:
            with open(os.path.join(dirpath, entry), "rb") as f:
                os.fsync(f.fileno())
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_json_object(path: str | os.PathLike, what: str = "config file") -> dict[str, Any]:
    """A JSON file holding an object.

    Raises:
        OSError: If the file is not UTF-8 JSON or holds something else than an object.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OSError(f"{path} is not valid JSON (a {what} was expected): {e}") from None
    if not isinstance(data, dict):
        raise OSError(f"{path} holds a JSON {type(data).__name__}, not an object (a {what} was expected)")
    return data


def remove(path: str) -> None:
    """Remove a file if it is there."""
    try:
        os.remove(path)
    except OSError:
        pass
