"""What every run records: the MLflow tracker, trial runs and their logger, the store and its template."""
