"""Writing a file whole or not at all: a synced sibling temporary file renamed over the path.

A reader finds the old file or the new one, never half of one; the rename gives the path a new
inode, which is how a live journal reader learns that a repair replaced the file under it
(:mod:`hedgeopt.storages.journal_io`). An existing file's permissions are kept.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_whole(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` in one rename, after an ``fsync``; no temporary file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sync_folder(folder: Path) -> None:
    """``fsync`` a folder, so that a rename in it survives a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
