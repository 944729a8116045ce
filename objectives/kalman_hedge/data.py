"""The kalman_hedge study's data: the prices of the hedged target and its proxies, checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from objectives import price_data


def load_study_prices(data: Mapping[str, Any]) -> pd.DataFrame:
    """The prices of ``data.target`` and ``data.proxies``, checked (ValueError naming the file)."""
    price_data.check_data_keys(data)
    target, proxies = data.get("target"), data.get("proxies")
    if not isinstance(target, str) or not target:
        raise ValueError(f"data.target must name the hedged column of {data.get('source')}, got {target!r}")
    if not isinstance(proxies, list) or not proxies or target in proxies:
        raise ValueError("data.proxies must be a non-empty list that does not contain data.target")
    return price_data.load_study_prices(data, [target, *[str(p) for p in proxies]])
