"""Trading a spread: the z-score rule, walk-forward pairs and universe backtests, pair selection."""
