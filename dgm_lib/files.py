"""Files written whole or not at all: downloads, cached weights, results records.

:func:`atomic_file` opens a temporary file in the target's folder and, only when the block that
writes it ends without an error, flushes it to disk and renames it onto the target
(``os.replace``, atomic on one file system). A reader sees the old file or the whole new one,
never a half-written file, and a failure (an exception, a failed checksum) leaves nothing
behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

__all__ = ["atomic_file"]


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: Literal["wb", "w"] = "wb") -> Iterator[IO]:
    """``with atomic_file(path) as f: f.write(...)``: ``path`` appears (or is replaced) only
    once the block has finished without raising. ``mode`` is ``"wb"`` (bytes) or ``"w"``
    (UTF-8 text). Missing parent folders are created."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file: argument 'mode' must be 'wb' or 'w'; got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        encoding = "utf-8" if mode == "w" else None
        with os.fdopen(fd, mode, encoding=encoding) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
