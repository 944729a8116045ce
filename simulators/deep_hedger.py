"""The deep hedger: features, GRU / per-step MLP hedge networks, P&L accounting, CVaR loss, Lightning.

Accounting (zero rate; see :mod:`simulators.sv_paths`): the hedge ``h_k`` (units of the
underlying) is chosen at t_k from information up to t_k and held over [t_k, t_{k+1}).

    P&L = p0 + sum_k h_k (S_{k+1} - S_k)
             - c * ( sum_k |h_k - h_{k-1}| S_k + |h_{n-1}| S_n )      (h_{-1} = 0)
             - (S_n - K)+

so the opening trade at t_0 and the closing (liquidating) trade at maturity both pay the
proportional cost ``c``. ``p0`` is the initial capital: the premium received for the call
(the Heston price on Heston paths by default; see :mod:`objectives.deep_hedge`).

Risk: the hedging loss is ``L = -P&L`` (the shortfall). CVaR_a(L) is estimated as the
sorted-sample mean of the worst ``k = ceil((1 - a) n)`` losses (the plain tail average; it
equals the Rockafellar-Uryasev minimum when (1 - a) n is an integer, and is differentiable
almost everywhere, so it is used as the training loss as well as the yardstick).
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn

from simulators.sv_paths import Paths

N_STATIC_FEATURES = 4
ARCHES = ("gru", "mlp")


# ---------------------------------------------------------------- features and accounting


def hedge_features(paths: Paths) -> torch.Tensor:
    """Per-step market features known at t_k, shape ``[n_paths, n_steps, 4]``.

    S_{t_k}/S_0, (T - t_k)/T, log(S_{t_k}/S_{t_{k-1}}) (0 at t_0), sqrt(v_{t_k}).
    The previous hedge, the fifth feature, is fed by the network itself (it is an output).
    """
    spot = paths.spot
    s = spot[:, :-1]
    n, m = s.shape
    ratio = s / spot[:, :1]
    tau = (1.0 - paths.times()[:-1] / paths.maturity).expand(n, m)
    logret = torch.zeros_like(s)
    if m > 1:
        logret[:, 1:] = torch.log(spot[:, 1:-1] / spot[:, :-2])
    vol = paths.variance[:, :-1].clamp(min=0.0).sqrt()
    return torch.stack([ratio, tau, logret, vol], dim=-1)


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


# ---------------------------------------------------------------- networks


class HedgerNet(nn.Module):
    """Maps per-step features to hedge ratios h_0..h_{n-1}; causal by construction.

    ``arch="gru"``: a stacked GRU over time (hidden_size, num_layers) and a linear head.
    ``arch="mlp"``: the same per-step MLP (num_layers hidden layers of hidden_size, ReLU) at
    every step. With ``feed_prev_hedge`` the previous output h_{k-1} is an input at step k
    (the network is then unrolled step by step). Static features are standardised with
    buffers set by :meth:`fit_scaling`, saved with the weights.
    """

    def __init__(
        self, arch: str = "gru", hidden_size: int = 64, num_layers: int = 1, feed_prev_hedge: bool = True
    ) -> None:
        super().__init__()
        if arch not in ARCHES:
            raise ValueError(f"arch must be one of {ARCHES}, got {arch!r}")
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(f"hidden_size and num_layers must be >= 1, got {hidden_size}, {num_layers}")
        self.hparams_dict = {
            "arch": arch,
            "hidden_size": int(hidden_size),
            "num_layers": int(num_layers),
            "feed_prev_hedge": bool(feed_prev_hedge),
        }
        self.arch, self.feed_prev_hedge = arch, bool(feed_prev_hedge)
        n_in = N_STATIC_FEATURES + int(self.feed_prev_hedge)
        self.register_buffer("feat_mean", torch.zeros(N_STATIC_FEATURES))
        self.register_buffer("feat_std", torch.ones(N_STATIC_FEATURES))
        if arch == "gru":
            self.core: nn.Module = nn.GRU(n_in, hidden_size, num_layers=num_layers, batch_first=True)
        else:
            layers: list[nn.Module] = []
            width = n_in
            for _ in range(num_layers):
                layers += [nn.Linear(width, hidden_size), nn.ReLU()]
                width = hidden_size
            self.core = nn.Sequential(*layers)
        self.head = nn.Linear(hidden_size, 1)

    @torch.no_grad()
    def fit_scaling(self, features: torch.Tensor) -> None:
        """Set the standardisation of static features from a training sample ``[N, n, 4]``."""
        flat = features.reshape(-1, N_STATIC_FEATURES).double()
        self.feat_mean.copy_(flat.mean(0).to(self.feat_mean))
        self.feat_std.copy_(flat.std(0).clamp(min=1e-6).to(self.feat_std))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (features - self.feat_mean) / self.feat_std
        if not self.feed_prev_hedge:
            y = self.core(x)[0] if self.arch == "gru" else self.core(x)
            return self.head(y).squeeze(-1)
        b, n, _ = x.shape
        h_prev = x.new_zeros(b, 1)
        state = None
        out = []
        for k in range(n):
            inp = torch.cat([x[:, k], h_prev], dim=-1)
            if self.arch == "gru":
                y, state = self.core(inp.unsqueeze(1), state)
                y = y[:, 0]
            else:
                y = self.core(inp)
            h_prev = self.head(y)
            out.append(h_prev)
        return torch.cat(out, dim=1)


def save_hedger(net: HedgerNet, folder: Path | str, name: str = "hedger") -> Path:
    """Write ``{name}.pt`` (the state_dict) and ``{name}.json`` (constructor args); returns the .pt path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pt = folder / f"{name}.pt"
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, pt)
    (folder / f"{name}.json").write_text(json.dumps(net.hparams_dict, indent=2))
    return pt


def load_hedger(pt_path: Path | str, map_location: str | torch.device = "cpu") -> HedgerNet:
    """Rebuild a :class:`HedgerNet` from the files :func:`save_hedger` wrote."""
    pt_path = Path(pt_path)
    hparams = json.loads(pt_path.with_suffix(".json").read_text())
    net = HedgerNet(**hparams)
    net.load_state_dict(torch.load(pt_path, map_location=map_location, weights_only=True))
    return net.eval()


# ---------------------------------------------------------------- Lightning training


class MinibatchPaths(torch.utils.data.IterableDataset):
    """Shuffled minibatches of (features, spot) drawn as whole slices (no per-sample collation).

    The shuffle of epoch e is seeded by ``seed + e``, so training is reproducible.
    """

    def __init__(
        self, features: torch.Tensor, spot: torch.Tensor, batch_size: int, shuffle: bool = True, seed: int = 0
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.features, self.spot = features, spot
        self.batch_size, self.shuffle, self.seed = int(batch_size), shuffle, int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(self.features.shape[0] / self.batch_size)

    def __iter__(self):
        n = self.features.shape[0]
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.arange(n)
        self.epoch += 1
        for i in range(0, n, self.batch_size):
            idx = order[i : i + self.batch_size]
            yield self.features[idx], self.spot[idx]


def make_loader(
    features: torch.Tensor, spot: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0
) -> torch.utils.data.DataLoader:
    """A DataLoader yielding minibatches from :class:`MinibatchPaths` (in-process, no workers)."""
    return torch.utils.data.DataLoader(
        MinibatchPaths(features, spot, batch_size, shuffle, seed), batch_size=None, num_workers=0
    )


#: Adam step size of a learned premium (its gradient scale is that of the P&L, not the net's).
PREMIUM_LEARNING_RATE = 0.02


class DeepHedgeModule(L.LightningModule):
    """Trains a :class:`HedgerNet` on CVaR_alpha(-P&L) + beta mean(P&L^2).

    ``initial_capital`` p0 is the premium received for the call. With ``learn_premium`` p0
    starts there and is a trainable parameter fitted by its own pricing loss
    mean((p0 + X)^2), X = the hedged P&L before premium, so it converges to the expected cost
    of hedging with the current policy (the quadratic-hedging price); the hedge's loss takes
    the current p0 as given. CVaR is cash-invariant, so p0 only moves the beta term.

    Validation (one batch: the whole validation set) records ``val_cvar95``, the CVaR95 of the
    hedging loss at the fixed ``yardstick_capital`` (so it does not depend on alpha, beta or
    a learned premium), in ``history`` and as a logged metric for early stopping and
    checkpointing.
    """

    def __init__(
        self,
        net: HedgerNet,
        *,
        strike: float,
        initial_capital: float,
        cost_rate: float,
        alpha: float,
        beta: float,
        learning_rate: float,
        itm_only: bool = False,
        learn_premium: bool = False,
        yardstick_capital: float | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {alpha}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
        self.net = net
        self.strike, self.cost_rate = float(strike), float(cost_rate)
        self.alpha, self.beta, self.learning_rate, self.itm_only = (
            float(alpha),
            float(beta),
            float(learning_rate),
            bool(itm_only),
        )
        self.learn_premium = bool(learn_premium)
        self.premium = nn.Parameter(torch.tensor(float(initial_capital)), requires_grad=self.learn_premium)
        self.yardstick_capital = float(initial_capital if yardstick_capital is None else yardstick_capital)
        self.history: list[dict[str, float]] = []
        self._train_losses: list[float] = []
        self.last_val: dict[str, float] = {}

    def hedged_pnl(self, features: torch.Tensor, spot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(P&L before premium, payoff) per path."""
        payoff = (spot[:, -1] - self.strike).clamp(min=0.0)
        return terminal_pnl(spot, self.net(features), payoff, 0.0, self.cost_rate), payoff

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        features, spot = batch
        x, payoff = self.hedged_pnl(features, spot)
        p0 = self.premium.detach().to(x)
        loss = hedging_loss(x + p0, self.alpha, self.beta, payoff > 0 if self.itm_only else None)
        self._train_losses.append(float(loss.detach()))
        if self.learn_premium:
            loss = loss + ((self.premium.to(x) + x.detach()) ** 2).mean()
        return loss

    def on_train_epoch_start(self) -> None:
        self._train_losses = []

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        features, spot = batch
        x, _ = self.hedged_pnl(features, spot)
        m = pnl_metrics(x + self.yardstick_capital, "val_")
        self.last_val = {
            "epoch": float(self.current_epoch),
            "train_loss": float(sum(self._train_losses) / len(self._train_losses))
            if self._train_losses
            else math.nan,
            "premium": float(self.premium.detach()),
            **m,
        }
        self.log(
            "val_cvar95", m["val_cvar95"], on_epoch=True, prog_bar=False, logger=False, batch_size=x.shape[0]
        )
        if not self.trainer.sanity_checking:
            self.history.append(self.last_val)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        groups = [{"params": list(self.net.parameters()), "lr": self.learning_rate}]
        if self.learn_premium:
            groups.append({"params": [self.premium], "lr": PREMIUM_LEARNING_RATE})
        return torch.optim.Adam(groups)


def make_trainer(
    max_epochs: int,
    callbacks: Sequence[L.Callback] = (),
    root_dir: Path | str | None = None,
    accelerator: str = "auto",
    gradient_clip_val: float | None = 1.0,
) -> L.Trainer:
    """A quiet Lightning Trainer: no logger, progress bar or summary; CPU/GPU automatic.

    Checkpointing is on only when ``callbacks`` hold a ``ModelCheckpoint``.
    """
    import logging

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*IterableDataset.*__len__.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    warnings.filterwarnings("ignore", message=".*treespec, LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
    return L.Trainer(
        max_epochs=int(max_epochs),
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        gradient_clip_val=gradient_clip_val,
        callbacks=list(callbacks),
        default_root_dir=str(root_dir) if root_dir is not None else None,
        deterministic=False,
    )


def fit_best_epoch(
    module: DeepHedgeModule,
    train_loader: torch.utils.data.DataLoader,
    val_loader: torch.utils.data.DataLoader,
    *,
    max_epochs: int,
    patience: int | None,
    callbacks: Sequence[L.Callback] = (),
    accelerator: str = "auto",
    gradient_clip_val: float | None = 1.0,
    min_delta: float = 0.0,
) -> dict[str, float]:
    """Fit with early stopping on ``val_cvar95`` and restore the best epoch's checkpoint.

    ``callbacks`` run before early stopping and checkpointing (a pruning callback). Returns
    ``best_epoch``, ``best_val_cvar95`` and ``epochs_trained``; ``module`` then holds the best
    epoch's weights (and learned premium), not the last epoch's.
    """
    with tempfile.TemporaryDirectory(prefix="deep_hedge_ckpt_") as tmp:
        ckpt = ModelCheckpoint(
            dirpath=tmp,
            filename="best",
            monitor="val_cvar95",
            mode="min",
            save_top_k=1,
            save_weights_only=True,
            save_last=False,
        )
        cbs: list[L.Callback] = [*callbacks, ckpt]
        if patience is not None and patience > 0:
            cbs.append(
                EarlyStopping(
                    monitor="val_cvar95",
                    mode="min",
                    patience=int(patience),
                    min_delta=float(min_delta),
                    check_finite=True,
                )
            )
        trainer = make_trainer(
            max_epochs, cbs, root_dir=tmp, accelerator=accelerator, gradient_clip_val=gradient_clip_val
        )
        trainer.fit(module, train_loader, val_loader)
        epochs = len(module.history)
        if not ckpt.best_model_path:
            raise RuntimeError("training produced no checkpoint (no finite validation CVaR95)")
        state = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=False)
    module.load_state_dict(state["state_dict"])
    return {
        "best_epoch": float(state["epoch"]),
        "best_val_cvar95": float(ckpt.best_model_score),
        "epochs_trained": float(epochs),
    }


@torch.no_grad()
def predict_hedges(net: HedgerNet, features: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Hedge ratios of ``net`` for every path, in evaluation mode, on the features' device."""
    net = net.to(features.device).eval()
    return torch.cat([net(features[i : i + batch_size]) for i in range(0, features.shape[0], batch_size)])


def hedger_from_config(model_cfg: Mapping[str, Any]) -> HedgerNet:
    """A :class:`HedgerNet` from a ``model`` config section (arch, hidden_size, num_layers,
    feed_prev_hedge)."""
    return HedgerNet(
        arch=str(model_cfg.get("arch", "gru")),
        hidden_size=int(model_cfg.get("hidden_size", 64)),
        num_layers=int(model_cfg.get("num_layers", 1)),
        feed_prev_hedge=bool(model_cfg.get("feed_prev_hedge", True)),
    )
