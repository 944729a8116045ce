"""The parent's view of one invocation: its messages, config key, and the trials it logs to MLflow."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hedgeopt import console
from hedgeopt.config.search_space import SearchSpace
from hedgeopt.config.settings import StudySettings
from hedgeopt.execution.final_tasks import EarlyTasks
from hedgeopt.execution.objective_builder import objective_key
from hedgeopt.masking import mask, mask_values
from hedgeopt.names import ATTR_FAIL_REASON, stamped
from hedgeopt.protocol import nest
from hedgeopt.results import export as export_mod
from hedgeopt.storages.trial_bookkeeping import counted
from hedgeopt.storages.trial_record import RecordFiles, place_carried, trial_metrics
from hedgeopt.study.phases import PhaseClock
from hedgeopt.tracking.staging import RemoteStaging
from hedgeopt.tracking.tracker import Tracker
from hedgeopt.tracking.trial_logger import TrialLogger


def say(msg: str) -> None:
    if console.info(msg):  # --quiet keeps errors and warnings only
        print(mask(msg), file=sys.stderr, flush=True)


def masked_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The composed config with every secret in every string value masked."""
    out = mask_values(json.loads(json.dumps(cfg, default=str)))
    assert isinstance(out, dict)
    return out


def ui_command(tracking_uri: str) -> str:
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {mask(tracking_uri)}"
    return f"mlflow ui --backend-store-uri {mask(tracking_uri)}"


def trial_overlay(where: RecordFiles, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's ``trial.yaml``: its params as a config overlay, shaped like an export."""
    doc = nest(dict(trial.params))
    metrics = trial_metrics(trial, where)
    study_name = where.study_name
    doc["metadata"] = {"study": study_name, "trial_number": trial.number, "state": trial.state.name}
    if trial.user_attrs.get(ATTR_FAIL_REASON):
        doc["metadata"]["fail_reason"] = trial.user_attrs[ATTR_FAIL_REASON]
    doc["performance"] = {"in_sample": metrics}
    return export_mod._plain(doc)


class Invocation:
    """One invocation's state, shared by the parent's poller and its main flow: the config, the
    study, and (once :meth:`start` opened the parent run) the tracker, the invocation's id and its
    trials' staging folder."""

    def __init__(
        self, cfg: dict[str, Any], settings: StudySettings, space: SearchSpace, study: optuna.Study
    ) -> None:
        self.cfg, self.settings, self.space, self.study = cfg, settings, space, study
        self.records = RecordFiles(settings.workdir, settings.study_name)  # the trials' record files
        self.key = objective_key(cfg)
        self.logged: set[int] = set()
        self.run_ids: dict[int, str] = {}
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.clock = PhaseClock()
        self.trial_logger: TrialLogger | None = None
        self.early: EarlyTasks | None = None  # baselines computed beside the search
        self.remote: RemoteStaging | None = None  # executor.staging=mlflow: trial folders fetched
        # set by start(), once the parent run is open
        self.tracker: Tracker
        self.id: str  # the invocation's id: its MLflow parent run's
        self.staging: Path  # its trials' staging folder

    def start(self, tracker: Tracker, run_id: str, staging: Path) -> None:
        """The parent run ``run_id`` is open in ``tracker``; the trials stage in ``staging``."""
        self.tracker, self.id, self.staging = tracker, run_id, staging

    # ------------------------------------------------------------------ polling
    def poll(self, bar: Any) -> None:
        """Log this invocation's newly finished trials; refresh the progress bar."""
        with self.lock:
            study, staging = self.study, self.staging
            trials = study.get_trials(deepcopy=False)
            # every trial finished since the last poll, written in one transaction
            self._log_trials(
                [
                    (t, staging / str(t.number), None)
                    for t in trials
                    if t.number not in self.logged
                    and t.state.is_finished()
                    and stamped(t.user_attrs, "invocation") == self.id
                ],
            )
            if bar is not None:
                done = sum(1 for t in trials if counted(t) and t.state.is_finished())
                fails = sum(1 for t in trials if t.state == TrialState.FAIL)
                bar.n = min(done, bar.total)
                bar.set_postfix_str(f"best={_best_text(study, self.settings)} fail={fails}", refresh=False)
                bar.refresh()

    def log_trial(
        self, t: optuna.trial.FrozenTrial, folder: Path, extra: Mapping[str, str] | None = None
    ) -> None:
        self._log_trials([(t, folder, extra)])

    def _log_trials(
        self, entries: list[tuple[optuna.trial.FrozenTrial, Path, Mapping[str, str] | None]]
    ) -> None:
        if not entries:
            return
        where, tracker = self.records, self.tracker
        if self.trial_logger is None or self.trial_logger.tracker is not tracker:
            self.trial_logger = TrialLogger(tracker, self.settings.metrics, self.settings.directions, where)
        remote = self.remote
        staged: list[Path] = []
        for t, folder, _ in entries:
            if remote is not None and remote.fetch(folder):
                staged.append(folder)
                place_carried(t, folder, where)  # the record file it carried, before logging
        ids = self.trial_logger.log(
            [(t, trial_overlay(where, t), folder, extra) for t, folder, extra in entries]
        )
        self.logged.update(ids)
        self.run_ids.update(ids)
        for t, folder, _ in entries:
            metrics = trial_metrics(t, where)
            console.trial_line(t.number, t.state.name, metrics, t.params, self.settings.metrics)
            shutil.rmtree(folder, ignore_errors=True)
        for folder in staged:  # logged: the staged copies go
            remote.discard(folder)

    def poll_forever(self, stop: threading.Event, bar: Any) -> None:
        while not stop.wait(0.2):
            try:
                self.poll(bar)
            except Exception as exc:  # keep polling; report at the end
                self.error = exc


def _best_text(study: optuna.Study, settings: StudySettings) -> str:
    if settings.multi_objective:
        try:
            return f"{len(study.best_trials)} on front"
        except Exception:
            return "-"
    try:
        return f"{study.best_value:.4g}"
    except ValueError:
        return "-"
