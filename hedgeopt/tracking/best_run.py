"""Marking the best trial's MLflow run, and linking the invocation's parent run to it."""

from __future__ import annotations

from typing import Any

from hedgeopt.names import (
    BEST_RUN_SUFFIX,
    MLFLOW_NOTE,
    ROLE_TRIAL,
    TAG_BEST,
    TAG_BEST_TRIAL,
    TAG_BEST_TRIAL_RUN_ID,
    TAG_TRIAL_NUMBER,
)


def tag_best_run(tracker: Any, best_number: int, run_id: str | None) -> str | None:
    """Tag the best trial's run ``hedgeopt.best=true`` (and any earlier best ``false``).

    ``run_id`` is the run this invocation logged for the trial, or None when an earlier
    invocation logged it (it is then looked up by trial number). The parent run gets the tags
    ``hedgeopt.best_trial`` and ``hedgeopt.best_trial_run_id`` and a note linking to the run.
    Returns the best trial's run id, if it has one.
    """
    client, exp, parent_id = tracker.client, tracker.experiment_id, tracker.parent_id
    if run_id is None:
        found = [
            r
            for r in tracker.runs.by_role(ROLE_TRIAL, f" and tags.`{TAG_TRIAL_NUMBER}` = '{best_number}'")
            if r.info.status != "RUNNING"
        ]
        if found:
            run_id = max(found, key=lambda r: r.info.start_time or 0).info.run_id
    # read whole before retagging: the pages of a filter on the tag being changed would shift
    for r in list(tracker.runs.by_role(ROLE_TRIAL, f" and tags.`{TAG_BEST}` = 'true'")):
        if r.info.run_id != run_id:
            client.set_tag(r.info.run_id, TAG_BEST, "false")
            name = r.info.run_name or ""
            if name.endswith(BEST_RUN_SUFFIX):  # an earlier best: its plain name again
                client.update_run(r.info.run_id, name=name[: -len(BEST_RUN_SUFFIX)])
    if run_id is None:
        return None
    client.set_tag(run_id, TAG_BEST, "true")
    name = client.get_run(run_id).info.run_name or f"trial-{best_number:04d}"
    if not name.endswith(BEST_RUN_SUFFIX):  # the runs table shows it at a glance
        client.update_run(run_id, name=name + BEST_RUN_SUFFIX)
    client.set_tag(parent_id, TAG_BEST_TRIAL, str(best_number))
    client.set_tag(parent_id, TAG_BEST_TRIAL_RUN_ID, run_id)
    client.set_tag(
        parent_id,
        MLFLOW_NOTE,
        f"Best trial: [trial {best_number}](#/experiments/{exp}/runs/{run_id})",
    )
    return run_id
