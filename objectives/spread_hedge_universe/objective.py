"""spread_hedge_universe: a pairs portfolio chosen from a price universe by a cointegration test.

The single-pair study (``objectives.spread_hedge.objective``) asks whether one pair, chosen in advance,
pays; a pairs desk instead scans a universe. Here, walk-forward over a file of many prices
(``simulators.trading.universe_backtest``): at each trading-window start the pairs are pre-screened by
the correlation of their formation-window returns, tested for cointegration on the formation
window only (``selection.test``: Engle-Granger or Johansen), and the ``selection.k`` most
cointegrated pairs significant at ``selection.p_value`` are traded over the next window with
the same z-score rule, hedge-ratio methods, costs and sizing as the single-pair study, each in
one of ``k`` equal capital slots. The score is the annualised Sharpe of the portfolio's pooled
daily net returns (maximise), in-sample on rows ``[warmup, split)``; ``evaluate`` scores the
held-out rows ``[split, end)`` and re-runs the config on surrogate universes whose assets'
returns were block-bootstrapped independently (nothing cointegrated), reporting the share that
score at least as well (``surrogate_p_value``). Baselines on the same days: the equal-weight
buy-and-hold of the universe, the same pipeline with the default settings, and no trade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hedgeopt.protocol import EdgeTest, Evaluation, Reporter, StudyContext
from objectives.spread_hedge.objective import SCORE, SpreadHedgeObjective
from simulators.markets.surrogates import independent_block_bootstrap, surrogate_summary
from simulators.performance import annualised_sharpe
from simulators.trading.pair_selection import TESTS
from simulators.trading.pairs_backtest import SpreadSettings
from simulators.trading.universe_backtest import (
    Selection,
    UniverseBacktest,
    equal_weight_buy_and_hold,
    summarise_universe,
    walk_forward_universe,
)


class SpreadHedgeUniverseObjective(SpreadHedgeObjective):
    """Tunes pair selection (k, test, threshold) beside the rule, windows and hedge-ratio method."""

    #: read from the study config only (prices, the pre-screen's size and surrogates are set up
    #: once per worker)
    fixed_keys = ("data", "surrogates", "selection.candidates")

    def __init__(self, config: Mapping[str, Any], context: StudyContext | None = None) -> None:
        super().__init__(config, context)
        if len(self.columns) < 3:
            raise ValueError(
                f"{self.config['data']['source']}: a universe needs three or more "
                f"price columns, got {self.columns}"
            )
        candidates = int(self.config["selection"]["candidates"])
        self.backtest = UniverseBacktest(self.values, candidates)
        self.default_selection = self._selection({})

    def _selection(self, params: Mapping[str, Any]) -> Selection:
        sel = self.configure(params)["selection"]
        test = str(sel["test"])
        if test not in TESTS:
            raise ValueError(f"selection.test must be one of {list(TESTS)}, got {test!r}")
        return Selection(test, float(sel["p_value"]), int(sel["k"]))

    def _run_universe(
        self, s: SpreadSettings, sel: Selection, lo: int, hi: int, reporter: Reporter | None = None
    ) -> Evaluation:
        walk = walk_forward_universe(self.backtest, s, sel, lo, hi, on_window=self._on_window(reporter))
        return self._evaluation(walk.returns, summarise_universe(walk))

    def surrogate_universe_sharpes(self, s: SpreadSettings, sel: Selection, n: int, seed: int) -> np.ndarray:
        """Held-out Sharpe ratios of the config on ``n`` surrogate universes (formation rows
        included) whose assets' returns were block-bootstrapped independently."""
        lo = self.split - s.formation
        rng = np.random.default_rng(seed)
        paths = independent_block_bootstrap(self.values[lo:], n, self.surrogate_block, rng)
        out = np.empty(n)
        for i, path in enumerate(paths):
            bt = UniverseBacktest(path, self.backtest.candidates, cache=False)
            out[i] = annualised_sharpe(walk_forward_universe(bt, s, sel, s.formation, len(path)).returns)
        return out

    # ---------------------------------------------------------------- protocol

    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> Evaluation:
        return self._run_universe(
            self._settings(params), self._selection(params), self.warmup, self.split, reporter
        )

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> Evaluation:
        s, sel = self._settings(params), self._selection(params)
        result = self._run_universe(s, sel, self.split, len(self.values))
        if self.n_surrogates > 0:
            sharpes = self.surrogate_universe_sharpes(s, sel, self.n_surrogates, self.seed + 7919)
            result.metrics.update(surrogate_summary(result.metrics[SCORE], sharpes))
            result.edge = EdgeTest(
                result.metrics["surrogate_p_value"],
                self.n_surrogates,
                "surrogate universes without cointegration",
                default_rule="default_pipeline",
            )
        return result

    def _baselines_between(self, lo: int, hi: int) -> dict[str, Evaluation]:
        """Equal-weight buy-and-hold of the universe, the pipeline with default settings, no trade."""
        return {
            "buy_and_hold_universe": self._plain(
                equal_weight_buy_and_hold(self.values[lo - 1 : hi], self.default.cost_bps)
            ),
            "default_pipeline": self._run_universe(self.default, self.default_selection, lo, hi),
            "no_trade": self._plain(np.zeros(hi - lo)),
        }

    def plots(
        self, best_params: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], out_dir: Path
    ) -> list[Path]:
        """The tuned portfolio's equity against the default pipeline and the equal-weight universe
        over the searched and the held-out days, and the pairs it traded per window."""
        from objectives.spread_hedge_universe.plots import plot_universe

        s, sel = self._settings(best_params), self._selection(best_params)
        lo, n = self.warmup, len(self.values)
        names = ("tuned portfolio", "default pipeline", "equal-weight universe")
        series = {name: np.zeros(n - lo) for name in names}
        window_starts, pairs_traded = [], []
        for a, b in ((lo, self.split), (self.split, n)):
            walk = walk_forward_universe(self.backtest, s, sel, a, b)
            series["tuned portfolio"][a - lo : b - lo] = walk.returns
            window_starts += [self.prices.index[t] for t, _ in walk.windows]
            pairs_traded += [len(c) for c in walk.selected]
            base = walk_forward_universe(self.backtest, self.default, self.default_selection, a, b)
            series["default pipeline"][a - lo : b - lo] = base.returns
            held = equal_weight_buy_and_hold(self.values[a - 1 : b], s.cost_bps)
            series["equal-weight universe"][a - lo : b - lo] = held
        dates = self.prices.index[lo:n]
        return plot_universe(
            dates, series, window_starts, pairs_traded, self.split - lo, s, sel, Path(out_dir)
        )
