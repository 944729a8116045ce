"""Estimators a study tunes: spread hedge ratios (closed form and numerical searches),
mean-reversion measures, the Kalman filter, static hedge-ratio baselines, batched pair ratios."""
