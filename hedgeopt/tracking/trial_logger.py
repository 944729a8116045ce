"""Writing finished trials as MLflow runs, many per database transaction.

Through ``MlflowClient`` a trial run costs four or five round trips of MLflow's ORM (create the
run, log a batch, look the run up to place its artifacts, end it), about 20 ms of the parent's
CPU a trial, which caps a study at some 40 trials a second however fast its objective is. On a
local SQLite store this module writes the same rows that MLflow writes (``runs``, ``tags``,
``params``, ``metrics``, ``latest_metrics``) with plain ``sqlite3``: every trial the poller has
collected goes in one transaction. The trial's artifacts are placed first, through MLflow's own
artifact repository, and the rows are committed after, so a kill leaves either a whole run or
none (the next invocation adopts the trials it finds without one).

The rows are MLflow's schema as of the installed version; the writer checks that schema when
it opens and, if a column it does not fill has become required (or one it fills is gone),
falls back to ``MlflowClient`` for every trial. Both ways write the same
:class:`~hedgeopt.tracking.run_record.TrialRun`; ``tests/hedgeopt/tracking/test_fixed_costs.py`` checks
that MLflow reads back the same run from either.
"""

from __future__ import annotations

import math
import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hedgeopt.names import MLFLOW_DATA_CONTEXT, MLFLOW_RUN_NAME, MLFLOW_USER
from hedgeopt.storages.trial_record import RecordFiles
from hedgeopt.tracking.run_record import TrialRun, trial_run
from hedgeopt.tracking.tracker import Tracker, mlflow_dataset
from hedgeopt.workdir import sqlite_file

_MAX_FLOAT = 1.7976931348623157e308

#: Columns written per table; every other column must be nullable or have a default.
_COLUMNS = {
    "runs": (
        "run_uuid",
        "name",
        "source_type",
        "source_name",
        "entry_point_name",
        "user_id",
        "status",
        "start_time",
        "end_time",
        "source_version",
        "lifecycle_stage",
        "artifact_uri",
        "experiment_id",
        "deleted_time",
    ),
    "tags": ("key", "value", "run_uuid"),
    "params": ("key", "value", "run_uuid"),
    "metrics": ("key", "value", "timestamp", "run_uuid", "step", "is_nan"),
    "latest_metrics": ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
    "inputs": ("input_uuid", "source_type", "source_id", "destination_type", "destination_id", "step"),
    "input_tags": ("input_uuid", "name", "value"),
}


class SqliteRunWriter:
    """Inserts whole trial runs into a local MLflow SQLite store, many in one transaction."""

    def __init__(
        self,
        db_path: Path,
        experiment_id: str,
        artifact_location: str,
        dataset: tuple[str, str] | None = None,
    ) -> None:
        self.experiment_id = int(experiment_id)
        self.dataset = dataset  # (name, digest) of the dataset every trial run takes as input
        self._dataset_uuid: str | None = None
        self.artifact_location = artifact_location.rstrip("/")
        self._con = sqlite3.connect(str(db_path), timeout=60, check_same_thread=False)
        # WAL (set by the Tracker) with synchronous=NORMAL: a commit survives the process
        # being killed; only a power cut may lose the last commits, which adoption relogs.
        self._con.execute("PRAGMA synchronous=NORMAL")

    @classmethod
    def open(cls, tracker: Tracker) -> SqliteRunWriter | None:
        """A writer for ``tracker``'s store, or None when it is not a local SQLite store whose
        schema this module knows."""
        uri = tracker.tracking_uri
        if not uri.startswith("sqlite:///"):
            return None
        db = Path(str(sqlite_file(uri)))
        try:
            exp = tracker.client.get_experiment(tracker.experiment_id)
            if not schema_matches(db):
                return None
            dataset = None
            if tracker.dataset:
                entity = mlflow_dataset(tracker.dataset)
                dataset = (entity.name, entity.digest)
            return cls(db, tracker.experiment_id, exp.artifact_location, dataset)
        except Exception:  # noqa: BLE001 - any doubt: MLflow's own client logs the trials
            return None

    def artifact_uri(self, run_id: str) -> str:
        return f"{self.artifact_location}/{run_id}/artifacts"

    def write(self, runs: Iterable[TrialRun]) -> dict[int, str]:
        """Place each run's artifacts, then commit all their rows at once; ``{number: run id}``."""
        rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _COLUMNS}
        ids: dict[int, str] = {}
        for run in runs:
            run_id = uuid.uuid4().hex
            uri = self.artifact_uri(run_id)
            _place_artifacts(run, uri)
            self._add_rows(rows, run, run_id, uri)
            ids[run.number] = run_id
        with self._con:
            for table, cols in _COLUMNS.items():
                if rows[table]:
                    names = ", ".join(f'"{c}"' for c in cols)
                    marks = ", ".join("?" * len(cols))
                    self._con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows[table])
        return ids

    def _add_rows(self, rows: dict[str, list[tuple[Any, ...]]], run: TrialRun, run_id: str, uri: str) -> None:
        """Append the rows MLflow would write for ``run`` to ``rows`` (table -> rows)."""
        user = str(run.tags.get(MLFLOW_USER, "unknown"))  # as MlflowClient.create_run
        rows["runs"].append(
            (
                run_id,
                run.run_name,
                "UNKNOWN",
                "",
                "",
                user,
                run.status,
                run.start_time,
                run.end_time,
                "",
                "active",
                uri,
                self.experiment_id,
                None,
            )
        )
        tags = {**run.tags, MLFLOW_RUN_NAME: run.run_name}
        rows["tags"].extend((k[:250], str(v)[:8000], run_id) for k, v in tags.items())
        rows["params"].extend((k, v, run_id) for k, v in run.params.items())
        metrics, latest = _metric_rows(run.metrics, run_id)
        rows["metrics"].extend(metrics)
        rows["latest_metrics"].extend(latest)
        if self.dataset_uuid() is not None:  # the Dataset column, as Tracker.log_dataset does
            input_id = uuid.uuid4().hex
            rows["inputs"].append((input_id, "DATASET", self._dataset_uuid, "RUN", run_id, 0))
            rows["input_tags"].append((input_id, MLFLOW_DATA_CONTEXT, "training"))

    def dataset_uuid(self) -> str | None:
        """The id of the dataset row the parent run logged (found on first use)."""
        if self._dataset_uuid is None and self.dataset is not None:
            row = self._con.execute(
                "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?",
                (self.experiment_id, *self.dataset),
            ).fetchone()
            self._dataset_uuid = row[0] if row else None
        return self._dataset_uuid

    def close(self) -> None:
        self._con.close()


def _place_artifacts(run: TrialRun, uri: str) -> None:
    """The run's ``trial.yaml`` and artifact folder, uploaded to its artifact location."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repo = get_artifact_repository(uri)
    if run.artifact_dir is not None and run.artifact_dir.is_dir():
        (run.artifact_dir / "trial.yaml").write_text(run.overlay_yaml)
        repo.log_artifacts(str(run.artifact_dir))
    else:
        _log_text(repo, run.overlay_yaml, "trial.yaml")


def _metric_rows(
    metrics: Sequence[tuple[str, float, int, int]], run_id: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """``metrics`` and ``latest_metrics`` rows of one run, as MLflow stores them."""
    rows: list[tuple[Any, ...]] = []
    latest: dict[str, tuple[int, int, float, int]] = {}
    seen: set[tuple[Any, ...]] = set()
    for key, value, ts, step in metrics:
        is_nan, stored = _sanitise(value)
        ident = (key, ts, step, stored, is_nan)
        if ident in seen:  # MLflow drops exact duplicates too
            continue
        seen.add(ident)
        rows.append((key, stored, ts, run_id, step, is_nan))
        cand = (step, ts, stored, is_nan)
        if key not in latest or cand[:3] > latest[key][:3]:
            latest[key] = cand
    return rows, [(k, v, ts, step, nan, run_id) for k, (step, ts, v, nan) in latest.items()]


def _log_text(repo: Any, text: str, name: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text)
        repo.log_artifact(str(path))


def _sanitise(value: float) -> tuple[int, float]:
    """MLflow's storage of a metric value: NaN as 0 with is_nan, +-inf as +-max float."""
    if math.isnan(value):
        return 1, 0.0
    if math.isinf(value):
        return 0, _MAX_FLOAT if value > 0 else -_MAX_FLOAT
    return 0, value


def schema_matches(db: Path) -> bool:
    """Whether every table this module writes has the columns it writes and needs no other."""
    con = sqlite3.connect(str(db), timeout=60)
    try:
        for table, cols in _COLUMNS.items():
            info = con.execute(f"PRAGMA table_info({table})").fetchall()
            names = {row[1] for row in info}
            if not set(cols) <= names:
                return False
            for _, name, _, notnull, default, pk in info:
                if name not in cols and (notnull or pk) and default is None:
                    return False
        return True
    finally:
        con.close()


class TrialLogger:
    """Logs finished trials as nested runs of the invocation's parent run, by the fastest way
    the store allows (:class:`SqliteRunWriter`, else ``Tracker.log_trial`` one by one)."""

    def __init__(
        self, tracker: Tracker, metric_names: Sequence[str], directions: Sequence[str], where: RecordFiles
    ) -> None:
        self.tracker = tracker
        self.where = where  # the trials' record files
        self.metric_names = tuple(metric_names)
        self.directions = tuple(directions)
        self.writer = SqliteRunWriter.open(tracker)

    def log(
        self, items: Sequence[tuple[Any, Mapping[str, Any], Path | None, Mapping[str, str] | None]]
    ) -> dict[int, str]:
        """Log ``(trial, overlay, artifact folder, extra tags)`` items; ``{number: run id}``."""
        if not items:
            return {}
        if self.writer is not None:
            source, parent = self.tracker.source_tags, self.tracker.parent_id
            return self.writer.write(
                trial_run(t, parent, self.metric_names, o, d, {**source, **(e or {})}, self.where)
                for t, o, d, e in items
            )
        return {
            t.number: self.tracker.log_trial(t, self.metric_names, o, d, e, self.where)
            for t, o, d, e in items
        }

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
