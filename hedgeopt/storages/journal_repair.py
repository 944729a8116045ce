"""Repairing an Optuna journal file that a killed writer or a damaged disk left broken.

A journal is one JSON record per line. Optuna stops reading at the first line that is not
a whole record, and raises once any record follows it, so a single damaged line makes every
trial after it (and, once a later run appended to the file, the whole study) unreachable.

The repair keeps every whole record and drops the damaged lines: a cut-off last line (with
or without its newline) is a record whose writer died mid-write (a whole record that an older
writer appended onto such a line is kept), and records written after
a damaged line were written by processes that could not read it either, so dropping it
gives the log those writers saw. The original is first copied beside the journal
(``<journal>.damaged-<UTC time>``) so that nothing is ever made worse. A file in which no
line is a journal record is refused, not rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hedgeopt.storages.whole_file import sync_folder, write_whole

#: At most this many damaged lines are dropped; more means the file is not a damaged journal.
MAX_DAMAGED_LINES = 16


class JournalDamaged(ValueError):
    """A journal that cannot be repaired safely; the message says how to recover."""


@dataclass(frozen=True)
class Repair:
    """What a repair did: the damaged line numbers (1-based) and where the original went."""

    dropped: tuple[int, ...]
    backup: Path | None

    def __bool__(self) -> bool:
        return bool(self.dropped)


def _is_record(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        rec = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False
    return isinstance(rec, dict) and "op_code" in rec


def _salvage(line: bytes) -> bytes:
    """The whole record an old writer glued onto a cut line (``<cut part>{"op_code":...}``), or
    ``b""``: a damaged line never costs a whole record written after it."""
    start = line.find(b'{"op_code"', 1)
    while start > 0:
        if _is_record(line[start:]):
            return line[start:]
        start = line.find(b'{"op_code"', start + 1)
    return b""


def damaged_lines(data: bytes) -> list[int]:
    """0-based indexes of the lines of ``data`` that are not whole journal records."""
    lines = data.splitlines(keepends=True)
    return [i for i, line in enumerate(lines) if not _is_record(line)]


def _quick_ok(path: Path) -> bool:
    """A cheap check without the lock: the file ends in a newline and its last line is a record."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return True
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    if not tail.endswith(b"\n"):
        return False
    last = tail[:-1].rsplit(b"\n", 1)[-1] + b"\n"
    return _is_record(last)


def repair_journal(path: Path, lock: Any) -> Repair:
    """Drop damaged lines from the journal at ``path`` under its ``lock``; see the module doc.

    Raises :class:`JournalDamaged` when the file is not a journal that can be repaired.
    """
    path = Path(path)
    try:
        if _quick_ok(path) and _all_records(path):
            return Repair((), None)
    except FileNotFoundError:
        return Repair((), None)
    lock.acquire()
    try:
        data = path.read_bytes()
        bad = damaged_lines(data)
        if not bad:
            return Repair((), None)
        lines = data.splitlines(keepends=True)
        good = [line if i not in set(bad) else _salvage(line) for i, line in enumerate(lines)]
        good = [line for line in good if line]
        if not good or len(bad) > MAX_DAMAGED_LINES:
            raise JournalDamaged(
                f"storage: {path} is not an Optuna journal that can be repaired ({len(bad)} of "
                f"{len(lines)} lines are not journal records); move it away to start afresh, "
                "or pass another storage="
            )
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        backup = path.with_name(f"{path.name}.damaged-{stamp}")
        shutil.copy2(path, backup)
        with open(backup, "rb+") as fh:
            os.fsync(fh.fileno())
        # a new file, not a rewrite in place: a process reading the journal remembers where each
        # record starts in the old one, and a rewrite moved the records under it (it skipped one,
        # and a live two-worker study failed on UpdateFinishedTrialError); a new inode tells its
        # reader to find them again (FreshLineJournalBackend.read_logs)
        write_whole(path, b"".join(good))
        sync_folder(path.parent)
        return Repair(tuple(i + 1 for i in bad), backup)
    finally:
        lock.release()


def _all_records(path: Path) -> bool:
    """Whether every line is a whole record (read without the lock; a writer may be appending,
    so only a damaged line *before* the last one counts here)."""
    with open(path, "rb") as fh:
        lines = fh.read().splitlines(keepends=True)
    return all(_is_record(line) for line in lines[:-1])
