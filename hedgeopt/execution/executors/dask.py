"""The ``dask`` executor: one worker loop per slot of a Dask distributed cluster.

The cluster is a running scheduler (``executor.address``), a cluster class the config
instantiates (``executor.cluster._target_``, scaled to ``executor.scale``), or a LocalCluster of
``n_jobs`` single-threaded worker processes. The Optuna storage stays the only coordinator and
the parent the only MLflow writer; the workers reach the storage themselves.

A worker that dies is found by its address: the scheduler no longer lists it, so the parent
fails its RUNNING trials as lost and queues a retry with the same params. The scheduler runs
the dead worker's loop again elsewhere; the loop then draws a fresh sampler seed (a Dask
``Variable`` counts its attempts), so it does not repeat the dead worker's proposals. Stopping
is cooperative: a Dask ``Event`` the loops check before asking for a trial.

A parent killed outright (SIGKILL, the OOM killer, its host gone) sets no Event, and on a
scheduler it did not start its loops would go on searching with nobody to log their trials (the
parent's pid means nothing on another host). So the parent also beats: a thread bumps a Dask
``Variable`` every :data:`BEAT_EVERY_S`, and a thread in each worker process reads it; a loop
ends once the beat has not changed for :data:`PARENT_TIMEOUT_S` (timed by the worker's own
clock, so the hosts' clocks need not agree). The trial it was running finishes; the next
invocation logs it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from distributed.diagnostics.plugin import WorkerPlugin

from hedgeopt.config.executor import ExecutorSettings
from hedgeopt.errors import ConfigError, one_line
from hedgeopt.execution.executors.base import Executor

T = TypeVar("T")

#: Seconds to wait for a created cluster's workers, and for a scheduler to answer.
START_TIMEOUT_S = 120
CONNECT_TIMEOUT_S = 10
#: How often the parent looks for lost workers while the loops run.
WATCH_EVERY_S = 0.5
#: The parent's heartbeat period, and how long a loop waits for a missed beat before it ends.
BEAT_EVERY_S = 1.0
PARENT_TIMEOUT_S = 6.0


class IgnoreSigint(WorkerPlugin):
    """A worker plugin for clusters hedgeopt creates: Ctrl-C in the terminal reaches the whole
    process group, but stopping the workers is the parent's job (cooperatively)."""

    name = "hedgeopt-ignore-sigint"

    def setup(self, worker: Any) -> None:
        from hedgeopt.execution.executors.base import ignore_sigint

        ignore_sigint()


class DaskStop:
    """The stop flag of a Dask worker loop: the parent's stop ``Event`` is set, or the parent's
    heartbeat (a ``Variable``) has not changed for ``timeout`` seconds. Picklable."""

    def __init__(self, event: str, beat: str, timeout: float = PARENT_TIMEOUT_S) -> None:
        self.event, self.beat, self.timeout = event, beat, timeout

    def is_set(self) -> bool:
        from distributed import Event, get_client

        client = get_client()
        return _beat_stale(client, self.beat, self.timeout) or Event(self.event, client=client).is_set()


#: In a worker process: heartbeat name -> local monotonic time its value last changed.
_LAST_BEAT: dict[str, float] = {}
_BEAT_LOCK = threading.Lock()


def _beat_stale(client: Any, beat: str, timeout: float) -> bool:
    """Whether the parent's heartbeat ``beat`` is older than ``timeout`` (watched by one thread
    per worker process and heartbeat, started here; it ends once the beat is stale)."""
    with _BEAT_LOCK:
        if beat not in _LAST_BEAT:
            _LAST_BEAT[beat] = time.monotonic()
            threading.Thread(
                target=_watch_beat, args=(client, beat, timeout), daemon=True, name="hedgeopt-parent-beat"
            ).start()
        return time.monotonic() - _LAST_BEAT[beat] > timeout


def _watch_beat(client: Any, beat: str, timeout: float) -> None:
    from distributed import Variable

    var, last = Variable(beat, client=client), None
    while time.monotonic() - _LAST_BEAT[beat] <= timeout:
        try:
            value = var.get(timeout=BEAT_EVERY_S)
        except Exception:  # noqa: BLE001 - no beat read: the parent (or scheduler) may be gone
            value = last
        if value != last:
            last, _LAST_BEAT[beat] = value, time.monotonic()
        time.sleep(BEAT_EVERY_S / 2)


def _attempt_loop(fn: Callable[[Any], Any], task: Any, counter: str) -> Any:
    """In a worker: run the loop ``fn(task)``; a re-run (its first worker died) gets a fresh seed."""
    from distributed import Variable

    from hedgeopt.seeds import restarted_sampler_seed

    var = Variable(counter)
    attempt = int(var.get(timeout=CONNECT_TIMEOUT_S))
    var.set(attempt + 1)
    if attempt:
        task = replace(task, sampler_seed=restarted_sampler_seed(task.sampler_seed, attempt, task.worker))
    return fn(task)


class DaskExecutor(Executor):
    kind = "dask"

    def __init__(self, settings: ExecutorSettings, n_workers: int) -> None:
        from distributed import Client, Event, LocalCluster

        logging.getLogger("distributed").setLevel(logging.ERROR)
        self.settings, self._cluster = settings, None
        try:
            if settings.address:
                self.client = Client(settings.address, timeout=CONNECT_TIMEOUT_S)
            else:
                if settings.cluster:
                    from hydra.utils import instantiate

                    self._cluster = instantiate(settings.cluster)
                else:
                    self._cluster = LocalCluster(
                        n_workers=n_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.ERROR,
                    )
                if settings.scale:
                    self._cluster.scale(settings.scale)
                self.client = Client(self._cluster, timeout=CONNECT_TIMEOUT_S)
                self.client.register_plugin(IgnoreSigint())
                wanted = settings.scale or (1 if settings.cluster else n_workers)
                self.client.wait_for_workers(wanted, START_TIMEOUT_S)
            if settings.address:
                self.client.wait_for_workers(1, START_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - one line, exit 2
            self.close()
            where = settings.address or (settings.cluster or {}).get("_target_", "a LocalCluster")
            raise ConfigError(f"executor=dask: no cluster at {where}: {one_line(exc)}") from None
        self.tag = uuid.uuid4().hex[:12]
        self._stop = Event(f"hedgeopt-stop-{self.tag}", client=self.client)
        self._loops: list[Any] = []
        self._beating = threading.Event()
        threading.Thread(target=self._beat, daemon=True, name="hedgeopt-beat").start()

    def _beat(self) -> None:
        """Bump the heartbeat the loops watch (:class:`DaskStop`) until :meth:`close`."""
        from distributed import Variable

        var, n = Variable(f"hedgeopt-beat-{self.tag}", client=self.client), 0
        while not self._beating.wait(BEAT_EVERY_S if n else 0):
            n += 1
            try:
                var.set(n, timeout=BEAT_EVERY_S * 2)
            except Exception:  # noqa: BLE001, S110 - a missed beat; the next one may pass
                pass

    # ------------------------------------------------------------------ the protocol
    def slots(self) -> int:
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers))

    def map(self, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], n_jobs: int) -> list[T]:
        futures = [self.client.submit(fn, *args, pure=False) for args in calls]
        return self.client.gather(futures)

    def run_loops(self, fn: Callable[[Any], Any], tasks: list[Any], watch: Callable[[], Any]) -> None:
        from distributed import TimeoutError as DaskTimeout
        from distributed import Variable, wait

        self._loops = []
        for t in tasks:
            counter = f"hedgeopt-attempts-{self.tag}-{t.worker}"
            Variable(counter, client=self.client).set(0)
            key = f"hedgeopt-loop-{self.tag}-{t.worker}"
            self._loops.append(self.client.submit(_attempt_loop, fn, t, counter, key=key, pure=False))
        pending = set(self._loops)
        while pending:
            try:
                wait(list(pending), timeout=WATCH_EVERY_S, return_when="FIRST_COMPLETED")
            except DaskTimeout:
                pass
            for f in [f for f in pending if f.done()]:
                pending.discard(f)
                f.result()  # a loop's error (KilledWorker after repeated deaths) ends the search
            watch()

    def is_worker_lost(self, exc: BaseException) -> bool:
        from distributed.scheduler import KilledWorker

        return isinstance(exc, KilledWorker)

    def alive_workers(self) -> set[str] | None:
        return set(self.client.scheduler_info(n_workers=-1)["workers"])

    def stop_flag(self) -> Any:
        return DaskStop(self._stop.name, f"hedgeopt-beat-{self.tag}")

    def restart_after_loss(self) -> bool:
        return False  # the other workers go on; the scheduler re-runs the lost task

    def stop_workers(self) -> None:
        """Set the stop flag, wait ``stop_grace`` seconds for the loops to end, cancel the rest."""
        if getattr(self, "client", None) is None:
            return
        try:
            self._stop.set()
            deadline = time.time() + self.settings.stop_grace
            while time.time() < deadline and not all(f.done() for f in self._loops):
                time.sleep(0.1)
            self.client.cancel([f for f in self._loops if not f.done()], force=True)
        except Exception:  # noqa: BLE001, S110 - stopping anyway
            pass

    def close(self) -> None:
        self.stop_workers()
        if hasattr(self, "_beating"):
            self._beating.set()
        for thing in (getattr(self, "client", None), self._cluster):
            try:
                if thing is not None:
                    thing.close()
            except Exception:  # noqa: BLE001, S110 - leaving anyway
                pass
        self.client = None
