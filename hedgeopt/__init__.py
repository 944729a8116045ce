"""hedgeopt: Hydra-composed studies, parallel Optuna workers, MLflow tracking, exported configs.

The framework knows nothing about hedging: studies plug in through :mod:`hedgeopt.protocol`.
"""

__version__ = "0.1.0"
