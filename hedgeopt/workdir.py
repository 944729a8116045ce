"""hedgeopt's own folder (the ``workdir`` key) and the paths derived from it.

Everything an invocation writes besides the exports lies under it by default: the Optuna
journal and its slot locks, the MLflow store (``mlflow.tracking_uri`` interpolates
``${workdir}``) and its artifacts, the staging folders of trial artifacts and the trials'
per-sample values. Each path has one helper here, so the layout is written down once.
"""

from __future__ import annotations

from pathlib import Path


def journal_path(workdir: str | Path, study_name: str) -> Path:
    """The default Optuna journal of ``study_name`` (``storage: null``)."""
    return Path(workdir) / "optuna" / f"{study_name}.journal"


def slot_lock_path(workdir: str | Path, name: str) -> Path:
    """A slot-lock file for a storage that has no file of its own to sit beside."""
    return Path(workdir) / "optuna" / f"{name}.slots.lock"


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///PATH[?query]`` URL, else None (and for ``:memory:``).

    SQLAlchemy reads the query string as options, never as part of the file name, so every
    file hedgeopt derives from the URL (locks, a seeded store) uses this path: a
    ``?password=...`` must not end up in a file name.
    """
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def artifacts_dir(workdir: str | Path) -> Path:
    """Where a local MLflow store keeps artifacts when ``mlflow.artifact_location`` is null."""
    return Path(workdir) / "artifacts"


def staging_dir(workdir: str | Path, invocation: str | None = None) -> Path:
    """Trial artifacts waiting to be logged: the root, or one invocation's folder under it."""
    root = Path(workdir) / ".staging"
    return root if invocation is None else root / invocation


def samples_file(study_name: str, invocation: str, trial_number: int) -> Path:
    """A trial's per-sample values, relative to the workdir (its attr stores this path).

    Keyed by the invocation that ran the trial and its number: a retried trial gets a new
    number, and another invocation another folder, so no run overwrites another's file.
    """
    return Path("samples") / study_name / invocation / f"{int(trial_number)}.npz"
