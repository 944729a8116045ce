"""Executors: where the worker processes run (``executor=local``, the default, or ``executor=dask``).

Every place that runs work in worker processes goes through the invocation's executor,
:func:`current` (set by :func:`use`; loky when none is): :func:`map_in_workers` for tasks,
``current().run_loops`` for the search's worker loops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from hedgeopt.execution.executors.base import Executor
from hedgeopt.execution.executors.local import LocalExecutor

if TYPE_CHECKING:
    from hedgeopt.config.settings import StudySettings

T = TypeVar("T")

_CURRENT: list[Executor] = []


def current() -> Executor:
    """The invocation's executor; loky on this host when none was set."""
    return _CURRENT[-1] if _CURRENT else LocalExecutor()


@contextmanager
def use(executor: Executor) -> Iterator[Executor]:
    """Make ``executor`` the current one for the block; closed when it ends."""
    _CURRENT.append(executor)
    try:
        yield executor
    finally:
        _CURRENT.remove(executor)
        executor.close()


def map_in_workers(fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], n_jobs: int) -> list[T]:
    """``[fn(*args) for args in calls]`` in the current executor's workers (never in the parent)."""
    return current().map(fn, calls, n_jobs)


def build_executor(settings: StudySettings) -> Executor:
    """The executor ``settings.executor`` names, started (a Dask cluster is connected or created)."""
    if settings.executor.kind == "dask":
        from hedgeopt.execution.executors.dask import DaskExecutor

        return DaskExecutor(settings.executor, settings.workers())
    return LocalExecutor()
