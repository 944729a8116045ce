"""The experiment's runs as every invocation left them, the killed ones' included.

A resumed or concurrent invocation asks here which trials already have a complete run (so each
is logged once, a half-logged one again), which parent runs no longer run (their unlogged trials
are adopted, their staging folders removed), and which run holds a given trial.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hedgeopt.names import (
    MLFLOW_PARENT,
    ROLE_STUDY,
    ROLE_TRIAL,
    TAG_HOST,
    TAG_PID,
    TAG_ROLE,
    TAG_TRIAL_NUMBER,
)
from hedgeopt.processes import gone_from_this_host


class ExperimentRuns:
    """The runs of experiment ``experiment_id`` in the MLflow store behind ``client``."""

    def __init__(self, client: Any, experiment_id: str) -> None:
        self.client, self.experiment_id = client, experiment_id

    def logged_trial_numbers(self, abandoned: set[str] | None = None) -> set[int]:
        """Trial numbers that already have a complete run in this experiment (any invocation).

        A trial run still RUNNING under an ``abandoned`` parent was cut off mid-logging by a
        kill: it is deleted here, so that the trial is logged again, whole.
        """
        numbers: set[int] = set()
        for r in self.by_role(ROLE_TRIAL):
            n = r.data.tags.get(TAG_TRIAL_NUMBER)
            if n is None:
                continue
            if (
                r.info.status == "RUNNING"
                and abandoned is not None
                and r.data.tags.get(MLFLOW_PARENT) in abandoned
            ):
                self.client.delete_run(r.info.run_id)
                continue
            numbers.add(int(n))
        return numbers

    def by_role(self, role: str, extra: str = "") -> Iterator[Any]:
        """Every run of this experiment tagged with ``role`` (and matching the filter ``extra``,
        `` and ...``), fetched a page at a time."""
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{TAG_ROLE}` = '{role}'{extra}",
                max_results=1000,
                page_token=token,
            )
            yield from page
            token = page.token
            if not token:
                return

    def trial_run_id(self, number: int) -> str | None:
        """The run id of trial ``number``'s finished run in this experiment (any invocation)."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(
                f"tags.`{TAG_ROLE}` = '{ROLE_TRIAL}' and tags.`{TAG_TRIAL_NUMBER}` = '{int(number)}'"
            ),
            max_results=50,
            order_by=["attributes.start_time DESC"],
        )
        for r in runs:
            if r.info.status != "RUNNING":
                return r.info.run_id
        return None

    def clean_staging(self, root: Path) -> int:
        """Remove the staging folders under ``root`` of this store's invocations that have ended.

        A killed invocation leaves its folder behind; folders of runs this store does not know
        (another tracking store sharing the working directory) are left alone.
        """
        import shutil

        ended = [f for f in root.iterdir() if self.invocation_ended(f.name)] if root.is_dir() else []
        for folder in ended:
            shutil.rmtree(folder, ignore_errors=True)
        return len(ended)

    def invocation_ended(self, run_id: str) -> bool:
        """Whether ``run_id`` is a parent run of this store that no longer runs (False if unknown)."""
        try:
            run = self.client.get_run(run_id)
        except Exception:  # noqa: BLE001 - not a run of this store
            return False
        tags = run.data.tags
        return run.info.status != "RUNNING" or gone_from_this_host(tags.get(TAG_HOST), tags.get(TAG_PID))

    def abandoned_invocations(self) -> set[str]:
        """Parent runs that no longer run: finished, or RUNNING but their process on this host is gone."""
        out: set[str] = set()
        for r in self.by_role(ROLE_STUDY):
            if r.info.status != "RUNNING":
                out.add(r.info.run_id)
            elif gone_from_this_host(r.data.tags.get(TAG_HOST), r.data.tags.get(TAG_PID)):
                self.client.set_terminated(r.info.run_id, status="KILLED")
                out.add(r.info.run_id)
        return out
