"""A cheap test-only objective that gives per-sample values (the "how sure" machinery).

Each config's per-sample loss is ``signal x (x - 1)^2 + noise``: ``signal`` sets how much the
config matters against the noise. With ``toy.common_noise`` the noise is the same for every
config (common random numbers, as a simulation study has); without it each config draws its
own noise (seeded by the config), so with ``signal = 0`` every trial is pure noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hedgeopt.protocol import Evaluation, Objective, Reporter


class SampledToyObjective(Objective):
    def _samples(self, params: Mapping[str, Any], seed: int, n: int) -> np.ndarray:
        toy = self.configure(params)["toy"]
        if toy["common_noise"]:
            rng = np.random.default_rng(seed)
        else:
            rng = np.random.default_rng([seed, int(round(float(toy["x"]) * 1e6)) & 0xFFFFFFFF])
        noise = rng.normal(0.0, 1.0, n)
        return float(toy["signal"]) * (float(toy["x"]) - 1.0) ** 2 + noise

    def _evaluation(self, values: np.ndarray) -> Evaluation:
        return Evaluation(
            {"loss": float(values.mean()), "loss_sd": float(values.std(ddof=1))}, samples={"loss": values}
        )

    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> Evaluation:
        toy = self.config["toy"]
        return self._evaluation(self._samples(params, self.context.seed, int(toy["n_in"])))

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> Evaluation:
        toy = self.config["toy"]
        return self._evaluation(self._samples(params, self.context.seed + 1, int(toy["n_out"])))

    def baselines(self) -> dict[str, dict[str, Evaluation]]:
        out = {}
        for name, x in self.config["toy"]["baselines"].items():
            params = {"toy.x": float(x)}
            out[name] = {"in_sample": self(params, None), "out_of_sample": self.evaluate(params)}
        return out
