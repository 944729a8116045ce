"""The deep hedger's network: per-step market features in, hedge ratios out.

:class:`HedgerNet` is causal by construction (the hedge at t_k sees features up to t_k); it is
saved as a state_dict plus its constructor arguments so a trained hedger reloads without code
that knows its config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from simulators.markets.sv_paths import Paths

N_STATIC_FEATURES = 4
ARCHES = ("gru", "mlp")


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
