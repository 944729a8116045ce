"""Test-only variants of the toy objective for the hardening tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toy_objective import ToyObjective

from hedgeopt.protocol import Reporter


class ToyFixedShift(ToyObjective):
    """Reads ``toy.oos_shift`` from its base config only, and says so."""

    fixed_keys = ("toy.oos_shift",)


class ToyKilledWhileScoring(ToyObjective):
    """Its worker process SIGKILLs itself while scoring the best config out-of-sample.

    ``toy.kill_marker`` names a file: while it holds fewer than ``toy.kills`` lines, each
    evaluation appends one and kills its own process.
    """

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> dict[str, float]:
        toy = self.config["toy"]
        marker = Path(toy["kill_marker"])
        done = marker.read_text().count("\n") if marker.exists() else 0
        if done < int(toy.get("kills", 1)):
            with open(marker, "a") as fh:
                fh.write(f"{os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().evaluate(params, reporter)


class ToyCutsJournal(ToyObjective):
    """Its first trial leaves the journal ``toy.journal`` ending in half a record, no newline.

    What a writer that hit a full disk leaves: the next append used to be glued onto it.
    ``toy.cut_marker`` names a file that says the cut was made (once per study).
    """

    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> dict[str, float]:
        toy = self.config["toy"]
        marker = Path(toy["cut_marker"])
        if not marker.exists():
            marker.write_text("cut\n")
            from hedgeopt.storages.journal_io import QueuedJournalLock

            lock = QueuedJournalLock(toy["journal"])  # as a writer that died holding it
            lock.acquire()
            try:
                with open(toy["journal"], "ab") as fh:
                    fh.write(b'{"op_code":5,"worker_id":"gone","trial_id":0,"user_a')
            finally:
                lock.release()
        return super().__call__(params, reporter)
