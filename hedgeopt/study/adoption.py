"""Adopting what killed invocations left: their finished trials that no run logs yet, and their
staging folders.

A killed invocation (SIGKILL, a lost host) leaves trials finished in the storage but never
logged to MLflow, and a staging folder; the next invocation of the study, at its start and after
its search, logs those trials as adopted runs and removes the folders of invocations that ended.
"""

from __future__ import annotations

from pathlib import Path

from hedgeopt.names import TAG_ADOPTED, stamped
from hedgeopt.storages.slot_locks import slot_lock
from hedgeopt.study.invocation import Invocation
from hedgeopt.workdir import staging_dir


def adopt_unlogged(inv: Invocation, clean: Path | None = None) -> None:
    """Log finished trials that no live invocation will log, then remove the staging folders
    (under ``clean``) of invocations that have ended.

    Those of an earlier, killed invocation, and those whose worker died before stamping them
    with its invocation (reaped later as lost: no poller claims them). Under the study's slot
    lock: two invocations resuming at once both took the same trials for unlogged (each logged
    them), and the first removed the dead run's staging folder while the second uploaded it.
    """
    lock = slot_lock(inv.settings.storage, inv.settings.study_name, inv.settings.workdir)
    lock.acquire()
    try:
        _adopt_locked(inv)
        if clean is not None:
            inv.tracker.runs.clean_staging(clean)  # their trials are logged now
            if inv.remote is not None:
                inv.remote.clean(inv.tracker.runs.invocation_ended)
    finally:
        lock.close()


def _adopt_locked(inv: Invocation) -> None:
    finished = [t for t in inv.study.get_trials(deepcopy=False) if t.state.is_finished()]
    if not finished:
        return
    abandoned = inv.tracker.runs.abandoned_invocations()
    logged = inv.tracker.runs.logged_trial_numbers(abandoned)
    for t in finished:
        if t.number in logged:
            continue
        owner = stamped(t.user_attrs, "invocation")
        if owner is not None and owner not in abandoned:
            continue  # a live invocation elsewhere will log it
        folder = staging_dir(inv.settings.workdir, str(owner)) / str(t.number)
        inv.log_trial(t, folder, {TAG_ADOPTED: "true"})
