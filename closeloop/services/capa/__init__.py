"""Closing the loop: root causes, improvement records (CAPA) and their effectiveness checks."""
