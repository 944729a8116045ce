"""A cheap, test-only objective: a quadratic bowl with switches for failures and slowness.

loss = (x - 1)^2 + 0.1 (n - 3)^2 (+ 0.5 when kind is "b", + offset when kind is "b" and bonus)
Out-of-sample shifts the bowl's centre by ``toy.oos_shift``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hedgeopt.protocol import Objective, Reporter, StudyContext, TrialPruned


class ToyObjective(Objective):
    def __init__(self, config: Mapping[str, Any], context: StudyContext | None = None) -> None:
        super().__init__(config, context)
        setup = self.config["toy"].get("setup_marker")
        if setup:  # proves set-up runs once per worker process
            with open(setup, "a") as fh:
                fh.write(f"{os.getpid()}\n")
        if self.config["toy"].get("fail_setup"):
            raise RuntimeError("toy set-up failed on purpose")

    def _loss(self, toy: Mapping[str, Any], centre: float) -> float:
        loss = (toy["x"] - centre) ** 2 + 0.1 * (toy["n"] - 3) ** 2
        if toy["kind"] == "b":
            loss += 0.5 - (0.3 if toy.get("bonus") else 0.0)
        return float(loss)

    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> dict[str, float]:
        toy = self.configure(params)["toy"]
        if toy.get("sleep"):
            time.sleep(float(toy["sleep"]))
        if toy.get("burn"):  # CPU-bound work of a fixed size
            acc = 0.0
            for i in range(int(toy["burn"])):
                acc += math.sqrt(i)
        if toy.get("fail_x_above") is not None and toy["x"] > toy["fail_x_above"]:
            raise RuntimeError(f"x={toy['x']:.3f} is above the failure threshold")
        if toy.get("nan_x_below") is not None and toy["x"] < toy["nan_x_below"]:
            return {"loss": float("nan"), "size": float(toy["n"])}
        loss = self._loss(toy, 1.0)
        for step in range(int(toy.get("steps", 0))):
            reporter.report("loss", loss * (1 + 1.0 / (step + 1)), step)
            if reporter.should_prune():
                raise TrialPruned(f"pruned at step {step}")
        (Path(reporter.artifact_dir) / "note.txt").write_text(f"loss={loss}\n")
        return {"loss": loss, "size": float(toy["n"]), "cost": abs(toy["x"]) + toy["n"]}

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> dict[str, float]:
        toy = self.configure(params)["toy"]
        loss = self._loss(toy, 1.0 + float(toy.get("oos_shift", 0.0)))
        return {"loss": loss, "size": float(toy["n"]), "cost": abs(toy["x"]) + toy["n"]}

    def baselines(self) -> dict[str, dict[str, dict[str, float]]]:
        zero = {"toy.x": 0.0, "toy.n": 3, "toy.kind": "a"}
        return {
            "origin": {
                "in_sample": {"loss": self._loss(self.configure(zero)["toy"], 1.0)},
                "out_of_sample": self.evaluate(zero),
            }
        }

    def plots(self, best_params, trials, out_dir: Path) -> list[Path]:
        import matplotlib.pyplot as plt  # the framework has selected the Agg backend

        fig, ax = plt.subplots()
        xs = [t["params"].get("toy.x") for t in trials if t["state"] == "COMPLETE"]
        ys = [t["metrics"].get("loss") for t in trials if t["state"] == "COMPLETE"]
        ax.scatter(xs, ys)
        path = Path(out_dir) / "toy_loss.png"
        fig.savefig(path)
        plt.close(fig)
        return [path]
