"""Trial artifacts that travel through MLflow's artifact repository (``executor.staging=mlflow``).

With ``shared`` staging a worker writes a trial's folder under ``${workdir}/.staging`` and the
parent logs it from there, which needs a path every host mounts. With ``mlflow`` staging the
worker writes the folder on its own host, then uploads it to the invocation's staging area in
the experiment's artifact store (``<experiment artifact location>/.staging/<invocation>/<trial>``,
``mlflow-artifacts:/...`` on a tracking server started with ``--serve-artifacts``) before the
trial is told finished; the parent downloads it into its own staging folder, logs it into the
trial's run as before (it stays the only MLflow writer of runs) and deletes the staged copy.
The remote layout mirrors the local one, so adoption of a killed invocation's trials finds
their folders the same way.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The staging area's folder, in the workdir (shared) and in the experiment's artifact store.
STAGING = ".staging"


def repository(uri: str, tracking_uri: str) -> Any:
    """MLflow's artifact repository for ``uri`` (``mlflow-artifacts:/`` resolved on ``tracking_uri``)."""
    import os

    # a progress bar per trial folder, over the parent's own bar and in every worker's log
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(uri, tracking_uri=tracking_uri)


# --------------------------------------------------------------------------- in a worker


def trial_folder(
    staging_dir: str, staging_uri: str | None, invocation: str, number: int
) -> tuple[Path, str | None]:
    """Where a worker's objective writes trial ``number``'s artifacts, and the URI it is then
    uploaded to (None: ``shared`` staging, the folder is the parent's)."""
    if staging_uri is None:
        return Path(staging_dir) / str(number), None
    local = Path(tempfile.gettempdir()) / "hedgeopt-staging" / invocation / str(number)
    return local, f"{staging_uri}/{number}"


@contextmanager
def staged(folder: Path, uri: str | None, tracking_uri: str) -> Iterator[None]:
    """Upload ``folder`` to ``uri`` when the block ends (no-op for shared staging).

    A failed upload after a successful block raises (the trial fails, counted); after a failed
    block whatever the objective left is uploaded if it can be, and the block's error stands.
    """
    if uri is None:
        yield
        return
    ok = False
    try:
        yield
        ok = True
    finally:
        try:
            if folder.is_dir() and any(folder.iterdir()):
                repository(uri, tracking_uri).log_artifacts(str(folder))
        except Exception:
            if ok:
                raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def fetch_into(uri: str, tracking_uri: str, folder: Path) -> bool:
    """Download what is staged at ``uri`` into ``folder``; whether anything was."""
    repo = repository(uri, tracking_uri)
    if not repo.list_artifacts():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    repo.download_artifacts("", dst_path=str(folder))
    return True


def relocated(obj: Any, src: Path, dst: Path) -> Any:
    """``obj`` with every path under ``src`` (a ``Path``, a reporter's ``artifact_dir``, in
    lists, tuples and dicts) moved under ``dst``: the end-of-study tasks' folders on a worker
    that does not see the parent's."""
    if isinstance(obj, Path):
        return dst / obj.relative_to(src) if obj.is_relative_to(src) else obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(relocated(x, src, dst) for x in obj)
    if isinstance(obj, dict):
        return {k: relocated(v, src, dst) for k, v in obj.items()}
    if isinstance(getattr(obj, "artifact_dir", None), Path):
        obj.artifact_dir = relocated(obj.artifact_dir, src, dst)
    return obj


def check_roundtrip(uri: str, tracking_uri: str) -> None:
    """Write a file to ``uri``, read it back and delete it (the probe of ``mlflow`` staging)."""
    token = uuid.uuid4().hex
    probe = f"{uri}/.probe-{token}"
    repo = repository(probe, tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "up").mkdir()
        (Path(tmp) / "up" / "probe.txt").write_text(token)
        repo.log_artifact(str(Path(tmp) / "up" / "probe.txt"))
        back = Path(repo.download_artifacts("probe.txt", dst_path=tmp))
        if back.read_text() != token:
            raise OSError(f"read back {back.read_text()[:40]!r}, not the file written")
    repo.delete_artifacts()


# --------------------------------------------------------------------------- in the parent


class RemoteStaging:
    """The parent's side: the experiment's staging area, fetched from and cleaned."""

    def __init__(self, location: str, tracking_uri: str) -> None:
        self.root = f"{location.rstrip('/')}/{STAGING}"
        self.tracking_uri = tracking_uri

    def uri(self, invocation: str) -> str:
        """Where the workers of ``invocation`` upload their trials' folders."""
        return f"{self.root}/{invocation}"

    def fetch(self, folder: Path) -> bool:
        """Download the staged copy of ``folder`` (``.../<invocation>/<trial>``) into it;
        whether there was one (a trial that failed before writing anything has none)."""
        return fetch_into(self.relay(folder)[1], self.tracking_uri, folder)

    def relay(self, folder: Path) -> tuple[str, str, str]:
        """``(folder, its staged URI, tracking URI)``: for a task that writes into ``folder``
        on a worker (:func:`hedgeopt.execution.final_tasks.relayed_task`)."""
        return str(folder.resolve()), f"{self.uri(folder.parent.name)}/{folder.name}", self.tracking_uri

    def discard(self, folder: Path) -> None:
        """Delete the staged copy of ``folder`` (logged now); a copy already gone is no error."""
        try:
            repository(self.relay(folder)[1], self.tracking_uri).delete_artifacts()
        except Exception:  # noqa: BLE001, S110 - nothing staged (a trial that left no files)
            pass

    def remove(self, invocation: str) -> None:
        """Delete what is left of ``invocation``'s staging area (its workers have stopped)."""
        try:
            repository(self.uri(invocation), self.tracking_uri).delete_artifacts()
        except Exception:  # noqa: BLE001, S110 - nothing staged
            pass

    def clean(self, ended: Callable[[str], bool]) -> None:
        """Delete the staging areas of invocations that have ``ended`` (killed ones leave theirs)."""
        try:
            entries = repository(self.root, self.tracking_uri).list_artifacts()
        except Exception:  # noqa: BLE001 - no staging area yet
            return
        for entry in entries:
            if entry.is_dir and ended(entry.path.rsplit("/", 1)[-1]):
                self.remove(entry.path.rsplit("/", 1)[-1])
