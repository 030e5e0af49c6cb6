"""Writing and fingerprinting files: the bottom layer, importable from every other module.

A file is written to a temporary name beside it and renamed, so a killed process leaves either the
whole file or none, and a reader in another process never sees half of it.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (a temporary file of its own, then rename), readable like
    any other file (mkstemp's private 0600 mode would otherwise survive the rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, 0o666 & ~current_umask())
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def file_digest(path: Path) -> str:
    """sha256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
