"""Where trials run: the worker processes, what runs inside one, deterministic batches, the
end-of-study tasks, and the one place objectives are built."""
