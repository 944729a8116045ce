"""Trial artifacts from a worker that does not share the parent's filesystem (issue 25, item 2).

A ``dask scheduler`` and one ``dask worker --nthreads 1`` run as real processes; the worker runs
under ``unshare --mount`` with a private tmpfs over pytest's temporary root, so it sees none of
the parent's files (its workdir, staging folder, MLflow store). With ``executor.staging=shared``
the probe sees that and stops the invocation in one line; with ``executor.staging=mlflow`` every
trial's folder travels through the tracking server's artifact store (``--serve-artifacts``,
PostgreSQL backend) into the trial's run. Skipped where unshare is missing or not permitted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import cli_env, run_cli
from test_scale_out import (  # noqa: F401 - tracking_server: the fixture
    _free_port,
    _logged_numbers,
    _states,
    _stop,
    _study,
    _wait_for,
    tracking_server,
)
from test_scale_out import pg_url as _pg_url  # noqa: F401 - the fixture, under its own name

from hedgeopt.names import stamped

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _private_mount(hidden: Path) -> list[str]:
    """The command prefix that runs a command with a private tmpfs over ``hidden``; skips the
    test where that cannot be done here."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed (util-linux)")
    prefix = ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    prefix += ["sh", "-c", 'mount -t tmpfs hedgeopt-private "$0" && exec "$@"', str(hidden)]
    try:
        r = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"unshare --mount cannot run here: {exc}")
    if r.returncode != 0:
        pytest.skip(f"unshare --mount with a private tmpfs is not permitted here: {r.stderr.strip()[:200]}")
    return prefix


@pytest.fixture(scope="module")
def isolated_worker(tmp_path_factory):
    """``tcp://`` address of a scheduler whose one worker cannot see pytest's temporary root."""
    pytest.importorskip("distributed")
    hidden = tmp_path_factory.getbasetemp()
    prefix = _private_mount(hidden)
    port, logs = _free_port(), Path(tempfile.mkdtemp(prefix="hedgeopt-dask-logs-"))
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m"]
    procs: list[subprocess.Popen] = []
    try:
        for name, cmd in (
            (
                "scheduler",
                [*dask, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port)],
            ),
            ("worker", [*prefix, *dask, "distributed.cli.dask_worker", address, "--nthreads", "1"]),
        ):
            cmd += ["--no-dashboard"]
            with open(logs / f"{name}.log", "w") as log:
                procs.append(
                    subprocess.Popen(
                        cmd,
                        cwd=logs,
                        env=cli_env(),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        from distributed import Client

        def one_worker():
            assert all(p.poll() is None for p in procs), (logs / "worker.log").read_text()[-2000:]
            try:
                with Client(address, timeout=5) as client:
                    return len(client.scheduler_info(n_workers=-1)["workers"]) == 1
            except OSError:
                return False

        _wait_for(one_worker, 90, "the scheduler and its unshared worker")
        # the worker's mount namespace has the tmpfs over pytest's root; the parent's has not
        assert f" {hidden} " in Path(f"/proc/{procs[1].pid}/mountinfo").read_text()
        assert f" {hidden} " not in Path("/proc/self/mountinfo").read_text()
        yield address
    finally:
        for p in reversed(procs):
            _stop(p)
        shutil.rmtree(logs, ignore_errors=True)


def _on(address: str, pg: str) -> tuple[str, ...]:
    return (
        "+study=toy",
        "executor=dask",
        f"executor.address={address}",
        "executor.stop_grace=2",
        f"storage={pg}",
    )


def test_shared_staging_on_a_worker_that_cannot_see_the_folder_fails_the_probe_in_one_line(
    workdir: Path,
    _pg_url: str,  # noqa: F811
    isolated_worker: str,
):
    r = run_cli(workdir, *_on(isolated_worker, _pg_url), "n_jobs=1", "n_trials=4")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("hedgeopt: error: executor=dask:")
    assert "cannot see the parent's staging folder" in lines[0] and "executor.staging=mlflow" in lines[0]
    assert not (workdir / "mlruns" / "mlflow.db").exists() and not (workdir / "exports").exists()
    assert not list((workdir / "mlruns" / ".staging").iterdir())  # the probe's marker is gone


def test_mlflow_staging_brings_every_trials_artifacts_from_an_unshared_worker(
    workdir: Path,
    _pg_url: str,  # noqa: F811
    tracking_server,  # noqa: F811
    isolated_worker: str,
):
    url, served = tracking_server
    r = run_cli(
        workdir,
        *_on(isolated_worker, _pg_url),
        "executor.staging=mlflow",
        f"mlflow.tracking_uri={url}",
        "study_name=toy_staged",
        "n_jobs=1",
        "n_trials=4",
        "toy.sleep=0.2",
    )
    assert r.returncode == 0, r.stderr
    trials = _study(_pg_url, "toy_staged").trials
    assert _states(trials) == {"COMPLETE": 4}
    assert len({stamped(t.user_attrs, "worker") for t in trials}) == 1  # all on the unshared worker
    from mlflow import MlflowClient

    client = MlflowClient(url)
    exp = client.get_experiment_by_name("toy_staged")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    runs_of = {
        role: [x for x in runs if x.data.tags.get("hedgeopt.role") == role] for role in ("trial", "study")
    }
    assert len(runs_of["study"]) == 1 and runs_of["study"][0].info.status == "FINISHED"
    assert _logged_numbers(runs_of["trial"]) == [0, 1, 2, 3]  # each trial once
    by_number = {t.number: t for t in trials}
    for run in runs_of["trial"]:
        assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"trial.yaml", "note.txt"}
        note = Path(client.download_artifacts(run.info.run_id, "note.txt", str(workdir / run.info.run_id)))
        loss = by_number[int(run.data.tags["hedgeopt.trial_number"])].value
        assert note.read_text() == f"loss={loss}\n"  # the worker's file, for this trial
    parent = runs_of["study"][0].info.run_id
    assert "plots/toy_loss.png" in {
        a.path for a in client.list_artifacts(parent, "plots")
    }  # drawn on the worker
    assert "Downloading artifacts" not in r.stderr
    # the record files travelled with the trial folders: PBO covers every trial, no warning
    assert "warning" not in r.stderr and "leaves out" not in r.stderr, r.stderr
    records = workdir / "mlruns" / "samples" / "toy_staged"
    assert sorted(p.name for p in records.rglob("*.npz")) == [f"{n}.npz" for n in range(4)]
    staged = [p for p in (served / exp.experiment_id / ".staging").rglob("*") if p.is_file()]
    assert staged == []  # moved into the runs, the staging copies (and the probe's file) deleted
    assert not (workdir / "mlruns" / ".staging").exists() or not list(
        (workdir / "mlruns" / ".staging").iterdir()
    )
