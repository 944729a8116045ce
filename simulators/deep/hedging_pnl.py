"""The deep hedger's P&L accounting and risk measures: trading costs, terminal P&L, CVaR, the loss.

Accounting (zero rate; see :mod:`simulators.markets.sv_paths`): the hedge ``h_k`` (units of the
underlying) is chosen at t_k from information up to t_k and held over [t_k, t_{k+1}).

    P&L = p0 + sum_k h_k (S_{k+1} - S_k)
             - c * ( sum_k |h_k - h_{k-1}| S_k + |h_{n-1}| S_n )      (h_{-1} = 0)
             - (S_n - K)+

so the opening trade at t_0 and the closing (liquidating) trade at maturity both pay the
proportional cost ``c``. ``p0`` is the initial capital: the premium received for the call
(the Heston price on Heston paths by default; see :mod:`objectives.deep_hedge.objective`).

Risk: the hedging loss is ``L = -P&L`` (the shortfall). CVaR_a(L) is estimated as the
sorted-sample mean of the worst ``k = ceil((1 - a) n)`` losses (the plain tail average; it
equals the Rockafellar-Uryasev minimum when (1 - a) n is an integer, and is differentiable
almost everywhere, so it is used as the training loss as well as the yardstick).
"""

from __future__ import annotations

import math

import torch


def trade_sizes(hedges: torch.Tensor) -> torch.Tensor:
    """Trades |h_k - h_{k-1}| at t_0..t_n including opening and closing, shape ``[n, n_steps + 1]``."""
    zero = torch.zeros_like(hedges[:, :1])
    return torch.diff(torch.cat([zero, hedges, zero], dim=1), dim=1).abs()


def trading_costs(spot: torch.Tensor, hedges: torch.Tensor, cost_rate: float) -> torch.Tensor:
    """Proportional costs ``cost_rate * sum_k |trade_k| S_k`` per path (opening and closing included)."""
    if cost_rate < 0:
        raise ValueError(f"cost_rate must be >= 0, got {cost_rate}")
    return cost_rate * (trade_sizes(hedges) * spot).sum(dim=1)


def terminal_pnl(
    spot: torch.Tensor,
    hedges: torch.Tensor,
    payoff: torch.Tensor,
    initial_capital: float | torch.Tensor,
    cost_rate: float = 0.0,
) -> torch.Tensor:
    """Terminal P&L per path of a short option hedged with ``hedges`` (see module docstring)."""
    if hedges.shape[1] != spot.shape[1] - 1:
        raise ValueError(f"hedges need {spot.shape[1] - 1} steps, got {hedges.shape[1]}")
    gains = (hedges * torch.diff(spot, dim=1)).sum(dim=1)
    return initial_capital + gains - trading_costs(spot, hedges, cost_rate) - payoff


def cvar(losses: torch.Tensor, level: float) -> torch.Tensor:
    """CVaR at ``level``: mean of the worst ``ceil((1 - level) n)`` losses (positive = money lost).

    The differentiable torch form of the product's one CVaR (``hedgeopt.protocol.CVaR``: same
    estimator, same sign convention); the training loss needs gradients, which numpy cannot give.
    """
    if not 0.0 <= level < 1.0:
        raise ValueError(f"CVaR level must be in [0, 1), got {level}")
    losses = losses.reshape(-1)
    n = losses.numel()
    if n == 0:
        raise ValueError("CVaR of an empty sample")
    k = max(1, math.ceil((1.0 - level) * n - 1e-9))
    return torch.topk(losses, k, sorted=False).values.mean()


def value_at_risk(losses: torch.Tensor, level: float) -> torch.Tensor:
    """VaR at ``level``: the smallest of the worst ``ceil((1 - level) n)`` losses."""
    losses = losses.reshape(-1)
    k = max(1, math.ceil((1.0 - level) * losses.numel() - 1e-9))
    return torch.topk(losses, k).values[-1]


def hedging_loss(
    pnl: torch.Tensor, alpha: float, beta: float, itm_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Training loss CVaR_alpha(-P&L) + beta * mean(P&L^2).

    With ``itm_mask`` both terms use only the in-the-money paths (the seed's variant); when a
    batch has none, all paths are used so the loss stays defined.
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if itm_mask is not None and bool(itm_mask.any()):
        pnl = pnl[itm_mask]
    return cvar(-pnl, alpha) + beta * (pnl * pnl).mean()


def pnl_metrics(pnl: torch.Tensor, prefix: str = "") -> dict[str, float]:
    """Summary statistics of a P&L sample: mean, std, CVaR95 / VaR95 of the loss -P&L."""
    pnl = pnl.detach().double().cpu()
    return {
        f"{prefix}cvar95": float(cvar(-pnl, 0.95)),
        f"{prefix}var95": float(value_at_risk(-pnl, 0.95)),
        f"{prefix}pnl_mean": float(pnl.mean()),
        f"{prefix}pnl_std": float(pnl.std()),
    }
