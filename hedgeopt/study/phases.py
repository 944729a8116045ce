"""Where an invocation's time goes: the parent's timeline cut into named phases.

Each phase records its wall time and the CPU seconds spent meanwhile by the whole process tree
(the parent and its live worker processes, read from ``/proc``), so a phase that waits on
workers shows their work. ``HEDGEOPT_PHASES=FILE`` makes the runner write the phases as JSON
when it ends (``benchmarks/bench_overhead.py`` reads them); otherwise the clock costs a few
``/proc`` reads per invocation and nothing is written.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ENV_FILE = "HEDGEOPT_PHASES"


def _clock_ticks() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100.0


_TICKS = _clock_ticks()


def _stat(pid: str) -> tuple[int, float] | None:
    """``(parent pid, CPU seconds)`` of a process, from ``/proc/<pid>/stat``."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def tree_cpu_seconds(root: int | None = None) -> float:
    """CPU seconds (user + system) of ``root`` (this process) and its live descendants."""
    root = os.getpid() if root is None else root
    if not Path("/proc/self/stat").exists():
        return time.process_time()
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(entry)
            if st is not None:
                parents[int(entry)], cpu[int(entry)] = st
    total = 0.0
    for pid, seconds in cpu.items():
        p, hops = pid, 0
        while p and p != root and hops < 64:
            p, hops = parents.get(p, 0), hops + 1
        if p == root:
            total += seconds
    return total


def process_age_seconds() -> float:
    """Seconds since this process started (``/proc``); 0 where unknown."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        btime = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return max(0.0, time.time() - (btime + start_ticks / _TICKS))
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0


class PhaseClock:
    """Consecutive phases of the parent's timeline: ``mark(name)`` closes the phase ``name``."""

    def __init__(self, first: str | None = None) -> None:
        self.phases: list[dict[str, float | str]] = []
        self.details: dict[str, float] = {}
        self._wall = time.perf_counter()
        self._cpu = tree_cpu_seconds()
        if first is not None:  # what ran before the clock started: interpreter start-up and imports
            self.phases.append(
                {"phase": first, "wall_s": process_age_seconds(), "cpu_s": time.process_time()}
            )

    def mark(self, name: str) -> None:
        wall, cpu = time.perf_counter(), tree_cpu_seconds()
        self.phases.append({"phase": name, "wall_s": wall - self._wall, "cpu_s": cpu - self._cpu})
        self._wall, self._cpu = wall, cpu

    def detail(self, name: str, seconds: float) -> None:
        """A duration measured elsewhere (inside a worker), reported beside the phases."""
        self.details[name] = float(seconds)

    def dump(self) -> None:
        """Write the phases to ``$HEDGEOPT_PHASES`` if it is set."""
        path = os.environ.get(ENV_FILE)
        if path:
            Path(path).write_text(json.dumps({"phases": self.phases, "details": self.details}, indent=1))
