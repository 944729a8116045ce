"""The compiled delta-hedging kernel: one policy run over a block of paths, with its accounting.

Rules as in :mod:`simulators.hedging.hedge_policy`. Conventions: the first re-hedge is at t0, to the
target (a desk hedges the book when it opens it); there is no re-hedge at the final tick (the
horizon is a mark-to-market, not a liquidation); a trigger that results in a zero trade still
resets the cadence clock and the move band's reference but is not counted as a hedge.
``mean_abs_net_delta`` averages the post-trade ``|net delta| x S / notional`` carried over each
tick interval.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def hedge_kernel(
    spot,
    book_delta,
    book_gamma,
    book_value,
    sample_idx,
    funding_idx,
    funding_rate,
    p0,
    p1,
    cadence_ticks,
    band_usd,
    ww_coef,
    to_edge,
    hedge_ratio,
    move_band,
    max_trade_usd,
    cost_rate,
    out_pnl,
    out_costs,
    out_funding,
    out_hedge_pnl,
    out_traded,
    out_count,
    out_abs_nd,
    trace_path,
    trace_h,
    trace_nd,
):
    """Run the policy on paths [p0, p1); outputs are indexed by path - p0.

    The band's half-width is ``band_usd / S`` (fixed) or ``cbrt(ww_coef S Gamma^2)``
    (Whalley-Wilmott, when ``ww_coef > 0``)."""
    n = spot.shape[1] - 1
    n_fund = funding_idx.shape[0]
    n_samp = sample_idx.shape[0]
    third = 1.0 / 3.0
    wide = 0.0
    for p in range(p0, p1):
        i = p - p0
        h = 0.0
        hedge_pnl = 0.0
        fund = 0.0
        cost = 0.0
        traded = 0.0
        count = 0
        abs_nd = 0.0
        last_t = -cadence_ticks
        s_prev = spot[p, 0]
        last_s = s_prev
        f = 0
        j = 0
        v0 = book_value[p, 0]
        tracing = p == trace_path
        for t in range(n + 1):
            s = spot[p, t]
            hedge_pnl += h * (s - s_prev)
            s_prev = s
            if f < n_fund and funding_idx[f] == t:
                fund -= h * s * funding_rate[p, f]
                f += 1
            bd = book_delta[p, t]
            if t < n:
                target = -hedge_ratio * bd
                dev = h - target
                adev = abs(dev)
                if ww_coef > 0.0:  # |dev| > cbrt(k S G^2) without a cube root on every tick
                    g = book_gamma[p, t]
                    wide = ww_coef * s * g * g
                    breach = adev * adev * adev > wide
                else:
                    breach = adev * s > band_usd
                timed = t - last_t >= cadence_ticks or abs(s - last_s) > move_band * last_s
                if timed or breach:
                    goal = target
                    if to_edge and not timed:
                        half = wide**third if ww_coef > 0.0 else band_usd / s
                        goal = target + half if dev > 0.0 else target - half
                    trade = goal - h
                    lim = max_trade_usd / s
                    if trade > lim:
                        trade = lim
                    elif trade < -lim:
                        trade = -lim
                    if trade != 0.0:
                        tn = abs(trade) * s
                        cost += tn * cost_rate
                        traded += tn
                        h += trade
                        count += 1
                    last_t = t
                    last_s = s
                abs_nd += abs(bd + h) * s
            if tracing:
                trace_h[t] = h
                trace_nd[t] = bd + h
            if j < n_samp and sample_idx[j] == t:
                out_pnl[i, j] = book_value[p, j] - v0 + hedge_pnl + fund - cost
                j += 1
        out_costs[i] = cost
        out_funding[i] = fund
        out_hedge_pnl[i] = hedge_pnl
        out_traded[i] = traded
        out_count[i] = count
        out_abs_nd[i] = abs_nd / n
