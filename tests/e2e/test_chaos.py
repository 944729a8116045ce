"""A short run of the fault-injection script (benchmarks/bench_chaos.py runs the full 20-round loop)."""

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
    # seed 2 draws, in round 2, a journal line cut with its newline, a locked MLflow store and a
    # killed worker
    rc = chaos.main(["--rounds", "2", "--seed", "2", "--keep", str(tmp_path / "w")])
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "chaos_rounds=2 lost=0 broken=0", out
    assert rc == 0
