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
