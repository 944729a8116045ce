"""Where trials live: opening Optuna storages, journal I/O and repair, slot locks and trial bookkeeping."""
