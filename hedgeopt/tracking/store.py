"""A local MLflow SQLite store: opening it once at a time, WAL mode, and a copied working directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from hedgeopt.workdir import sqlite_file


def relocate_copied_store(uri: str, experiment_id: str, location: str, artifacts: Path) -> bool:
    """Point an experiment of a copied (or moved) working directory at its own artifacts.

    MLflow stores the artifact location as an absolute path, so a copy of a working directory
    would keep logging into the original's ``artifacts`` folder (the workdir's, by default).
    When the SQLite store lies beside ``artifacts`` and the experiment uses the same layout in
    another directory, the experiment and its runs are re-pointed here (the copy holds their
    files).
    """
    if not uri.startswith("sqlite:///"):
        return False
    here = artifacts.resolve()
    db = Path(str(sqlite_file(uri))).resolve()
    if db.parent != here.parent:
        return False
    old = location[len("file://") :] if location.startswith("file://") else location
    if not old.startswith("/") or Path(old) == here or Path(old).parts[-2:] != here.parts[-2:]:
        return False
    import sqlite3
    import sys

    new = here.as_uri()
    con = sqlite3.connect(str(db), timeout=60)
    try:
        with con:
            con.execute(
                "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                (new, int(experiment_id)),
            )
            con.execute(
                "UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
                "WHERE experiment_id = ? AND substr(artifact_uri, 1, ?) = ?",
                (new, len(location) + 1, int(experiment_id), len(location), location),
            )
    finally:
        con.close()
    print(
        f"hedgeopt: warning: experiment {experiment_id} kept its artifacts in {old} (this "
        f"working directory was copied or moved); it now uses {here}",
        file=sys.stderr,
        flush=True,
    )
    return True


def use_wal(uri: str) -> None:
    """Put a local SQLite store in write-ahead-log mode (kept in the file).

    Every MLflow call is a commit; with WAL a commit appends to the log instead of rewriting
    pages behind a rollback journal, about a quarter less time per logged trial, and readers
    (``mlflow ui``) never block the writer.
    """
    if not uri.startswith("sqlite:///"):
        return
    import sqlite3

    try:
        con = sqlite3.connect(str(sqlite_file(uri)), timeout=30)
        try:
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()
    except sqlite3.Error:
        pass  # a store on a file system without shared memory keeps its journal mode


def is_local(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise opening a local SQLite store (MLflow creates its tables on first open)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    path = Path(str(sqlite_file(uri)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
