"""A short run of the fault-injection script (benchmarks/bench_chaos.py runs 20 rounds of every fault)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_two_chaos_rounds_lose_nothing_and_break_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when run as a script: its helpers
    spec = importlib.util.spec_from_file_location("bench_chaos", ROOT / "benchmarks" / "bench_chaos.py")
    chaos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chaos)
    # one round of the faults that cut the journal and kill processes (the full script adds
    # concurrent resumes, a locked MLflow store, a killed invocation and a dying tracking server)
    faults = "cut-before,cut-live,kill-worker,kill-parent"
    rc = chaos.main(["--rounds", "1", "--faults", faults, "--keep", str(tmp_path / "w")])
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "rounds=1 lost=0 doubled=0 broken=0", out
    assert rc == 0
