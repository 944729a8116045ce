"""The one loky pool: tasks run in worker processes, in order, whatever sizes follow each other."""

from __future__ import annotations

import os

from hedgeopt.execution.loky_pool import map_in_workers


def _where(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def test_one_and_several_workers_follow_each_other_in_one_process():
    # joblib's Parallel once failed on the one-process pool a single-task call had left
    # ("'_ReusablePoolExecutor' object has no attribute '_temp_folder_manager'"): a resumed study
    for sizes in ((1, 2), (2, 1), (1, 3)):
        for n in sizes:
            out = map_in_workers(_where, [(i,) for i in range(n + 1)], n)
            assert [sq for _, sq in out] == [i * i for i in range(n + 1)]
            assert os.getpid() not in {p for p, _ in out}  # never in the parent


def test_the_final_tasks_follow_the_one_restart_policy_and_end_in_one_error_line(monkeypatch):
    import pytest

    from hedgeopt.errors import HedgeoptError
    from hedgeopt.execution import final_tasks

    said, stopped = [], []
    monkeypatch.setattr(final_tasks, "_warn", said.append)
    lost = RuntimeError("TerminatedWorkerError")
    restarts = final_tasks.final_restarts(lambda: stopped.append(True), count=1)  # the early worker's
    restarts.after_loss(lost)
    assert said == [
        "hedgeopt: warning: a worker process died while scoring the best config; retrying (2 of 2)"
    ]
    with pytest.raises(HedgeoptError, match=r"died while scoring the best config \(3 times\); every trial"):
        restarts.after_loss(lost)
    assert len(stopped) == 2 and len(said) == 1  # the pool is killed each time; no warning past the limit
