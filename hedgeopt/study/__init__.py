"""One invocation of a study, from start to end: its identity (fingerprint), the run that
searches, logs and finishes it, its phases, and replay of an exported config."""
