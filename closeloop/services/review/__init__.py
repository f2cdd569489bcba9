"""The monthly cross-department review (ISO 10002 analysis; CAPA follow-through)."""
