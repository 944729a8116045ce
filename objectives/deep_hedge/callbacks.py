"""Lightning callbacks that connect a deep_hedge training run to its trial."""

from __future__ import annotations

import lightning as L

from hedgeopt.protocol import Reporter, TrialPruned


class ReportAndPrune(L.Callback):
    """After each validation epoch: report val CVaR95 to the trial, stop it if the pruner says so."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not pl_module.last_val:
            return
        epoch = int(trainer.current_epoch)
        self.reporter.report("val_cvar95", float(pl_module.last_val["val_cvar95"]), epoch)
        if self.reporter.should_prune():
            raise TrialPruned(f"pruned at epoch {epoch}")
