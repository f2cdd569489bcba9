"""Use cases. One module per use case; the only layer that opens and commits transactions."""
