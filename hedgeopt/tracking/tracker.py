"""MLflow logging: one parent run per invocation, one nested run per trial.

Only the invocation's parent process talks to MLflow (a single writer, so a SQLite store never
sees concurrent writers and a killed worker never leaves a run open). It turns finished Optuna
trials into nested runs: params, metrics, intermediate values as step metrics, state tags,
the failure reason, and the trial's own artifacts (its ``trial.yaml`` overlay plus whatever the
objective left in the trial's folder).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hedgeopt.names import (
    MLFLOW_DATA_CONTEXT,
    MLFLOW_EXPERIMENT_KIND,
    MLFLOW_NOTE,
    ROLE_STUDY,
    TAG_HOST,
    TAG_PID,
    TAG_ROLE,
)
from hedgeopt.protocol import flatten as flatten
from hedgeopt.protocol import nest as nest
from hedgeopt.storages.trial_record import RecordFiles
from hedgeopt.tracking.experiment_runs import ExperimentRuns
from hedgeopt.tracking.extras import mlflow_dataset as mlflow_dataset
from hedgeopt.tracking.extras import results_table as results_table
from hedgeopt.tracking.extras import source_tags
from hedgeopt.tracking.run_record import (
    MAX_KEY,
    MAX_METRICS,
    MAX_PARAMS,
    TrialRun,
    metric_key,
    param_value,
    trial_run,
)
from hedgeopt.tracking.store import is_local, relocate_copied_store, store_lock, use_wal
from hedgeopt.workdir import artifacts_dir

MODEL_TRAINING = "custom_model_development"  # the experiment kind: runs, not GenAI traces
DEFAULT_EXPERIMENT_ID = "0"  # MLflow's Default experiment, made with every new store
#: The URL query that opens MLflow 3.5+'s UI in its machine-learning view (its default is GenAI).
ML_VIEW = "workflowType=machine_learning"


class Tracker:
    """The MLflow side of one invocation."""

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        artifact_location: str | None,
        workdir: str,
        description: str | None = None,
    ) -> None:
        # MLflow's usage telemetry wraps every client call (a few ms each) and phones home
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from hedgeopt.tracking.store_template import open_client

        self.tracking_uri = tracking_uri
        self.artifacts = artifacts_dir(workdir)  # a local store's, when artifact_location is null
        # With a tracking server MLflow prints "View run at <tracking URI>" for every run it
        # ends: noise over the progress bar, and a leak of any password in the URI.
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        with store_lock(tracking_uri):  # two invocations must not both create the tables
            self.client, exp = open_client(tracking_uri, experiment)  # a new store: from a template
            if exp is None:
                self.experiment_id = self._create_experiment(experiment, artifact_location)
                self._hide_empty_default()
            else:
                self.experiment_id = exp.experiment_id
                if artifact_location is None:
                    relocate_copied_store(
                        tracking_uri, exp.experiment_id, exp.artifact_location, self.artifacts
                    )
            tags = {} if exp is None else exp.tags
            if tags.get(MLFLOW_EXPERIMENT_KIND) != MODEL_TRAINING:
                # MLflow 3.0-3.4's UI reads it to choose the view; 3.5+ reads ?workflowType= (see
                # ML_VIEW) and the browser's own setting, and shows the tag as the experiment's type
                self.client.set_experiment_tag(self.experiment_id, MLFLOW_EXPERIMENT_KIND, MODEL_TRAINING)
            if description and tags.get(MLFLOW_NOTE) != description:
                # the experiment's description in the UI: what the study asks
                self.client.set_experiment_tag(self.experiment_id, MLFLOW_NOTE, description)
            use_wal(tracking_uri)
        self.runs = ExperimentRuns(self.client, self.experiment_id)  # every invocation's, earlier ones too
        self.parent_id: str | None = None
        self.dataset: Mapping[str, Any] | None = None  # Objective.dataset(), logged on every run
        self.source_tags = source_tags()

    def _hide_empty_default(self) -> None:
        """Delete MLflow's own ``Default`` experiment from a store it was just made in, if empty.

        MLflow creates it with every new store; hedgeopt never logs to it, and an empty
        experiment at the top of the UI's list is the first thing a reader clicks. A store with
        other experiments, or runs in ``Default``, is left alone.
        """
        try:
            active = self.client.search_experiments(max_results=3)
            default = [e for e in active if e.experiment_id == DEFAULT_EXPERIMENT_ID]
            if len(active) != 2 or not default:  # ours and Default, nothing else
                return
            if not self.client.search_runs([DEFAULT_EXPERIMENT_ID], max_results=1, run_view_type=3):
                self.client.delete_experiment(DEFAULT_EXPERIMENT_ID)
        except Exception:  # noqa: BLE001, S110 - a server that refuses: Default stays
            pass

    def _create_experiment(self, experiment: str, artifact_location: str | None) -> str:
        location = artifact_location
        if location is None and is_local(self.tracking_uri):
            location = self.artifacts.resolve().as_uri()
        try:
            return self.client.create_experiment(experiment, artifact_location=location)
        except Exception:  # created by a concurrent invocation
            return self.client.get_experiment_by_name(experiment).experiment_id

    # ------------------------------------------------------------------ parent run
    def start_parent(self, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        all_tags = {
            TAG_ROLE: ROLE_STUDY,
            TAG_HOST: socket.gethostname(),
            TAG_PID: str(os.getpid()),
            **self.source_tags,
            **tags,
        }
        from hedgeopt.masking import mask

        all_tags = {k: mask(v) for k, v in all_tags.items()}
        run = self.client.create_run(self.experiment_id, tags=all_tags, run_name=run_name)
        self.parent_id = run.info.run_id
        self.log_params(self.parent_id, params)
        self.log_dataset(self.parent_id, "evaluation")
        return self.parent_id

    def log_dataset(self, run_id: str, context: str) -> None:
        """Log :attr:`dataset` as the run's MLflow dataset input (the UI's Dataset column)."""
        if not self.dataset:
            return
        from mlflow.entities import DatasetInput, InputTag

        self.client.log_inputs(
            run_id,
            datasets=[
                DatasetInput(mlflow_dataset(self.dataset), tags=[InputTag(MLFLOW_DATA_CONTEXT, context)])
            ],
        )

    def log_table(self, run_id: str, table: Any, name: str) -> None:
        """A pandas DataFrame as ``name.csv`` and ``name.html`` artifacts (the UI shows the HTML)."""
        self.client.log_text(run_id, table.to_csv(), f"{name}.csv")
        self.client.log_text(
            run_id, table.to_html(float_format=lambda v: f"{v:,.6g}", na_rep=""), f"{name}.html"
        )

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k)[:MAX_KEY], param_value(v)) for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS):
            self.client.log_batch(run_id, params=items[i : i + MAX_PARAMS])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(metric_key(k), float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(items), MAX_METRICS):
            self.client.log_batch(run_id, metrics=items[i : i + MAX_METRICS])

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        self.client.log_text(run_id, text, name)

    def finish(self, run_id: str, status: str) -> None:
        """End the run; if the store refuses (locked, gone), say so and carry on.

        This runs while an invocation is already ending (often because of an error); the next
        invocation marks a parent run whose process is gone as KILLED.
        """
        try:
            self.client.set_terminated(run_id, status=status)
        except Exception as exc:  # noqa: BLE001 - the store's own errors; ending must not raise
            import sys

            from hedgeopt.masking import mask

            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            print(
                f"hedgeopt: warning: could not mark MLflow run {run_id} {status}: "
                f"{mask(first)}; the next invocation of the study closes it",
                file=sys.stderr,
                flush=True,
            )

    # ------------------------------------------------------------------ trial runs
    def log_trial(
        self,
        trial: Any,
        names: tuple[str, ...],
        overlay: Mapping[str, Any],
        artifact_dir: Path | None,
        extra_tags: Mapping[str, str] | None,
        where: RecordFiles,
    ) -> str:
        """Log one finished Optuna trial (its record read from ``where``) as a nested run; its id."""
        tags = {**self.source_tags, **(extra_tags or {})}
        return self.log_trial_run(trial_run(trial, self.parent_id, names, overlay, artifact_dir, tags, where))

    def log_trial_run(self, run: TrialRun) -> str:
        """Write ``run`` through MLflow's client, its ``trial.yaml`` with its artifacts."""
        from mlflow.entities import Metric, Param

        created = self.client.create_run(
            self.experiment_id, start_time=run.start_time, tags=run.tags, run_name=run.run_name
        )
        run_id = created.info.run_id
        self.client.log_batch(
            run_id,
            metrics=[Metric(*m) for m in run.metrics],
            params=[Param(k, v) for k, v in run.params.items()],
        )
        self.log_dataset(run_id, "training")
        if run.artifact_dir is not None and run.artifact_dir.is_dir():
            # one artifact upload for the trial's folder, trial.yaml included
            (run.artifact_dir / "trial.yaml").write_text(run.overlay_yaml)
            self.client.log_artifacts(run_id, str(run.artifact_dir))
        else:
            self.client.log_text(run_id, run.overlay_yaml, "trial.yaml")
        self.client.set_terminated(run_id, status=run.status, end_time=run.end_time)
        return run_id
