"""Training the deep hedger with Lightning: minibatches, the module, the trainer, the best epoch.

The training loss is CVaR_alpha(-P&L) + beta mean(P&L^2) of :mod:`simulators.deep.hedging_pnl`;
validation scores the CVaR95 of the hedging loss at a fixed capital, for early stopping and
checkpointing.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn

from simulators.deep.hedger_net import HedgerNet
from simulators.deep.hedging_pnl import hedging_loss, pnl_metrics, terminal_pnl


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
