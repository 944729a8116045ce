"""Crypto-perp market model and options book of the delta_hedge study."""

import math

import numpy as np
import pytest

from hedgeopt.config.compose import compose
from simulators.conventions import SECONDS_PER_YEAR
from simulators.markets.crypto_perp import CryptoPerpParams, simulate_paths
from simulators.pricing.black_scholes import bs_delta, bs_gamma, bs_price
from simulators.pricing.options_book import OptionLeg, OptionsBook


def vectorised_mark(bs_formula, book: OptionsBook, spot, iv, times_s) -> np.ndarray:
    """The book marked leg by leg with a vectorised numpy formula (``bs_price``, ``bs_delta``
    or ``bs_gamma``): an independent check of the compiled marks."""
    t_years = np.asarray(times_s, dtype=np.float64) / SECONDS_PER_YEAR
    return sum(
        leg.quantity
        * bs_formula(spot, leg.strike, leg.expiry_days / 365.0 - t_years, iv, book.r, book.q, leg.is_call)
        for leg in book.legs
    )


@pytest.fixture(scope="module")
def seed_preset() -> CryptoPerpParams:
    return CryptoPerpParams.from_config(
        compose(["+study=delta_hedge", "delta_hedge_simulator=seed_notebook"])["simulator"]
    )


def test_seed_notebook_preset_reproduces_the_seed_generator(seed_preset):
    p = seed_preset
    assert p.n_steps == 7 * 24 * 360 and p.s0 == 50_000 and p.iv0 == 0.6
    paths = simulate_paths(p, 2, seed=42)
    iv, s = paths.iv[0], paths.spot[0]
    assert iv.min() >= 0.2 and iv.max() <= 1.5
    # The seed updates the vol with the return's own normal z, then diffuses at the new vol:
    # where the vol is not clipped, z^2 = 1 + (iv_new / iv_old - 1) / 0.01, and without a jump
    # the return gives z = (ret + iv_new^2 dt / 2) / (iv_new sqrt(dt)). The two agree on every
    # tick without a jump: 95% of them.
    ret = np.diff(np.log(s))
    z2_vol = 1.0 + (iv[1:] / iv[:-1] - 1.0) / 0.01
    z_ret = (ret + 0.5 * iv[1:] ** 2 * p.dt) / (iv[1:] * math.sqrt(p.dt))
    free = (iv[1:] > 0.2) & (iv[1:] < 1.5)
    agree = np.isclose(z_ret[free] ** 2, z2_vol[free], rtol=1e-6, atol=1e-6)
    assert agree.mean() == pytest.approx(0.95, abs=0.01)
    # jumps are uniform(-5%, 5%): a 10 s diffusion move is < 0.5%, so |ret| > 2.5% are jumps,
    # half of the 5% of ticks that jump, and no return exceeds 5% plus a diffusion move
    assert np.mean(np.abs(ret) > 0.025) == pytest.approx(0.025, abs=0.003)
    assert np.abs(ret).max() < 0.055
    # funding: the seed's sine over 8 hours, paid every 8 hours -> always 0.0002
    assert paths.funding_idx.size == 21
    np.testing.assert_allclose(paths.funding_rate, 0.0002)


def test_default_preset_is_a_martingale_with_jumps_and_bounded_vol():
    p = CryptoPerpParams.from_config(compose(["+study=delta_hedge"])["simulator"])
    p = CryptoPerpParams(**{**p.__dict__, "tick_seconds": 300.0, "jump_intensity": 200.0})
    paths = simulate_paths(p, 2000, seed=1)
    growth = paths.spot[:, -1] / p.s0
    se = growth.std() / math.sqrt(growth.size)
    assert abs(growth.mean() - 1.0) < 3.5 * se
    assert paths.iv.min() >= p.v_min and paths.iv.max() <= p.v_max
    assert paths.iv[:, -1].std() > 0.01  # vol clusters
    # realised vol of the path close to the vol it diffuses at, the implied vol less the
    # variance risk premium (plus jumps)
    assert p.variance_risk_premium == pytest.approx(0.1)
    rv = np.sqrt(np.mean(np.diff(np.log(paths.spot), axis=1) ** 2) / p.dt)
    diffusion = paths.iv[:, :-1] / (1.0 + p.variance_risk_premium)
    expected = math.sqrt(np.mean(diffusion**2) + p.jump_intensity * p.jump_std**2)
    assert rv == pytest.approx(expected, rel=0.03)
    # funding: AR(1) around 1 bp per 8 h
    assert paths.funding_rate.mean() == pytest.approx(1e-4, abs=2e-5)


def test_variance_risk_premium_scales_the_diffusion_not_the_implied_vol():
    base = {
        "iv0": 0.6,
        "horizon_hours": 2.0,
        "jump_intensity": 0.0,
        "vol_of_vol": 0.0,
        "vol_mean_reversion": 0.0,
    }
    plain = simulate_paths(CryptoPerpParams(**base), 2, seed=5)
    rich = simulate_paths(CryptoPerpParams(**base, variance_risk_premium=0.25), 2, seed=5)
    np.testing.assert_array_equal(plain.iv, rich.iv)  # the book is marked at the same implied vol
    dt = CryptoPerpParams(**base).dt
    # same normals: (ret + sigma^2 dt / 2) / (sigma sqrt(dt)) agree with sigma = 0.6 and 0.6 / 1.25
    z = [
        (np.diff(np.log(x.spot), axis=1) + 0.5 * s**2 * dt) / (s * math.sqrt(dt))
        for x, s in ((plain, 0.6), (rich, 0.6 / 1.25))
    ]
    np.testing.assert_allclose(z[0], z[1], rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="variance_risk_premium"):
        CryptoPerpParams(variance_risk_premium=-1.0)
    seed = CryptoPerpParams.from_config(
        compose(["+study=delta_hedge", "delta_hedge_simulator=seed_notebook"])["simulator"]
    )
    assert seed.variance_risk_premium == 0.0


def test_paths_are_reproducible_and_independent_of_batch_size():
    p = CryptoPerpParams(horizon_hours=2.0)
    a = simulate_paths(p, 5, seed=9)
    b = simulate_paths(p, 3, seed=9)
    np.testing.assert_array_equal(a.spot[:3], b.spot)
    np.testing.assert_array_equal(a.iv[:3], b.iv)
    assert not np.array_equal(simulate_paths(p, 3, seed=10).spot, b.spot)


def test_bad_simulator_config_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown simulator keys"):
        CryptoPerpParams.from_config({"sigma": 0.5})
    with pytest.raises(ValueError, match="v_min"):
        CryptoPerpParams(v_min=0.9, v_max=0.5)
    with pytest.raises(ValueError, match="jump_dist"):
        CryptoPerpParams(jump_dist="cauchy")


def test_book_marks_match_vectorised_formulas():
    p = CryptoPerpParams(horizon_hours=1.0)
    paths = simulate_paths(p, 3, seed=2)
    book = OptionsBook.from_config(
        {
            "notional": 1e6,
            "r": 0.02,
            "q": 0.01,
            "legs": [
                {"type": "call", "moneyness": 1.1, "expiry_days": 30, "notional": -1e6},
                {"type": "put", "strike": 45_000, "expiry_days": 0.02, "quantity": 3.0},
                {"type": "put", "moneyness": 1.1, "expiry_days": 30, "quantity": 7.0},
            ],
        },
        p.s0,
    )
    assert book.legs[0].strike == pytest.approx(55_000) and book.legs[0].quantity == pytest.approx(-20)
    np.testing.assert_allclose(
        book.value(paths.spot, paths.iv, paths.times),
        vectorised_mark(bs_price, book, paths.spot, paths.iv, paths.times),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        book.delta(paths.spot, paths.iv, paths.times),
        vectorised_mark(bs_delta, book, paths.spot, paths.iv, paths.times),
        rtol=1e-12,
        atol=1e-12,
    )
    # the second leg expires inside the hour (0.48 h): afterwards it is worth its intrinsic value
    late = paths.times > 0.02 * 86400
    v = book.value(paths.spot, paths.iv, paths.times) - vectorised_mark(
        bs_price, book, paths.spot, paths.iv, paths.times
    )
    assert late.any() and np.all(np.abs(v) < 1e-6)
    # straddle gamma: finite difference of the compiled delta
    s, iv, t = paths.spot[:, :5], paths.iv[:, :5], paths.times[:5]
    fd = (book.delta(s + 1.0, iv, t) - book.delta(s - 1.0, iv, t)) / 2.0
    np.testing.assert_allclose(book.gamma(s, iv, t), fd, rtol=1e-5)
    np.testing.assert_allclose(
        book.gamma(paths.spot, paths.iv, paths.times),
        vectorised_mark(bs_gamma, book, paths.spot, paths.iv, paths.times),
        rtol=1e-10,
        atol=1e-14,
    )


def test_bad_book_config_is_a_clear_error():
    with pytest.raises(ValueError, match="strike or moneyness"):
        OptionLeg.from_config({"type": "call", "expiry_days": 30, "quantity": 1.0}, 100.0)
    with pytest.raises(ValueError, match="'call' or 'put'"):
        OptionLeg.from_config({"type": "straddle", "strike": 1, "expiry_days": 30, "quantity": 1}, 100.0)
    with pytest.raises(ValueError, match="at least one leg"):
        OptionsBook.from_config({"notional": 1e6, "legs": []}, 100.0)
