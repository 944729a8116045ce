"""Which export of a study stands when invocations end together: the one whose trials are newest.

Two invocations resuming one study share its trials: the one whose search ends first reads the
trials while the other still runs its last ones, then scores and exports. If its scoring takes
longer, its export would land last and describe fewer trials than the study holds. So each
export carries ``metadata.trials_as_of`` (when its trials were read, UTC, microseconds), and
:func:`hedgeopt.results.export.write_export` replaces a standing export only under
:func:`export_lock` and only when the standing one's trials are not newer: the export left is
always that of the last trial snapshot, which sees every trial of every invocation that ended.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def trials_as_of() -> str:
    """Now, as ``metadata.trials_as_of`` writes it (ISO strings of one form sort by time)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


@contextmanager
def export_lock(root: Path) -> Iterator[None]:
    """An ``flock`` on the export folder ``root`` itself (no lock file left beside the exports;
    dropped if its holder dies). It serialises every study's exports there: they take
    milliseconds."""
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def standing_as_of(folder: Path) -> str | None:
    """``metadata.trials_as_of`` of the export in ``folder`` (None: none, unreadable, or older)."""
    try:
        value = json.loads((folder / "best.json").read_text())["metadata"]["trials_as_of"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def superseded(folder: Path, as_of: object) -> bool:
    """Whether the export standing in ``folder`` read its trials after ``as_of`` did."""
    standing = standing_as_of(folder)
    return isinstance(as_of, str) and standing is not None and standing > as_of


def kept_back(folder: Path) -> None:
    """Say, in one line, that this invocation's export was not written over a later one."""
    print(
        f"hedgeopt: note: {folder} holds an export from a later reading of the trials (another "
        "invocation's); this invocation's export was not written over it",
        file=sys.stderr,
        flush=True,
    )
