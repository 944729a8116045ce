"""Cost of the end-of-study statistics: intervals, paired differences, verdict and PBO.

A 100-trial study with 256 per-sample values per trial, two columns per sample (as the
delta_hedge cost-risk statistic has), eight baselines. Prints ``stats_s=<float>`` (goal < 1 s
on a 2-core machine) beside the same work done by a plain Python loop over bootstrap
replicates and CSCV splits (the reference an unvectorised implementation would be).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from hedgeopt.protocol import Evaluation
from hedgeopt.results.assessment import assess_study
from hedgeopt.storages.trial_record import RecordFiles, in_sample


@dataclass(frozen=True)
class CostRisk:
    """mean of column 0 + 0.5 x variance of column 1 (the shape of a hedger's objective)."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return x[..., 0].mean(axis=-1) + 0.5 * x[..., 1].var(axis=-1, ddof=1)


class _Trial:
    def __init__(self, rows: np.ndarray) -> None:
        self.state = type("S", (), {"name": "COMPLETE"})()
        self.user_attrs = {"samples.score": rows.tolist()}


def main() -> None:
    rng = np.random.default_rng(0)
    n_trials, n, n_base = 100, 256, 8
    common = rng.normal(size=(n, 2))
    trials = [_Trial(common + rng.normal(0, 0.3, (n, 2)) + i * 0.01) for i in range(n_trials)]
    stat = CostRisk()

    def ev(x: np.ndarray) -> Evaluation:
        return Evaluation({"score": float(stat(x))}, samples={"score": x}, statistics={"score": stat})

    oos = ev(common + 0.1)
    baselines = {f"b{i}": {"out_of_sample": ev(common + rng.normal(0, 0.3, (n, 2)))} for i in range(n_base)}

    t0 = time.perf_counter()
    stored = in_sample(trials, "score", RecordFiles(".", "bench"))
    res = assess_study(("score",), ("minimize",), {"score": 1.0}, oos, baselines, stored, 0)
    stats_s = time.perf_counter() - t0

    # reference: the same work, one replicate / one split at a time
    t0 = time.perf_counter()
    b = np.random.default_rng(1)
    x = oos.samples["score"]
    for _ in range(1 + 2 * n_base):
        for _ in range(2000):
            stat(x[b.integers(0, n, n)])
    m = np.stack([np.asarray(t.user_attrs["samples.score"]) for t in trials])
    groups = np.arange(n).reshape(16, -1)
    for c in list(combinations(range(16), 8))[:4000]:
        rows = groups[list(c)].ravel()
        [stat(m[j, rows]) for j in range(n_trials)]
    loop_s = time.perf_counter() - t0

    print(f"pbo={res['overfitting']['pbo']:.3f} verdict={res['verdict']['outcome']}")
    print(f"stats_s={stats_s:.3f}")
    print(f"reference_loop_s={loop_s:.3f}")
    print(f"speedup={loop_s / stats_s:.1f}")


if __name__ == "__main__":
    main()
