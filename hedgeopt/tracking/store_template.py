"""A fresh local MLflow store from a copy of an empty one, instead of replaying every migration.

MLflow creates a new SQLite store by building its first schema and then running every alembic
migration since (a hundred or so, each its own commit): about 2 s of CPU and many ``fsync``s,
paid by every new working directory. The result depends only on the installed MLflow, so
the first store made with a given MLflow version is copied, emptied of experiments, into a
cache (``$HEDGEOPT_CACHE_DIR`` or ``~/.cache/hedgeopt``); a later new store starts as a copy
of it. MLflow still checks the copy's schema revision when it opens it, and creates its
default experiment itself. A copy MLflow refuses is deleted and the store made the usual way.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from hedgeopt.workdir import sqlite_file as workdir_sqlite_file

ENV_CACHE = "HEDGEOPT_CACHE_DIR"


def template_path() -> Path | None:
    """Where the empty store of the installed MLflow version is kept; None if unknown."""
    try:
        mlflow_version = version("mlflow-skinny")
    except PackageNotFoundError:
        try:
            mlflow_version = version("mlflow")
        except PackageNotFoundError:
            return None
    root = os.environ.get(ENV_CACHE) or os.path.join(os.path.expanduser("~"), ".cache", "hedgeopt")
    return Path(root) / f"mlflow-{mlflow_version}-sqlite-store.db"


def sqlite_file(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` tracking URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return workdir_sqlite_file(uri)


def seed(uri: str) -> bool:
    """Copy the template to a store that does not exist yet; whether it did."""
    db, template = sqlite_file(uri), template_path()
    if db is None or template is None or db.exists() or not template.is_file():
        return False
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        tmp = db.with_name(db.name + ".seeding")
        _copy(template, tmp)
        os.replace(tmp, db)
        return True
    except (OSError, sqlite3.Error):
        return False


def unseed(uri: str) -> None:
    """Remove a seeded store that MLflow refused (so that MLflow creates it afresh)."""
    db = sqlite_file(uri)
    if db is not None:
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            path.unlink(missing_ok=True)


def save(uri: str) -> None:
    """Keep an empty copy of a store MLflow has just created (no experiments, no runs)."""
    db, template = sqlite_file(uri), template_path()
    if db is None or template is None or template.exists():
        return
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=template.parent, suffix=".db")
        os.close(fd)
        _copy(db, Path(tmp))
        con = sqlite3.connect(tmp)
        try:
            with con:
                if con.execute("SELECT count(*) FROM runs").fetchone()[0]:
                    raise sqlite3.DatabaseError("not an empty store")
                con.execute("DELETE FROM experiment_tags")
                con.execute("DELETE FROM experiments")
            con.execute("VACUUM")
        finally:
            con.close()
        os.replace(tmp, template)
    except (OSError, sqlite3.Error):
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass


def _copy(src: Path, dst: Path) -> None:
    """A consistent copy of an SQLite file (the backup API; the source may be in WAL mode)."""
    dst.unlink(missing_ok=True)
    source = sqlite3.connect(str(src), timeout=30)
    try:
        target = sqlite3.connect(str(dst))
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()


def open_client(uri: str, experiment: str) -> tuple[object, object]:
    """``(MlflowClient(uri), the experiment named or None)``, a new local store seeded from
    the template and, if it had none, leaving one behind. Call under the store's lock."""
    from mlflow import MlflowClient

    db = sqlite_file(uri)
    fresh = db is not None and not db.exists()
    seeded = fresh and seed(uri)
    try:
        client = MlflowClient(tracking_uri=uri)  # opens (and creates) the store
        exp = client.get_experiment_by_name(experiment)
    except Exception:
        if not seeded:
            raise
        _forget_engine(uri)  # MLflow keeps the refused file open in its engine cache
        unseed(uri)  # a template this MLflow refuses: make the store the usual way
        template = template_path()
        if template is not None:
            template.unlink(missing_ok=True)
        client = MlflowClient(tracking_uri=uri)
        exp, seeded = client.get_experiment_by_name(experiment), False
    if fresh and not seeded:
        save(uri)
    return client, exp


def _forget_engine(uri: str) -> None:
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        engine = getattr(SqlAlchemyStore, "_engine_map", {}).pop(uri, None)
        if engine is not None:
            engine.dispose()
    except Exception:  # noqa: BLE001, S110 - an MLflow without that cache holds no engine
        pass
