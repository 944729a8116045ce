"""Scale-out and fault tolerance against the local PostgreSQL and Redis (issue 7).

Several invocations on one study, a worker killed with SIGKILL mid-trial, a whole invocation
killed with SIGKILL and resumed, an MLflow tracking server with a PostgreSQL backend, and
passwords in URLs. Each test gets a fresh PostgreSQL database (dropped afterwards) or a Redis
database index it flushes. Without the services these tests skip, except on CI (CI=true),
where they fail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import Store, cli_env, run_cli, start_cli

from hedgeopt.names import stamped

pytestmark = [pytest.mark.services, pytest.mark.slow]

PG_HOST, PG_PORT, REDIS_PORT = "127.0.0.1", 5432, 6379
REDIS_DB = 13  # flushed by the test that uses it
FAST_HEARTBEAT = ("heartbeat_interval=1", "grace_period=3")


def _unavailable(what: str, why: object) -> None:
    msg = f"{what} is not available at 127.0.0.1: {why}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " (CI=true: the services are required)")
    pytest.skip(msg)


def _pg_admin():
    """A psycopg2 connection to the ``test`` database (user postgres, else root), autocommit."""
    try:
        import psycopg2
    except ImportError as exc:
        _unavailable("psycopg2", exc)
    last: object = None
    for user in ("postgres", "root"):
        try:
            conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, dbname="test", user=user, connect_timeout=3)
            conn.autocommit = True
            return conn, user
        except Exception as exc:  # noqa: BLE001 - try the next user
            last = exc
    _unavailable("PostgreSQL", last)


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test; yields its URL and drops it afterwards."""
    conn, user = _pg_admin()
    name = f"hedgeopt_t_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.close()


@pytest.fixture
def redis_url():
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=REDIS_PORT, db=REDIS_DB, socket_timeout=3)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        _unavailable("Redis", exc)
    client.flushdb()
    try:
        yield f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}"
    finally:
        client.flushdb()


def _study(url: str, name: str = "toy"):
    import optuna

    from hedgeopt.storages.opening import open_storage, resolve_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(
        study_name=name, storage=open_storage(resolve_storage(url, name, workdir="mlruns"))
    )


def _states(trials) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def _logged_numbers(runs) -> list[int]:
    return sorted(int(r.data.tags["hedgeopt.trial_number"]) for r in runs)


def _wait_for(cond, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _finish(proc: subprocess.Popen, timeout: float = 150) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def _trials_so_far(url: str) -> list | None:
    """The study's trials while a CLI run goes on, or None before it has created the study."""
    try:
        return _study(url).get_trials(deepcopy=False)
    except Exception:  # noqa: BLE001 - not created yet
        return None


def _kill_if_running(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of a CLI run a test left going (its workers too)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM a service's process group, SIGKILL it if it is not gone within 20 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _sigkill_a_running_trial(
    proc: subprocess.Popen, url: str, pick, timeout: float, what: str = "a running trial"
):
    """SIGKILL the worker of the first trial of ``url`` that is RUNNING, began under a second ago
    and that ``pick`` takes, then let the CLI run ``proc`` finish: ``(victim, killed_at, out)``."""
    try:

        def running():
            for t in _trials_so_far(url) or []:
                if t.state.name == "RUNNING" and pick(t) and time.time() - t.datetime_start.timestamp() < 1.0:
                    return t
            return None

        victim = _wait_for(running, timeout, what)
        os.kill(int(stamped(victim.user_attrs, "pid")), signal.SIGKILL)
        killed_at = time.time()
        return victim, killed_at, _finish(proc)
    finally:
        _kill_if_running(proc)


def _assert_lost_trial_retried_once(trials, victim, killed_at: float, n_trials: int = 6):
    """The SIGKILLed worker's trial failed as lost and uncounted, and exactly one retry with its
    params, started within 30 s of the kill, completed: ``(killed, retry)``."""
    assert sum(t.state.name == "COMPLETE" for t in trials) == n_trials
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    killed = trials[victim.number]
    assert killed.state.name == "FAIL" and "worker lost" in killed.user_attrs["hedgeopt.fail_reason"]
    assert "hedgeopt.counted" not in killed.user_attrs
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == killed.params
    assert retries[0].datetime_start.timestamp() - killed_at < 30
    return killed, retries[0]


# --------------------------------------------------------------------------- several invocations


def test_two_invocations_on_one_postgresql_study_finish_exactly_n_trials(workdir: Path, pg_url: str):
    args = (
        "+study=toy",
        f"storage={pg_url}",
        "n_trials=8",
        "n_jobs=1",
        "toy.sleep=0.4",
        "sampler=random",
        *FAST_HEARTBEAT,
    )
    procs = [start_cli(workdir, *args) for _ in range(2)]
    for p in procs:
        _finish(p)
    trials = _study(pg_url).trials
    assert _states(trials) == {"COMPLETE": 8} and len(trials) == 8
    # the random samplers of the two invocations are seeded apart: no params are repeated
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 8
    store = Store(workdir)
    parents, runs = store.runs("toy", "study"), store.runs("toy", "trial")
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    assert _logged_numbers(runs) == list(range(8))  # distinct: each trial logged once
    by_parent = {p.info.run_id: 0 for p in parents}
    for r in runs:
        by_parent[r.data.tags["mlflow.parentRunId"]] += 1
    assert sum(by_parent.values()) == 8


def test_two_invocations_on_one_redis_journal_finish_exactly_n_trials(workdir: Path, redis_url: str):
    args = ("+study=toy", f"storage={redis_url}", "n_trials=6", "n_jobs=1", "toy.sleep=0.4", "sampler=random")
    procs = [start_cli(workdir, *args) for _ in range(2)]
    for p in procs:
        _finish(p)
    trials = _study(redis_url).trials
    assert _states(trials) == {"COMPLETE": 6}
    assert _logged_numbers(Store(workdir).runs("toy", "trial")) == list(range(6))


# --------------------------------------------------------------------------- kills


def test_sigkill_of_one_worker_fails_and_retries_its_trial(workdir: Path, pg_url: str):
    proc = start_cli(
        workdir, "+study=toy", f"storage={pg_url}", "n_trials=6", "n_jobs=2", "toy.sleep=2.0", *FAST_HEARTBEAT
    )

    def running_with_pid(t) -> bool:
        # params sampled (so the retry has params to repeat), started under a second ago (so it
        # cannot finish, 2 s, before the kill)
        return bool(stamped(t.user_attrs, "pid") and t.params)

    victim, killed_at, out = _sigkill_a_running_trial(proc, pg_url, running_with_pid, 90)
    assert "a worker process died" in out
    trials = _study(pg_url).trials
    _, retry = _assert_lost_trial_retried_once(trials, victim, killed_at)
    store = Store(workdir)
    runs = {int(r.data.tags["hedgeopt.trial_number"]): r for r in store.runs("toy", "trial")}
    assert sorted(runs) == [t.number for t in trials]  # every trial logged once
    assert runs[victim.number].info.status == "KILLED"
    assert runs[victim.number].data.tags["hedgeopt.trial_state"] == "FAIL"
    assert "worker lost" in runs[victim.number].data.tags["hedgeopt.fail_reason"]
    assert runs[retry.number].data.tags["hedgeopt.retry_of"] == str(victim.number)
    assert all(r.info.status != "RUNNING" for r in store.runs("toy"))


def test_sigkill_of_a_whole_invocation_then_resume(workdir: Path, pg_url: str):
    args = ("+study=toy", f"storage={pg_url}", "n_trials=6", "n_jobs=2", "toy.sleep=1.5", *FAST_HEARTBEAT)
    proc = start_cli(workdir, *args)
    try:

        def complete_and_running():
            trials = _trials_so_far(pg_url)
            if trials is None:
                return None
            states = _states(trials)
            # a running trial with params drawn, so that the retry has something to keep
            drawn = any(t.state.name == "RUNNING" and t.params for t in trials)
            return trials if states.get("COMPLETE", 0) >= 2 and drawn else None

        _wait_for(complete_and_running, 90, "two complete trials and a running one with its params")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, mid-trial
        proc.communicate(timeout=30)
    before = _study(pg_url).trials
    done_before = {t.number: t.params for t in before if t.state.name == "COMPLETE"}
    lost = [t.number for t in before if t.state.name == "RUNNING"]
    assert lost and 2 <= len(done_before) < 6

    r = run_cli(workdir, *args, timeout=150)
    assert r.returncode == 0, r.stderr
    trials = _study(pg_url).trials
    assert sum(t.state.name == "COMPLETE" for t in trials) == 6
    for n, params in done_before.items():  # nothing completed was lost or changed
        assert trials[n].state.name == "COMPLETE" and trials[n].params == params
    stamped_before = {t.number for t in before if stamped(t.user_attrs, "pid") is not None}
    for n in lost:  # failed and retried by the resumed invocation
        assert trials[n].state.name == "FAIL"
        reason = trials[n].user_attrs["hedgeopt.fail_reason"]
        if n in stamped_before:  # its worker had started it: heartbeats judge it
            assert "no heartbeat" in reason, reason
        else:  # created at the kill, never started by a worker: the reaper's reason
            assert reason == "worker lost: its process is gone", reason
        retry = [t for t in trials if t.system_attrs.get("failed_trial") == n]
        assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
        # the retry runs every param drawn before the kill (a kill mid-draw leaves some undrawn,
        # which the retry draws afresh)
        assert before[n].params.items() <= retry[0].params.items()
        assert trials[n].params == before[n].params
    store = Store(workdir)
    parents = sorted(store.runs("toy", "study"), key=lambda p: p.info.start_time)
    assert [p.info.status for p in parents] == ["KILLED", "FINISHED"]
    runs = store.runs("toy", "trial")
    assert _logged_numbers(runs) == [t.number for t in trials]
    assert all(r.info.status != "RUNNING" for r in runs)


def test_a_journal_cut_mid_write_still_loads_and_resumes(workdir: Path):
    r = run_cli(workdir, "+study=toy", "n_trials=3", "n_jobs=1")
    assert r.returncode == 0, r.stderr
    journal = workdir / "mlruns" / "optuna" / "toy.journal"
    with open(journal, "ab") as fh:  # a writer killed half-way through a record
        fh.write(b'{"op_code":4,"worker_id":"dead-worker","study_id":0,"datetime_st')
    r = run_cli(workdir, "+study=toy", "n_trials=5", "n_jobs=1")
    assert r.returncode == 0, r.stderr
    assert journal.read_bytes().endswith(b"\n")
    trials = Store(workdir).trials("toy")
    assert _states(trials) == {"COMPLETE": 5}
    assert _logged_numbers(Store(workdir).runs("toy", "trial")) == list(range(5))


# --------------------------------------------------------------------------- tracking server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """``mlflow server`` on a loopback port with a fresh PostgreSQL backend and served artifacts."""
    conn, user = _pg_admin()
    db = f"hedgeopt_mlflow_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db}")
    from hedgeopt.storages.opening import resolve_storage

    backend = resolve_storage(f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{db}", "x", workdir="mlruns").url
    artifacts = tmp_path_factory.mktemp("served-artifacts")
    port = _free_port()
    log = open(artifacts.parent / "mlflow-server.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            backend,
            "--serve-artifacts",
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=cli_env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        def healthy():
            assert server.poll() is None, (artifacts.parent / "mlflow-server.log").read_text()
            try:
                return urllib.request.urlopen(url + "/health", timeout=2).status == 200
            except Exception:  # noqa: BLE001 - not up yet
                return False

        _wait_for(healthy, 90, "the MLflow tracking server")
        yield url, artifacts
    finally:
        _stop(server)
        log.close()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        conn.close()


def test_a_tracking_server_with_a_postgresql_backend_receives_every_trial(
    workdir: Path, pg_url: str, tracking_server
):
    url, artifacts = tracking_server
    r = run_cli(
        workdir,
        "+study=toy",
        "study_name=toy_served",
        f"storage={pg_url}",
        f"mlflow.tracking_uri={url}",
        "n_trials=5",
        "n_jobs=2",
        *FAST_HEARTBEAT,
    )
    assert r.returncode == 0, r.stderr
    assert "View run" not in r.stdout  # MLflow's per-run URL lines are silenced
    from mlflow import MlflowClient

    client = MlflowClient(url)
    exp = client.get_experiment_by_name("toy_served")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    trials = [x for x in runs if x.data.tags.get("hedgeopt.role") == "trial"]
    parents = [x for x in runs if x.data.tags.get("hedgeopt.role") == "study"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert _logged_numbers(trials) == list(range(5))
    for t in trials:
        assert t.info.status == "FINISHED" and {"loss", "objective.loss"} <= set(t.data.metrics)
        assert {a.path for a in client.list_artifacts(t.info.run_id)} >= {"trial.yaml", "note.txt"}
    assert {"config.yaml", "export", "plots"} <= {
        a.path for a in client.list_artifacts(parents[0].info.run_id)
    }
    assert any(artifacts.rglob("trial.yaml"))  # stored by the server, not by the client
    assert not (workdir / "mlruns" / "mlflow.db").exists()


def test_passwords_in_storage_and_tracking_urls_are_never_logged(workdir: Path, pg_url: str, tracking_server):
    url, artifacts = tracking_server
    conn, _ = _pg_admin()
    role, pg_pw, track_pw = (
        f"hedgeopt_pw_{uuid.uuid4().hex[:8]}",
        "PgS3cret-" + uuid.uuid4().hex[:8],
        "TrkS3cret-" + uuid.uuid4().hex[:8],
    )
    db = pg_url.rsplit("/", 1)[1]
    with conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{pg_pw}'")
        cur.execute(f"ALTER DATABASE {db} OWNER TO {role}")
    try:
        storage = f"postgresql://{role}:{pg_pw}@{PG_HOST}:{PG_PORT}/{db}"
        tracking = url.replace("http://", f"http://someone:{track_pw}@")
        r = run_cli(
            workdir,
            "+study=toy",
            "study_name=toy_secret",
            f"storage={storage}",
            f"mlflow.tracking_uri={tracking}",
            "n_trials=4",
            "n_jobs=2",
            *FAST_HEARTBEAT,
        )
        assert r.returncode == 0, r.stderr
        assert "***" in r.stderr  # the storage is named, masked
        secrets = (pg_pw, track_pw)
        console = r.stdout + r.stderr
        assert not [s for s in secrets if s in console]
        from mlflow import MlflowClient

        client = MlflowClient(url)
        exp = client.get_experiment_by_name("toy_secret")
        runs = client.search_runs([exp.experiment_id], max_results=100)
        assert len(runs) == 5
        for run in runs:
            fields = list(run.data.params.items()) + list(run.data.tags.items()) + [(run.info.run_name, "")]
            assert not [kv for kv in fields if any(s in f"{kv[0]}={kv[1]}" for s in secrets)]
        served = [p for p in artifacts.rglob("*") if p.is_file()]
        assert served
        for root in (served, [p for p in workdir.rglob("*") if p.is_file()]):
            for path in root:
                data = path.read_bytes()
                assert not [s for s in secrets if s.encode() in data], path
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        conn.close()
