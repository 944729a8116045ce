"""The ``local`` executor: loky worker processes on this host (:mod:`hedgeopt.execution.loky_pool`).

Behaviour as before the executor layer: a lost worker takes its pool down, the lost trials are
reaped by host and process id, and a fresh pool with fresh sampler seeds carries on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hedgeopt.execution import loky_pool
from hedgeopt.execution.executors.base import Executor

T = TypeVar("T")


class LocalExecutor(Executor):
    kind = "local"

    def slots(self) -> int:
        return os.cpu_count() or 1

    def map(self, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], n_jobs: int) -> list[T]:
        return loky_pool.map_in_workers(fn, calls, n_jobs)

    def run_loops(self, fn: Callable[[Any], Any], tasks: list[Any], watch: Callable[[], Any]) -> None:
        loky_pool.map_in_workers(fn, [(t,) for t in tasks], len(tasks))

    def is_worker_lost(self, exc: BaseException) -> bool:
        return loky_pool.is_worker_lost(exc)

    def stop_workers(self) -> None:
        loky_pool.stop_workers()
