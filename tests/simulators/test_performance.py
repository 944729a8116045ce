"""simulators.performance against direct computations on small series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.performance import annualised_sharpe, annualised_vol, compounded_max_drawdown, max_drawdown


def test_sharpe_and_vol_are_the_textbook_formulas():
    r = np.array([0.01, -0.02, 0.015, 0.003, -0.004])
    mean, sd = sum(r) / 5, math.sqrt(sum((x - sum(r) / 5) ** 2 for x in r) / 4)
    assert annualised_sharpe(r, 252) == pytest.approx(mean / sd * math.sqrt(252))
    assert float(annualised_vol(r, 12)) == pytest.approx(sd * math.sqrt(12))
    assert annualised_sharpe(np.zeros(4)) == 0.0


def test_drawdowns_on_a_path_worked_by_hand():
    r = np.array([0.10, -0.20, 0.05, -0.10, 0.30])
    # additive: cum 0, .1, -.1, -.05, -.15, .15 -> peak .1, trough -.15
    assert max_drawdown(r) == pytest.approx(0.25)
    # compounded: wealth 1, 1.1, .88, .924, .8316, 1.08108 -> 1 - .8316 / 1.1
    assert float(compounded_max_drawdown(r)[0]) == pytest.approx(1 - 0.8316 / 1.1)
    assert compounded_max_drawdown(np.vstack([r, np.full(5, 0.01)])).tolist()[1] == 0.0
